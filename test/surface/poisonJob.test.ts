/**
 * A poison job on the in-process bus (QA qa23 finding 7; test/nats/poisonJob.test.ts on NATS): a
 * job no delivery of which is acknowledged (each consumer it goes to holds it and never answers,
 * as a worker that died with it) is dead-lettered after its last ack wait, and its thread
 * escalated to a human and reported to its `replyTo`, through the same hook as on NATS. A
 * pipeline's own thread too: it used to be left `running` for good (logged at error), with nobody
 * asked and nothing to move it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import type { Bus, JobQueue } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import type { Model } from '../../src/model/model.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { collector, deferred } from '../nats/natsTestKit.js';

/**
 * `bus`, whose job queues' consumers are dead: every job they take they hold, unacknowledged and
 * never heartbeating, until `release` (the end of the test): as workers that died with it. Once
 * `healthy` says so (the cause fixed), the jobs they take after that are run as usual.
 */
function deadConsumersBus(bus: Bus, release: Promise<void>, healthy: () => boolean = () => false): Bus {
  const queue = (q: JobQueue): JobQueue => ({ ...q, consume: (handler, options) => q.consume((job) => (healthy() ? handler(job) : release), options) });
  return { ...bus, jobQueue: async (name, options) => queue(await bus.jobQueue(name, options)) };
}

/** A pipeline of one code step: doubles `n`. */
const doubling = pipeline({ name: 'doubling', description: 'doubles n', input: z.object({ n: z.number() }), output: z.object({ n: z.number() }) })
  .code({ name: 'double', output: z.object({ n: z.number() }), run: ({ input }) => ({ n: input.n * 2 }) })
  .finish(({ results }) => results.double);

/** A model that never answers (until its request is aborted). */
const stallingModel: Model = {
  name: 'stalling',
  complete: (request) => new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), { once: true })),
};

describe('a poison job on the in-process bus', () => {
  const cleanups: (() => Promise<void>)[] = [];
  /**
   * A runtime (the calculator and the doubling pipeline) on an in-memory bus whose consumers take
   * each job and never finish it until `healthy()` says so, and the results reported to `app.results`.
   */
  async function poisonBed(healthy: () => boolean) {
    const bus = createMemoryBus();
    const release = deferred();
    const queues = createAgentQueues({ bus: deadConsumersBus(bus, release.promise, healthy), ackWaitMs: 300, retryDelayMs: 50, maxRetryDelayMs: 100, maxDeliver: 2 });
    const runtime = createRuntime({ agents: [calculator], pipelines: [doubling], store: createMemoryStore(), model: stallingModel, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 0 }), async () => release.resolve());
    const results = collector<TriggerResult>();
    bus.subscribe('app.results', (msg) => {
      const json = msg.json();
      if (json.success) results.push(json.data as TriggerResult);
    });
    return { queues, runtime, results };
  }
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('escalates its thread once its job is dead-lettered, and reports the escalation to replyTo', async () => {
    const { queues, runtime, results } = await poisonBed(() => false);
    // Launched as a NATS trigger would (its replyTo recorded); its continuation job goes to the dead consumers.
    await runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'poison', source: { kind: 'nats', replyTo: 'app.results' } });
    const [result] = await results.until(1, 10_000, 'the escalation');
    const letters = await (await queues.queue('calculator')).deadLetters();
    expect(letters).toEqual([expect.objectContaining({ id: 'switchyard_calculator:1', cause: 'max_deliver', reason: 'max deliveries (2) reached: ack wait expired' })]);
    expect(result).toMatchObject({ threadId: 'poison', status: 'escalated', pendingRequest: { kind: 'escalation' } });
    expect(result!.pendingRequest!.question).toContain('delivered 2 times and no worker finished it');
    expect(result!.pendingRequest!.question).toContain('dead letter switchyard_calculator:1');
    expect((await runtime.get('poison'))?.status).toBe('escalated');
  });

  it("escalates a pipeline's own thread once its job is dead-lettered; it stays escalated when woken, an answer runs it to its end, a denial stops it", async () => {
    let healthy = false;
    const { queues, runtime, results } = await poisonBed(() => healthy);
    const source = { kind: 'nats' as const, replyTo: 'app.results' };
    await runtime.launch('doubling', { n: 21 }, { threadId: 'poison-pipe', source });
    const [escalated] = await results.until(1, 10_000, "the pipeline's escalation");
    const letters = await (await queues.queue('doubling')).deadLetters();
    expect(letters).toEqual([expect.objectContaining({ id: 'switchyard_doubling:1', cause: 'max_deliver', reason: 'max deliveries (2) reached: ack wait expired' })]);
    expect(escalated).toMatchObject({ threadId: 'poison-pipe', agent: 'doubling', status: 'escalated', pendingRequest: { kind: 'escalation', urgency: 'high' } });
    const question = escalated!.pendingRequest!.question;
    expect(question).toContain('delivered 2 times and no worker finished it');
    expect(question).toContain('dead letter switchyard_doubling:1');
    const view = await runtime.get('poison-pipe');
    expect(view?.status).toBe('escalated');
    expect(view?.events.map((e) => e.type)).toEqual(['input', 'escalation', 'human_request']);

    // The cause is fixed. A job that wakes the pipeline meanwhile (a child's end, a recover) finds
    // it waiting for the human: it rests escalated again, and runs no step.
    healthy = true;
    await queues.schedule(view!);
    const [woken] = (await results.until(2, 10_000, 'the woken pipeline at rest')).slice(1);
    expect(woken).toMatchObject({ threadId: 'poison-pipe', status: 'escalated' });
    expect((await runtime.get('poison-pipe'))?.events.map((e) => e.type)).toEqual(['input', 'escalation', 'human_request']);

    // Answering runs it again, to its end.
    await runtime.respond('poison-pipe', { requestId: escalated!.pendingRequest!.requestId, answer: 'fixed; go on', by: 'ops' });
    const [done] = (await results.until(3, 10_000, 'the answered pipeline to end')).slice(2);
    expect(done).toMatchObject({ threadId: 'poison-pipe', status: 'done', output: { n: 42 } });

    // Denying the escalation of another stops it.
    healthy = false;
    await runtime.launch('doubling', { n: 1 }, { threadId: 'poison-pipe-2', source });
    const second = await results.until(4, 10_000, "the second pipeline's escalation");
    const other = second[3]!;
    expect(other).toMatchObject({ threadId: 'poison-pipe-2', status: 'escalated' });
    healthy = true;
    const denied = await runtime.respond('poison-pipe-2', { requestId: other.pendingRequest!.requestId, approved: false, by: 'ops' });
    expect(denied.status).toBe('failed');
  });
});
