/**
 * `runtime.launch` with the id of a thread already there is an idempotent relaunch: the same
 * launch answers that thread. With another input it would change nothing (the thread keeps its
 * first input), so it is refused, as HTTP (409), hooks and NATS triggers refuse it, with the same
 * code: a caller keyed by an order id must not lose the second order's input without a word.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent, createMemoryStore, createRuntime, InvalidStateError } from '../../src/index.js';
import { scriptedModel } from '../../src/testing/index.js';

const orders = agent({
  name: 'orders',
  description: 'looks orders up',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  input: z.object({ orderId: z.string(), note: z.string().optional() }),
  tools: [],
});

function runtimeOf() {
  return createRuntime({
    agents: [orders],
    store: createMemoryStore(),
    model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }),
  });
}

describe('runtime.launch of an existing thread id', () => {
  it('with the same input (keys in any order) answers the thread', async () => {
    const runtime = runtimeOf();
    await runtime.launch('orders', { orderId: 'A1', note: 'n' }, { threadId: 'order-1' });
    const again = await runtime.launch('orders', { note: 'n', orderId: 'A1' }, { threadId: 'order-1' });
    expect(again.id).toBe('order-1');
    await runtime.close();
  });

  it('with another input is refused (thread_exists_other_input), the thread unchanged', async () => {
    const runtime = runtimeOf();
    await runtime.launch('orders', { orderId: 'A1' }, { threadId: 'order-2' });
    const refused = await runtime.launch('orders', { orderId: 'B2' }, { threadId: 'order-2' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(InvalidStateError);
    expect(refused).toMatchObject({ conflict: 'thread_exists_other_input', message: expect.stringMatching(/^thread order-2 already exists and was launched with another input/) });
    const inputs = (await runtime.get('order-2'))?.events.filter((event) => event.type === 'input');
    expect(inputs).toEqual([expect.objectContaining({ data: expect.objectContaining({ input: { orderId: 'A1' } }) })]);
    await runtime.close();
  });
});
