/**
 * Factor 12 as a property: an agent actor started from any stored prefix of a thread continues it
 * exactly as the original run did (same events, seqs, times and ids), given the same model replies
 * and human answers from that point on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision, intent, judge } from '../../src/agent/customStep.js';
import type { ScriptStep } from '../../src/model/scriptedModel.js';
import { calculatorTools } from '../../tools/calculator.js';
import { checkEveryPrefix, runFrom, startEvents } from '../support/restoreKit.js';

const num = fc.integer({ min: -5, max: 9 });
const validTool: fc.Arbitrary<ScriptStep> = fc
  .record({ op: fc.constantFrom('add', 'subtract', 'multiply'), a: num, b: num })
  .map(({ op, a, b }) => ({ intent: op, args: { a, b } }));
/** Needs approval; b = 0 fails in the tool once approved. */
const divide: fc.Arbitrary<ScriptStep> = fc.record({ a: num, b: fc.integer({ min: 0, max: 3 }) }).map(({ a, b }) => ({ intent: 'divide', args: { a, b } }));
const invalid = fc.constantFrom<ScriptStep>(
  { intent: 'sqrt', args: { x: 4 } },
  { intent: 'add', args: { a: 'one', b: 2 } },
  { toolCall: { name: 'add', arguments: '{"a":' } },
  { text: 'no idea' },
);
const modelError = fc.constantFrom<ScriptStep>({ error: { kind: 'http', status: 500, message: 'boom' } }, { error: { kind: 'timeout', message: 'slow' } });
const ask = fc.constantFrom<ScriptStep>(
  { intent: 'request_human_input', args: { question: 'Which numbers?' } },
  { intent: 'request_human_input', args: { question: 'Proceed?', format: 'yes_no' } },
  { intent: 'request_human_input', args: { question: 'Which operation?', format: 'multiple_choice', choices: ['add', 'multiply'] } },
);
const move = fc.oneof(
  { weight: 4, arbitrary: validTool },
  { weight: 2, arbitrary: divide },
  { weight: 2, arbitrary: invalid },
  { weight: 2, arbitrary: modelError },
  { weight: 1, arbitrary: ask },
);
const scriptArb = fc
  .tuple(fc.array(move, { minLength: 1, maxLength: 12 }), fc.constantFrom('done', 'errors'))
  .map(([moves, ending]): ScriptStep[] => [
    ...moves,
    ...(ending === 'done'
      ? [{ intent: 'done_for_now', args: { message: 'finished' } }]
      : Array.from({ length: 3 }, (): ScriptStep => ({ error: { kind: 'http', status: 503, message: 'down' } }))),
  ]);
const answersArb = fc.array(fc.record({ approve: fc.boolean(), text: fc.constantFrom('use 2 and 3', 'carry on') }), { maxLength: 8 });

describe('restore from any prefix', () => {
  it('a run restored from every stored prefix ends exactly like the original', async () => {
    let prefixesChecked = 0;
    let reruns = 0;
    await fc.assert(
      fc.asyncProperty(scriptArb, answersArb, async (script, specs) => {
        const checked = await checkEveryPrefix(calculator, script, specs);
        prefixesChecked += checked.prefixes;
        reruns += checked.reruns;
      }),
      { numRuns: 40, seed: 20250101 },
    );
    // The property exercised both kinds of prefixes.
    expect(prefixesChecked).toBeGreaterThan(200);
    expect(reruns).toBeGreaterThan(10);
  });

  it('the generated runs cover decisions, errors, approvals, answers, escalations and both endings', async () => {
    const seen = new Set<string>();
    const statuses = new Set<string>();
    for (const [script, specs] of fc.sample(fc.tuple(scriptArb, answersArb), { numRuns: 40, seed: 20250101 })) {
      const end = await runFrom(calculator, startEvents(calculator), script, specs);
      statuses.add(end.status);
      for (const event of end.thread.events) {
        seen.add(event.type === 'human_request' ? `human_request:${event.data.kind}` : event.type === 'error' ? `error:${event.data.kind}` : event.type);
      }
    }
    for (const expected of [
      'decision',
      'tool_call',
      'tool_result',
      'human_request:input',
      'human_request:approval',
      'human_request:escalation',
      'human_response',
      'escalation',
      'final',
      'error:model_http',
      'error:model_timeout',
      'error:invalid_json',
      'error:unknown_intent',
      'error:invalid_args',
      'error:tool_error',
    ]) {
      expect(seen).toContain(expected);
    }
    expect(statuses).toContain('done');
    expect(statuses).toContain('escalated');
  });
});

/**
 * The same property for an agent whose author added steps: custom events in the thread (a judge
 * that rejects, asks or accepts, a step before each decision that sometimes waits, an intent that
 * sleeps, a compaction) must not break restoring from any prefix.
 */
const authored = agent({
  name: 'authored',
  description: 'the calculator with steps of its author',
  prompt: 'You are {{agent}} ({{mood}}).\n{{tools}}',
  tools: calculatorTools,
  variables: { mood: (_thread, state) => (state.steps % 2 === 0 ? 'calm' : 'busy') },
  contextBudget: 160,
  compact: (thread, helpers) => `summary of ${thread.events.length} events, ${helpers.state.steps} steps`,
  beforeDecision: [
    beforeDecision({
      name: 'pace',
      output: z.object({ step: z.number() }),
      when: (_thread, state) => state.steps % 2 === 1,
      run: ({ state }) => ({ output: { step: state.steps }, ...(state.steps === 3 ? { waitMs: 5_000 } : {}) }),
    }),
  ],
  afterDecision: [
    judge({
      name: 'policy',
      run: (call) => {
        const a = (call.args as { a?: number }).a;
        if (a === 7) return { verdict: 'reject', feedback: 'seven is not allowed' };
        if (a === 8) return { verdict: 'ask', feedback: 'eight: sure?' };
        return { verdict: 'accept' };
      },
    }),
  ],
  intents: [
    intent({
      name: 'wait_for_a_while',
      description: 'wait',
      input: z.object({ seconds: z.number().int().min(1) }),
      run: ({ seconds }) => ({ output: { waited: seconds }, waitMs: seconds * 1000 }),
    }),
  ],
});
const judged: fc.Arbitrary<ScriptStep> = fc
  .record({ op: fc.constantFrom('add', 'multiply', 'divide'), a: fc.constantFrom(7, 8, 1, 2), b: fc.integer({ min: 1, max: 3 }) })
  .map(({ op, a, b }) => ({ intent: op, args: { a, b } }));
const wait = fc.integer({ min: 1, max: 90_000 }).map((seconds): ScriptStep => ({ intent: 'wait_for_a_while', args: { seconds } }));
const authoredScript = fc
  .array(fc.oneof({ weight: 4, arbitrary: judged }, { weight: 2, arbitrary: wait }, { weight: 2, arbitrary: validTool }, { weight: 1, arbitrary: invalid }), {
    minLength: 1,
    maxLength: 10,
  })
  .map((moves): ScriptStep[] => [...moves, { intent: 'done_for_now', args: { message: 'finished' } }]);

describe('restore from any prefix, with steps of the author', () => {
  it('a run restored from every stored prefix ends exactly like the original', async () => {
    const kinds = new Set<string>();
    let prefixesChecked = 0;
    await fc.assert(
      fc.asyncProperty(authoredScript, answersArb, async (script, specs) => {
        const checked = await checkEveryPrefix(authored, script, specs);
        prefixesChecked += checked.prefixes;
        for (const event of checked.run.thread.events) {
          if (event.type === 'custom') kinds.add(`${event.data.phase}:${event.data.verdict ?? (event.data.until === undefined ? 'plain' : 'wait')}`);
        }
      }),
      { numRuns: 30, seed: 20261204 },
    );
    expect(prefixesChecked).toBeGreaterThan(200);
    // Every kind of custom event was restored over: rejections, questions, acceptances, waits, summaries.
    expect([...kinds].sort()).toEqual(
      ['after_decision:accept', 'after_decision:ask', 'after_decision:reject', 'before_decision:plain', 'before_decision:wait', 'compact:plain', 'intent:wait'].sort(),
    );
  });
});
