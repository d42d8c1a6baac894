/**
 * A call's outcome recorded late on NATS (qa16 #15): worker A's heartbeats stop past its job's ack
 * wait while its tool runs, worker B gets the job, finds the call started with no outcome, asks a
 * human whether it took effect and acks the job. Then A's tool returns: its outcome answers the
 * question and A's actor carries the thread on (test/runtime/lateOutcome.test.ts), holding no
 * valid job for it any more. If A dies before the thread rests, a durable continuation must bring
 * the thread back, or it stays `running` with no job, for good.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { Job, JobQueue } from '../../src/bus/bus.js';
import type { Model } from '../../src/model/model.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { createRuntime, type ThreadView } from '../../src/runtime/runtime.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { typesOf } from '../support/agentHarness.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { deferred, eventually, FAST_RECONNECT, jobsSettled, uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();
const QUEUE = { ackWaitMs: 1_500, retryDelayMs: 200, maxDeliver: 3 };

/** A job whose heartbeats never reach NATS (its process is frozen, as far as the queue can tell). */
function frozenJob(job: Job): Job {
  return {
    id: job.id,
    seq: job.seq,
    ...(job.msgId === undefined ? {} : { msgId: job.msgId }),
    subject: job.subject,
    data: job.data,
    headers: job.headers,
    deliveryCount: job.deliveryCount,
    text: () => job.text(),
    json: () => job.json(),
    ack: () => job.ack(),
    nak: (delayMs) => job.nak(delayMs),
    term: (reason) => job.term(reason),
    working: async () => undefined,
  };
}

/** `bus`, whose job queues hand out {@link frozenJob}s. */
function freezingBus(bus: NatsBus): NatsBus {
  const frozen = (queue: JobQueue): JobQueue => ({ ...queue, consume: (handler, options) => queue.consume((job) => handler(frozenJob(job)), options) });
  return { ...bus, jobQueue: async (name, options) => frozen(await bus.jobQueue(name, options)) };
}

/** A model that decides to publish, then never answers again (until its request is aborted); `deciding` resolves on that second call. */
function stallingModel(): { model: Model; deciding: Promise<void> } {
  const { model: first } = publisherModel();
  const deciding = deferred();
  let calls = 0;
  return {
    deciding: deciding.promise,
    model: {
      name: first.name,
      complete(request) {
        if (calls++ === 0) return first.complete(request);
        deciding.resolve();
        return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), { once: true }));
      },
    },
  };
}

/**
 * Worker A (one job at a time, its heartbeats frozen) runs a publish call the test holds, and
 * worker B, which took A's job once its ack wait ran out, has asked whether that call ran.
 */
async function askedWhileFrozen(modelOfA: Model) {
  const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
  const tools = heldPublishTool();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  // A's NATS connection is its life: closing it is A dying.
  const bus = await createNatsBus({ servers: bed.url, connectOptions: FAST_RECONNECT });
  const store = await createNatsKvStore({ nc: bus.nc, bucket: names.bucket });
  const queues = createAgentQueues({ ...QUEUE, bus: freezingBus(bus), prefix: names.prefix });
  const runtime = createRuntime({ agents: [publisher], store, model: modelOfA, schedule: queues.schedule });
  const surface = await attachBus(runtime, { queues, processId: `late-${uniqueToken()}`, concurrency: 1 });
  const close = async (): Promise<void> => {
    await surface.close({ drainMs: 0 }).catch(() => undefined);
    await runtime.close().catch(() => undefined);
    await bus.close();
  };
  try {
    await bed.client.trigger(`${names.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'late' });
    await tools.started.promise;
    // Worker B gets the job once A's ack wait ran out, asks whether the call ran, and acks it.
    const { model, asked } = publisherModel();
    const other = await bed.node({ agents: [publisher], model, prefix: names.prefix, bucket: names.bucket, queue: QUEUE });
    const waiting = await eventually(
      async () => {
        const view = await other.runtime.get('trg-late');
        return view?.status === 'awaiting_human' ? view : undefined;
      },
      20_000,
      'worker B to ask whether the call ran',
    );
    expect(waiting.pendingRequest).toMatchObject({ kind: 'interrupted', tool: 'publish' });
    return { names, tools, store, bus, other, askedOfB: asked, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Resolves with the thread once it is done, as `node` reads it. */
function doneIn(node: NatsNode, what: string): Promise<ThreadView> {
  return eventually(
    async () => {
      const view = await node.runtime.get('trg-late');
      return view?.status === 'done' ? view : undefined;
    },
    20_000,
    what,
    100,
  );
}

describe("a late call's outcome recorded by a worker that holds no job for its thread", () => {
  it('is continued by another worker when that worker dies before the thread rests: the thread ends done, the tool ran once', async () => {
    const stalling = stallingModel();
    const { tools, store, bus, other, askedOfB, close } = await askedWhileFrozen(stalling.model);
    try {
      // A's tool returns: its outcome answers the question, and A's actor goes on to decide...
      tools.release.resolve('published');
      await stalling.deciding;
      const answered = (await store.get('trg-late'))!;
      expect(typesOf(answered)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'tool_result']);
      // ...when A dies: its connection goes, as a killed process's would.
      await bus.close();

      const done = await doneIn(other, 'another worker to finish the thread A left running');
      expect(typesOf(done)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'tool_result', 'decision', 'final']);
      expect(done.events[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
      expect(done.output).toBe('after published');
      expect(tools.runs()).toBe(1);
      // B decided once: after A's outcome (B only asked, never decided, before).
      expect(askedOfB).toEqual(['publisher']);
    } finally {
      await close();
    }
  });

  it('when that worker finishes the thread itself, the continuation waits for it and settles: nothing is decided twice, no job is left', async () => {
    const { model, asked } = publisherModel();
    const { names, tools, other, askedOfB, close } = await askedWhileFrozen(model);
    try {
      const jobs = bed.client.watch<Record<string, unknown>>(`${names.prefix}.jobs.publisher`);
      await bed.client.nc.flush();
      tools.release.resolve('published');
      const done = await doneIn(other, 'worker A to finish the thread');
      expect(typesOf(done)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'tool_result', 'decision', 'final']);
      expect(done.output).toBe('after published');
      // The revived thread's job waited for A's run, then found the thread at rest.
      await jobs.until(1, 10_000, 'the continuation job of the revived thread');
      await jobsSettled(bed.client, names.prefix, ['publisher']);
      expect(jobs.items.map((j) => j.data)).toEqual([{ threadId: 'trg-late', revived: true }]);
      expect(typesOf((await other.runtime.get('trg-late'))!)).toEqual(typesOf(done));
      expect(asked).toEqual(['publisher', 'publisher']);
      expect(askedOfB).toEqual([]);
      expect(tools.runs()).toBe(1);
      expect(await (await other.queues.queue('publisher')).deadLetters()).toEqual([]);
    } finally {
      await close();
    }
  });
});
