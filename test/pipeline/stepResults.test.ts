import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { codeStep, pipeline, type Jsonified, type Pipeline } from '../../src/pipeline/pipeline.js';
import type { Json, ThreadEvent } from '../../src/thread/events.js';
import { inputEvents, instantChildren, runPipeline } from './pipelineKit.js';

// The steps after a step see its result as the log holds it (JSON), parsed again with the step's
// `output` schema when it has one: the types of `results` must say what they get.

const head = { name: 'stamps', description: 'results as recorded', input: z.object({}), output: z.object({ t: z.number() }) };
const isoDate = z.iso.datetime().pipe(z.coerce.date());

describe('step results with an output schema (run time)', () => {
  it("parses a recorded result again with the step's schema: z.iso.datetime().pipe(z.coerce.date()) gives the next step a Date", async () => {
    const seen: string[] = [];
    const dated = pipeline(head)
      .code({ name: 'stamp', output: isoDate, run: () => '1970-01-01T00:00:01.000Z' })
      .code({ name: 'use', run: ({ results }) => (seen.push(Object.prototype.toString.call(results.stamp)), results.stamp.getTime()) })
      .finish(({ results }) => ({ t: results.use + results.stamp.getTime() }));
    const end = await runPipeline(dated, inputEvents({}));
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { t: 2000 } } });
    expect(seen).toEqual(['[object Date]']);
    // The log holds the JSON the schema took.
    expect(end.thread.events.find((e) => e.type === 'tool_result')).toMatchObject({ data: { tool: 'stamp', result: '1970-01-01T00:00:01.000Z' } });
  });

  it("an agent step's output schema gives the steps after it the parsed child output", async () => {
    const dated = pipeline(head)
      .agent({ name: 'ask', agent: 'clock', input: () => 'when?', output: z.object({ at: isoDate }) })
      .finish(({ results }) => ({ t: results.ask.at.getTime() }));
    const end = await runPipeline(dated, inputEvents({}), { children: instantChildren(() => ({ at: '1970-01-01T00:00:03.000Z' })) });
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'final', data: { output: { t: 3000 } } });
  });

  it('a recorded result its schema now refuses (the schema changed since it ran) fails the run naming the step, without running a step', async () => {
    const ran: string[] = [];
    const changed = pipeline(head)
      .code({ name: 'stamp', output: isoDate, run: () => '1970-01-01T00:00:01.000Z' })
      .code({ name: 'use', run: ({ results }) => (ran.push('use'), results.stamp.getTime()) })
      .finish(({ results }) => ({ t: results.use }));
    // Recorded by an earlier version whose stamp returned a number of ms.
    const at = '2025-01-01T00:00:00.000Z';
    const events: ThreadEvent[] = [
      ...inputEvents({}, at),
      { seq: 2, at, type: 'tool_call', data: { callId: 'step_1', tool: 'stamp', args: {}, idempotencyKey: 'k1', attempt: 1 } },
      { seq: 3, at, type: 'tool_result', data: { callId: 'step_1', tool: 'stamp', result: 1000, durationMs: 0, raw: true } },
    ];
    const end = await runPipeline(changed, events);
    expect(end.status).toBe('failed');
    expect(end.stopped).toBeUndefined();
    expect(end.thread.events.at(-1)).toMatchObject({
      type: 'failed',
      data: { reason: 'step stamp: its recorded result does not pass its output schema now (did the schema change since it ran?): (root): Invalid input: expected string, received number' },
    });
    expect(ran).toEqual([]);
  });

  it('takes a result the last version recorded (its output schema had already transformed it) as recorded, not through the transform again', async () => {
    const seen: unknown[] = [];
    const p = pipeline(head)
      .code({ name: 'count', output: z.string().transform((text) => text.length), run: () => 'abc' })
      .code({ name: 'use', run: ({ results }) => (seen.push(results.count), results.count * 100) })
      .finish(({ results }) => ({ t: results.use }));
    // The last version recorded the schema's output (3), with no `raw` mark.
    const at = '2025-01-01T00:00:00.000Z';
    const events: ThreadEvent[] = [
      ...inputEvents({}, at),
      { seq: 2, at, type: 'tool_call', data: { callId: 'step_1', tool: 'count', args: {}, idempotencyKey: 'k1', attempt: 1 } },
      { seq: 3, at, type: 'tool_result', data: { callId: 'step_1', tool: 'count', result: 3, durationMs: 0 } },
    ];
    const end = await runPipeline(p, events);
    expect(end.status).toBe('done');
    expect(seen).toEqual([3]);
    // This version records what run returned, marked raw, and parses it again for the steps after it.
    const fresh = await runPipeline(p, inputEvents({}));
    expect(fresh.thread.events.find((e) => e.type === 'tool_result')).toMatchObject({ data: { result: 'abc', raw: true } });
    expect(seen).toEqual([3, 3]);
  });

  it('keeps a skipped step as { skipped: true } even where its schema would take that and strip it', async () => {
    const p = pipeline({ name: 'p', description: 'd', input: z.unknown(), output: z.unknown(), steps: [codeStep({ name: 'opt', output: z.object({ note: z.string().optional() }), run: () => ({}) })], finish: ({ results }) => results.opt ?? null });
    const at = '2025-01-01T00:00:00.000Z';
    const events: ThreadEvent[] = [
      ...inputEvents({}, at),
      { seq: 2, at, type: 'tool_call', data: { callId: 'step_1', tool: 'opt', args: {}, idempotencyKey: 'k1', attempt: 1 } },
      { seq: 3, at, type: 'tool_result', data: { callId: 'step_1', tool: 'opt', result: { skipped: true }, durationMs: 0, raw: true } },
    ];
    const end = await runPipeline(p, events);
    expect(end.status).toBe('done');
    expect(end.thread.events.find((e) => e.type === 'final')).toMatchObject({ data: { output: { skipped: true } } });
  });

  it('a schema that throws on the recorded result fails the run the same way, never the actor', async () => {
    let calls = 0;
    const throwing = z.string().refine(() => {
      if (++calls > 1) throw new Error('boom');
      return true;
    });
    const p = pipeline(head)
      .code({ name: 'a', output: throwing, run: () => 'x' })
      .finish(() => ({ t: 1 }));
    const end = await runPipeline(p, inputEvents({}));
    expect(end.status).toBe('failed');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: expect.stringMatching(/^step a: its recorded result does not pass its output schema now .*its schema threw: boom$/) } });
  });

  it('keeps a skipped step (array form) as { skipped: true } where its schema would refuse that', async () => {
    const seen: unknown[] = [];
    const p = pipeline({
      ...head,
      steps: [
        codeStep({ name: 'stamp', output: isoDate, skip: () => true, run: () => '1970-01-01T00:00:01.000Z' }),
        codeStep({ name: 'use', run: ({ results }) => (seen.push(results.stamp), 1) }),
      ],
      finish: () => ({ t: 1 }),
    });
    const end = await runPipeline(p, inputEvents({}));
    expect(end.status).toBe('done');
    expect(seen).toEqual([{ skipped: true }]);
  });
});

describe('output schemas JSON cannot carry back are refused at definition', () => {
  it('refuses z.date() as a code step output, naming the step and what to use', () => {
    const define = () => pipeline(head).code({ name: 'stamp', output: z.date(), run: () => new Date(0) }).finish(() => ({ t: 0 }));
    expect(define).toThrow(ConfigError);
    expect(define).toThrow(
      'pipeline stamps: step stamp: its output has types JSON Schema cannot express (its result is recorded as JSON, which the steps after it get parsed again with it): (root): z.date() has no JSON Schema; use z.iso.datetime() (an ISO 8601 string), or z.iso.datetime().pipe(z.coerce.date()) for a Date',
    );
  });

  it('refuses z.map(), z.bigint() and z.custom() in an agent step output or the array form', () => {
    expect(() => pipeline(head).agent({ name: 'ask', agent: 'a', input: () => 'x', output: z.object({ m: z.map(z.string(), z.number()) }) }).finish(() => ({ t: 0 })))
      .toThrow(/^pipeline stamps: step ask: its output has types JSON Schema cannot express .*: m: z\.map\(\) has no JSON Schema; use z\.record/);
    expect(() => pipeline({ ...head, steps: [codeStep({ name: 'n', output: z.bigint(), run: () => 1n })], finish: () => ({ t: 0 }) })).toThrow(/step n: .*z\.bigint\(\) has no JSON Schema/);
    expect(() => pipeline(head).code({ name: 'c', output: z.custom<Date>(), run: () => new Date() }).finish(() => ({ t: 0 }))).toThrow(/step c: .*z\.custom\(\)/);
  });

  it('takes schemas whose input JSON carries: a pipe to a Date, a coerced Date, transforms of JSON', () => {
    expect(() =>
      pipeline(head)
        .code({ name: 'a', output: isoDate, run: () => '1970-01-01T00:00:00.000Z' })
        .code({ name: 'b', output: z.coerce.date(), run: () => new Date(0) })
        .code({ name: 'c', output: z.string().transform((s) => s.length), run: () => 'abc' })
        .finish(() => ({ t: 0 })),
    ).not.toThrow();
  });
});

class Money {
  constructor(
    readonly cents: number,
    readonly currency: string,
  ) {}
  format(): string {
    return `${this.cents} ${this.currency}`;
  }
}
class Token {
  constructor(readonly secret: string) {}
  toJSON(): { masked: string } {
    return { masked: '***' };
  }
}

describe('step results without an output schema are typed as the JSON the log holds (type level)', () => {
  it('types a code step result as what toJson records of what run returns', () => {
    pipeline(head)
      .code({ name: 'stamp', run: () => new Date(0) })
      .code({ name: 'big', run: () => ({ m: new Map([['a', 1]]), s: new Set([1]), n: 10n, f: () => 1, u: undefined, maybe: Math.random() > 0.5 ? 'x' : undefined }) })
      .code({ name: 'list', run: () => [new Date(0), undefined, 1n] as const })
      .code({ name: 'money', run: async () => new Money(1, 'EUR') })
      .code({ name: 'token', run: () => ({ t: new Token('s') }) })
      .code({ name: 'nothing', run: () => undefined })
      .code({ name: 'plain', run: () => ({ files: ['a'], lines: 3, mode: 'fast' as const }) })
      .code({ name: 'json', run: (): Json => null })
      .code({
        name: 'use',
        run: ({ results }) => {
          expectTypeOf(results.stamp).toEqualTypeOf<string>();
          // @ts-expect-error the log holds the Date's ISO string: it has no getTime
          results.stamp.getTime();
          expectTypeOf(results.big).toEqualTypeOf<{ m: {}; s: {}; n: string; maybe?: string }>();
          expectTypeOf(results.list).toEqualTypeOf<readonly [string, null, string]>();
          expectTypeOf(results.money).toEqualTypeOf<{ readonly cents: number; readonly currency: string }>();
          // @ts-expect-error a class's methods are not recorded
          results.money.format();
          expectTypeOf(results.token).toEqualTypeOf<{ t: { masked: string } }>();
          expectTypeOf(results.nothing).toEqualTypeOf<null>();
          expectTypeOf(results.plain).toEqualTypeOf<{ files: string[]; lines: number; mode: 'fast' }>();
          expectTypeOf(results.json).toEqualTypeOf<Json>();
          return 1;
        },
      })
      .finish(({ results }) => ({ t: results.use }));
  });

  it('types recursive types, unions and records the same way (Jsonified)', () => {
    interface Folder {
      name: string;
      changed: Date;
      children: Folder[];
    }
    expectTypeOf<Jsonified<Folder>['children'][number]['children'][number]['changed']>().toEqualTypeOf<string>();
    expectTypeOf<Jsonified<string | Date | undefined>>().toEqualTypeOf<string | null>();
    expectTypeOf<Jsonified<Record<string, Date>>>().toEqualTypeOf<{ [key: string]: string }>();
    expectTypeOf<Jsonified<{ a?: Date; b: number | undefined }>>().toEqualTypeOf<{ a?: string; b?: number }>();
    expectTypeOf<Jsonified<unknown>>().toEqualTypeOf<Json>();
  });

  it("types a result with an output schema as the schema's output (it is parsed again)", () => {
    pipeline(head)
      .code({ name: 'stamp', output: isoDate, run: () => '1970-01-01T00:00:00.000Z' })
      .finish(({ results }) => {
        expectTypeOf(results.stamp).toEqualTypeOf<Date>();
        return { t: results.stamp.getTime() };
      });
  });

  it('refuses two steps of one name and a sleep of no length, at compile time', () => {
    const make = (): Pipeline[] => [
      pipeline(head)
        .code({ name: 'a', run: () => 1 })
        // @ts-expect-error a step named a exists already
        .code({ name: 'a', run: () => 2 })
        .finish(() => ({ t: 0 })),
      pipeline(head)
        // @ts-expect-error a sleep needs ms or duration
        .sleep({ name: 'nap' })
        .finish(() => ({ t: 0 })),
    ];
    expect(make).toThrow(ConfigError);
  });
});
