/**
 * Factor 12 as a property: an agent actor started from any stored prefix of a thread continues it
 * exactly as the original run did (same events, seqs, times and ids), given the same model replies
 * and human answers from that point on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createAgentActor } from '../../src/runtime/agentActor.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { HumanRequest, HumanResponse, Thread, ThreadEvent } from '../../src/thread/events.js';
import { createClock, runToEnd, threadOf, typesOf, type Answerer, type RunEnd } from '../support/agentHarness.js';

const THREAD_ID = 'thread-restore';
/** Error kinds that record a model call (each consumed one scripted reply). */
const MODEL_ERROR_KINDS = ['model_http', 'model_timeout', 'invalid_json', 'unknown_intent', 'invalid_args'];

interface AnswerSpec {
  approve: boolean;
  text: string;
}

/** Answers the i-th human request with the i-th spec (i = responses already in the thread). */
function answerer(specs: readonly AnswerSpec[]): Answerer {
  return (request: HumanRequest, thread: Thread) => {
    const spec = specs[thread.events.filter((e) => e.type === 'human_response').length];
    if (spec === undefined) return undefined;
    return responseFor(request, spec);
  };
}

function responseFor(request: HumanRequest, { approve, text }: AnswerSpec): Omit<HumanResponse, 'requestId'> {
  switch (request.kind) {
    case 'approval':
    case 'interrupted':
      return approve ? { approved: true } : { approved: false, comment: text };
    case 'escalation':
      return approve ? { answer: text } : { approved: false };
    case 'input':
      if (request.format === 'yes_no') return { answer: approve ? 'yes' : 'no' };
      if (request.format === 'multiple_choice') return { answer: request.choices![approve ? 0 : 1]! };
      return { answer: text };
  }
}

/** A store that remembers every version it committed: the prefixes that can exist. */
function recordingStore(inner: ThreadStore, versions: Set<number>): ThreadStore {
  return {
    ...inner,
    create: async (thread) => {
      const created = await inner.create(thread);
      versions.add(created.events.length);
      return created;
    },
    append: async (id, expected, events) => {
      const appended = await inner.append(id, expected, events);
      versions.add(appended.events.length);
      return appended;
    },
  };
}

async function runFrom(events: readonly ThreadEvent[], script: readonly ScriptStep[], specs: readonly AnswerSpec[], versions?: Set<number>): Promise<RunEnd> {
  const clock = createClock(Date.parse(events.at(-1)!.at));
  const memory = createMemoryStore({ clock });
  const store = versions === undefined ? memory : recordingStore(memory, versions);
  const thread = await store.create({ id: THREAD_ID, agent: calculator.name, events: [...events] });
  const consumed = events.filter((e) => e.type === 'decision' || (e.type === 'error' && MODEL_ERROR_KINDS.includes(e.data.kind))).length;
  const model = scriptedModel(script.slice(consumed));
  const actor = createAgentActor({ agent: calculator, thread, model, store, clock });
  const end = await runToEnd(actor, clock, { answer: answerer(specs), maxIterations: 200 });
  expect(actor.getSnapshot().status === 'done' || ['awaitingHuman', 'escalated'].includes(end.state)).toBe(true);
  return end;
}

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
        const versions = new Set<number>();
        const start = threadOf(THREAD_ID, calculator.name, [{ type: 'input', data: { input: 'compute something' } }]).events;
        const a = await runFrom(start, script, specs, versions);
        const n = a.thread.events.length;
        expect([...versions].every((v) => v >= 1 && v <= n)).toBe(true);
        expect(versions.has(n)).toBe(true);

        for (let k = 1; k <= n; k++) {
          // Appends are atomic: a prefix that ends inside one batch (a decision without its
          // human_request, an error without its escalation) is never stored, so never restored.
          if (!versions.has(k)) continue;
          const prefix = a.thread.events.slice(0, k);
          const b = await runFrom(prefix, script, specs);
          const last = prefix.at(-1)!;
          if (last.type === 'tool_call') {
            // The worker "died" while the tool ran: the (idempotent) call runs again as attempt 2
            // with the same idempotency key, and the run goes on as before with one more event.
            reruns++;
            expect(b.thread.events.slice(0, k)).toEqual(prefix);
            const again = b.thread.events[k]!;
            expect(again).toMatchObject({ type: 'tool_call', data: { ...last.data, attempt: last.data.attempt + 1 } });
            const original = a.thread.events[k]!;
            const result = b.thread.events[k + 1]!;
            expect(result.type).toBe(original.type);
            if (original.type === 'tool_result') expect(result.data).toEqual(original.data);
            expect(typesOf(b.thread)).toEqual([...typesOf(a.thread).slice(0, k), 'tool_call', ...typesOf(a.thread).slice(k)]);
            expect(b.status).toBe(a.status);
          } else {
            expect(b.thread.events).toEqual(a.thread.events);
            expect(b.state).toBe(a.state);
            expect(b.status).toBe(a.status);
          }
          prefixesChecked++;
        }
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
      const start = threadOf(THREAD_ID, calculator.name, [{ type: 'input', data: { input: 'compute something' } }]).events;
      const end = await runFrom(start, script, specs);
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
