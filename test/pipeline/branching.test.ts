import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { STEP_DONE } from '../../machines/stepRunner.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { branchStep, childThreadId, codeStep, FINISH, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { Thread } from '../../src/thread/events.js';
import { createClock } from '../support/agentHarness.js';
import { inputEvents, instantChildren, runPipeline } from './pipelineKit.js';

/**
 * Fix, check, and go back to fix until the check passes: `greenAt` is the visit of `check` that
 * passes (never, when it is 0).
 */
function untilGreen(options: { greenAt: number; maxTransitions?: number; calls?: string[] }): Pipeline {
  const calls = options.calls ?? [];
  return pipeline({
    name: 'until-green',
    description: 'patch until the check passes',
    input: z.object({ target: z.string() }),
    output: z.object({ patch: z.string(), review: z.string() }),
    ...(options.maxTransitions === undefined ? {} : { maxTransitions: options.maxTransitions }),
  })
    .code({
      name: 'fix',
      output: z.object({ patch: z.string() }),
      run: ({ input, visit }) => (calls.push(`fix${visit}`), { patch: `${input.target}-v${visit}` }),
    })
    .code({
      name: 'check',
      output: z.object({ green: z.boolean(), of: z.string() }),
      run: ({ results, visit }) => (calls.push(`check${visit}`), { green: visit === options.greenAt, of: results.fix.patch }),
    })
    .branch({ name: 'again', choose: ({ results }) => (calls.push('again'), results.check.green ? undefined : 'fix') })
    .agent({ name: 'review', agent: 'reviewer', input: ({ results }) => results.fix.patch, output: z.string() })
    .finish(({ results }) => ({ patch: results.fix.patch, review: results.review }));
}

const stepsOf = (thread: Thread): string[] => thread.events.flatMap((e) => (e.type === 'tool_result' ? [e.data.tool] : []));

describe('pipeline loops and branches', () => {
  it('loops back until the check passes, then goes on in order', async () => {
    const calls: string[] = [];
    const launched: string[] = [];
    const end = await runPipeline(untilGreen({ greenAt: 3, calls }), inputEvents({ target: 'api' }), {
      children: instantChildren((_, input) => `looks good: ${String(input)}`, launched),
    });
    expect(end.status).toBe('done');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { patch: 'api-v3', review: 'looks good: api-v3' } } });
    expect(stepsOf(end.thread)).toEqual(['fix', 'check', 'again', 'fix', 'check', 'again', 'fix', 'check', 'again', 'review']);
    expect(calls).toEqual(['fix1', 'check1', 'again', 'fix2', 'check2', 'again', 'fix3', 'check3', 'again']);
    // Each step run has its own call id; the branch records where it went.
    const results = end.thread.events.filter((e) => e.type === 'tool_result');
    expect(results.map((e) => e.type === 'tool_result' && e.data.callId)).toEqual(Array.from({ length: 10 }, (_, i) => `step_${i + 1}`));
    expect(results.filter((e) => e.type === 'tool_result' && e.data.tool === 'again').map((e) => e.type === 'tool_result' && e.data.result)).toEqual(['fix', 'fix', 'review']);
    expect(launched).toEqual([childThreadId('pipe-1', 'review')]);
  });

  it('fails clearly when a loop reaches maxTransitions, without running the step again', async () => {
    const calls: string[] = [];
    const end = await runPipeline(untilGreen({ greenAt: 0, maxTransitions: 7, calls }), inputEvents({ target: 'api' }));
    expect(end.status).toBe('failed');
    expect(end.state).toBe('failed');
    const failed = end.thread.events.at(-1);
    expect(failed?.type).toBe('failed');
    expect(failed?.type === 'failed' && failed.data.reason).toBe(
      'pipeline until-green exceeded maxTransitions (7 step runs) before running check again; the last runs: fix -> check -> again -> fix -> check -> again -> fix',
    );
    // Seven step runs, the eighth refused before it started.
    expect(stepsOf(end.thread)).toHaveLength(7);
    expect(calls).toEqual(['fix1', 'check1', 'again', 'fix2', 'check2', 'again', 'fix3']);
    expect(end.thread.events.filter((e) => e.type === 'tool_call')).toHaveLength(7);
  });

  it('a loop over an agent step gets a child thread per visit', async () => {
    const launched: string[] = [];
    const redo = pipeline({ name: 'redo', description: 'ask twice', input: z.object({}), output: z.array(z.string()) })
      .agent({ name: 'ask', agent: 'helper', input: ({ visit }) => `round ${visit}`, output: z.string() })
      .code({ name: 'keep', run: ({ results, visit }) => [...(visit > 1 ? ['earlier'] : []), results.ask] })
      .branch({ name: 'twice', choose: ({ visit }) => (visit < 2 ? 'ask' : undefined) })
      .finish(({ results }) => results.keep);
    const end = await runPipeline(redo, inputEvents({}), { children: instantChildren((_, input) => `answer to ${String(input)}`, launched) });
    expect(end.status).toBe('done');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: ['earlier', 'answer to round 2'] } });
    expect(launched).toEqual(['pipe-1--ask', 'pipe-1--ask-2']);
  });

  it('branches forward: the chosen step runs, the others are never journaled', async () => {
    const route = (urgent: boolean) =>
      runPipeline(
        pipeline({
          name: 'incident',
          description: 'page for urgent reports, file a ticket for the rest',
          input: z.object({ urgent: z.boolean() }),
          output: z.object({ action: z.string() }),
        })
          .code({ name: 'classify', output: z.enum(['urgent', 'routine']), run: ({ input }) => (input.urgent ? 'urgent' : 'routine') })
          .branch({ name: 'route', choose: ({ results }) => (results.classify === 'urgent' ? 'page' : 'ticket') })
          .code({ name: 'page', run: () => 'paged the on-call' })
          .branch({ name: 'paged', choose: () => FINISH })
          .code({ name: 'ticket', run: () => 'filed a ticket' })
          .finish(({ results }) => ({ action: results.page ?? results.ticket ?? 'nothing' })),
        inputEvents({ urgent }),
      );
    const urgent = await route(true);
    expect(stepsOf(urgent.thread)).toEqual(['classify', 'route', 'page', 'paged']);
    expect(urgent.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { action: 'paged the on-call' } } });
    const routine = await route(false);
    expect(stepsOf(routine.thread)).toEqual(['classify', 'route', 'ticket']);
    expect(routine.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { action: 'filed a ticket' } } });
  });

  it('a branch that chooses a step the pipeline lacks, or throws, fails or retries like code', async () => {
    let throws = 1;
    const chooser = (choice: () => string | undefined) =>
      pipeline({
        name: 'chooser',
        description: 'c',
        input: z.object({}),
        output: z.unknown(),
        retryDelayMs: 10,
        steps: [codeStep({ name: 'a', run: () => 1 }), branchStep({ name: 'pick', choose: choice })],
        finish: ({ results }) => results.a ?? null,
      });
    const unknown = await runPipeline(chooser(() => 'nowhere'), inputEvents({}));
    expect(unknown.status).toBe('failed');
    expect(unknown.thread.events.at(-1)).toMatchObject({
      type: 'failed',
      data: { reason: 'branch pick chose "nowhere", which is not a step of pipeline chooser (its steps: a, pick; or FINISH, imported from switchyard)' },
    });
    // The README says a branch may choose FINISH: the string 'FINISH' (no type check under tsx) is told how.
    const spelled = await runPipeline(chooser(() => 'FINISH'), inputEvents({}));
    expect(spelled.thread.events.at(-1)).toMatchObject({
      type: 'failed',
      data: { reason: `branch pick chose "FINISH", which is not a step of pipeline chooser: to finish, return FINISH imported from switchyard (import { FINISH } from 'switchyard'), whose value is "$finish"` },
    });
    const flaky = await runPipeline(
      chooser(() => {
        if (throws-- > 0) throw new Error('not yet');
        return FINISH;
      }),
      inputEvents({}),
    );
    expect(flaky.status).toBe('done');
    expect(flaky.waits).toBe(1);
    expect(flaky.thread.events.map((e) => e.type)).toEqual(['input', 'tool_call', 'tool_result', 'tool_call', 'error', 'tool_call', 'tool_result', 'final']);
    expect(flaky.thread.events[4]).toMatchObject({ type: 'error', data: { message: 'step pick failed: not yet', callId: 'step_2', attempt: 1 } });
  });

  it('checks maxTransitions and finish at definition time', () => {
    const head = { name: 'x', description: '', input: z.object({}), output: z.object({}) };
    const two = [codeStep({ name: 'a', run: () => 1 }), codeStep({ name: 'b', run: () => 2 })];
    expect(() => pipeline({ ...head, steps: two, finish: () => ({}), maxTransitions: 1 })).toThrow(ConfigError);
    expect(() => pipeline({ ...head, steps: two, finish: () => ({}), maxTransitions: 1 })).toThrow(/maxTransitions must be an integer of at least 2/);
    expect(() => pipeline({ ...head, steps: two } as never)).toThrow(/has steps but no finish function/);
    expect(() => pipeline(head).finish(() => ({}))).toThrow(/has no steps/);
  });

  it.each(['input', 'output'] as const)('refuses a head without %s at pipeline() itself, naming the pipeline and the field', (field) => {
    const { [field]: _left, ...partial } = { name: 'orders', description: '', input: z.object({}), output: z.object({}) };
    const message = `pipeline orders has no ${field} schema: pipeline() needs both input and output, zod schemas (z.unknown() takes anything)`;
    // The builder's head: refused before any step is added, not at .finish() nor when a runtime starts.
    expect(() => pipeline(partial as never)).toThrow(ConfigError);
    expect(() => pipeline(partial as never)).toThrow(message);
    // The array form says the same.
    expect(() => pipeline({ ...partial, steps: [codeStep({ name: 'a', run: () => 1 })], finish: () => ({}) } as never)).toThrow(message);
  });

  it("refuses a builder's head whose input is not a zod 4 schema at pipeline() itself", () => {
    expect(() => pipeline({ name: 'orders', description: '', input: { type: 'object' }, output: z.object({}) } as never)).toThrow('pipeline orders: input must be a zod 4 schema (got a plain object)');
  });

  it('in the runtime, a restart in the middle of a loop goes on from the log without running recorded steps again', async () => {
    const clock = createClock();
    // One store across both "processes" (closing a runtime closes its store).
    const store = { ...createMemoryStore({ clock }), close: async () => {} };
    const calls: string[] = [];
    const loop = pipeline({ name: 'poll', description: 'wait, check, again until green', input: z.object({}), output: z.object({ rounds: z.number() }) })
      .code({ name: 'start', output: z.number(), run: ({ visit }) => (calls.push(`start${visit}`), visit) })
      .sleep({ name: 'wait', ms: 1_000 })
      .code({ name: 'check', output: z.object({ green: z.boolean() }), run: ({ visit }) => (calls.push(`check${visit}`), { green: visit === 2 }) })
      .branch({ name: 'again', choose: ({ results }) => (results.check.green ? undefined : 'start') })
      .finish(({ results }) => ({ rounds: results.start }));
    // Sleeps entered (a step's result sends the actor to `sleeping`), seen by the inspector.
    let sleeps = 0;
    const inspect = (event: InspectionEvent): void => {
      if (event.type === '@xstate.snapshot' && event.event.type === STEP_DONE && (event.snapshot as { value?: unknown }).value === 'sleeping') sleeps++;
    };
    const first = createRuntime({ agents: [], pipelines: [loop], store, model: scriptedModel([]), clock, inspect });
    const { id } = await first.launch('poll', {});
    await until(() => sleeps === 1);
    clock.increment(1_000);
    await until(() => sleeps === 2);
    expect(calls).toEqual(['start1', 'check1', 'start2']);
    await first.close(); // the process stops in the second round's sleep

    const second = createRuntime({ agents: [], pipelines: [loop], store, model: scriptedModel([]), clock, inspect });
    expect(await second.recover()).toBe(1);
    await until(() => sleeps === 3);
    clock.increment(1_000);
    const done = await second.settled(id);
    expect(done).toMatchObject({ status: 'done', output: { rounds: 2 } });
    // Nothing recorded ran again: the second process picked up at the second sleep.
    expect(calls).toEqual(['start1', 'check1', 'start2', 'check2']);
    expect(stepsOf({ id, agent: 'poll', events: done.events })).toEqual(['start', 'wait', 'check', 'again', 'start', 'wait', 'check', 'again']);
    await second.close();
  });
});

/** Waits (bounded, yielding to the event loop) until `test` holds. */
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !test(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(test()).toBe(true);
}
