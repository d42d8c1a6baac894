/**
 * A second trigger naming a thread that a healthy worker is running (a client's retry with the
 * same `threadId` and a new msg id, or the same msg id after the dedup window: QA19 pipelines #1).
 * The worker that takes it must not run or judge the thread while the other run holds it (no
 * "interrupted" question about a call in progress, no second run of the call), and its `replyTo`
 * gets the thread's result once it rests, as the first trigger's does.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { busSubjects } from '../../src/surface/subjects.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { deferred, eventually, FAST_RECONNECT, uniqueToken, useNatsTestBed } from './natsTestKit.js';
import { publisherFleet } from './publisherFleet.js';

const bed = useNatsTestBed();

/** Watches the probes of who holds `threadId` (the subject a worker asks on before it waits for the holder). */
function holdProbes(prefix: string, threadId: string): { seen: () => boolean; unsubscribe: () => void } {
  let seen = false;
  const subscription = bed.client.nc.subscribe(busSubjects(prefix).owner(threadId, 'hold'), { callback: () => void (seen = true) });
  return { seen: () => seen, unsubscribe: () => subscription.unsubscribe() };
}

describe('a second trigger of a thread that another worker is running', () => {
  it('waits for that run to let go: no question about the call in progress, the call runs once, and both triggers hear the result', async () => {
    const { tools, common } = publisherFleet();
    const threadId = `dup-${uniqueToken()}`;
    const trigger = `${common.prefix}.trigger.publisher`;
    // Worker A, one job at a time: it takes the first trigger and runs the call the test holds.
    await bed.node({ ...common, processId: 'worker-a', serve: ['publisher'], concurrency: 1 });
    const first = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: first.subject }, { msgId: `first-${threadId}` });
    await tools.started.promise;

    // Worker B joins; A is busy, so B takes the second trigger (same thread id, another msg id).
    const b = await bed.node({ ...common, processId: 'worker-b', serve: ['publisher'] });
    // B's probe of whoever holds the thread, seen on the subject it goes to (A answers it).
    const probes = holdProbes(common.prefix, threadId);
    const second = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: second.subject }, { msgId: `second-${threadId}` });
    // B has acted on it: it asked a human about the call (the defect) or asked who holds the thread.
    await eventually(
      async () => {
        const thread = await b.store.get(threadId);
        return probes.seen() || thread?.events.some((e) => e.type === 'human_request') === true ? true : undefined;
      },
      10_000,
      'worker B to act on the second trigger',
    );
    probes.unsubscribe();

    tools.release.resolve('published');
    const [firstResult] = await first.messages.until(1, 20_000, "the first trigger's result");
    const [secondResult] = await second.messages.until(1, 20_000, "the second trigger's result");
    const thread = (await b.store.get(threadId))!;
    expect(thread.events.filter((e) => e.type === 'human_request')).toEqual([]);
    expect(thread.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(tools.runs()).toBe(1);
    expect(firstResult).toMatchObject({ threadId, status: 'done', output: 'after published' });
    expect(secondResult).toMatchObject({ threadId, status: 'done', output: 'after published' });
  });

  it('on the worker running it (a free slot takes the second trigger): the second waits too, and both triggers hear the result', async () => {
    const { tools, common } = publisherFleet();
    const threadId = `dup-${uniqueToken()}`;
    const trigger = `${common.prefix}.trigger.publisher`;
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'], concurrency: 2 });
    const first = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: first.subject }, { msgId: `first-${threadId}` });
    await tools.started.promise;
    const second = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: second.subject }, { msgId: `second-${threadId}` });
    // The worker has the second trigger's job in hand (its first is the run's).
    await eventually(async () => (worker.surface.activeJobs() === 2 ? true : undefined), 10_000, 'the worker to take the second trigger');

    tools.release.resolve('published');
    const [firstResult] = await first.messages.until(1, 20_000, "the first trigger's result");
    const [secondResult] = await second.messages.until(1, 20_000, "the second trigger's result");
    expect(firstResult).toMatchObject({ threadId, status: 'done', output: 'after published' });
    expect(secondResult).toMatchObject({ threadId, status: 'done', output: 'after published' });
    const thread = (await worker.store.get(threadId))!;
    expect(thread.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(tools.runs()).toBe(1);
  });

  it('of a pipeline in a code step: the step runs once, not on both workers at once, and both triggers hear the result', async () => {
    const started = deferred();
    const release = deferred<string>();
    let runs = 0;
    const slowp = pipeline({ name: 'slowp', description: 'one slow step', input: z.unknown(), output: z.unknown() })
      .code({
        name: 'slow',
        output: z.string(),
        run: async () => {
          runs++;
          started.resolve();
          return release.promise;
        },
      })
      .finish(({ results }) => results.slow);
    const { common } = publisherFleet([slowp]);
    const threadId = `dup-${uniqueToken()}`;
    const trigger = `${common.prefix}.trigger.slowp`;
    await bed.node({ ...common, processId: 'worker-a', serve: ['slowp'], concurrency: 1 });
    const first = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: {}, threadId, replyTo: first.subject }, { msgId: `first-${threadId}` });
    await started.promise;

    const b = await bed.node({ ...common, processId: 'worker-b', serve: ['slowp'] });
    const probes = holdProbes(common.prefix, threadId);
    const second = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: {}, threadId, replyTo: second.subject }, { msgId: `second-${threadId}` });
    // B has acted on it: it ran the step a second time (the defect) or asked who holds the thread.
    await eventually(async () => (probes.seen() || runs > 1 ? true : undefined), 10_000, 'worker B to act on the second trigger');
    probes.unsubscribe();

    release.resolve('slow done');
    const [firstResult] = await first.messages.until(1, 20_000, "the first trigger's result");
    const [secondResult] = await second.messages.until(1, 20_000, "the second trigger's result");
    expect(runs).toBe(1);
    expect(firstResult).toMatchObject({ threadId, status: 'done', output: 'slow done' });
    expect(secondResult).toMatchObject({ threadId, status: 'done', output: 'slow done' });
    expect((await b.runtime.get(threadId))!.status).toBe('done');
  });

  it('whose run dies while the second trigger waits: the thread is taken over (a human asked whether the call took effect), and the second trigger hears it', async () => {
    const { tools, common } = publisherFleet();
    const threadId = `dup-${uniqueToken()}`;
    const trigger = `${common.prefix}.trigger.publisher`;
    // Worker A, built by hand: closing its NATS connection is A dying (no drain, no hand-back).
    const bus = await createNatsBus({ servers: bed.url, connectOptions: FAST_RECONNECT });
    const store = await createNatsKvStore({ nc: bus.nc, bucket: common.bucket });
    const queues = createAgentQueues({ ackWaitMs: 5_000, retryDelayMs: 200, maxDeliver: 3, bus, prefix: common.prefix });
    const runtime = createRuntime({ agents: common.agents, store, model: common.model, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'worker-a', concurrency: 1 });
    try {
      const first = bed.client.inbox<TriggerResult>();
      await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: first.subject }, { msgId: `first-${threadId}` });
      await tools.started.promise;
      const b = await bed.node({ ...common, processId: 'worker-b', serve: ['publisher'] });
      const probes = holdProbes(common.prefix, threadId);
      const second = bed.client.inbox<TriggerResult>();
      await bed.client.trigger(trigger, { input: 'publish hello', threadId, replyTo: second.subject }, { msgId: `second-${threadId}` });
      await eventually(async () => (probes.seen() ? true : undefined), 10_000, 'worker B to ask who holds the thread');
      probes.unsubscribe();

      await bus.close();
      const [asked] = await second.messages.until(1, 20_000, "the second trigger's result");
      expect(asked).toMatchObject({ threadId, status: 'awaiting_human', pendingRequest: { kind: 'interrupted', tool: 'publish' } });
      expect((await b.runtime.get(threadId))!.status).toBe('awaiting_human');
      expect(tools.runs()).toBe(1);
    } finally {
      await surface.close({ drainMs: 0 }).catch(() => undefined);
      await runtime.close().catch(() => undefined);
      await bus.close().catch(() => undefined);
    }
  });
});

describe('a later trigger of a pipeline that waits for a child', () => {
  it('hears the request of the child that waits for a human, as the first trigger did', async () => {
    const divide = pipeline({ name: 'divide', description: 'asks the calculator to divide', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'calc', agent: 'calculator', input: () => 'what is 8 / 2' })
      .finish(({ results }) => results.calc);
    const prefix = `sy${uniqueToken()}`;
    const node = await bed.node({ agents: [calculator], pipelines: [divide], model: createDemoModel(), prefix, bucket: `threads_${uniqueToken()}` });
    const threadId = `dup-${uniqueToken()}`;
    const trigger = `${prefix}.trigger.divide`;
    const first = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: {}, threadId, replyTo: first.subject }, { msgId: `first-${threadId}` });
    const [asked] = await first.messages.until(1, 20_000, 'the child’s request on the first replyTo');
    expect(asked).toMatchObject({ threadId, status: 'running', childThreadId: childThreadId(threadId, 'calc'), pendingRequest: { kind: 'approval' } });

    // The client sends it again under another msg id (its request timed out): it hears where the pipeline stands.
    const second = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(trigger, { input: {}, threadId, replyTo: second.subject }, { msgId: `second-${threadId}` });
    const [again] = await second.messages.until(1, 20_000, 'a reply to the later trigger');
    // The same result, naming the trigger it answers.
    expect(again).toEqual({ ...asked, msgId: `second-${threadId}` });
    expect((await node.runtime.get(threadId))!.status).toBe('running');
  });
});
