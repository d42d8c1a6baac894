import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER, REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import { collector, deferred, eventually } from '../bus/waiting.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

// A worker that stops drains its runtime first (the tool calls in progress finish and are
// journaled), and only then aborts its jobs' runs and hands the jobs back. A trigger pulled just
// before the stop, that reaches its launch while the drain waits for a tool, finds the runtime
// refusing new work: that is the worker stopping, not a failed job. It is handed back (delivered
// again at once) and another worker runs it; thrown, it was reported as a failed job (a warning at
// every rolling deploy) and waited out the queue's retry delay. Handed back before its thread
// exists, on its last delivery (here a queue of one delivery per job), a nak dead-lettered it: the
// trigger was lost. It is handed back as a copy with deliveries of its own, launching the same
// thread, replying where the original asked, recording the original's id.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});


/**
 * `runtime` whose first read of `threadId` (the trigger asking whether a run holds its thread)
 * waits until a drain has begun; `refused` resolves once a launch was refused.
 */
function gated(runtime: Runtime, threadId: string): { runtime: Runtime; holding: Promise<void>; refused: Promise<void> } {
  const holding = deferred<void>();
  const release = deferred<void>();
  const refused = deferred<void>();
  let armed = true;
  return {
    holding: holding.promise,
    refused: refused.promise,
    runtime: {
      ...runtime,
      async get(id) {
        if (armed && id === threadId) {
          armed = false;
          holding.resolve();
          await release.promise;
        }
        return runtime.get(id);
      },
      async launch(...args) {
        try {
          return await runtime.launch(...args);
        } catch (error) {
          refused.resolve();
          throw error;
        }
      },
      drain(options) {
        const drained = runtime.drain(options);
        release.resolve();
        return drained;
      },
    },
  };
}

/**
 * Two worker processes on one bus and store, in turn: p1 runs trg-a1's tool (held, so its drain
 * waits for it), pulls trg-b1 (replying to results.b1) and stops while trg-b1's read is held; its
 * launch comes during the drain. Then p2 starts. Resolves once trg-b1 has finished on p2.
 */
async function triggerDuringDrain(maxDeliver?: number, sized?: { maxPayloadBytes: number; payload?: unknown }) {
  const held = heldPublishTool({ idempotent: true });
  const publisher = agent({ name: 'publisher', description: 'publishes a post', prompt: 'p', tools: [held.publish] });
  const failures: unknown[] = [];
  const bus = createMemoryBus({ onError: (error) => failures.push(error) });
  cleanups.push(() => bus.close());
  const replies = collector<unknown>();
  const sub = bus.subscribe('results.b1', (msg) => {
    const json = msg.json();
    if (json.success) replies.push(json.data);
  });
  cleanups.push(async () => sub.unsubscribe());
  const store = createMemoryStore();
  const startProcess = async (id: string, first: boolean) => {
    const queues = createAgentQueues({ bus, ...(maxDeliver === undefined ? {} : { maxDeliver }) });
    // One store for both processes: a process that stops leaves it open for the other.
    const shared: ThreadStore = Object.assign(Object.create(store) as ThreadStore, { close: async () => {} });
    const runtime = createRuntime({ agents: [publisher], store: shared, model: publisherModel().model, schedule: queues.schedule });
    // Only the stopping process holds its read: the next one reads the thread at once.
    const gate = gated(runtime, first ? 'trg-b1' : '');
    const surface = await attachBus(gate.runtime, { queues, processId: id, heartbeatMs: 100, ...(sized === undefined ? {} : { maxPayloadBytes: sized.maxPayloadBytes }) });
    const stop = async (): Promise<void> => {
      await surface.close({ drainMs: 10_000 });
      await runtime.close();
    };
    cleanups.push(stop);
    return { stop, ...gate };
  };
  const p1 = await startProcess('p1', true);
  await bus.publish('switchyard.trigger.publisher', { input: 'publish a' }, { headers: { [MSG_ID_HEADER]: 'a1' } });
  await held.started.promise; // trg-a1's tool runs: the drain will wait for it
  await bus.publish('switchyard.trigger.publisher', sized?.payload ?? triggerB(sized?.maxPayloadBytes), { headers: { [MSG_ID_HEADER]: 'b1', [REPLY_TO_HEADER]: 'results.b1' } });
  await p1.holding; // trg-b1's job was pulled and reads its thread
  const stopped = p1.stop();
  await p1.refused; // its launch came during the drain
  held.release.resolve('published');
  await stopped;
  const launchedBeforeP2 = await store.get('trg-b1');
  const deadLettersBeforeP2 = await (await bus.jobQueue('switchyard_publisher')).deadLetters();
  await startProcess('p2', false);
  const thread = await eventually(
    async () => {
      const current = await store.get('trg-b1');
      return current?.events.some((e) => e.type === 'final') ? current : undefined;
    },
    10_000,
    'trg-b1 to be launched and finish on p2',
  );
  return { bus, store, failures, replies, thread, launchedBeforeP2, deadLettersBeforeP2 };
}

/** trg-b1's payload: `publish b`, padded to `bytes` of JSON when given (a trigger right at the limit). */
function triggerB(bytes?: number): { input: string } {
  if (bytes === undefined) return { input: 'publish b' };
  const padding = bytes - Buffer.byteLength(JSON.stringify({ input: 'publish b ' }));
  return { input: `publish b ${'.'.repeat(padding)}` };
}

describe('a trigger that reaches its launch while its worker drains', () => {
  it('is handed back, not failed, and launched by another worker', async () => {
    const { bus, store, failures, thread, launchedBeforeP2 } = await triggerDuringDrain();
    expect(launchedBeforeP2).toBeUndefined();
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect((await store.get('trg-a1'))?.events.at(-1)).toMatchObject({ type: 'final' });
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    expect(failures).toEqual([]);
  }, 30_000);

  it('on a queue of one delivery per job, is not dead-lettered: another worker launches its thread once, replies where it asked and records its trigger id', async () => {
    const { bus, failures, replies, thread, launchedBeforeP2, deadLettersBeforeP2 } = await triggerDuringDrain(1);
    expect(launchedBeforeP2).toBeUndefined();
    expect(deadLettersBeforeP2).toEqual([]);
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'after published' } });
    const inputs = thread.events.filter((e) => e.type === 'input');
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ data: { input: 'publish b', source: { kind: 'nats', replyTo: 'results.b1', triggerId: 'b1' } } });
    const [reply] = await replies.until(1, 10_000, 'the result of trg-b1 on its reply subject');
    expect(reply).toMatchObject({ threadId: 'trg-b1', status: 'done' });
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    expect(failures).toEqual([]);
  }, 30_000);

  // The copy carries the thread id its original derived (from its msg id) in its payload: a
  // trigger right at maxPayloadBytes was accepted by p1, and its copy refused by p2 as too large
  // (an error reply and a dead letter: a trigger lost to a shutdown).
  it('right at maxPayloadBytes, is launched from its copy by another worker, not refused as too large', async () => {
    const maxPayloadBytes = 2_000;
    expect(Buffer.byteLength(JSON.stringify(triggerB(maxPayloadBytes)))).toBe(maxPayloadBytes);
    const { bus, failures, replies, thread, launchedBeforeP2 } = await triggerDuringDrain(1, { maxPayloadBytes });
    expect(launchedBeforeP2).toBeUndefined();
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect(thread.events.find((e) => e.type === 'input')).toMatchObject({ data: { input: triggerB(maxPayloadBytes).input, source: { triggerId: 'b1' } } });
    const [reply] = await replies.until(1, 10_000, 'the result of trg-b1 on its reply subject');
    expect(reply).toMatchObject({ threadId: 'trg-b1', status: 'done' });
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    expect(failures).toEqual([]);
  }, 30_000);

  // A copy is written from the original's parsed JSON: 1e21 comes back as 1e+21, a byte longer.
  it('whose copy would outgrow the room a copy has, is handed back as itself and launched by another worker', async () => {
    const numbers = Array.from({ length: 400 }, () => 1e21);
    const original = Buffer.from(`{"input":[${numbers.map(() => '1e21').join(',')}]}`);
    const maxPayloadBytes = original.length;
    expect(JSON.stringify({ input: numbers }).length).toBe(maxPayloadBytes + 400);
    const { bus, failures, thread, launchedBeforeP2 } = await triggerDuringDrain(undefined, { maxPayloadBytes, payload: original });
    expect(launchedBeforeP2).toBeUndefined();
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect(thread.events.find((e) => e.type === 'input')).toMatchObject({ data: { input: numbers, source: { triggerId: 'b1' } } });
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    expect(failures).toEqual([]);
  }, 30_000);
});
