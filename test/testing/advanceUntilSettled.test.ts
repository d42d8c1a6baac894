/**
 * `advanceUntilSettled` drives a runtime's simulated clock through a thread's backoffs and sleeps
 * until the thread rests (`settled()` alone resolves only at a rest, never at a backoff), bounded:
 * after `maxSteps` moves of the clock it fails naming the thread's state and its last error.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { intent } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { advanceUntilSettled, createMemoryStore, scriptedModel, SimulatedClock, type ScriptStep } from '../../src/testing/index.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const add = tool({ name: 'add', description: 'adds', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: ({ a, b }) => a + b });
const calculator = agent({ name: 'calculator', description: 'adds', prompt: 'You are {{agent}}.\nTools:\n{{tools}}', tools: [add], maxConsecutiveErrors: 5 });
const flaky: ScriptStep = { error: { kind: 'http', status: 500, message: 'flaky' } };

function runtimeWith(script: readonly ScriptStep[]) {
  const clock = new SimulatedClock();
  clock.set(START);
  const model = scriptedModel(script);
  const runtime = createRuntime({ agents: [calculator], store: createMemoryStore({ clock }), model, clock });
  return { runtime, model, clock };
}

describe('advanceUntilSettled', () => {
  it('moves the clock through each backoff until the thread rests, and resolves with it', async () => {
    const { runtime, model, clock } = runtimeWith([flaky, { intent: 'add', args: { a: 1, b: 2 } }, flaky, { intent: 'done_for_now', args: { message: '3' } }]);
    const { id } = await runtime.launch('calculator', 'add 1 and 2');
    const view = await advanceUntilSettled(runtime, id, clock);
    expect(view.status).toBe('done');
    expect(view.output).toBe('3');
    expect(model.requests).toHaveLength(4);
    expect(model.remaining()).toBe(0);
    // Two backoffs of about 1 s each (the first error of each run of errors), nothing more.
    expect(clock.now() - START).toBeGreaterThanOrEqual(1_600);
    await runtime.close();
  }, 5_000);

  it('wakes a thread resting through a long backoff (a rate limit of a minute, its actor stopped for the wait)', async () => {
    const { runtime, model, clock } = runtimeWith([{ error: { kind: 'http', status: 429, message: 'slow down', retryAfterMs: 60_000 } }, { intent: 'done_for_now', args: { message: 'later' } }]);
    const { id } = await runtime.launch('calculator', 'add 1 and 2');
    const view = await advanceUntilSettled(runtime, id, clock);
    expect(view.status).toBe('done');
    expect(model.requests).toHaveLength(2);
    expect(clock.now() - START).toBeGreaterThanOrEqual(60_000);
    await runtime.close();
  }, 5_000);

  it('wakes a sleeping thread (an intent that waits an hour) at the end of its sleep', async () => {
    const nap = intent({ name: 'nap', description: 'waits', input: z.object({}), run: () => ({ output: 'rested', waitMs: 3_600_000 }) });
    const sleeper = agent({ name: 'sleeper', description: 'naps', prompt: 'You are {{agent}}.\nTools:\n{{tools}}', tools: [], intents: [nap] });
    const clock = new SimulatedClock();
    clock.set(START);
    const model = scriptedModel([{ intent: 'nap', args: {} }, { intent: 'done_for_now', args: { message: 'awake' } }]);
    const runtime = createRuntime({ agents: [sleeper], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('sleeper', 'nap');
    const view = await advanceUntilSettled(runtime, id, clock);
    expect(view.status).toBe('done');
    expect(view.output).toBe('awake');
    expect(clock.now() - START).toBe(3_600_000);
    await runtime.close();
  }, 5_000);

  it('resolves with a thread already at rest without moving the clock', async () => {
    const { runtime, clock } = runtimeWith([{ intent: 'done_for_now', args: { message: 'at once' } }]);
    const { id } = await runtime.launch('calculator', 'nothing to add');
    await runtime.settled(id);
    const view = await advanceUntilSettled(runtime, id, clock);
    expect(view.status).toBe('done');
    expect(clock.now()).toBe(START);
    await runtime.close();
  }, 5_000);

  it('fails after maxSteps moves of the clock, naming the thread, its state and its last error', async () => {
    const { runtime, clock } = runtimeWith([flaky, flaky, flaky, { intent: 'done_for_now', args: { message: 'late' } }]);
    const { id } = await runtime.launch('calculator', 'add 1 and 2');
    const error = await advanceUntilSettled(runtime, id, clock, { maxSteps: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const { message } = error as Error;
    expect(message).toContain(id);
    expect(message).toContain('1 step');
    expect(message).toContain('backing_off');
    expect(message).toContain('HTTP 500: flaky');
    // The thread itself goes on: the test may still drive it.
    expect((await advanceUntilSettled(runtime, id, clock)).status).toBe('done');
    await runtime.close();
  }, 5_000);
});
