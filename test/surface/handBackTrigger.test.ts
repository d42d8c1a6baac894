import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER, REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import { collector, deferred, eventually } from '../bus/waiting.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

// A trigger handed back before its thread exists (its worker's draining runtime refused the
// launch) has nothing wrong with it. On a queue of one delivery per job, a nak of that delivery
// dead-lettered it: the trigger was lost. It is handed back as a copy with deliveries of its own,
// launching the same thread, replying where the original asked, recording the original's id.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const held = heldPublishTool({ idempotent: true });
const publisher = agent({ name: 'publisher', description: 'publishes a post', prompt: 'p', tools: [held.publish] });

/** `runtime` whose first read of `threadId` waits until a drain has begun; `refused` resolves once a launch was refused. */
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

async function startProcess(bus: Bus, store: ThreadStore, id: string, first = true) {
  const queues = createAgentQueues({ bus, maxDeliver: 1 });
  const shared: ThreadStore = Object.assign(Object.create(store) as ThreadStore, { close: async () => {} });
  const runtime = createRuntime({ agents: [publisher], store: shared, model: publisherModel().model, schedule: queues.schedule });
  // Only the stopping process holds its read: the next one reads the thread at once.
  const gate = gated(runtime, first ? 'trg-b1' : '');
  const surface = await attachBus(gate.runtime, { queues, processId: id, heartbeatMs: 100 });
  const stop = async (): Promise<void> => {
    await surface.close({ drainMs: 10_000 });
    await runtime.close();
  };
  cleanups.push(stop);
  return { stop, ...gate };
}

describe('a trigger handed back before its thread exists, on a queue of one delivery per job', () => {
  it('is not dead-lettered: another worker launches its thread once, replies where it asked and records its trigger id', async () => {
    const failures: unknown[] = [];
    const bus = createMemoryBus({ onError: (error) => failures.push(error) });
    cleanups.push(() => bus.close());
    const replies = collector<unknown>();
    const sub = bus.subscribe('results.b1', (msg) => {
      const json = msg.json();
      if (json.success) replies.push(json.data);
    });
    cleanups.push(() => sub.unsubscribe());
    const store = createMemoryStore();
    const p1 = await startProcess(bus, store, 'p1');
    await bus.publish('switchyard.trigger.publisher', { input: 'publish a' }, { headers: { [MSG_ID_HEADER]: 'a1' } });
    await held.started.promise; // trg-a1's tool runs: the drain will wait for it
    await bus.publish('switchyard.trigger.publisher', { input: 'publish b' }, { headers: { [MSG_ID_HEADER]: 'b1', [REPLY_TO_HEADER]: 'results.b1' } });
    await p1.holding; // trg-b1's job was pulled and reads its thread
    const stopped = p1.stop();
    await p1.refused; // its launch came during the drain
    held.release.resolve('published');
    await stopped;
    expect(await store.get('trg-b1')).toBeUndefined();
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    await startProcess(bus, store, 'p2', false);
    const thread = await eventually(
      async () => {
        const current = await store.get('trg-b1');
        return current?.events.some((e) => e.type === 'final') ? current : undefined;
      },
      10_000,
      'trg-b1 to be launched and finish on p2',
    );
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'after published' } });
    const inputs = thread.events.filter((e) => e.type === 'input');
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ data: { input: 'publish b', source: { kind: 'nats', replyTo: 'results.b1', triggerId: 'b1' } } });
    const [reply] = await replies.until(1, 10_000, 'the result of trg-b1 on its reply subject');
    expect(reply).toMatchObject({ threadId: 'trg-b1', status: 'done' });
    expect(await (await bus.jobQueue('switchyard_publisher')).deadLetters()).toEqual([]);
    expect(failures).toEqual([]);
  }, 30_000);
});
