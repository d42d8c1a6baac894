import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { deferred, eventually } from '../bus/waiting.js';

// A worker that stops aborts the runs and holds of its jobs, and hands the jobs back. A job that
// reaches its hold only after that sweep (a wake-up job still reading its thread when the stop
// came) must be handed back all the same: else it sleeps out its deadline in the stopping process,
// then waits forever on a runtime that moves no thread any more, and on a queue of one delivery
// per job it is dead-lettered once left unacknowledged, its thread asleep for good.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const THREAD = 'trg-n1';

/** Sleeps one second, then answers 'rested'. */
const nap = pipeline({ name: 'nap', description: 'sleep, then answer', input: z.object({}), output: z.string() })
  .sleep({ name: 'wait', ms: 1_000 })
  .code({ name: 'answer', run: () => 'rested' })
  .finish(({ results }) => results.answer);

/**
 * Holds the worker's first read of the sleeping thread (the wake-up job asking whether its thread
 * exists) until the runtime's drain has returned and the stop has swept the runs and holds.
 */
interface Gate {
  /** Resolves once a read of the sleeping thread is held. */
  readonly holding: Promise<void>;
}

function gated(runtime: Runtime): { runtime: Runtime; gate: Gate } {
  const holding = deferred<void>();
  const release = deferred<void>();
  let armed = true;
  return {
    gate: { holding: holding.promise },
    runtime: {
      ...runtime,
      async get(threadId) {
        const view = await runtime.get(threadId);
        if (armed && view?.status === 'sleeping') {
          armed = false;
          holding.resolve();
          await release.promise;
        }
        return view;
      },
      async drain(options) {
        await runtime.drain(options);
        // The worker's stop resumes (and sweeps) in the microtasks after this drain returns.
        setImmediate(() => release.resolve());
      },
    },
  };
}

async function startProcess(bus: Bus, store: ThreadStore, id: string, gate = false): Promise<{ stop: () => Promise<void>; gate?: Gate }> {
  const queues = createAgentQueues({ bus, maxDeliver: 1 });
  // One store for both processes: a process that stops leaves it open for the other.
  const shared: ThreadStore = Object.assign(Object.create(store) as ThreadStore, { close: async () => {} });
  const plain = createRuntime({ agents: [], pipelines: [nap], store: shared, model: scriptedModel([]), schedule: queues.schedule });
  const { runtime, gate: held } = gate ? gated(plain) : { runtime: plain, gate: undefined };
  const surface = await attachBus(runtime, { queues, processId: id, heartbeatMs: 100 });
  const stop = async (): Promise<void> => {
    await surface.close({ drainMs: 0 });
    await runtime.close();
  };
  cleanups.push(stop);
  return { stop, ...(held === undefined ? {} : { gate: held }) };
}

describe('a wake-up job that reaches its hold after its worker began to stop', () => {
  it('is handed back, and another worker wakes its thread, on a queue of one delivery per job', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const store = createMemoryStore();
    const p1 = await startProcess(bus, store, 'p1', true);
    await bus.publish('switchyard.trigger.nap', { input: {} }, { headers: { [MSG_ID_HEADER]: 'n1' } });
    // p1's wake-up job is reading its thread: p1 stops now.
    await p1.gate!.holding;
    await p1.stop();
    await startProcess(bus, store, 'p2');
    const thread = await eventually(
      async () => {
        const current = await store.get(THREAD);
        return current?.events.some((e) => e.type === 'final') ? current : undefined;
      },
      10_000,
      'the thread to wake and finish on p2',
    );
    expect(thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: 'rested' } });
    expect(await (await bus.jobQueue('switchyard_nap')).deadLetters()).toEqual([]);
  }, 30_000);
});
