import { describe, expect, it } from 'vitest';
import { parseContext } from '../../src/context/parseContext.js';
import { estimateTokens, renderContext } from '../../src/context/renderContext.js';
import type { Json, NewEvent, Thread } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

// The context's token budget (qa25-context #1, #5): a block larger than its share of the budget is
// clipped, saying how much was cut (the thread keeps it whole), and a call's outcome is never kept
// without the decision it answers.

const AT = '2025-01-01T00:00:00.000Z';
let ids = 0;

function thread(events: readonly NewEvent[]): Thread {
  return { id: `budget-${ids++}`, agent: 'pager', events: stampEvents(0, events, AT) };
}

const input: NewEvent = { type: 'input', data: { input: 'read the page' } };
const call = (seq: number, tool: string, value: Json, step = 1): NewEvent[] => [
  { type: 'decision', data: { callId: `call_${seq}`, step, intent: tool, args: { n: step }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 } },
  { type: 'tool_call', data: { callId: `call_${seq}`, tool, args: { n: step }, idempotencyKey: `k:${seq}`, attempt: 1 } },
  { type: 'tool_result', data: { callId: `call_${seq}`, tool, result: value, durationMs: 1 } },
];
/** The number a clip marker says was cut (`…[183,211 characters not shown]`), or undefined. */
const cutOf = (text: string): number | undefined => {
  const match = /…\[([\d,]+) characters not shown\]/.exec(text);
  return match === null ? undefined : Number(match[1]!.replace(/,/g, ''));
};

describe('contextBudget (qa25-context #1)', () => {
  it('clips a result far larger than the budget, saying how much it cut, and the thread keeps it whole', () => {
    const events = [input, ...call(2, 's', 'small', 1), ...call(5, 's', 'small', 2), ...call(8, 'huge', 'H'.repeat(200_000), 3)];
    const t = thread(events);
    const budget = 1000;
    const rendered = renderContext({ contextBudget: budget, secrets: [] }, t);
    const shown = rendered.text.split('H').length - 1;
    expect(shown).toBeGreaterThan(1000);
    expect(cutOf(rendered.text)).toBe(200_000 - shown);
    expect(rendered.text).toMatch(/HHH…\[19\d,\d{3} characters not shown\]\n<\/tool_result>$/);
    expect(rendered.tokens).toBeLessThanOrEqual(budget);
    // The thread is not changed, and the same thread renders the same text.
    const recorded = t.events.at(-1)!;
    expect(recorded.type === 'tool_result' && recorded.data.result).toBe('H'.repeat(200_000));
    expect(renderContext({ contextBudget: budget, secrets: [] }, thread(events)).text).toBe(rendered.text);
  });

  it('clips the input and the newest block when each exceeds its share, keeping their tags', () => {
    const big: NewEvent = { type: 'input', data: { input: 'y'.repeat(4000) } };
    const rendered = renderContext({ contextBudget: 6000, secrets: [] }, thread([big, ...call(2, 'old', `first ${'f'.repeat(600)}`), ...call(5, 'page', 'z'.repeat(4000))]), { budgetTokens: 300 });
    const blocks = parseContext(rendered.text);
    expect(blocks.map((b) => b.tag)).toEqual(['input', 'decision', 'tool_result']);
    expect(rendered.text).not.toContain('first');
    expect(blocks[0]!.body).toMatch(/^y+…\[\d[\d,]* characters not shown\]$/);
    expect(blocks[2]!.body).toMatch(/^z+…\[\d[\d,]* characters not shown\]$/);
    expect(rendered.tokens).toBeLessThanOrEqual(300 + 20);
  });

  it('clips nothing when the whole context fits', () => {
    const rendered = renderContext({ contextBudget: 2000, secrets: [] }, thread([input, ...call(2, 'page', 'z'.repeat(6000))]));
    expect(rendered.text).toContain('z'.repeat(6000));
    expect(cutOf(rendered.text)).toBeUndefined();
  });
});

describe('contextBudget keeps a decision with its outcome (qa25-context #5)', () => {
  it('never keeps a tool result whose decision it dropped, whatever the budget', () => {
    const events: NewEvent[] = [input];
    for (let i = 0; i < 6; i++) events.push(...call(events.length + 1, 'big', 'B'.repeat(200 + 150 * i), i + 1));
    for (let budget = 20; budget <= 1200; budget += 7) {
      const blocks = parseContext(renderContext({ contextBudget: budget, secrets: [] }, thread(events)).text);
      blocks.forEach((block, i) => {
        if (block.tag === 'tool_result') expect(blocks[i - 1]?.tag, `budget ${budget}`).toBe('decision');
      });
      // The newest result is always there, with its decision.
      expect(blocks.at(-1)?.tag).toBe('tool_result');
      expect(blocks.at(-2)?.attrs.step).toBe('6');
    }
  });

  it('stays within the budget, but for a bounded margin, and marks what it dropped', () => {
    const events: NewEvent[] = [input];
    for (let i = 0; i < 40; i++) events.push(...call(events.length + 1, 'big', 'B'.repeat((i * 997) % 5000), i + 1));
    for (const budget of [50, 300, 1000, 3000]) {
      const rendered = renderContext({ contextBudget: budget, secrets: [] }, thread(events));
      expect(rendered.tokens).toBeLessThanOrEqual(budget + 60);
      expect(rendered.tokens).toBe(estimateTokens(rendered.text));
      expect(rendered.text).toContain(`<omitted blocks="${rendered.omitted}"/>`);
    }
  });
});

describe("contextBudget keeps the model's question with the decision that asked it", () => {
  const ask = { question: 'Refund which?', context: 'Order total is $40; the customer says the item arrived broken', format: 'multiple_choice', choices: ['full', 'partial'] };
  const asked = (seq: number, answer: string): NewEvent[] => [
    { type: 'decision', data: { callId: `call_${seq}`, step: 4, intent: 'request_human_input', args: ask, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 } },
    { type: 'human_request', data: { requestId: `req_${seq + 1}`, kind: 'input', question: ask.question, context: ask.context, urgency: 'medium', format: 'multiple_choice', choices: ask.choices } },
    { type: 'human_response', data: { requestId: `req_${seq + 1}`, answer } },
  ];

  it('shows the answer the model reads next with its question and the decision holding its context and choices, whatever the budget', () => {
    const events: NewEvent[] = [input];
    for (let i = 0; i < 3; i++) events.push(...call(events.length + 1, 'big', 'B'.repeat(300 + 150 * i), i + 1));
    events.push(...asked(events.length + 1, `full ${'because '.repeat(40)}`));
    let withContext = 0;
    for (let budget = 20; budget <= 1200; budget += 3) {
      const blocks = parseContext(renderContext({ contextBudget: budget, secrets: [] }, thread(events)).text);
      expect(blocks.slice(-3).map((b) => b.tag), `budget ${budget}`).toEqual(['decision', 'human_request', 'human_response']);
      expect(blocks.at(-3)?.attrs.intent).toBe('request_human_input');
      if (blocks.at(-3)!.body.includes('Order total')) withContext++;
    }
    expect(withContext).toBeGreaterThan(0);
  });

  it('never keeps a question, or its answer, whose decision it dropped', () => {
    const events: NewEvent[] = [input];
    events.push(...asked(events.length + 1, `partial ${'since '.repeat(30)}`));
    for (let i = 0; i < 4; i++) events.push(...call(events.length + 1, 'big', 'B'.repeat(200 + 150 * i), i + 5));
    for (let budget = 20; budget <= 1200; budget += 3) {
      const blocks = parseContext(renderContext({ contextBudget: budget, secrets: [] }, thread(events)).text);
      blocks.forEach((block, i) => {
        if (block.tag === 'human_request') expect(blocks[i - 1]?.attrs.intent, `budget ${budget}`).toBe('request_human_input');
        if (block.tag === 'human_response') expect(blocks[i - 1]?.tag, `budget ${budget}`).toBe('human_request');
      });
    }
  });
});
