import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createClock } from '../support/agentHarness.js';

/** A runtime over a simulated clock whose inspector counts the states pipeline actors enter. */
function harness(pipelines: Parameters<typeof createRuntime>[0]['pipelines'], agents: Parameters<typeof createRuntime>[0]['agents'] = []) {
  const clock = createClock();
  const entered = new Map<string, number>();
  const inspect = (event: InspectionEvent): void => {
    // Entries of a running actor (an actor stopped for a sleep reports its last state once more).
    if (event.type !== '@xstate.snapshot' || (event.snapshot as { status?: string }).status !== 'active') return;
    const value = (event.snapshot as { value?: unknown }).value;
    if (typeof value === 'string') entered.set(value, (entered.get(value) ?? 0) + 1);
  };
  const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'which numbers?' } }]);
  const rt = createRuntime({ agents, pipelines, store: createMemoryStore({ clock }), model, clock, inspect });
  return { rt, clock, seen: (state: string) => entered.get(state) ?? 0 };
}

/** Waits (bounded, yielding to the event loop) until `test` holds. */
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !test(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(test()).toBe(true);
}

const controls = (events: readonly { type: string; data: unknown }[]) => events.filter((e) => e.type === 'control').map((e) => e.data);

describe('pause, resume and cancel a pipeline', () => {
  it('shows a pipeline in a durable sleep as sleeping (get and list), and running again once it wakes', async () => {
    const later = pipeline({ name: 'later', description: 'sleep, then act', input: z.object({}), output: z.number() })
      .sleep({ name: 'wait', ms: 60_000 })
      .code({ name: 'act', run: () => 7 })
      .finish(({ results }) => results.act);
    const { rt, clock, seen } = harness([later]);
    const { id } = await rt.launch('later', {});
    await until(() => seen('sleeping') === 1);
    expect((await rt.get(id))!.status).toBe('sleeping');
    expect((await rt.list({ status: 'sleeping' })).map((t) => t.id)).toEqual([id]);
    expect(await rt.list({ status: 'running' })).toEqual([]);
    clock.increment(60_000);
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: 7 });
  });

  it('pauses while it sleeps, stays paused past the deadline, and resumes into the recorded deadline', async () => {
    const ran: number[] = [];
    const later = pipeline({ name: 'later', description: 'sleep, then act', input: z.object({}), output: z.number() })
      .sleep({ name: 'wait', ms: 60_000 })
      .code({ name: 'act', run: () => (ran.push(1), 7) })
      .finish(({ results }) => results.act);
    const { rt, clock, seen } = harness([later]);
    const { id } = await rt.launch('later', {});
    await until(() => seen('sleeping') === 1);
    const paused = await rt.pause(id, { reason: 'change freeze', by: 'ops' });
    expect(paused.status).toBe('paused');
    expect(rt.activeCount()).toBe(0);
    clock.increment(120_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual([]);
    expect((await rt.get(id))!.status).toBe('paused');
    await rt.resume(id, { by: 'ops' });
    const done = await rt.settled(id);
    expect(done).toMatchObject({ status: 'done', output: 7 });
    expect(ran).toEqual([1]);
    expect(controls(done.events)).toEqual([
      { action: 'pause', reason: 'change freeze', by: 'ops' },
      { action: 'resume', by: 'ops' },
    ]);
    // The deadline was journaled once: resuming did not start the sleep again.
    expect(done.events.filter((e) => e.type === 'tool_call' && e.data.tool === 'wait')).toHaveLength(1);
  });

  it('pauses at once while backing off after a failed step (no retry until resumed)', async () => {
    let attempts = 0;
    const flaky = pipeline({ name: 'flaky', description: 'fails once', input: z.object({}), output: z.number(), retryDelayMs: 30_000 })
      .code({ name: 'try', run: () => (++attempts === 1 ? Promise.reject(new Error('down')) : attempts) })
      .finish(({ results }) => results.try);
    const { rt, clock, seen } = harness([flaky]);
    const { id } = await rt.launch('flaky', {});
    await until(() => seen('backingOff') === 1);
    const paused = await rt.pause(id);
    expect(paused.status).toBe('paused');
    clock.increment(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(attempts).toBe(1);
    await rt.resume(id);
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: 2 });
  });

  it('cancels a looping pipeline mid-loop: nothing runs after the cancel', async () => {
    const ran: string[] = [];
    const forever = pipeline({ name: 'forever', description: 'poll until cancelled', input: z.object({}), output: z.null(), maxTransitions: 1_000 })
      .code({ name: 'poll', run: ({ visit }) => (ran.push(`poll${visit}`), visit) })
      .sleep({ name: 'wait', ms: 1_000 })
      .branch({ name: 'again', choose: () => 'poll' })
      .finish(() => null);
    const { rt, clock, seen } = harness([forever]);
    const { id } = await rt.launch('forever', {});
    await until(() => seen('sleeping') === 1);
    clock.increment(1_000);
    await until(() => seen('sleeping') === 2);
    const cancelled = await rt.cancel(id, { reason: 'enough' });
    expect(cancelled.status).toBe('cancelled');
    clock.increment(10_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['poll1', 'poll2']);
    expect(controls(cancelled.events)).toEqual([{ action: 'cancel', reason: 'enough' }]);
    expect(cancelled.events.at(-1)?.type).toBe('control');
  });

  it('cancels a pipeline that waits for its child; the child ending later does not move it', async () => {
    const ask = pipeline({ name: 'ask', description: 'delegate to the calculator', input: z.object({}), output: z.unknown() })
      .agent({ name: 'calc', agent: 'calculator', input: () => 'add some numbers' })
      .finish(({ results }) => results.calc);
    const { rt } = harness([ask], [calculator]);
    const { id } = await rt.launch('ask', {});
    const childId = childThreadId(id, 'calc');
    // The pipeline rests in waitingForChild once its child is launched.
    expect((await rt.settled(id)).status).toBe('running');
    expect((await rt.settled(childId)).status).toBe('awaiting_human');
    expect((await rt.cancel(id)).status).toBe('cancelled');
    await rt.cancel(childId);
    await new Promise((resolve) => setImmediate(resolve));
    const after = (await rt.get(id))!;
    expect(after.status).toBe('cancelled');
    expect(after.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel' } });
  });
});
