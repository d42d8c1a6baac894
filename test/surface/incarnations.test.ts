/**
 * A thread deleted and launched again under the same id (an outside system resending a trigger
 * keyed by its own id after retention removed the thread) is a new thread: the ids derived from it
 * (a callback's or webhook's delivery id, a human request's id) must not be those of its earlier
 * self, which receivers and bridges were told to drop repeats by, and a delivery the ledger
 * recorded for the earlier thread must not make the new one's look delivered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { createWebhookNotifier } from '../../src/server/webhooks.js';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { createCallbackSender } from '../../src/surface/callbacks.js';
import { delay } from '../bus/waiting.js';
import { decide, echo } from '../server/harness.js';
import { startReceiver, type Receiver } from '../server/receiver.js';

const SECRET = 'whsec_incarnations';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-incarnations-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function receiver(): Promise<Receiver> {
  const started = await startReceiver(200);
  cleanups.push(started.close);
  return started;
}

/** One store that outlives the runtimes over it (each life closes its runtime, not the store). */
function lastingStore(): ThreadStore {
  const store = createMemoryStore();
  return { ...store, close: async () => undefined };
}

/** A pipeline of one step: `echo` says its input back. */
const relay = pipeline({ name: 'relay', description: 'relays', input: z.string(), output: z.unknown() })
  .agent({ name: 'say', agent: 'echo', input: ({ input }) => input })
  .finish(({ results }) => results.say);

function runtimeOver(store: ThreadStore): Runtime {
  const runtime = createRuntime({ agents: [echo, calculator], pipelines: [relay], store, model: scriptedModel([], { whenExhausted: decide }) });
  cleanups.push(() => runtime.close());
  return runtime;
}

/** Waits until the clock has left the millisecond `view` was created in (two creations in one millisecond are one instant). */
async function afterCreationOf(view: ThreadView): Promise<void> {
  while (Date.now() <= Date.parse(view.createdAt!)) await delay(2);
}

/** Launches `input` as thread `id` of `agent` and waits for it to rest. */
async function launchedToRest(runtime: Runtime, agent: string, id: string, input: unknown, replyTo?: string): Promise<ThreadView> {
  await runtime.launch(agent, input, { threadId: id, ...(replyTo === undefined ? {} : { source: { kind: 'http', replyTo } }) });
  return runtime.settled(id);
}

/**
 * Launches a pipeline and resolves once it ended: `settled` resolves as soon as the pipeline waits
 * on a child that has not ended, in this process too, so how far the child got by then is timing.
 */
async function pipelineToEnd(runtime: Runtime, name: string, id: string, input: unknown): Promise<ThreadView> {
  await runtime.launch(name, input, { threadId: id });
  for await (const _event of runtime.watch(id));
  return (await runtime.get(id))!;
}

const bodyOf = (received: { body: string }): { id: string; threadId: string; type: string } => JSON.parse(received.body) as { id: string; threadId: string; type: string };

describe('a thread deleted and launched again under its id', () => {
  it('its callback is sent with a delivery id other than its earlier self’s', async () => {
    const hook = await receiver();
    const runtime = runtimeOver(lastingStore());
    const callbacks = createCallbackSender({ secret: SECRET });
    cleanups.push(() => callbacks.close());
    callbacks.attach(runtime);

    const first = await launchedToRest(runtime, 'echo', 'order-1234', 'first', hook.url);
    const [earlier] = await hook.waitFor(1);
    await callbacks.idle();
    await runtime.delete('order-1234');
    await afterCreationOf(first);

    const again = await launchedToRest(runtime, 'echo', 'order-1234', 'again', hook.url);
    expect(again.version).toBe(first.version);
    const [, later] = await hook.waitFor(2);
    expect(bodyOf(later!)).toMatchObject({ threadId: 'order-1234', type: 'thread.finished' });
    expect(bodyOf(later!).id).not.toBe(bodyOf(earlier!).id);
    expect(later!.headers['x-switchyard-delivery']).toBe(bodyOf(later!).id);
  });

  it('its webhook is sent with a delivery id other than its earlier self’s', async () => {
    const hook = await receiver();
    const runtime = runtimeOver(lastingStore());
    const notifier = createWebhookNotifier({ webhooks: [{ url: hook.url, secret: SECRET, events: ['finished'] }] });
    cleanups.push(() => notifier.close());
    notifier.attach(runtime);

    const first = await launchedToRest(runtime, 'echo', 'hook-77', 'first');
    const [earlier] = await hook.waitFor(1);
    await notifier.idle();
    await runtime.delete('hook-77');
    await afterCreationOf(first);

    await launchedToRest(runtime, 'echo', 'hook-77', 'again');
    const [, later] = await hook.waitFor(2);
    expect(bodyOf(later!)).toMatchObject({ threadId: 'hook-77', type: 'thread.finished' });
    expect(bodyOf(later!).id).not.toBe(bodyOf(earlier!).id);
  });

  it('its human request has another request id, and its callback another delivery id', async () => {
    const hook = await receiver();
    const runtime = runtimeOver(lastingStore());
    const callbacks = createCallbackSender({ secret: SECRET });
    cleanups.push(() => callbacks.close());
    callbacks.attach(runtime);

    const first = await launchedToRest(runtime, 'calculator', 'ask-1', { ask: 'which one?' }, hook.url);
    expect(first.status).toBe('awaiting_human');
    const [earlier] = await hook.waitFor(1);
    await runtime.cancel('ask-1');
    await hook.waitFor(2);
    await callbacks.idle();
    await runtime.delete('ask-1');
    await afterCreationOf(first);

    const again = await launchedToRest(runtime, 'calculator', 'ask-1', { ask: 'which one?' }, hook.url);
    expect(again.status).toBe('awaiting_human');
    expect(again.pendingRequest!.requestId).not.toBe(first.pendingRequest!.requestId);
    const [, , later] = await hook.waitFor(3);
    expect(bodyOf(later!).type).toBe('thread.human_request');
    expect(bodyOf(later!).id).not.toBe(bodyOf(earlier!).id);
  });

  it('the walk at a start sends the callback its rest owes, though the ledger recorded its earlier self’s at the same version', async () => {
    const ledgerPath = join(tempDir(), 'deliveries.jsonl');
    const hook = await receiver();
    const store = lastingStore();

    // A first life calls back and records it.
    const first = runtimeOver(store);
    const firstCallbacks = createCallbackSender({ secret: SECRET, ledger: fileDeliveryLedger(ledgerPath) });
    const detach = firstCallbacks.attach(first);
    const earlierView = await launchedToRest(first, 'echo', 'order-9', 'first', hook.url);
    const [earlier] = await hook.waitFor(1);
    await firstCallbacks.idle();
    await first.delete('order-9');
    detach();
    await firstCallbacks.close();
    await afterCreationOf(earlierView);

    // Launched again by a process that died before it called back (it has no sender at all).
    const again = await launchedToRest(first, 'echo', 'order-9', 'again', hook.url);
    expect(again.version).toBe(earlierView.version);
    expect(hook.received).toHaveLength(1);

    // The next start's walk owes it.
    const second = runtimeOver(store);
    const secondCallbacks = createCallbackSender({ secret: SECRET, ledger: fileDeliveryLedger(ledgerPath) });
    cleanups.push(() => secondCallbacks.close());
    secondCallbacks.attach(second);
    await secondCallbacks.idle();

    expect(hook.received).toHaveLength(2);
    const later = bodyOf(hook.received[1]!);
    expect(later).toMatchObject({ threadId: 'order-9', type: 'thread.finished' });
    expect(later.id).not.toBe(bodyOf(earlier!).id);
  });

  it('after an upgrade, a rest recorded as delivered in the form before incarnations (<threadId>:<version>) is not sent again; one owed in that form is sent, under its new id, and cleared', async () => {
    const ledgerPath = join(tempDir(), 'deliveries.jsonl');
    const hook = await receiver();
    const store = lastingStore();
    const runtime = runtimeOver(store);
    const delivered = await launchedToRest(runtime, 'echo', 'old-delivered', 'delivered', hook.url);
    const owed = await launchedToRest(runtime, 'echo', 'old-owed', 'owed', hook.url);
    // What a version before incarnations left in its ledger.
    const before = fileDeliveryLedger(ledgerPath);
    await before.record('walked callback', new Date(0).toISOString());
    await before.record(delivered.id, `${delivered.id}:${delivered.version}`);
    await before.owe({ key: owed.id, id: `${owed.id}:${owed.version}`, threadId: owed.id });
    await before.close();

    const callbacks = createCallbackSender({ secret: SECRET, ledger: fileDeliveryLedger(ledgerPath) });
    cleanups.push(() => callbacks.close());
    callbacks.attach(runtimeOver(store));
    await callbacks.idle();

    expect(hook.received.map((r) => bodyOf(r).threadId)).toEqual([owed.id]);
    const id = `${incarnateId(owed.id, owed.createdAt)}:${owed.version}`;
    expect(bodyOf(hook.received[0]!).id).toBe(id);
    const after = fileDeliveryLedger(ledgerPath);
    expect(await after.owed()).toEqual([]);
    expect(await after.get(owed.id)).toBe(id);
  });

  it('a pipeline deleted without its children, launched again, does not take its earlier self’s child for its step', async () => {
    const store = lastingStore();
    const runtime = runtimeOver(store);
    const first = await pipelineToEnd(runtime, 'relay', 'batch-1', 'first');
    expect(first).toMatchObject({ status: 'done', output: '"first"' });
    const child = childThreadId('batch-1', 'say');
    await runtime.delete('batch-1'); // its child stays (deleted on its own, or not at all)
    await afterCreationOf(first);

    const again = await pipelineToEnd(runtime, 'relay', 'batch-1', 'second');
    // Not the earlier child's result passed off as this step's.
    expect(again.output).not.toBe('"first"');
    expect(again).toMatchObject({ status: 'failed' });
    expect(again.failure).toContain(child);
    expect(again.failure).toContain('earlier');
    // The earlier child is left as it was.
    expect((await runtime.get(child))!.output).toBe('"first"');
  });
});
