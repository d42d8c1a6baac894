/**
 * Two humans answer the same request at once (two inbox tabs, a Slack bridge and the CLI): one
 * answer is recorded, and the other is refused as a later one would be, `already_answered`, naming
 * who answered and how, never with the store's version conflict. An answer that races a write
 * which does not answer the request (a pause) is still recorded.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { InvalidStateError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const refund = tool({ name: 'refund', description: 'refunds', input: z.object({ orderId: z.string() }), approval: true, run: () => 'refunded' });
const refunds = agent({ name: 'refunds', description: 'refunds orders', prompt: 'p', tools: [refund] });

async function waitingThread() {
  const model = scriptedModel([], {
    whenExhausted: ({ context }) => (context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'refund', args: { orderId: 'A-1' } }),
  });
  const runtime = createRuntime({ agents: [refunds], store: createMemoryStore(), model });
  const { id } = await runtime.launch('refunds', 'refund A-1');
  const waiting = await runtime.settled(id);
  return { runtime, id, requestId: waiting.pendingRequest!.requestId };
}

describe('answers that race', () => {
  it('records one of two simultaneous answers and refuses the other as already answered', async () => {
    const { runtime, id, requestId } = await waitingThread();
    const outcomes = await Promise.allSettled([
      runtime.respond(id, { requestId, approved: true, by: 'ana' }),
      runtime.respond(id, { requestId, approved: false, comment: 'no', by: 'bob' }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected')!.reason as unknown;
    expect(refused).toBeInstanceOf(InvalidStateError);
    expect((refused as InvalidStateError).conflict).toBe('already_answered');
    expect((refused as Error).message).toMatch(/^request req_\S+ was already answered \((approved by ana|denied by bob) at /);
    const thread = await runtime.settled(id);
    expect(thread.events.filter((e) => e.type === 'human_response')).toHaveLength(1);
    await runtime.close();
  });

  it('records an answer that races a pause', async () => {
    const { runtime, id, requestId } = await waitingThread();
    const [paused, answered] = await Promise.allSettled([runtime.pause(id), runtime.respond(id, { requestId, approved: true, by: 'ana' })]);
    expect(paused.status).toBe('fulfilled');
    expect(answered.status).toBe('fulfilled');
    const thread = (await runtime.get(id))!;
    expect(thread.events.filter((e) => e.type === 'human_response')).toHaveLength(1);
    await runtime.close();
  });
});
