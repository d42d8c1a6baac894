/**
 * `guardedRuntime` enqueues a guard job before a launch creates its thread, so a process killed
 * between the create and its own schedule leaves no thread behind. A launch the runtime refuses
 * before writing anything (an unknown agent, a bad thread id, input the agent's schema refuses)
 * creates no thread: a guard for it only comes back to a worker five times and ends in a warning
 * that reads like lost work ("its launch never landed"), once per bad request.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent, createMemoryStore, createRuntime, guardedRuntime, InvalidInputError, pipeline } from '../../src/index.js';
import type { AgentQueues } from '../../src/surface/agentQueues.js';
import { scriptedModel } from '../../src/testing/index.js';

const orders = agent({
  name: 'orders',
  description: 'looks orders up',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  input: z.object({ orderId: z.string() }),
  tools: [],
});
const flow = pipeline({ name: 'flow', description: 'one step', input: z.object({ n: z.number() }), output: z.object({ n: z.number() }) })
  .code({ name: 'double', output: z.object({ n: z.number() }), run: ({ input }) => ({ n: input.n * 2 }) })
  .finish(({ results }) => results.double);

/** The runtime guarded by queues that only record the guards asked of them. */
function guarded() {
  const guards: string[] = [];
  const queues = { guard: async (agentName: string, threadId: string) => void guards.push(`${agentName}/${threadId}`) } as unknown as AgentQueues;
  const runtime = createRuntime({
    agents: [orders],
    pipelines: [flow],
    store: createMemoryStore(),
    model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }),
  });
  return { runtime: guardedRuntime(runtime, queues), inner: runtime, guards };
}

describe('guardedRuntime: a launch refused before it writes enqueues no guard', () => {
  it('input the agent or pipeline refuses: InvalidInputError, no guard, no thread', async () => {
    const { runtime, inner, guards } = guarded();
    await expect(runtime.launch('orders', { orderId: 5 }, { threadId: 'bad-1' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(runtime.launch('orders', 'words')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(runtime.launch('flow', { n: 'two' }, { threadId: 'bad-2' })).rejects.toBeInstanceOf(InvalidInputError);
    expect(guards).toEqual([]);
    expect(await inner.get('bad-1')).toBeUndefined();
    await inner.close();
  });

  it('a launch that goes ahead is still guarded first', async () => {
    const { runtime, inner, guards } = guarded();
    const view = await runtime.launch('orders', { orderId: 'A1' }, { threadId: 'good-1' });
    expect(view.id).toBe('good-1');
    expect(guards).toEqual(['orders/good-1']);
    await inner.close();
  });
});
