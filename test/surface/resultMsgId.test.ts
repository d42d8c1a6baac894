/**
 * A result on a trigger's `replyTo` names the trigger it answers by its msg id (`msgId`), as an
 * error reply does, so one `replyTo` serving many triggers can correlate without recomputing
 * switchyard's thread id (a msg id that is no plain token gives a hashed `trg-<hash>`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { msgIdThreadId } from '../../src/surface/triggerJob.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { collector } from '../nats/natsTestKit.js';

describe('a result on replyTo names its trigger', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start() {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    const listen = (subject: string) => {
      const results = collector<TriggerResult & { msgId?: string }>();
      bus.subscribe(subject, (msg) => {
        const json = msg.json();
        if (json.success) results.push(json.data as TriggerResult);
      });
      return results;
    };
    return { bus, listen };
  }

  it("by the launching trigger's msg id, at every rest, and a later trigger's standing result by its own", async () => {
    const { bus, listen } = await start();
    const results = listen('app.results');
    const threadId = msgIdThreadId('order.1001');
    await bus.publish('switchyard.trigger.calculator', { input: 'what is (3 + 4) / 2', replyTo: 'app.results' }, { headers: { [MSG_ID_HEADER]: 'order.1001' } });
    const [waiting] = await results.until(1, 10_000, 'the awaiting_human result');
    expect(waiting).toMatchObject({ threadId, status: 'awaiting_human', msgId: 'order.1001' });

    // A client's retry under a new msg id, to another subject: it hears where the thread stands, named by its own msg id.
    const retries = listen('app.retries');
    await bus.publish('switchyard.trigger.calculator', { input: 'what is (3 + 4) / 2', threadId, replyTo: 'app.retries' }, { headers: { [MSG_ID_HEADER]: 'retry-2' } });
    const [standing] = await retries.until(1, 10_000, 'the retry result');
    expect(standing).toMatchObject({ threadId, status: 'awaiting_human', msgId: 'retry-2' });

    await bus.request(`switchyard.thread.${threadId}.respond`, { requestId: waiting!.pendingRequest!.requestId, approved: true });
    // (The retry's rest went to the launch's replyTo again, as before: results go at least once.)
    const done = await results.untilSome((r) => r.status === 'done', 10_000, 'the final result');
    expect(done).toMatchObject({ threadId, msgId: 'order.1001' });
    expect(results.items.every((r) => r.msgId === 'order.1001')).toBe(true);
  });

  it('names no msgId for a trigger without one', async () => {
    const { bus, listen } = await start();
    const results = listen('app.results');
    await bus.publish('switchyard.trigger.calculator', { input: 'what is 3 + 4', replyTo: 'app.results' });
    const [result] = await results.until(1, 10_000, 'the result');
    expect(result).toMatchObject({ status: 'done' });
    expect(result).not.toHaveProperty('msgId');
  });
});
