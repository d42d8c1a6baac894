import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { checkConfig } from '../../src/runtime/config.js';
import { FINISH, pipeline, type FinishFunction, type Pipeline, type SleepResult } from '../../src/pipeline/pipeline.js';
import type { Json } from '../../src/thread/events.js';
import { inputEvents, instantChildren, runPipeline } from './pipelineKit.js';

const head = {
  name: 'typed',
  description: 'typed results',
  input: z.object({ repo: z.string(), attempts: z.number().default(2) }),
  output: z.object({ summary: z.string() }),
};
const patchSchema = z.object({ files: z.array(z.string()), lines: z.number().int() });

describe('typed pipeline results (type level; tsc checks these, vitest runs them)', () => {
  it("each step's output schema types the results of the steps after it", () => {
    const built = pipeline(head)
      .code({
        name: 'patch',
        output: patchSchema,
        run: ({ input, results, visit }) => {
          // The input as its schema parses it (defaults applied), nothing recorded yet.
          expectTypeOf(input).toEqualTypeOf<{ repo: string; attempts: number }>();
          expectTypeOf(results).toEqualTypeOf<{}>();
          expectTypeOf(visit).toEqualTypeOf<number>();
          return { files: [input.repo], lines: 3 };
        },
      })
      .agent({
        name: 'review',
        agent: 'reviewer',
        input: ({ results }) => {
          expectTypeOf(results.patch).toEqualTypeOf<{ files: string[]; lines: number }>();
          return results.patch.files.join(',');
        },
        output: z.object({ approved: z.boolean() }),
      })
      .agent({ name: 'notes', agent: 'writer', input: () => 'notes' })
      .sleep({ name: 'cool_off', ms: 10 })
      .code({
        name: 'count',
        run: async ({ results }) => {
          expectTypeOf(results.review).toEqualTypeOf<{ approved: boolean }>();
          // Without an output schema an agent's result is any JSON value.
          expectTypeOf(results.notes).toEqualTypeOf<Json>();
          expectTypeOf(results.cool_off).toEqualTypeOf<SleepResult>();
          return results.patch.lines * 2;
        },
      })
      .finish(({ results }) => {
        // Without a schema, a code step's result is what its run returns (awaited).
        expectTypeOf(results.count).toEqualTypeOf<number>();
        return { summary: `${results.count} lines, approved: ${results.review.approved}` };
      });
    // Its name and input schema typed as the head gives them (a plain string here: `head` is not `as const`), for runtime.launch.
    expectTypeOf(built).toEqualTypeOf<Pipeline<string, typeof head.input>>();
    expectTypeOf(built).toExtend<Pipeline>();
  });

  it('a loop back keeps earlier results required; a branch that may go past later steps makes them optional', () => {
    pipeline(head)
      .code({ name: 'fix', output: z.string(), run: () => 'patch' })
      .code({ name: 'check', output: z.boolean(), run: () => true })
      // Only back to an earlier step, or on: the steps after it always run.
      .branch({ name: 'again', choose: ({ results }) => (results.check ? undefined : 'fix') })
      .code({ name: 'ship', run: () => 'shipped' as const })
      .finish(({ results }) => {
        expectTypeOf(results.fix).toEqualTypeOf<string>();
        expectTypeOf(results.ship).toEqualTypeOf<'shipped'>();
        expectTypeOf(results.again).toEqualTypeOf<string>();
        return { summary: results.fix };
      });
    pipeline(head)
      .code({ name: 'plan', output: z.object({ go: z.boolean() }), run: () => ({ go: true }) })
      .branch({ name: 'gate', choose: ({ results }) => (results.plan.go ? 'deploy' : FINISH) })
      .code({ name: 'deploy', output: z.string(), run: () => 'deployed' })
      .finish(({ results }) => {
        expectTypeOf(results.plan).toEqualTypeOf<{ go: boolean }>();
        // The gate may finish before deploy runs.
        expectTypeOf(results.deploy).toEqualTypeOf<string | undefined>();
        return { summary: results.deploy ?? 'not deployed' };
      });
  });

  it('rejects what does not fit, at compile time', () => {
    const make = () => {
      // @ts-expect-error run must return what the output schema accepts (lines is a number)
      pipeline(head).code({ name: 'patch', output: patchSchema, run: () => ({ files: [], lines: 'three' }) });
      pipeline(head)
        .code({ name: 'a', output: z.string(), run: () => 'x' })
        // @ts-expect-error results.b does not exist yet (b comes later)
        .code({ name: 'uses_b', run: ({ results }) => results.b.length })
        .code({ name: 'b', output: z.string(), run: () => 'y' });
      pipeline(head)
        .code({ name: 'a', run: () => 1 })
        .branch({ name: 'go', choose: () => 'nowhere' })
        // @ts-expect-error the branch names a step the pipeline does not have
        .finish(() => ({ summary: 'x' }));
      pipeline(head)
        .code({ name: 'a', run: () => 1 })
        // @ts-expect-error finish must build the output its schema describes
        .finish(() => ({ summary: 42 }));
    };
    expect(make).toBeTypeOf('function');
  });

  it('names a branch target the pipeline lacks in what finish refuses, and takes a build alone when every target is a step', () => {
    const lost = pipeline(head)
      .code({ name: 'a', run: () => 1 })
      .branch({ name: 'go', choose: ({ results }) => (results.a > 0 ? 'nowhere' : 'a') });
    // The build finish takes carries the message, naming the unknown step, that tsc reports at finish.
    expectTypeOf(lost.finish).parameter(0).toHaveProperty("branch target 'nowhere' is not a step of this pipeline");
    // @ts-expect-error a build alone is refused while a target names no step
    lost.finish(() => ({ summary: 'x' }));
    // A later step may be a target: with it declared, finish takes a build alone.
    const found = pipeline(head)
      .code({ name: 'a', run: () => 1 })
      .branch({ name: 'go', choose: ({ results }) => (results.a > 0 ? 'later' : 'a') })
      .code({ name: 'later', run: () => 'x' });
    // (later's result is optional: the branch may jump over the steps before it.)
    type Build = FinishFunction<{ repo: string; attempts: number }, { readonly a: number; readonly go: string; readonly later?: string }, typeof head.output>;
    expectTypeOf(found.finish).parameters.toEqualTypeOf<[Build]>();
    expectTypeOf(found.finish(({ results }) => ({ summary: results.later ?? String(results.a) }))).toEqualTypeOf<Pipeline<string, typeof head.input>>();
  });
});

describe('typed pipeline results (run time)', () => {
  it('validates a code step output with its schema: a bad value fails the pipeline clearly, no crash, nothing recorded', async () => {
    const bad = pipeline({ ...head, name: 'bad-output' })
      .code({ name: 'patch', output: patchSchema, run: ({ input }) => JSON.parse(`{"files":["${input.repo}"],"lines":"many"}`) as z.input<typeof patchSchema> })
      .code({ name: 'after', run: () => 'never' })
      .finish(() => ({ summary: 'never' }));
    const end = await runPipeline(bad, inputEvents({ repo: 'api' }));
    expect(end.state).toBe('failed');
    expect(end.status).toBe('failed');
    expect(end.stopped).toBeUndefined();
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: 'step patch returned an invalid output: lines: Invalid input: expected number, received string' } });
    expect(end.thread.events.some((e) => e.type === 'tool_result')).toBe(false);
  });

  it('records the JSON the schema took and gives later steps what it parses (defaults, transforms): the typed value', async () => {
    const seen: unknown[] = [];
    const parsed = pipeline({ ...head, name: 'parsed' })
      .code({ name: 'size', output: z.object({ n: z.string().transform(Number), unit: z.string().default('kb') }), run: () => ({ n: '12' }) })
      .code({ name: 'use', run: ({ results }) => (seen.push(results.size), results.size.n + 1) })
      .finish(({ results }) => ({ summary: `${results.use} ${results.size.unit}` }));
    const end = await runPipeline(parsed, inputEvents({ repo: 'api' }));
    expect(end.status).toBe('done');
    expect(seen).toEqual([{ n: 12, unit: 'kb' }]);
    expect(end.thread.events.find((e) => e.type === 'tool_result')).toMatchObject({ data: { tool: 'size', result: { n: '12' } } });
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { summary: '13 kb' } } });
  });

  it("an agent step's output schema checks the child's output", async () => {
    const review = pipeline({ ...head, name: 'review' })
      .agent({ name: 'review', agent: 'reviewer', input: () => 'look', output: z.object({ approved: z.boolean() }) })
      .finish(({ results }) => ({ summary: String(results.review.approved) }));
    const ok = await runPipeline(review, inputEvents({ repo: 'api' }), { children: instantChildren(() => ({ approved: true })) });
    expect(ok.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { summary: 'true' } } });
    const wrong = await runPipeline(review, inputEvents({ repo: 'api' }), { children: instantChildren(() => 'yes!') });
    expect(wrong.status).toBe('failed');
    expect(wrong.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: expect.stringMatching(/^step review: agent reviewer returned an invalid output: \(root\): /) } });
  });

  it('a config holding an unfinished builder gets a clear error', () => {
    const unfinished = pipeline(head).code({ name: 'a', run: () => 1 });
    expect(() => checkConfig({ pipelines: [unfinished] }, 'switchyard.config.ts')).toThrow(
      'switchyard.config.ts: pipelines[0] is a pipeline builder: end it with .finish(({ results }) => output)',
    );
  });
});
