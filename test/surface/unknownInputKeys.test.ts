/**
 * A NATS trigger whose input has a key the agent's plain `z.object()` input does not list is
 * refused as `runtime.launch` and HTTP refuse it (test/runtime/unknownInputKeys.test.ts): an error
 * reply `bad_request` naming the key, no thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { ErrorReply } from '../../src/surface/payloads.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { scriptedModel } from '../../src/testing/index.js';
import { collector } from '../nats/natsTestKit.js';

const refunds = agent({ name: 'refunds', description: 'refunds orders', prompt: 'You are {{agent}}.\n{{tools}}', tools: [], input: z.object({ orderId: z.string(), amount: z.number().optional() }) });

describe('a NATS trigger with a key the input schema does not list', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('is refused bad_request naming the key, and launches nothing', async () => {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const runtime = createRuntime({ agents: [refunds], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    const replies = collector<ErrorReply>();
    bus.subscribe('app.replies', (msg) => {
      const json = msg.json();
      if (json.success) replies.push(json.data as ErrorReply);
    });
    await bus.publish('switchyard.trigger.refunds', { input: { orderId: 'A1', ammount: 5 }, replyTo: 'app.replies' }, { headers: { [MSG_ID_HEADER]: 'r-1' } });
    const [reply] = await replies.until(1, 10_000, 'the error reply');
    expect(reply).toMatchObject({ code: 'bad_request', msgId: 'r-1', threadId: 'trg-r-1', issues: [expect.stringContaining('"ammount"')] });
    expect(await runtime.get('trg-r-1')).toBeUndefined();
  });

  it('of a thread already there (the build before launched it with that key) runs that thread, not refused (review: dead-lettered redelivery)', async () => {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const store = createMemoryStore();
    const input = { orderId: 'A2', note: 'rush' };
    await store.create({ id: 'trg-r-2', agent: 'refunds', events: [{ seq: 1, at: new Date(0).toISOString(), type: 'input', data: { input, source: { kind: 'nats', triggerId: 'r-2' } } }] });
    const runtime = createRuntime({ agents: [refunds], store, model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    const replies = collector<Record<string, unknown>>();
    bus.subscribe('app.replies', (msg) => {
      const json = msg.json();
      if (json.success) replies.push(json.data as Record<string, unknown>);
    });
    await bus.publish('switchyard.trigger.refunds', { input, replyTo: 'app.replies' }, { headers: { [MSG_ID_HEADER]: 'r-2' } });
    const [reply] = await replies.until(1, 10_000, 'the reply');
    expect(reply).not.toHaveProperty('code');
    expect(reply).toMatchObject({ threadId: 'trg-r-2' });
    expect((await runtime.get('trg-r-2'))?.status).toBe('done');
  });
});
