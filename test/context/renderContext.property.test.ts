import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateTokens, renderContext } from '../../src/context/renderContext.js';
import { errorKindSchema, type NewEvent, type ThreadEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { eventArbitrary } from '../thread/eventArbitrary.js';

// Properties of the default renderer over any sequence of events an agent's thread may hold, with
// errors that name tools and steps, and results of any size (qa25-context #0, #1, #4, #5).

const AT = '2025-01-01T00:00:00.000Z';
const TOOLS = ['charge', 'lookup'] as const;
const tool = fc.constantFrom(...TOOLS);
const call = fc.constantFrom('call_1', 'call_2', 'call_3');

/** Events of a thread of an agent with the tools charge and lookup, a prefetch and a step named check. */
const agentEvent: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.record({ callId: call, intent: fc.constantFrom(...TOOLS, 'done_for_now') }).map(
    ({ callId, intent }): NewEvent => ({ type: 'decision', data: { callId, step: 1, intent, args: {}, model: 'm', promptHash: 'h', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } }),
  ),
  fc.record({ callId: call, tool, size: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 3000 })) }).map(
    ({ callId, tool: name, size }): NewEvent => ({ type: 'tool_result', data: { callId, tool: name, result: 'r'.repeat(size), durationMs: 0 } }),
  ),
  fc
    .record({
      kind: fc.constantFrom(...errorKindSchema.options),
      tool: fc.option(fc.constantFrom(...TOOLS, 'check', 'profile'), { nil: undefined }),
      callId: fc.option(call, { nil: undefined }),
    })
    .map(({ kind, tool: name, callId }): NewEvent => ({ type: 'error', data: { kind, message: 'failed', attempt: 1, ...(name === undefined ? {} : { tool: name }), ...(callId === undefined ? {} : { callId }) } })),
  fc.constantFrom<NewEvent>(
    { type: 'prefetch', data: { name: 'profile', ok: true, result: 1 } },
    { type: 'custom', data: { step: 'check', phase: 'before_decision', output: 'ok' } },
    { type: 'human_response', data: { requestId: 'req_a', answer: 'go on' } },
    { type: 'human_request', data: { requestId: 'req_a', kind: 'input', question: 'q', urgency: 'low', format: 'free_text' } },
  ),
  fc.record({ callId: call, tool }).map(({ callId, tool: name }): NewEvent => ({ type: 'custom', data: { step: name, phase: 'intent', callId, output: 'done' } })),
);

/** A thread's events with each error's message unique (`e<seq>`), so its block can be found. */
function stamped(events: readonly NewEvent[]): ThreadEvent[] {
  const all = stampEvents(0, [{ type: 'input', data: { input: 'go' } }, ...events], AT);
  return all.map((event) => (event.type === 'error' ? { ...event, data: { ...event.data, message: `e${event.seq}` } } : event));
}

let ids = 0;
const render = (events: readonly ThreadEvent[], budget: number) => renderContext({ contextBudget: budget, secrets: [] }, { id: `prop-${ids++}`, agent: 'shop', events });

describe('renderContext properties', () => {
  it("never hides a tool's error while that tool has no later result, nor any error no success of any kind followed", () => {
    fc.assert(
      fc.property(fc.array(agentEvent, { maxLength: 30 }), (list) => {
        const events = stamped(list);
        const text = render(events, 10_000_000).text;
        events.forEach((event, i) => {
          if (event.type !== 'error') return;
          const { kind, tool: name } = event.data;
          const later = events.slice(i + 1);
          const toolSucceeded = later.some((e) => (e.type === 'tool_result' && e.data.tool === name) || (e.type === 'custom' && e.data.phase === 'intent' && e.data.step === name));
          const anySuccess = later.some((e) => e.type === 'decision' || e.type === 'tool_result' || e.type === 'prefetch' || e.type === 'custom');
          const shown = text.includes(`>e${event.seq}</error>`);
          if ((kind === 'tool_error' || kind === 'tool_timeout') && name !== undefined && !toolSucceeded) expect(shown).toBe(true);
          if (!anySuccess) expect(shown).toBe(true);
          // And the other way: a tool's failure is over once that same tool returned a result.
          if ((kind === 'tool_error' || kind === 'tool_timeout') && later.some((e) => e.type === 'tool_result' && e.data.tool === name)) expect(shown).toBe(false);
        });
      }),
      { numRuns: 300, seed: 25 },
    );
  });

  it('stays within the budget but for a bounded margin, whatever the size of the blocks', () => {
    fc.assert(
      fc.property(fc.array(agentEvent, { maxLength: 30 }), fc.integer({ min: 10, max: 3000 }), (list, budget) => {
        const rendered = render(stamped(list), budget);
        expect(rendered.tokens).toBe(estimateTokens(rendered.text));
        // The tags of the input, a decision and its result, the clip markers and the omitted marker.
        expect(rendered.tokens).toBeLessThanOrEqual(budget + 80);
      }),
      { numRuns: 300, seed: 26 },
    );
  });

  it('renders a growing thread exactly as afresh, for any events (errors resolved, blocks clipped and dropped)', () => {
    const events = fc.oneof({ weight: 3, arbitrary: agentEvent }, { weight: 1, arbitrary: eventArbitrary });
    const batches = fc.array(fc.array(events, { minLength: 1, maxLength: 3 }), { maxLength: 15 });
    fc.assert(
      fc.property(batches, fc.constantFrom(6000, 600, 150, 40), (appends, budget) => {
        const threadId = `grow-${ids++}`;
        const settings = { contextBudget: budget, secrets: [] };
        let log: readonly ThreadEvent[] = stampEvents(0, [{ type: 'input', data: { input: 'go' } }], AT);
        for (const batch of [[], ...appends]) {
          log = [...log, ...stampEvents(log.length, batch, AT)];
          const grown = renderContext(settings, { id: threadId, agent: 'shop', events: log });
          expect(grown).toEqual(render(structuredClone(log), budget));
        }
      }),
      { numRuns: 300, seed: 27 },
    );
  });
});
