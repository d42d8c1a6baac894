/**
 * A test's own script that is wrong (it runs out, or a stand-in function of it throws) fails the
 * thread at once, saying so, instead of being retried like a flaky endpoint: under a simulated
 * clock a retried failure backs off until the clock moves, so `settled()` never resolves and the
 * test hangs until vitest's timeout with no hint; and a retried throw is hidden when the next
 * reply rescues the thread.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { createMemoryStore, scriptedModel, SimulatedClock, type ScriptStep } from '../../src/testing/index.js';

const add = tool({ name: 'add', description: 'adds', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: ({ a, b }) => a + b });
const calculator = agent({ name: 'calculator', description: 'adds', prompt: 'You are {{agent}}.\nTools:\n{{tools}}', tools: [add] });

function runtimeWith(script: readonly ScriptStep[]) {
  const clock = new SimulatedClock();
  clock.set(Date.parse('2026-01-01T00:00:00Z'));
  const model = scriptedModel(script);
  const runtime = createRuntime({ agents: [calculator], store: createMemoryStore({ clock }), model, clock });
  return { runtime, model };
}

// Before the fix both hung (each a backoff on the simulated clock): a short timeout fails them sooner.
const ofType = <T extends ThreadEvent['type']>(events: readonly ThreadEvent[], type: T) =>
  events.filter((e): e is Extract<ThreadEvent, { type: T }> => e.type === type);

describe('a script of the test that is wrong, under a simulated clock', () => {
  it('a script that runs out escalates at once, not retried, its escalation saying the script is exhausted (settled() resolves without moving the clock)', async () => {
    const { runtime, model } = runtimeWith([{ intent: 'add', args: { a: 1, b: 2 } }]);
    const { id } = await runtime.launch('calculator', 'add 1 and 2');
    const view = await runtime.settled(id);
    expect(view.status).toBe('escalated');
    const [escalation] = ofType(view.events, 'escalation');
    expect(escalation!.data.reason).toBe('non_retryable_error');
    expect(escalation!.data.message).toContain('script exhausted: scripted model scripted has no reply left');
    expect(ofType(view.events, 'error').map((e) => e.data.retryAt)).toEqual([undefined]);
    expect(model.requests).toHaveLength(2);
    await runtime.close();
  }, 5_000);

  it('a stand-in function that throws escalates at once with its message, and the reply after it is never asked for', async () => {
    const { runtime, model } = runtimeWith([
      () => {
        throw new Error('bug in my stand-in');
      },
      { intent: 'done_for_now', args: { message: 'rescued' } },
    ]);
    const { id } = await runtime.launch('calculator', 'add 1 and 2');
    const view = await runtime.settled(id);
    expect(view.status).toBe('escalated');
    const [escalation] = ofType(view.events, 'escalation');
    expect(escalation!.data.reason).toBe('non_retryable_error');
    expect(escalation!.data.message).toContain('bug in my stand-in');
    expect(model.requests).toHaveLength(1);
    expect(model.remaining()).toBe(1);
    await runtime.close();
  }, 5_000);
});
