import { describe, expect, it } from 'vitest';
import { renderContext } from '../../src/context/renderContext.js';
import type { ErrorKind, Json, NewEvent, Thread } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

// Which errors the model stops seeing (qa25-context #0, #4): an error is hidden only once what
// failed has since succeeded; a success of anything else (another tool, a prefetch, a human's
// answer) hides nothing, and a call whose error is hidden is hidden with it.

const AT = '2025-01-01T00:00:00.000Z';
const agent = { contextBudget: 100_000, secrets: [] as readonly string[] };
let ids = 0;

function render(events: readonly NewEvent[]): string {
  const thread: Thread = { id: `errors-${ids++}`, agent: 'shop', events: stampEvents(0, events, AT) };
  return renderContext(agent, thread).text;
}

const input: NewEvent = { type: 'input', data: { input: 'charge Ann 10' } };
const decision = (call: string, intent: string, args: Record<string, Json> = {}, step = 1): NewEvent => ({
  type: 'decision',
  data: { callId: call, step, intent, args, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 },
});
const toolCall = (call: string, tool: string): NewEvent => ({ type: 'tool_call', data: { callId: call, tool, args: {}, idempotencyKey: `k:${call}`, attempt: 1 } });
const result = (call: string, tool: string, value: Json = 'ok'): NewEvent => ({ type: 'tool_result', data: { callId: call, tool, result: value, durationMs: 1 } });
const error = (kind: ErrorKind, message: string, about: { tool?: string; callId?: string } = {}): NewEvent => ({
  type: 'error',
  data: { kind, message, attempt: 1, retryAt: AT, ...about },
});
/** A decision for `tool` and its call's result. */
const succeeds = (call: string, tool: string, step = 1): NewEvent[] => [decision(call, tool, {}, step), toolCall(call, tool), result(call, tool)];
const answer: NewEvent[] = [
  { type: 'human_request', data: { requestId: 'req_h', kind: 'input', question: 'which card?', urgency: 'low', format: 'free_text' } },
  { type: 'human_response', data: { requestId: 'req_h', answer: 'the blue one' } },
];

describe('errors in the context (qa25-context #0)', () => {
  it("keeps a tool's error while other tools succeed, a prefetch runs or a human answers: the model still sees the charge failed", () => {
    const charged = [input, decision('call_2', 'charge', { amount: 10 }), toolCall('call_2', 'charge'), error('tool_error', 'charge failed: card declined (do not retry)', { tool: 'charge', callId: 'call_2' })];
    const text = render([...charged, ...succeeds('call_5', 'lookup', 2), ...answer, { type: 'prefetch', data: { name: 'charge', ok: true, result: 1 } }]);
    expect(text).toContain('<decision step="1" intent="charge">{"amount":10}</decision>\n<error kind="tool_error" tool="charge" attempt="1">charge failed: card declined (do not retry)</error>');
    expect(text).toContain('<tool_result tool="lookup" call="call_5">');
    // Once charge itself succeeds, its earlier failure is over.
    const later = render([...charged, ...succeeds('call_5', 'lookup', 2), ...succeeds('call_8', 'charge', 3)]);
    expect(later).not.toContain('card declined');
  });

  it('keeps a timeout of a tool that is not idempotent (no call id) until that tool returns a result', () => {
    const timedOut = [input, decision('call_2', 'charge'), toolCall('call_2', 'charge'), error('tool_timeout', 'charge timed out', { tool: 'charge' })];
    expect(render([...timedOut, ...succeeds('call_5', 'lookup')])).toContain('charge timed out');
    const rerun = render([...timedOut, ...answer, result('call_2', 'charge')]);
    expect(rerun).not.toContain('charge timed out');
    // The decision keeps its outcome: the result of the call run again.
    expect(rerun).toContain('<decision step="1" intent="charge">{}</decision>');
  });

  it("hides errors of the model's answer or call once a later decision was accepted, not on a human's answer", () => {
    for (const kind of ['invalid_json', 'unknown_intent', 'model_http', 'model_timeout'] as const) {
      const failed = [input, error(kind, `the ${kind} failure`)];
      expect(render([...failed, ...answer])).toContain(`the ${kind} failure`);
      expect(render([...failed, decision('call_3', 'lookup')])).not.toContain(`the ${kind} failure`);
    }
    // Rendering the prompt failed (a step_error naming nothing): the next decision had its prompt.
    const prompt = [input, error('step_error', 'rendering the context or prompt failed: boom')];
    expect(render([...prompt, result('call_9', 'lookup')])).toContain('prompt failed');
    expect(render([...prompt, decision('call_3', 'lookup')])).not.toContain('prompt failed');
  });

  it('hides refused arguments once a decision for that same tool was accepted', () => {
    const refused = [input, error('invalid_args', 'arguments for charge are invalid: amount: expected number', { tool: 'charge' })];
    expect(render([...refused, ...succeeds('call_3', 'lookup')])).toContain('expected number');
    expect(render([...refused, decision('call_3', 'charge', { amount: 10 })])).not.toContain('expected number');
  });

  it("hides an author's step error once that step succeeded, and an intent handler's once the intent did", () => {
    const step = [input, error('step_error', 'check failed: db down', { tool: 'check' })];
    expect(render([...step, ...succeeds('call_3', 'lookup'), ...answer])).toContain('db down');
    expect(render([...step, { type: 'custom', data: { step: 'check', phase: 'before_decision', output: 'fine' } }])).not.toContain('db down');

    const prefetch = [input, error('prefetch_error', 'prefetch profile failed: 503', { tool: 'profile' })];
    expect(render([...prefetch, { type: 'prefetch', data: { name: 'other', ok: true, result: 1 } }])).toContain('profile failed');
    expect(render([...prefetch, { type: 'prefetch', data: { name: 'profile', ok: true, result: 1 } }])).not.toContain('profile failed');

    const intent = [input, decision('call_2', 'refund'), error('step_error', 'refund failed: ledger locked', { tool: 'refund', callId: 'call_2' })];
    expect(render([...intent, ...succeeds('call_4', 'lookup')])).toContain('ledger locked');
    const done = render([...intent, decision('call_4', 'refund'), { type: 'custom', data: { step: 'refund', phase: 'intent', callId: 'call_4', output: 'refunded' } }]);
    expect(done).not.toContain('ledger locked');
  });
});

describe('a call whose error is hidden (qa25-context #4)', () => {
  it('is hidden with its error: a tool that failed twice and then succeeded shows only the call that worked', () => {
    const attempt = (call: string, step: number, ok: boolean): NewEvent[] => [
      decision(call, 'echo', { s: 'fail' }, step),
      toolCall(call, 'echo'),
      ok ? result(call, 'echo', 'fail') : error('tool_error', 'echo failed: transient', { tool: 'echo', callId: call }),
    ];
    const events = [input, ...attempt('call_2', 1, false), ...attempt('call_5', 2, false)];
    // Before the success, both failures are shown, each after its call.
    expect(render(events).split('\n').filter((line) => line.startsWith('<error')).length).toBe(2);
    expect(render([...events, ...attempt('call_8', 3, true)])).toBe(
      ['<input>\ncharge Ann 10\n</input>', '<decision step="3" intent="echo">{"s":"fail"}</decision>', '<tool_result tool="echo" call="call_8">\nfail\n</tool_result>'].join('\n'),
    );
  });

  it('keeps a decision whose error had no call id (its call went on and has its own outcome)', () => {
    const text = render([input, decision('call_2', 'charge'), toolCall('call_2', 'charge'), error('tool_timeout', 'timed out', { tool: 'charge' }), result('call_2', 'charge', 'charged')]);
    expect(text).toBe(['<input>\ncharge Ann 10\n</input>', '<decision step="1" intent="charge">{}</decision>', '<tool_result tool="charge" call="call_2">\ncharged\n</tool_result>'].join('\n'));
  });
});
