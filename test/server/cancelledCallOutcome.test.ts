/**
 * A thread cancelled while its tool call ran in another process: that process records the call's
 * outcome after the cancel, so the thread's final view changes after its end. Webhooks and
 * callbacks tell of the end at the cancel, saying which call's outcome is not recorded yet
 * (`unrecordedCall`), and once more, under the id of that later rest, when it is recorded: a
 * receiver drops repeats by id and reads the last one as the final word.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { controlStep } from '../../src/agent/controlStep.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createWebhookNotifier, type WebhookPayload } from '../../src/server/webhooks.js';
import { appendEvents } from '../../src/store/appendEvents.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createCallbackSender, type CallbackPayload } from '../../src/surface/callbacks.js';
import type { NewEvent } from '../../src/thread/events.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import { deferred } from '../bus/waiting.js';
import { threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publishCallStarted, publisherModel } from '../support/heldTool.js';
import { startReceiver } from './receiver.js';

const SECRET = 'whsec_cancelled_call';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});


function publisherRuntime(store = createMemoryStore()): { runtime: Runtime; tools: ReturnType<typeof heldPublishTool> } {
  const tools = heldPublishTool();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const runtime = createRuntime({ agents: [publisher], store, model: publisherModel().model });
  cleanups.push(() => runtime.close());
  return { runtime, tools };
}

describe('webhooks of a thread cancelled while its call ran in another process', () => {
  /** An API process's runtime with a webhook receiver, and a thread whose call runs elsewhere. */
  async function setUp() {
    const store = createMemoryStore();
    const { runtime } = publisherRuntime(store);
    const receiver = await startReceiver();
    const notifier = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET }] });
    const detach = notifier.attach(runtime);
    cleanups.push(receiver.close, async () => {
      detach();
      await notifier.close();
    });
    await store.create(threadOf('th-1', 'publisher', publishCallStarted('th-1'), Date.now()));
    const bodies = (): WebhookPayload[] => receiver.received.map((r) => JSON.parse(r.body) as WebhookPayload);
    return { store, runtime, notifier, receiver, bodies };
  }

  it('tell of the end again, under the id of the later rest, once the call’s outcome is recorded after the cancel', async () => {
    const { store, runtime, notifier, receiver, bodies } = await setUp();
    await runtime.cancel('th-1', { by: 'qa' });
    await notifier.idle();
    const th1 = incarnationKeyOf((await store.get('th-1'))!);
    expect(bodies().map((b) => [b.id, b.type, b.status])).toEqual([[`${th1}:4`, 'thread.finished', 'cancelled']]);

    // The other process records the call's result after the cancel; this one reads it back.
    const written = await appendEvents({ store, clock: systemClock }, (await store.get('th-1'))!, [
      { type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } },
    ]);
    await runtime.ingest('th-1');
    await notifier.idle();

    expect(bodies().map((b) => b.id)).toEqual([`${th1}:4`, `${th1}:5`]);
    expect(bodies()[1]).toEqual({ id: `${th1}:5`, type: 'thread.finished', threadId: 'th-1', agent: 'publisher', status: 'cancelled', by: 'qa', at: written.events.at(-1)!.at });
    expect(receiver.received[1]!.headers['x-switchyard-delivery']).toBe(`${th1}:5`);
  });

  it('name, in the webhook of the cancel, the call whose outcome is not recorded yet', async () => {
    const { runtime, notifier, bodies } = await setUp();
    const cancelled = await runtime.cancel('th-1', { by: 'qa' });
    await notifier.idle();

    expect(bodies()).toEqual([expect.objectContaining({ id: `${incarnationKeyOf(cancelled)}:4`, type: 'thread.finished', unrecordedCall: { callId: 'c1', tool: 'publish' } })]);
  });
});

describe('callbacks of a thread cancelled while its call ran', () => {
  it('call back with the thread’s final view when this runtime records the call’s outcome after another process’s cancel', async () => {
    const store = createMemoryStore();
    const { runtime, tools } = publisherRuntime(store);
    const receiver = await startReceiver();
    const callbacks = createCallbackSender({ secret: SECRET, initialDelayMs: 1 });
    const detach = callbacks.attach(runtime);
    cleanups.push(receiver.close, async () => {
      detach();
      await callbacks.close();
    });
    const recorded = deferred();
    runtime.subscribe((change) => {
      if (change.events.some((e) => e.type === 'tool_result')) recorded.resolve();
    });
    const { id } = await runtime.launch('publisher', 'publish hello', { source: { kind: 'http', replyTo: receiver.url } });
    await tools.started.promise;

    // Another process cancels the thread in the store while the call runs here.
    await controlStep({ store, clock: systemClock, model: publisherModel().model, logger: silentLogger() }, id, { action: 'cancel', by: 'qa' });
    tools.release.resolve('published');
    await recorded.promise;
    await callbacks.idle();

    const final = (await runtime.get(id))!;
    expect(final.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(receiver.received.map((r) => JSON.parse(r.body) as CallbackPayload)).toEqual([
      expect.objectContaining({ id: `${incarnationKeyOf(final)}:5`, type: 'thread.finished', threadId: id, status: 'cancelled', version: 5, by: 'qa' }),
    ]);
    expect(JSON.parse(receiver.received[0]!.body)).not.toHaveProperty('unrecordedCall');
  });

  it('name the call whose outcome is not recorded in the callback of the cancel', async () => {
    const store = createMemoryStore();
    const { runtime } = publisherRuntime(store);
    const receiver = await startReceiver();
    const callbacks = createCallbackSender({ secret: SECRET, initialDelayMs: 1 });
    cleanups.push(receiver.close, () => callbacks.close());
    const input: NewEvent = { type: 'input', data: { input: 'publish hello', source: { kind: 'http', replyTo: receiver.url } } };
    await store.create(threadOf('th-2', 'publisher', [input, ...publishCallStarted('th-2').slice(1)], Date.now()));
    const cancelled = await runtime.cancel('th-2', { by: 'qa' });

    await callbacks.send(cancelled);
    expect(receiver.received.map((r) => JSON.parse(r.body) as CallbackPayload)).toEqual([
      expect.objectContaining({ id: `${incarnationKeyOf(cancelled)}:4`, type: 'thread.finished', status: 'cancelled', unrecordedCall: { callId: 'c1', tool: 'publish' } }),
    ]);
  });
});
