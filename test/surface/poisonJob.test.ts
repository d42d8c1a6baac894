/**
 * A poison job on the in-process bus (QA qa23 finding 7; test/nats/poisonJob.test.ts on NATS): a
 * job no delivery of which is acknowledged (each consumer it goes to holds it and never answers,
 * as a worker that died with it) is dead-lettered after its last ack wait, and its thread
 * escalated to a human and reported to its `replyTo`, through the same hook as on NATS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { Bus, JobQueue } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import type { Model } from '../../src/model/model.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { collector, deferred } from '../nats/natsTestKit.js';

/**
 * `bus`, whose job queues' consumers are dead: every job they take they hold, unacknowledged and
 * never heartbeating, until `release` (the end of the test): as workers that died with it.
 */
function deadConsumersBus(bus: Bus, release: Promise<void>): Bus {
  const queue = (q: JobQueue): JobQueue => ({ ...q, consume: (_handler, options) => q.consume(() => release, options) });
  return { ...bus, jobQueue: async (name, options) => queue(await bus.jobQueue(name, options)) };
}

/** A model that never answers (until its request is aborted). */
const stallingModel: Model = {
  name: 'stalling',
  complete: (request) => new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), { once: true })),
};

describe('a poison job on the in-process bus', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('escalates its thread once its job is dead-lettered, and reports the escalation to replyTo', async () => {
    const bus = createMemoryBus();
    const release = deferred();
    const queues = createAgentQueues({ bus: deadConsumersBus(bus, release.promise), ackWaitMs: 300, retryDelayMs: 50, maxRetryDelayMs: 100, maxDeliver: 2 });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: stallingModel, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 0 }), async () => release.resolve());
    const results = collector<TriggerResult>();
    bus.subscribe('app.results', (msg) => {
      const json = msg.json();
      if (json.success) results.push(json.data as TriggerResult);
    });
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
});
