import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventArbitrary } from '../thread/eventArbitrary.js';
import { REDACTED, redactJson, redactText } from '../../src/context/redact.js';
import { estimateTokens, renderContext } from '../../src/context/renderContext.js';
import type { NewEvent, Thread } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

const AT = '2025-01-01T00:00:00.000Z';
const agent = { contextBudget: 6000, secrets: [] as readonly string[] };

function thread(events: readonly NewEvent[]): Thread {
  return { id: 't-1', agent: 'calc', events: stampEvents(0, events, AT) };
}

const input: NewEvent = { type: 'input', data: { input: { task: 'add 1 and 2' } } };
const decision = (seq: number, intent: string, args: Record<string, number | string>, step = 1): NewEvent => ({
  type: 'decision',
  data: { callId: `call_${seq}`, step, intent, args, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 3 },
});
const toolCall = (seq: number): NewEvent => ({
  type: 'tool_call',
  data: { callId: `call_${seq}`, tool: 'add', args: { a: 1, b: 2 }, idempotencyKey: `t-1:call_${seq}`, attempt: 1 },
});
const toolResult = (seq: number, result: number | string = 3): NewEvent => ({
  type: 'tool_result',
  data: { callId: `call_${seq}`, tool: 'add', result, durationMs: 1 },
});
const error = (message: string, kind: 'invalid_args' | 'model_http' = 'invalid_args'): NewEvent => ({
  type: 'error',
  data: { kind, message, attempt: 1, tool: 'add', retryAt: AT },
});

describe('renderContext', () => {
  it('writes one compact tagged block per event, leaving out tool calls and control events', () => {
    const { text, omitted, tokens } = renderContext(
      agent,
      thread([
        input,
        { type: 'prefetch', data: { name: 'user', ok: true, result: { name: 'ann' } } },
        { type: 'prefetch', data: { name: 'broken', ok: false, error: 'nope' } },
        decision(4, 'add', { a: 1, b: 2 }),
        toolCall(4),
        toolResult(4),
        { type: 'control', data: { action: 'pause' } },
        { type: 'control', data: { action: 'resume' } },
        decision(9, 'request_human_input', { question: 'which?' }, 2),
        { type: 'human_request', data: { requestId: 'req_10', kind: 'input', question: 'which?', urgency: 'low', format: 'free_text' } },
        { type: 'human_response', data: { requestId: 'req_10', answer: 'the first', comment: 'thanks' } },
        { type: 'final', data: { output: 'done: 3' } },
      ]),
    );
    expect(text).toBe(
      [
        '<input>\n{"task":"add 1 and 2"}\n</input>',
        '<prefetch name="user">\n{"name":"ann"}\n</prefetch>',
        '<decision step="1" intent="add">{"a":1,"b":2}</decision>',
        '<tool_result tool="add" call="call_4">\n3\n</tool_result>',
        '<decision step="2" intent="request_human_input">{"question":"which?"}</decision>',
        '<human_request kind="input" id="req_10">which?</human_request>',
        '<human_response to="req_10">the first\ncomment: thanks</human_response>',
        '<final>done: 3</final>',
      ].join('\n'),
    );
    expect(omitted).toBe(0);
    expect(tokens).toBe(estimateTokens(text));
    expect(text).not.toContain('"role"');
  });

  it('shows approvals, escalations and failures with their attributes', () => {
    const { text } = renderContext(
      agent,
      thread([
        input,
        { type: 'human_request', data: { requestId: 'req_2', kind: 'approval', question: 'Approve divide?', urgency: 'medium', format: 'yes_no', callId: 'call_1', tool: 'divide', args: {} } },
        { type: 'human_response', data: { requestId: 'req_2', approved: false, comment: 'never divide' } },
        { type: 'escalation', data: { reason: 'max_steps', message: 'reached maxSteps (3)', requestId: 'req_5' } },
        { type: 'failed', data: { reason: 'a human stopped it' } },
      ]),
    );
    expect(text).toContain('<human_request kind="approval" id="req_2" tool="divide">Approve divide?</human_request>');
    expect(text).toContain('<human_response to="req_2" approved="false">never divide</human_response>');
    expect(text).toContain('<escalation reason="max_steps">reached maxSteps (3)</escalation>');
    expect(text).toContain('<failed>a human stopped it</failed>');
  });

  it('shows unresolved errors and hides errors resolved by a later success', () => {
    const unresolved = renderContext(agent, thread([input, error('a: expected number'), error('HTTP 500', 'model_http')])).text;
    expect(unresolved).toContain('<error kind="invalid_args" tool="add" attempt="1">a: expected number</error>');
    expect(unresolved).toContain('<error kind="model_http" tool="add" attempt="1">HTTP 500</error>');

    const resolved = renderContext(agent, thread([input, error('a: expected number'), decision(3, 'add', { a: 1, b: 2 }), toolCall(3), toolResult(3), error('later')])).text;
    expect(resolved).not.toContain('expected number');
    expect(resolved).toContain('<tool_result tool="add" call="call_3">');
    // An error after the success is still unresolved.
    expect(resolved).toContain('>later</error>');

    const answered = renderContext(
      agent,
      thread([
        input,
        error('boom'),
        { type: 'human_request', data: { requestId: 'req_3', kind: 'escalation', question: 'help', urgency: 'high', format: 'free_text' } },
        { type: 'human_response', data: { requestId: 'req_3', answer: 'try subtract' } },
      ]),
    ).text;
    // A human's answer resolves nothing the model got wrong (qa25-context #0): the error stays
    // until a decision for add is accepted.
    expect(answered).toContain('boom');
    expect(answered).toContain('try subtract');
  });

  it("shows the answer to an interrupted call's question as what it says: whether the call took effect, not an approval", () => {
    const asked = (seq: number): NewEvent => ({
      type: 'human_request',
      data: { requestId: `req_${seq}`, kind: 'interrupted', question: 'refund(...) was started ... Run it again?', urgency: 'high', format: 'yes_no', callId: 'call_2', tool: 'refund', args: {} },
    });
    const denied = renderContext(agent, thread([input, decision(2, 'refund', { amount: 40 }), asked(3), { type: 'human_response', data: { requestId: 'req_3', approved: false, comment: 'it went through' } }])).text;
    expect(denied).toContain('<human_request kind="interrupted" id="req_3" tool="refund">');
    expect(denied).toContain('<human_response to="req_3" took_effect="true">it went through</human_response>');
    expect(denied).not.toContain('approved=');
    const approved = renderContext(agent, thread([input, decision(2, 'refund', { amount: 40 }), asked(3), { type: 'human_response', data: { requestId: 'req_3', approved: true } }])).text;
    expect(approved).toContain('<human_response to="req_3" took_effect="false"></human_response>');
    // An approval's answer is an approval.
    const gated = renderContext(agent, thread([input, decision(2, 'refund', { amount: 40 }), { ...asked(3), data: { ...asked(3).data, kind: 'approval' } } as NewEvent, { type: 'human_response', data: { requestId: 'req_3', approved: false, comment: 'no' } }])).text;
    expect(gated).toContain('<human_response to="req_3" approved="false">no</human_response>');
  });

  it('drops the oldest blocks after the input to stay within the budget, keeping the newest', () => {
    const events: NewEvent[] = [input];
    for (let i = 0; i < 30; i++) {
      const seq = events.length + 1;
      events.push(decision(seq, 'add', { a: i, b: 1 }, i + 1), toolCall(seq), toolResult(seq, `result number ${i} ${'x'.repeat(40)}`));
    }
    const full = renderContext(agent, thread(events));
    expect(full.omitted).toBe(0);

    const budget = 200;
    const small = renderContext(agent, thread(events), { budgetTokens: budget });
    expect(small.omitted).toBeGreaterThan(0);
    expect(small.text.startsWith(`<input>\n{"task":"add 1 and 2"}\n</input>\n<omitted blocks="${small.omitted}"/>\n`)).toBe(true);
    expect(small.text).toContain('result number 29');
    expect(small.text).not.toContain('result number 0 ');
    expect(small.text).not.toContain('"a":0,');
    // The blocks kept fit the budget (the omitted marker is the only addition).
    expect(small.tokens).toBeLessThanOrEqual(budget + estimateTokens(`<omitted blocks="${small.omitted}"/>`) + 1);
    // Exactly as many blocks were dropped as the marker says: 2 blocks per call (tool_call is hidden) + input.
    const kept = small.text.split('\n').filter((line) => line.startsWith('<decision') || line.startsWith('<tool_result')).length;
    expect(kept + small.omitted).toBe(60);
    // The agent's own budget applies by default.
    expect(renderContext({ contextBudget: budget, secrets: [] }, thread(events)).text).toBe(small.text);
  });

  it('keeps the input and the newest block even when both exceed the budget, each clipped', () => {
    const big: NewEvent = { type: 'input', data: { input: 'y'.repeat(4000) } };
    const { text, omitted } = renderContext(agent, thread([big, toolResult(2, 'first'), toolResult(3, 'z'.repeat(4000))]), { budgetTokens: 10 });
    expect(omitted).toBe(1);
    expect(text).toMatch(/^<input>\ny*…\[4,000 characters not shown\]\n<\/input>\n<omitted blocks="1"\/>\n<tool_result tool="add" call="call_3">\nz*…\[4,000 characters not shown\]\n<\/tool_result>$/);
    expect(text).not.toContain('first');
  });

  it('an older thread whose latest summary leaves the summary before it uncovered shows only the latest summary, then the rest in order', () => {
    // Recorded before compactions covered the summary before them: the second summary (seq 10)
    // stands for events up to 5, which leaves the first one (seq 6, up to 3) after its cut.
    const summary = (upTo: number, output: string): NewEvent => ({ type: 'custom', data: { step: 'compact', phase: 'compact', output, upTo } });
    const { text } = renderContext(
      agent,
      thread([input, decision(2, 'add', { a: 1, b: 1 }), toolResult(2, 2), decision(4, 'add', { a: 2, b: 2 }), toolResult(4, 4), summary(3, 'first'), decision(7, 'add', { a: 3, b: 3 }), toolResult(7, 6), decision(9, 'add', { a: 4, b: 4 }), summary(5, 'second'), toolResult(9, 8)]),
    );
    expect(text).toBe(
      [
        '<input>\n{"task":"add 1 and 2"}\n</input>',
        '<summary of="5">\nsecond\n</summary>',
        '<decision step="1" intent="add">{"a":3,"b":3}</decision>',
        '<tool_result tool="add" call="call_7">\n6\n</tool_result>',
        '<decision step="1" intent="add">{"a":4,"b":4}</decision>',
        '<tool_result tool="add" call="call_9">\n8\n</tool_result>',
      ].join('\n'),
    );
  });

  it('redacts the agent secrets, sk- keys and values under secret-named keys', () => {
    const secretAgent = { contextBudget: 6000, secrets: ['hunter2-very-secret'] };
    const { text } = renderContext(
      secretAgent,
      thread([
        { type: 'input', data: { input: { task: 'log in with hunter2-very-secret', password: 'pa55w0rd!', api_key: 'plain-key-value', nested: { apiKey: 'abc123456' } } } },
        toolResult(2, 'your key is sk-abcdefghijklmnopqrstuvwxyz0123 ok'),
        { type: 'human_response', data: { requestId: 'r', answer: 'use hunter2-very-secret' } },
        { type: 'error', data: { kind: 'tool_error', message: 'auth failed for Bearer abcdefghijklmnop', attempt: 1 } },
      ]),
    );
    for (const secret of ['hunter2-very-secret', 'pa55w0rd!', 'plain-key-value', 'abc123456', 'sk-abcdefghijklmnopqrstuvwxyz0123', 'abcdefghijklmnop']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(`"password":"${REDACTED}"`);
    expect(text).toContain(`"api_key":"${REDACTED}"`);
    expect(text).toContain(`log in with ${REDACTED}`);
    expect(text).toContain(`your key is ${REDACTED} ok`);
  });

  it('redacts a secret even when the same events were rendered before for an agent without it', () => {
    const shared = thread([{ type: 'input', data: { input: 'my token is hunter2-xyz' } }]);
    expect(renderContext({ contextBudget: 6000, secrets: [] }, shared).text).toContain('hunter2-xyz');
    expect(renderContext({ contextBudget: 6000, secrets: ['hunter2-xyz'] }, shared).text).not.toContain('hunter2-xyz');
  });
});

describe('redact', () => {
  it('redactText replaces secrets and secret-shaped tokens, leaving other text alone', () => {
    expect(redactText('a sk-0123456789abcdefXYZ b', [])).toBe(`a ${REDACTED} b`);
    expect(redactText('token ghp_abcdefghijklmnopqrstuvwxyz1234', [])).toBe(`token ${REDACTED}`);
    expect(redactText('id AKIAABCDEFGHIJKLMNOP', [])).toBe(`id ${REDACTED}`);
    expect(redactText('plain words sk-short', [])).toBe('plain words sk-short');
    // Secrets shorter than 4 characters are not replaced (they would redact ordinary text).
    expect(redactText('abc abcd', ['abc'])).toBe('abc abcd');
  });

  it('redactJson keeps structure, nulls and empty values under secret keys', () => {
    expect(redactJson({ token: null, secret: '', list: [{ Authorization: 'x' }], n: 1 })).toEqual({
      token: null,
      secret: '',
      list: [{ Authorization: REDACTED }],
      n: 1,
    });
  });

  it('renders a growing thread exactly as it renders the same events afresh (its blocks are kept between versions)', () => {
    const custom = fc.oneof(
      fc.integer({ min: 1, max: 6 }).map((upTo): NewEvent => ({ type: 'custom', data: { step: 'squash', phase: 'compact', output: `summary to ${upTo}`, upTo } })),
      fc.constant<NewEvent>({ type: 'custom', data: { step: 'check', phase: 'before_decision', output: { ok: true } } }),
    );
    const batches = fc.array(fc.array(fc.oneof({ weight: 6, arbitrary: eventArbitrary }, { weight: 1, arbitrary: custom }), { minLength: 1, maxLength: 3 }), { maxLength: 12 });
    let id = 0;
    fc.assert(
      fc.property(batches, fc.constantFrom(6000, 40), (appends, budget) => {
        const threadId = `grow-${id++}`;
        const settings = { contextBudget: budget, secrets: [] };
        let events = stampEvents(0, [input], AT);
        for (const batch of [[], ...appends]) {
          // Appended as a store does: the earlier event objects stay, in a new array.
          events = [...events, ...stampEvents(events.length, batch, AT)];
          const grown = renderContext(settings, { id: threadId, agent: 'calc', events });
          const fresh = renderContext({ contextBudget: budget, secrets: [] }, { id: `${threadId}-fresh`, agent: 'calc', events: structuredClone(events) });
          expect(grown).toEqual(fresh);
        }
      }),
      { numRuns: 200, seed: 20250101 },
    );
  });
});
