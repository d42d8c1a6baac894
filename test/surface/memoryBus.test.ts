import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus, type BusSurface } from '../../src/surface/attachBus.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { createRuntime, THREAD_ID_PATTERN, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { collector, eventually } from '../nats/natsTestKit.js';

describe('the NATS surface on the in-process bus', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(prefix?: string): Promise<{ bus: ReturnType<typeof createMemoryBus>; runtime: Runtime; surface: BusSurface }> {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000, ...(prefix === undefined ? {} : { prefix }) });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    return { bus, runtime, surface };
  }

  it('takes a trigger published on the subject, replies, and continues after a respond request', async () => {
    const { bus } = await start();
    const results = collector<TriggerResult>();
    bus.subscribe('app.results', (msg) => {
      const json = msg.json();
      if (json.success) results.push(json.data as TriggerResult);
    });
    // A plain publish on a queue's subject enqueues a job (as a core publish on a stream's subject does).
    await bus.publish('switchyard.trigger.calculator', { input: 'what is (3 + 4) / 2', replyTo: 'app.results' }, { headers: { [MSG_ID_HEADER]: 'mem-1' } });
    const [waiting] = await results.until(1, 10_000, 'the awaiting_human result');
    expect(waiting).toMatchObject({ threadId: 'trg-mem-1', status: 'awaiting_human', pendingRequest: { kind: 'approval' } });

    const reply = await bus.request('switchyard.thread.trg-mem-1.respond', { requestId: waiting!.pendingRequest!.requestId, approved: true });
    expect(reply.json()).toMatchObject({ success: true, data: { ok: true } satisfies Partial<ThreadReply> });
    const [, done] = await results.until(2, 10_000, 'the final result');
    expect(done).toMatchObject({ status: 'done', output: '(3 + 4) / 2 = 3.5' });
  });

  it('gives a trigger with neither a thread id nor a msg id a valid thread id under a long prefix', async () => {
    // `trg-<queue>-<seq>` with this prefix would be 135 characters: longer than a thread id may be.
    const prefix = `acme.${'agents'.repeat(19)}`;
    const { bus } = await start(prefix);
    const results = collector<TriggerResult>();
    bus.subscribe('app.results', (msg) => {
      const json = msg.json();
      if (json.success) results.push(json.data as TriggerResult);
    });
    await bus.publish(`${prefix}.trigger.calculator`, { input: 'what is 3 + 4', replyTo: 'app.results' });
    const [result] = await results.until(1, 10_000, 'the result');
    expect(result).toMatchObject({ status: 'done', output: '3 + 4 = 7' });
    expect(result!.threadId).toMatch(THREAD_ID_PATTERN);
  });

  it('answers a trigger for an unknown agent on its replyTo', async () => {
    const { bus } = await start();
    const replies = collector<unknown>();
    bus.subscribe('app.errors', (msg) => replies.push(msg.json().success ? (msg.json() as { data: unknown }).data : undefined));
    await bus.publish('switchyard.trigger.nosuch', { input: 1, replyTo: 'app.errors' });
    // No msg id: the agent it named, but no thread id it would have had.
    expect((await replies.until(1, 5_000))[0]).toEqual({ error: 'unknown agent "nosuch" (known: calculator)', code: 'not_found', kind: 'not_found', agent: 'nosuch' });
  });

  it('terminates a wake-up job for a thread that does not exist instead of handing it back until its far deadline', async () => {
    const { bus } = await start();
    await bus.publish('switchyard.jobs.calculator', { threadId: 'no-such-thread', wakeAt: Date.now() + 10 * 86_400_000 });
    const queue = await bus.jobQueue('switchyard_calculator');
    const letters = await eventually(async () => {
      const dead = await queue.deadLetters();
      return dead.length > 0 ? dead : undefined;
    }, 5_000, 'the job in the dead letters');
    expect(letters[0]).toMatchObject({ cause: 'term', reason: expect.stringMatching(/no-such-thread/) });
  });
});
