import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { Bus, ConsumeOptions, Job, JobHandler, JobQueue, JobQueueOptions } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { deferred, eventually } from '../bus/waiting.js';

// A job's own redelivery, while the run of its first delivery still holds the thread (its
// heartbeats lost: a server restart, a partition), is handed off to that run. Acknowledging it
// then would remove the job's only message: if the run then ends without its thread at rest (its
// process stops or dies), nothing would carry the thread on.
describe('a redelivered job whose first delivery still runs', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  const release = deferred<void>();
  const slow = tool({
    name: 'slow',
    description: 'takes its time',
    input: z.object({}),
    idempotent: true,
    run: async () => {
      await release.promise;
      return 'ok';
    },
  });
  const worker = agent({ name: 'slowpoke', description: 'calls a slow tool', prompt: 'You are {{agent}}.\n{{tools}}', tools: [slow], maxSteps: 5 });

  /** The bus as a partitioned worker sees it: its heartbeats (`job.working()`) never arrive. */
  function losingHeartbeats(bus: Bus): Bus {
    return new Proxy(bus, {
      get(target, key, receiver) {
        if (key !== 'jobQueue') return Reflect.get(target, key, receiver) as unknown;
        return async (name: string, options?: JobQueueOptions): Promise<JobQueue> => {
          const queue = await target.jobQueue(name, options);
          return Object.assign(Object.create(queue) as JobQueue, {
            consume: (handler: JobHandler, consumeOptions?: ConsumeOptions) =>
              queue.consume((job) => handler(Object.assign(Object.create(job) as Job, { working: async () => {} })), consumeOptions),
          });
        };
      },
    });
  }

  async function process(bus: Bus, store: ThreadStore, id: string, partitioned = false): Promise<() => Promise<void>> {
    // The 200 ms ack wait passes while the tool runs: without heartbeats, the job is redelivered.
    const queues = createAgentQueues({ bus: partitioned ? losingHeartbeats(bus) : bus, ackWaitMs: 200, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver: 20 });
    const model = scriptedModel([], { whenExhausted: (request) => (request.context.includes('tool_result') ? { intent: 'done_for_now', args: { message: 'done' } } : { intent: 'slow' }) });
    // One store for both processes: a process that stops leaves it open for the other.
    const shared: ThreadStore = Object.assign(Object.create(store) as ThreadStore, { close: async () => {} });
    const runtime = createRuntime({ agents: [worker], store: shared, model, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: id, heartbeatMs: 100 });
    const stop = async (): Promise<void> => {
      await surface.close({ drainMs: 0 });
      await runtime.close();
    };
    cleanups.push(stop);
    return stop;
  }

  it('is not acknowledged: when that run stops before its thread rests, the job still carries the thread on', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const store = createMemoryStore();
    const stopFirst = await process(bus, store, 'p1', true);
    await bus.publish('switchyard.trigger.slowpoke', { input: 'go' }, { headers: { [MSG_ID_HEADER]: 'r1' } });
    // p1 runs the tool; its job's ack wait passes and the job comes again, to p1 (nobody else yet).
    await eventually(async () => ((await store.get('trg-r1'))?.events.some((e) => e.type === 'tool_call') ? true : undefined), 5_000, 'the tool call');
    await new Promise((resolve) => setTimeout(resolve, 600));
    // p1 stops (its run is aborted and its delivery handed back) before the tool returns; p2 takes over.
    await stopFirst();
    await process(bus, store, 'p2');
    release.resolve();
    const rested = await eventually(
      async () => {
        const thread = await store.get('trg-r1');
        return thread?.events.some((e) => e.type === 'final') ? thread : undefined;
      },
      10_000,
      'the thread to finish on p2',
    );
    expect(rested.events.at(-1)?.type).toBe('final');
  });
});
