/**
 * Factor 12 for pipelines: a pipeline actor started from any stored prefix of a looping run's
 * thread ends exactly as the original run did (same events, seqs, times, call ids and branch
 * choices), running only what the prefix had not recorded: no recorded code step runs again and no
 * recorded branch is asked again.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { inputEvents, instantChildren, runPipeline, type PipelineEnd } from './pipelineKit.js';

interface Scenario {
  readonly name: string;
  /** The visit of `check` that passes (0: never). */
  readonly greenAt: number;
  /** The visit of `check` that always throws (0: never). */
  readonly throwAt: number;
  readonly maxTransitions: number;
  readonly ends: 'done' | 'failed';
}

/** start -> wait (durable sleep) -> review (agent) -> check -> again (branch back to start) -> report. */
function polling(scenario: Scenario, calls: string[]): Pipeline {
  return pipeline({
    name: 'polling',
    description: 'start, wait, have it reviewed, check, and go round again until green',
    input: z.object({ job: z.string() }),
    output: z.object({ rounds: z.number(), review: z.string(), report: z.string() }),
    maxTransitions: scenario.maxTransitions,
    retryDelayMs: 250,
  })
    .code({ name: 'start', output: z.number(), run: ({ visit }) => (calls.push('start'), visit) })
    .sleep({ name: 'wait', duration: ({ visit }) => 100 * visit })
    .agent({ name: 'review', agent: 'reviewer', input: ({ input, results }) => `${input.job} round ${results.start}`, output: z.string() })
    .code({
      name: 'check',
      output: z.object({ green: z.boolean() }),
      run: ({ visit }) => {
        calls.push('check');
        if (visit === scenario.throwAt) throw new Error(`check ${visit} is down`);
        return { green: visit === scenario.greenAt };
      },
    })
    .branch({ name: 'again', choose: ({ results }) => (calls.push('again'), results.check.green ? undefined : 'start') })
    .code({ name: 'report', run: ({ results }) => (calls.push('report'), `green after ${results.start}`) })
    .finish(({ results }) => ({ rounds: results.start, review: results.review, report: results.report }));
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'green on the third round', greenAt: 3, throwAt: 0, maxTransitions: 40, ends: 'done' },
  { name: 'never green: the loop hits maxTransitions', greenAt: 0, throwAt: 0, maxTransitions: 14, ends: 'failed' },
  { name: 'the check fails three times in a row on the second round (backoffs)', greenAt: 3, throwAt: 2, maxTransitions: 40, ends: 'failed' },
];

const children = () => instantChildren((_, input) => `reviewed ${String(input)}`);
const CODE_STEPS = ['start', 'check', 'report'];

/** An event without what a re-run attempt shifts (its seq, and a call's attempt number). */
function comparable(event: ThreadEvent): unknown {
  const { seq: _seq, ...rest } = event;
  if (event.type !== 'tool_call') return rest;
  const { attempt: _attempt, ...data } = event.data;
  return { ...rest, data };
}

/** The runs `calls` made after a prefix: one per journaled code-step attempt and per branch run. */
function journaledAfter(events: readonly ThreadEvent[], k: number): string[] {
  return events.slice(k).flatMap((e) => (e.type === 'tool_call' && (CODE_STEPS.includes(e.data.tool) || e.data.tool === 'again') ? [e.data.tool] : []));
}

describe('a looping pipeline restored from every stored prefix', () => {
  for (const scenario of SCENARIOS) {
    it(`ends like the original: ${scenario.name}`, async () => {
      const lengths = new Set<number>();
      const original: PipelineEnd = await runPipeline(polling(scenario, []), inputEvents({ job: 'build' }), { children: children(), lengths });
      expect(original.status).toBe(scenario.ends);
      const n = original.thread.events.length;
      expect(lengths.has(n)).toBe(true);
      let prefixes = 0;
      let reruns = 0;
      for (let k = 1; k <= n; k++) {
        // Appends are atomic: a prefix inside one write (a branch's call without its result) never exists.
        if (!lengths.has(k)) continue;
        const prefix = original.thread.events.slice(0, k);
        const calls: string[] = [];
        const restored = await runPipeline(polling(scenario, calls), prefix, { children: children() });
        expect(restored.status).toBe(original.status);
        expect(restored.state).toBe(original.state);
        const last = prefix.at(-1)!;
        if (last.type === 'tool_call' && CODE_STEPS.includes(last.data.tool)) {
          // The process "died" while the code ran: it runs again as the next attempt of the same call.
          reruns++;
          expect(restored.thread.events.slice(0, k)).toEqual(prefix);
          expect(restored.thread.events[k]).toMatchObject({ type: 'tool_call', data: { callId: last.data.callId, attempt: last.data.attempt + 1 } });
          const rest = restored.thread.events.slice(k + 1);
          expect(rest.map(comparable)).toEqual(original.thread.events.slice(k).map(comparable));
        } else {
          expect(restored.thread.events).toEqual(original.thread.events);
        }
        // Only what the prefix had not recorded ran: each code attempt and branch run is journaled first.
        expect(calls).toEqual(journaledAfter(restored.thread.events, k));
        prefixes++;
      }
      expect(prefixes).toBeGreaterThan(15);
      expect(reruns).toBeGreaterThan(3);
    });
  }

  it('the scenarios cover loops, sleeps, delegations, backoffs and both endings', async () => {
    const seen = new Set<string>();
    for (const scenario of SCENARIOS) {
      const end = await runPipeline(polling(scenario, []), inputEvents({ job: 'build' }), { children: children() });
      for (const e of end.thread.events) seen.add(e.type === 'tool_result' ? `result:${e.data.tool}` : e.type);
      if (end.waits > 0) seen.add('waits');
      const failure = end.thread.events.at(-1);
      if (failure?.type === 'failed') seen.add(failure.data.reason.includes('maxTransitions') ? 'failed:bound' : 'failed:errors');
    }
    expect([...seen].sort()).toEqual(
      ['error', 'failed', 'failed:bound', 'failed:errors', 'final', 'input', 'result:again', 'result:check', 'result:report', 'result:review', 'result:start', 'result:wait', 'tool_call', 'waits'].sort(),
    );
  });
});
