/**
 * Callbacks at least once across a stop of the process: what a runtime's threads still owe (their
 * current rest, with no delivery recorded beside the store) is sent when a sender with a ledger is
 * attached again, with the same id and body; what was delivered is not sent again.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createCallbackSender, type CallbackPayload } from '../../src/surface/callbacks.js';
import { fileDeliveryLedger, type DeliveryLedger } from '../../src/store/deliveryLedger.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { decide, echo } from '../server/harness.js';
import { signedWith } from '../server/receiver.js';
import { serveKilledWhileRefused, useRedeliveryKit } from '../server/redeliveryKit.js';

const SECRET = 'whsec_redelivery';
const kit = useRedeliveryKit('switchyard-callback-redelivery-');
const { tempDir, receiver } = kit;

const payloadOf = (r: { body: string }): CallbackPayload => JSON.parse(r.body) as CallbackPayload;

/** outer -> calculator, which asks for an approval of its division. */
const halve = pipeline({ name: 'halve', description: 'divides', input: z.unknown(), output: z.unknown() })
  .agent({ name: 'divide', agent: 'calculator', input: () => ({ op: 'divide', a: 8, b: 2 }) })
  .finish(({ results }) => results.divide);

/** One life of an embedded process: a runtime over the file store in `dir`, its callbacks recorded beside it. */
async function life(dir: string, seen: (runtime: Runtime) => Pick<Runtime, 'subscribe' | 'get' | 'list'> = (runtime) => runtime) {
  const store = await createFileStore({ dir: join(dir, 'threads') });
  const runtime = createRuntime({ agents: [calculator, echo], pipelines: [halve], store, model: scriptedModel([], { whenExhausted: decide }) });
  const callbacks = createCallbackSender({ secret: SECRET, attempts: 2, initialDelayMs: 1, ledger: fileDeliveryLedger(join(dir, 'deliveries.jsonl')) });
  const detach = callbacks.attach(seen(runtime));
  const stop = kit.stopOnce(detach, () => callbacks.close(), () => runtime.close());
  return { runtime, callbacks, stop };
}

describe('callbacks across a restart (embedded, file store)', () => {
  it('sends after a restart what the last process did not deliver, with the same id and body, once; nothing delivered is sent again', async () => {
    const dir = tempDir();
    const down = await receiver([503, 503, 200]); // the first life's two attempts fail
    const up = await receiver(200);
    const piped = await receiver([503, 503, 200]);

    const first = await life(dir);
    const lost = await first.runtime.launch('echo', 'lost', { source: { kind: 'http', replyTo: down.url } });
    await first.runtime.launch('echo', 'kept', { source: { kind: 'http', replyTo: up.url } });
    const pipe = await first.runtime.launch('halve', {}, { source: { kind: 'http', replyTo: piped.url } });
    const child = childThreadId(pipe.id, 'divide');
    await Promise.all([down.waitFor(2), up.waitFor(1), piped.waitFor(2)]);
    await first.callbacks.idle();
    await first.stop();
    expect([down.received.length, up.received.length, piped.received.length]).toEqual([2, 1, 2]);

    const second = await life(dir);
    const [, , again] = await down.waitFor(3);
    const [, , childAgain] = await piped.waitFor(3);
    await second.callbacks.idle();
    // The same callback as before, signed anew: the receiver drops repeats by its id.
    expect(payloadOf(again!)).toEqual(payloadOf(down.received[0]!));
    expect(again!.headers['x-switchyard-delivery']).toBe(`${incarnateId(lost.id, lost.createdAt)}:${payloadOf(again!).version}`);
    expect(signedWith(again!, SECRET)).toBe(true);
    expect(payloadOf(again!)).toMatchObject({ type: 'thread.finished', threadId: lost.id, status: 'done' });
    // A pipeline's callback for its child's request, too.
    expect(payloadOf(childAgain!)).toEqual(payloadOf(piped.received[0]!));
    expect(payloadOf(childAgain!)).toMatchObject({ type: 'thread.human_request', threadId: pipe.id, childThreadId: child });
    // Delivered before the stop: not sent again.
    expect(up.received).toHaveLength(1);
    await second.stop();

    // Everything owed was delivered: a third life sends nothing.
    const third = await life(dir);
    await third.callbacks.idle();
    await third.stop();
    expect([down.received.length, up.received.length, piped.received.length]).toEqual([3, 1, 3]);
  });

  it('does not send again, on the first start with a ledger, the rests of threads that were there before it', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    // A store written before deliveries were recorded (a process of an earlier version).
    const store = await createFileStore({ dir: join(dir, 'threads') });
    const before = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
    const old = await before.launch('echo', 'old', { source: { kind: 'http', replyTo: origin.url } });
    await before.settled(old.id);
    await before.close();

    const first = await life(dir);
    await first.callbacks.idle();
    const fresh = await first.runtime.launch('echo', 'new', { source: { kind: 'http', replyTo: origin.url } });
    const [sent] = await origin.waitFor(1);
    expect(payloadOf(sent!)).toMatchObject({ threadId: fresh.id, type: 'thread.finished' });
    await first.callbacks.idle();
    await first.stop();
    expect(origin.received).toHaveLength(1);
  });
});

describe('the first start with a ledger', () => {
  it('does not take as delivered a callback of its own that failed while it looked for owed ones', async () => {
    const dir = tempDir();
    const down = await receiver([503, 503, 200]);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The walk of owed callbacks lists the threads only once this process's own callback failed.
    const first = await life(dir, (runtime) => ({
      subscribe: (listener) => runtime.subscribe(listener),
      get: (id) => runtime.get(id),
      list: async (options) => {
        await released;
        return runtime.list(options);
      },
    }));
    const lost = await first.runtime.launch('echo', 'lost', { source: { kind: 'http', replyTo: down.url } });
    await down.waitFor(2);
    release();
    await first.callbacks.idle();
    await first.stop();

    const second = await life(dir);
    const [, , again] = await down.waitFor(3);
    expect(payloadOf(again!)).toMatchObject({ type: 'thread.finished', threadId: lost.id });
    await second.callbacks.idle();
    await second.stop();
    expect(down.received).toHaveLength(3);
  });
});

describe('callbacks on a ledger processes share', () => {
  it('sends a callback one sender gave up, though a later start, its clock ahead, marked a time after its rest', async () => {
    const dir = tempDir();
    const statuses = [503];
    const origin = await receiver(statuses);
    const store = await createFileStore({ dir: join(dir, 'threads') });
    const runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
    kit.cleanups.push(() => runtime.close());
    /** A sender over the runtime, its ledger the file in `dir` as a ledger processes share. */
    const sender = (clock: Clock = systemClock) => {
      const ledger: DeliveryLedger = { ...fileDeliveryLedger(join(dir, 'deliveries.jsonl')), exclusive: false };
      const callbacks = createCallbackSender({ secret: SECRET, attempts: 2, initialDelayMs: 1, clock, ledger });
      const detach = callbacks.attach(runtime);
      return { callbacks, stop: kit.stopOnce(detach, () => callbacks.close()) };
    };
    const a = sender();
    await a.callbacks.idle();
    // B, its clock an hour ahead (more than any margin), starts and stops: a complete walk.
    const b = sender({ ...systemClock, now: () => Date.now() + 3_600_000 });
    await b.callbacks.idle();
    await b.stop();
    // A thread ends: the receiver refuses A's two attempts (503) and A gives up.
    const lost = await runtime.launch('echo', 'lost', { source: { kind: 'http', replyTo: origin.url } });
    await origin.waitFor(2);
    await a.callbacks.idle();
    await a.stop();

    statuses[0] = 200; // the receiver is back
    const c = sender();
    await c.callbacks.idle();
    await c.stop();
    const id = payloadOf(origin.received[0]!).id;
    expect(id).toMatch(new RegExp(`^${lost.id}@[0-9a-z]+:\\d+$`));
    expect(origin.received.map((r) => r.headers['x-switchyard-delivery'])).toEqual([id, id, id]);
    expect(payloadOf(origin.received[2]!)).toEqual(payloadOf(origin.received[0]!));
  });
});

describe('switchyard serve killed while a callback is refused', () => {
  it('sends it when it starts again on the same directory, with the same id and body', async () => {
    const run = await serveKilledWhileRefused(kit, {
      env: () => ({ SWITCHYARD_WEBHOOK_SECRET: SECRET }),
      launch: (url) => ({ callbackUrl: url }),
    });
    expect(run.delivered.headers['x-switchyard-delivery']).toBe(run.refused.headers['x-switchyard-delivery']);
    expect(payloadOf(run.delivered)).toEqual(payloadOf(run.refused));
    expect(payloadOf(run.delivered)).toMatchObject({ type: 'thread.finished', threadId: run.threadId, status: 'done' });
    expect(signedWith(run.delivered, SECRET)).toBe(true);
    // Stopped (its callbacks in flight finish first): the restart sent it once.
    expect(run.stopCode).toBe(0);
    expect(run.sentAfterRestart).toBe(1);
  });
});
