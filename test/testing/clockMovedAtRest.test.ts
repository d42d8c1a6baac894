/**
 * A thread that rests through a long backoff (or a sleep) on a `SimulatedClock` is woken once per
 * wait, whenever the test moves the clock: as the wait begins, its actor's own timer may fire
 * before the supervisor has stopped it for the rest, and the wake-up armed for that rest must not
 * then start the thread a second time (the model asked twice, a scripted reply used up for nothing).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { intent } from '../../src/agent/customStep.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { advanceUntilSettled, createMemoryStore, scriptedModel, SimulatedClock, type ScriptStep } from '../../src/testing/index.js';
import type { ThreadEvent } from '../../src/thread/events.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const WAIT_MS = 60_000;
const prompt = 'You are {{agent}}.\nTools:\n{{tools}}';
const answerer = agent({ name: 'answerer', description: 'answers', prompt, tools: [] });
const nap = intent({ name: 'nap', description: 'waits a minute', input: z.object({}), run: () => ({ output: 'rested', waitMs: WAIT_MS }) });
const sleeper = agent({ name: 'sleeper', description: 'naps', prompt, tools: [], intents: [nap] });

/**
 * Launches a thread of `name` whose model answers from `script`; once the runtime stores the event
 * that begins its wait (`begins`), the clock is moved past the wait after `ticks` microtasks. Then
 * the thread is driven to its rest.
 */
async function moveClockAsTheWaitBegins(ticks: number, name: 'answerer' | 'sleeper', script: readonly ScriptStep[], begins: (e: ThreadEvent) => boolean) {
  const clock = new SimulatedClock();
  clock.set(START);
  const model = scriptedModel(script);
  const runtime = createRuntime({ agents: [answerer, sleeper], store: createMemoryStore({ clock }), model, clock });
  let moved = false;
  runtime.subscribe((change) => {
    if (moved || !change.events.some(begins)) return;
    moved = true;
    void (async () => {
      for (let i = 0; i < ticks; i++) await Promise.resolve();
      clock.increment(WAIT_MS);
    })();
  });
  const { id } = await runtime.launch(name, 'go');
  const view = await advanceUntilSettled(runtime, id, clock);
  await runtime.close();
  expect(moved).toBe(true);
  return { view, model };
}

// The moment the wait's actor timer is armed and not yet cleared lies a few microtasks after the
// event is stored; every moment up to well past it is tried.
const MOMENTS = Array.from({ length: 24 }, (_, ticks) => ticks);

describe('a clock moved as a long wait begins', () => {
  it.each(MOMENTS)('wakes a thread backing off (a rate limit) once: one more decision (clock moved %i microtasks after the error)', async (ticks) => {
    const script: ScriptStep[] = [
      { error: { kind: 'http', status: 429, message: 'slow down', retryAfterMs: WAIT_MS } },
      { intent: 'done_for_now', args: { message: 'first reply' } },
      { intent: 'done_for_now', args: { message: 'spare reply' } },
    ];
    const { view, model } = await moveClockAsTheWaitBegins(ticks, 'answerer', script, (e) => e.type === 'error');
    expect(view).toMatchObject({ status: 'done', output: 'first reply' });
    expect(model.requests).toHaveLength(2);
    expect(model.remaining()).toBe(1);
    expect(view.events.filter((e) => e.type === 'decision')).toHaveLength(1);
  });

  it.each(MOMENTS)('wakes a sleeping thread once: one more decision (clock moved %i microtasks after the sleep began)', async (ticks) => {
    const script: ScriptStep[] = [
      { intent: 'nap', args: {} },
      { intent: 'done_for_now', args: { message: 'first reply' } },
      { intent: 'done_for_now', args: { message: 'spare reply' } },
    ];
    const { view, model } = await moveClockAsTheWaitBegins(ticks, 'sleeper', script, (e) => e.type === 'custom');
    expect(view).toMatchObject({ status: 'done', output: 'first reply' });
    expect(model.requests).toHaveLength(2);
    expect(model.remaining()).toBe(1);
    expect(view.events.filter((e) => e.type === 'decision')).toHaveLength(2);
  });
});
