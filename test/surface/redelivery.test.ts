import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { BusError, type Bus, type ConsumeOptions, type Job, type JobHandler, type JobQueue, type JobQueueOptions } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues, type AgentQueuesOptions } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import type { Thread, ThreadEvent } from '../../src/thread/events.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { deferred, eventually } from '../bus/waiting.js';

// Two processes (p1, p2) on one in-process bus and one store, running an agent whose one tool
// returns when the test says: what happens to a job whose thread another run holds.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Waits until the trigger's thread `trg-r1` has an event that `matches`. */
function eventSeen(store: ThreadStore, matches: (event: ThreadEvent) => boolean, what: string): Promise<true> {
  return eventually(async () => ((await store.get('trg-r1'))?.events.some(matches) ? true : undefined), 5_000, what);
}

/** An agent that calls `slow` (which returns on `release`), then finishes. */
function slowpoke(release: Promise<void>): ReturnType<typeof agent> {
  const slow = tool({
    name: 'slow',
    description: 'takes its time',
    input: z.object({}),
    idempotent: true,
    run: async () => {
      await release;
      return 'ok';
    },
  });
  return agent({ name: 'slowpoke', description: 'calls a slow tool', prompt: 'You are {{agent}}.\n{{tools}}', tools: [slow], maxSteps: 5 });
}

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

/**
 * The bus with every hand-off request (`owner.<id>.run`) counted once settled; with `unanswered`,
 * each one times out as if the owner were too busy to answer.
 */
function countingHandOffs(bus: Bus, answered: { count: number }, unanswered = false): Bus {
  return new Proxy(bus, {
    get(target, key, receiver) {
      if (key !== 'request') return Reflect.get(target, key, receiver) as unknown;
      return async (...args: Parameters<Bus['request']>) => {
        const handOff = args[0].endsWith('.run');
        try {
          if (handOff && unanswered) throw new BusError('timeout', 'the owner did not answer in time');
          return await target.request(...args);
        } finally {
          if (handOff) answered.count++;
        }
      };
    },
  });
}

interface ProcessOptions {
  readonly release: Promise<void>;
  readonly queue: Omit<AgentQueuesOptions, 'bus'>;
  /** Its heartbeats are lost (a partition). @default false */
  readonly partitioned?: boolean;
  /** Its model never answers once the tool has returned. @default false */
  readonly hangAfterTool?: boolean;
  /** Jobs at once. @default 16 */
  readonly concurrency?: number;
  /** Its hand-offs to the process running the thread get no answer in time. @default false */
  readonly handOffsUnanswered?: boolean;
}

interface Process {
  readonly stop: () => Promise<void>;
  readonly handOffs: { count: number };
}

/** Starts a process serving `slowpoke`; `stop` closes it as a shutdown does (its runs handed back at once). */
async function startProcess(bus: Bus, store: ThreadStore, id: string, options: ProcessOptions): Promise<Process> {
  const handOffs = { count: 0 };
  const own = countingHandOffs(options.partitioned === true ? losingHeartbeats(bus) : bus, handOffs, options.handOffsUnanswered === true);
  const queues = createAgentQueues({ ...options.queue, bus: own });
  const model = scriptedModel([], {
    whenExhausted: (request) => {
      if (!request.context.includes('tool_result')) return { intent: 'slow' };
      return options.hangAfterTool === true ? { hang: true } : { intent: 'done_for_now', args: { message: 'done' } };
    },
  });
  // One store for both processes: a process that stops leaves it open for the other.
  const shared: ThreadStore = Object.assign(Object.create(store) as ThreadStore, { close: async () => {} });
  const runtime = createRuntime({ agents: [slowpoke(options.release)], store: shared, model, schedule: queues.schedule });
  const surface = await attachBus(runtime, { queues, processId: id, heartbeatMs: 100, ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }) });
  const stop = async (): Promise<void> => {
    await surface.close({ drainMs: 0 });
    await runtime.close();
  };
  cleanups.push(stop);
  return { stop, handOffs };
}

function setUp(): { bus: Bus; store: ThreadStore } {
  const bus = createMemoryBus();
  cleanups.push(() => bus.close());
  return { bus, store: createMemoryStore() };
}

async function triggerAndAwaitToolCall(bus: Bus, store: ThreadStore): Promise<void> {
  await bus.publish('switchyard.trigger.slowpoke', { input: 'go' }, { headers: { [MSG_ID_HEADER]: 'r1' } });
  await eventSeen(store, (e) => e.type === 'tool_call', 'the tool call');
}

async function finished(store: ThreadStore): Promise<Thread> {
  const thread = await eventually(
    async () => {
      const current = await store.get('trg-r1');
      return current?.events.some((e) => e.type === 'final') ? current : undefined;
    },
    10_000,
    'the thread to finish on p2',
  );
  expect(thread.events.at(-1)?.type).toBe('final');
  return thread;
}

// A job's own redelivery, while the run of its first delivery still holds the thread (its
// heartbeats lost: a server restart, a partition), is handed off to that run. Acknowledging it
// then would remove the job's only message: if the run then ends without its thread at rest (its
// process stops or dies), nothing would carry the thread on.
describe('a redelivered job whose first delivery still runs', () => {
  it('is not acknowledged: when that run stops before its thread rests, the job still carries the thread on', async () => {
    const { bus, store } = setUp();
    const release = deferred<void>();
    // The 200 ms ack wait passes while the tool runs: without heartbeats, the job is redelivered.
    const queue = { ackWaitMs: 200, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver: 20 };
    const p1 = await startProcess(bus, store, 'p1', { release: release.promise, queue, partitioned: true });
    // p1 runs the tool; its job's ack wait passes and the job comes again, to p1 (nobody else yet).
    await triggerAndAwaitToolCall(bus, store);
    await new Promise((resolve) => setTimeout(resolve, 600));
    // p1 stops (its run is aborted and its delivery handed back) before the tool returns; p2 takes over.
    await p1.stop();
    await startProcess(bus, store, 'p2', { release: release.promise, queue });
    release.resolve();
    await finished(store);
  });
});

// The same job's last redeliveries run where they land (so a valid job is never dead-lettered for
// a holder that does not answer). Such a run can end before its thread rests (its write lost the
// race to the holder's): acknowledging its job then would remove the holder's only message too.
describe('a redelivered job whose run loses the race to its first delivery', () => {
  // maxDeliver 3: the run is on the next-to-last delivery; maxDeliver 2: on the last.
  it.each([3, 2])('is not acknowledged (maxDeliver %i): when the holder then stops, the job still carries the thread on', async (maxDeliver) => {
    const { bus, store } = setUp();
    const [first, second] = [deferred<void>(), deferred<void>()];
    const queue = { ackWaitMs: 200, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver };
    // p1 runs the tool; its heartbeats are lost, so the job comes again, to p2 (one job at a time:
    // p1 has no room).
    const p1 = await startProcess(bus, store, 'p1', { release: first.promise, queue, partitioned: true, hangAfterTool: true, concurrency: 1 });
    await triggerAndAwaitToolCall(bus, store);
    const p2 = await startProcess(bus, store, 'p2', { release: second.promise, queue, concurrency: 1 });
    // p2 takes the redelivery: p1 holds the thread, but it is late, so p2 runs it too (the tool again).
    await eventually(async () => (p2.handOffs.count >= 1 ? true : undefined), 5_000, 'the hand-off of the redelivery');
    // p1's tool returns first: p1 records a result and goes on to decide (and hangs there, holding
    // the thread); p2's result is then refused.
    first.resolve();
    await eventSeen(store, (e) => e.type === 'tool_result', 'p1 result');
    second.resolve();
    // p2's run ends with the thread not at rest, and asks p1 (which holds it) to carry it on.
    await eventually(async () => (p2.handOffs.count >= 2 ? true : undefined), 5_000, 'the hand-off after the lost race');
    // p1 stops before its thread rests: its delivery is handed back, if the job is still there.
    await p1.stop();
    const rested = await finished(store);
    expect(rested.events.filter((e) => e.type === 'tool_result')).toHaveLength(1);
  });
});

// The mirror image: the first delivery's run ends before its thread rests, because the job's
// redelivery, now running elsewhere, wrote first. That run holds the thread for this very job: the
// first delivery must not be acknowledged either (a first delivery is another job than the
// holder's only when it starts, not once its heartbeats may have been lost).
describe('a first delivery whose redelivery took its thread from it', () => {
  it("is not acknowledged: when the redelivery's run then stops, the job still carries the thread on", async () => {
    const { bus, store } = setUp();
    const [first, second] = [deferred<void>(), deferred<void>()];
    const queue = { ackWaitMs: 200, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver: 3 };
    const p1 = await startProcess(bus, store, 'p1', { release: first.promise, queue, partitioned: true, concurrency: 1 });
    await triggerAndAwaitToolCall(bus, store);
    // p2 takes the redelivery and, getting no answer from p1 in time, runs it too (the tool again).
    const p2 = await startProcess(bus, store, 'p2', { release: second.promise, queue, concurrency: 1, hangAfterTool: true, handOffsUnanswered: true });
    await eventSeen(store, (e) => e.type === 'tool_call' && e.data.attempt === 2, "p2's tool call");
    // p2's tool returns first and p2 goes on to decide (and hangs there, holding the thread).
    second.resolve();
    await eventSeen(store, (e) => e.type === 'tool_result', "p2's result");
    // p1's result is refused: its run ends with the thread not at rest, and it asks p2 to carry it on.
    first.resolve();
    await eventually(async () => (p1.handOffs.count >= 1 ? true : undefined), 5_000, "p1's hand-off after the lost race");
    await p2.stop();
    const rested = await finished(store);
    expect(rested.events.filter((e) => e.type === 'tool_result')).toHaveLength(1);
  });
});

// A worker that stops hands its running jobs back. On a job's last delivery (every delivery, with
// maxDeliver 1) a nak dead-letters it: the thread would be left running with no job to carry it.
describe('a job handed back at shutdown on its last delivery', () => {
  it('is carried on by another process, not dead-lettered', async () => {
    const { bus, store } = setUp();
    const release = deferred<void>();
    const queue = { maxDeliver: 1 };
    const p1 = await startProcess(bus, store, 'p1', { release: release.promise, queue });
    await triggerAndAwaitToolCall(bus, store);
    await p1.stop();
    await startProcess(bus, store, 'p2', { release: release.promise, queue });
    release.resolve();
    await finished(store);
    expect(await (await bus.jobQueue('switchyard_slowpoke')).deadLetters()).toEqual([]);
  });
});
