/** The CLI's lines for a thread's events: what a human reads before answering. */
import { describe, expect, it } from 'vitest';
import { eventLine, threadDetails, threadsTable } from '../../src/cli/format.js';
import type { ThreadSummary } from '../../src/store/threadStore.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { HumanRequest, ThreadEvent } from '../../src/thread/events.js';

const request = (data: HumanRequest): ThreadEvent => ({ seq: 4, at: '2026-01-01T00:00:00.000Z', type: 'human_request', data }) as ThreadEvent;

describe('the line of an open human request', () => {
  it('shows the whole question, however long, so the human can answer it from the line', () => {
    // What the execute step asks after a crash or a timeout of a tool that is not idempotent.
    const question = `charge({"customer":"mallory","amount":999,"note":"${'x'.repeat(120)}"}) was started but did not finish within 100 ms. Did it take effect? Approve to run it again; deny and describe the outcome otherwise.`;
    const line = eventLine(request({ requestId: 'r1', kind: 'interrupted', question, urgency: 'high', format: 'yes_no' }), 'th_1');
    expect(line).toContain(question);
    const asked = eventLine(request({ requestId: 'r2', kind: 'input', question: `Which order? ${'y'.repeat(300)} end`, urgency: 'medium', format: 'free_text' }), 'th_1');
    expect(asked).toContain(`${'y'.repeat(300)} end`);
  });
});

describe("what the model told the human with its question (qa26-hitl D3)", () => {
  const asked: HumanRequest = {
    requestId: 'req_3',
    kind: 'input',
    question: 'Which amount should I refund?',
    context: 'Order total is $40; the customer says it arrived broken',
    urgency: 'high',
    format: 'multiple_choice',
    choices: ['full', 'partial'],
  };

  it('is on the line that asks, with its urgency when high', () => {
    const line = eventLine(request(asked), 'th_1')!;
    expect(line).toContain('? asks (high urgency): Which amount should I refund?');
    expect(line).toContain('context: Order total is $40; the customer says it arrived broken');
    expect(eventLine(request({ ...asked, urgency: 'medium', context: undefined } as HumanRequest), 'th_1')).toMatch(/^\? asks: Which amount should I refund\?  reply: /);
  });

  it('is in show, under the question', () => {
    const events = [
      { seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'input', data: { input: 'refund A-2' } },
      { seq: 2, at: '2026-01-01T00:00:00.000Z', type: 'decision', data: { callId: 'call_2', step: 1, intent: 'request_human_input', args: {}, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { seq: 3, at: '2026-01-01T00:00:00.000Z', type: 'human_request', data: asked },
    ] as ThreadEvent[];
    const shown = threadDetails(viewOf({ id: 't1', agent: 'refunds', events }));
    expect(shown).toContain('pending  input request req_3 (high urgency)\n         Which amount should I refund?\n         context: Order total is $40; the customer says it arrived broken\n');
  });
});

describe('show of an agent thread', () => {
  it('sums the tokens of its model answers, the refused ones included, as the inspector does (qa25-context #7)', () => {
    const decided = (step: number, prompt: number, completion: number): object => ({
      type: 'decision',
      data: { callId: `c${step}`, step, intent: 'lookup', args: {}, model: 'm', promptHash: 'sha256:x', tokens: { prompt, completion }, latencyMs: 0 },
    });
    const events = [
      { type: 'input', data: { input: 'hi' } },
      decided(1, 1290, 40),
      { type: 'error', data: { kind: 'invalid_json', message: 'not JSON', attempt: 1, tokens: { prompt: 2007, completion: 12 } } },
      decided(2, 2007, 6),
    ].map((event, i) => ({ ...event, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];
    expect(threadDetails(viewOf({ id: 't1', agent: 'support', events }))).toContain('tokens   5,362  (5,304 prompt + 58 completion, 3 model answers)');
    // A thread that asked no model (a pipeline's) says nothing of tokens.
    expect(threadDetails(viewOf({ id: 't2', agent: 'support', events: events.slice(0, 1) }))).not.toContain('tokens');
  });
});

describe('show of a pipeline', () => {
  it('counts the steps it has done (its journaled step results; a pipeline makes no decision)', () => {
    const events = [
      { type: 'input', data: { input: {} } },
      { type: 'tool_call', data: { callId: 'c1', tool: 'count', args: {}, idempotencyKey: 'p:c1', attempt: 1 } },
      { type: 'tool_result', data: { callId: 'c1', tool: 'count', result: 1, durationMs: 0 } },
      { type: 'tool_call', data: { callId: 'c2', tool: 'double', args: {}, idempotencyKey: 'p:c2', attempt: 1 } },
      { type: 'tool_result', data: { callId: 'c2', tool: 'double', result: 2, durationMs: 0 } },
    ].map((event, i) => ({ ...event, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];
    const details = threadDetails(viewOf({ id: 'p1', agent: 'numbers', events }));
    expect(details).toContain('steps    2  (events: 5)');
  });

  it('does not say it delegated to a child whose launch was refused (its call resolved by an error), and says it of one launched', () => {
    const reason = 'step credit: could not launch agent intake: invalid input for agent intake: amount: Too small: expected number to be >0';
    const stamped = (events: readonly object[]): ThreadEvent[] => events.map((event, i) => ({ ...event, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];
    const delegations = [
      { type: 'input', data: { input: {} } },
      { type: 'tool_call', data: { callId: 'step_1', tool: 'fetch', args: { threadId: 'p1--fetch', agent: 'fetcher', input: 'go' }, idempotencyKey: 'p1:step_1', attempt: 1 } },
      { type: 'tool_result', data: { callId: 'step_1', tool: 'fetch', result: 'got', durationMs: 0 } },
      { type: 'tool_call', data: { callId: 'step_2', tool: 'credit', args: { threadId: 'p1--credit', agent: 'intake', input: { amount: -5 } }, idempotencyKey: 'p1:step_2', attempt: 1 } },
    ];
    const details = threadDetails(
      viewOf({ id: 'p1', agent: 'chain', events: stamped([...delegations, { type: 'error', data: { kind: 'tool_error', message: reason, callId: 'step_2', tool: 'credit', attempt: 1 } }, { type: 'failed', data: { reason } }]) }),
    );
    expect(details).toContain('↳ delegated to fetcher: thread p1--fetch');
    expect(details).not.toContain('delegated to intake');
    expect(details).toMatch(/↳ .*intake.*p1--credit.*refused/);
    expect(details).toContain(`✗ failed: ${reason}`);
  });
});

describe('show of a thread cancelled while a tool call of it ran in another process', () => {
  const events = (outcome: readonly object[]): ThreadEvent[] =>
    [
      { type: 'input', data: { input: 'publish hello' } },
      { type: 'decision', data: { callId: 'c1', step: 1, intent: 'publish', args: { post: 'hello' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'c1', tool: 'publish', args: { post: 'hello' }, idempotencyKey: 'th-1:c1', attempt: 1 } },
      { type: 'control', data: { action: 'cancel', by: 'qa' } },
      ...outcome,
    ].map((event, i) => ({ ...event, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];

  it('says, as watch does, that the outcome of the call is not recorded yet', () => {
    const details = threadDetails(viewOf({ id: 'th-1', agent: 'publisher', events: events([]) }));
    expect(details.split('\n')).toContain(
      '? publish (call c1) was running when the thread was cancelled and its outcome is not recorded yet: it may have taken effect; later: switchyard show th-1',
    );
  });

  it('says, once the call can no longer be running (its timeout and a grace passed), that its outcome was never recorded and how to check it, with no "yet" (QA21 durability F6)', () => {
    // The server's view says until when the outcome could still come; `now` is past it.
    const view = { ...viewOf({ id: 'th-1', agent: 'publisher', events: events([]) }), callDueBy: '2026-01-01T00:00:40.000Z' };
    const details = threadDetails(view, undefined, undefined, Date.parse('2026-01-01T00:05:00.000Z'));
    expect(details.split('\n')).toContain(
      '? publish (call c1) was running when the thread was cancelled and its outcome was never recorded (the process running it stopped, or the call outlived its timeout): check whether it took effect (idempotency key th-1:c1)',
    );
    expect(details).not.toMatch(/not recorded yet|later:/);
  });

  it('still says "not recorded yet" while the outcome may come', () => {
    const view = { ...viewOf({ id: 'th-1', agent: 'publisher', events: events([]) }), callDueBy: '2026-01-01T00:00:40.000Z' };
    const details = threadDetails(view, undefined, undefined, Date.parse('2026-01-01T00:00:20.000Z'));
    expect(details).toContain('its outcome is not recorded yet: it may have taken effect; later: switchyard show th-1');
  });

  it('says nothing of it once its outcome is recorded', () => {
    const details = threadDetails(viewOf({ id: 'th-1', agent: 'publisher', events: events([{ type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } }]) }));
    expect(details).toContain('→ publish = published');
    expect(details).not.toContain('not recorded');
  });
});

describe('show of a thread asking whether to run an interrupted call again', () => {
  it('says when the call started, which attempt it was and its idempotency key: what a human checks the outcome with (QA21 durability F2)', () => {
    const events = [
      { type: 'input', data: { input: 'charge kim' } },
      { type: 'decision', data: { callId: 'c1', step: 1, intent: 'pay', args: { customer: 'kim' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'c1', tool: 'pay', args: { customer: 'kim' }, idempotencyKey: 'th-9@x:c1', attempt: 1 } },
      { type: 'human_request', data: { requestId: 'req_4_a', kind: 'interrupted', callId: 'c1', tool: 'pay', args: { customer: 'kim' }, question: 'pay({"customer":"kim"}) was started and its outcome was not recorded. Run it again?', urgency: 'high', format: 'yes_no' } },
    ].map((event, i) => ({ ...event, seq: i + 1, at: '2026-01-01T10:00:00.000Z' })) as ThreadEvent[];
    const lines = threadDetails(viewOf({ id: 'th-9', agent: 'payer', events })).split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^ {9}call {5}pay \(c1\) started .*2026.* \(attempt 1\), idempotency key th-9@x:c1$/));
  });
});

describe('show of a thread whose tool call is in flight (QA21 durability F4)', () => {
  const at = '2026-01-01T10:00:00.000Z';
  const events = [
    { type: 'input', data: { input: 'pay kim' } },
    { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'pay', args: { customer: 'kim' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
    { type: 'tool_call', data: { callId: 'call_2', tool: 'pay', args: { customer: 'kim' }, idempotencyKey: 'dead-1@x:call_2', attempt: 1 } },
  ].map((event, i) => ({ ...event, seq: i + 1, at })) as ThreadEvent[];
  /** The local date and time the CLI prints, as it prints them. */
  const local = (iso: string): string => {
    const d = new Date(iso);
    const pad = (n: number): string => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${d.toTimeString().slice(0, 8)}`;
  };
  const dueBy = '2026-01-01T10:02:10.000Z';
  const view = { ...viewOf({ id: 'dead-1', agent: 'payer', events }), callDueBy: dueBy };

  it('names the call, when it started, its attempt and idempotency key, and until when its outcome is due', () => {
    const lines = threadDetails(view, undefined, undefined, Date.parse(at) + 20_000).split('\n');
    expect(lines).toContain(`call     pay (call_2) started ${local(at)} (attempt 1), idempotency key dead-1@x:call_2: running, its outcome due by ${local(dueBy).slice(11)}`);
  });

  it('says, once past its timeout window, that it outlived it and what takes the thread over', () => {
    const lines = threadDetails(view, undefined, undefined, Date.parse(dueBy) + 1_000).split('\n');
    expect(lines).toContain(
      `call     pay (call_2) started ${local(at)} (attempt 1), idempotency key dead-1@x:call_2: no outcome by ${local(dueBy).slice(11)}, past its timeout: the process running it may have stopped (its job is delivered again after the queue's ack wait, or the server takes the thread over when it restarts)`,
    );
  });

  it('names it without a due time when the view has none (a tool the server does not know)', () => {
    const lines = threadDetails(viewOf({ id: 'dead-1', agent: 'payer', events })).split('\n');
    expect(lines).toContain(`call     pay (call_2) started ${local(at)} (attempt 1), idempotency key dead-1@x:call_2: running`);
  });

  it('names none for a call that delegates to a child or sleeps (the waiting and wake lines say those), and names a plain one', () => {
    const step = (data: object): ThreadEvent[] =>
      [
        { type: 'input', data: { input: {} } },
        { type: 'decision', data: { callId: 'step_1', step: 1, intent: 'next', args: {}, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
        { type: 'tool_call', data: { callId: 'step_1', tool: 'next', idempotencyKey: 'p1:step_1', attempt: 1, ...data } },
      ].map((event, i) => ({ ...event, seq: i + 1, at })) as ThreadEvent[];
    const callLines = (events: ThreadEvent[]): string[] => threadDetails(viewOf({ id: 'p1', agent: 'payer', events })).split('\n').filter((line) => line.startsWith('call '));
    expect(callLines(step({ args: {} }))).toEqual([`call     next (step_1) started ${local(at)} (attempt 1), idempotency key p1:step_1: running`]);
    expect(callLines(step({ args: { threadId: 'p1--next', agent: 'echo', input: 'go' } }))).toEqual([]);
    expect(callLines(step({ args: {}, until: Date.parse(at) + 60_000 }))).toEqual([]);
  });
});

describe('the line of an error', () => {
  const error = (data: Record<string, unknown>): ThreadEvent => ({ seq: 3, at: '2026-01-01T00:00:00.000Z', type: 'error', data: { kind: 'model_http', attempt: 1, ...data } }) as ThreadEvent;

  it('adds when it is retried to an error that does not say it', () => {
    const line = eventLine(error({ message: 'HTTP 502: bad gateway', retryAt: '2026-01-01T00:00:01.000Z' }), 'th_1');
    expect(line).toMatch(/^✗ model_http: HTTP 502: bad gateway; retrying at \S+$/);
  });

  it('does not repeat the retry time of a rate limit, whose message says it', () => {
    const message = 'rate limited: retrying at 2026-01-01T00:00:30.000Z (in 30 s, as the server asked); HTTP 429: slow down';
    const line = eventLine(error({ message, retryAt: '2026-01-01T00:00:30.000Z', rateLimited: true }), 'th_1');
    // The instant in the message is shown in local time, as the timeline's (messageTimes.test.ts).
    const local = new Date('2026-01-01T00:00:30.000Z').toTimeString().slice(0, 8);
    expect(line).toBe(`✗ model_http: ${message.replace('2026-01-01T00:00:30.000Z', local)}`);
  });
});

describe('a deadline far from its event (QA19 deploys #6)', () => {
  const at = '2026-12-06T09:54:53.000Z';
  const wait = (until: number): ThreadEvent[] =>
    [
      { type: 'input', data: { input: 'wait' } },
      { type: 'decision', data: { callId: 'c1', step: 1, intent: 'wait_a_while', args: {}, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'custom', data: { step: 'wait_a_while', phase: 'intent', callId: 'c1', output: { waited: true }, until } },
    ].map((event, i) => ({ ...event, seq: i + 1, at })) as ThreadEvent[];
  /** The local date and time the CLI prints, as it prints them. */
  const local = (ms: number): string => {
    const d = new Date(ms);
    const pad = (n: number): string => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${d.toTimeString().slice(0, 8)}`;
  };

  it('is printed with its date when it falls on another day than its event, and show says when the thread wakes', () => {
    const until = Date.parse(at) + 55 * 3_600_000;
    const details = threadDetails(viewOf({ id: 'ns-long', agent: 'sleeper', events: wait(until) }));
    expect(details).toContain(`→ wait_a_while = {"waited":true}; sleeping until ${local(until)}`);
    expect(details).toContain(`wakes    ${local(until)}`);
    expect(viewOf({ id: 'ns-long', agent: 'sleeper', events: wait(until) }).wakeAt).toBe(new Date(until).toISOString());
  });

  it('keeps the time alone on the same day', () => {
    const until = Date.parse(at) + 1_000;
    const line = eventLine(wait(until)[2]!, 'ns-short');
    expect(line).toBe(`→ wait_a_while = {"waited":true}; sleeping until ${local(until).slice(11)}`);
  });

  it('of a backoff: retrying at names the day too when it is not the day of the error', () => {
    const retryAt = new Date(Date.parse(at) + 48 * 3_600_000).toISOString();
    const line = eventLine({ seq: 3, at, type: 'error', data: { kind: 'model_http', attempt: 1, message: 'HTTP 502', retryAt } } as ThreadEvent, 'th_1');
    expect(line).toBe(`✗ model_http: HTTP 502; retrying at ${local(Date.parse(retryAt))}`);
  });
});

describe('a sealed argument in a line', () => {
  it('reads [sealed], never the token (the value is kept sealed for the tool; its ciphertext tells a reader nothing)', () => {
    const token = `sealed.v1.${'A'.repeat(60)}`;
    const decided = { seq: 2, at: '2026-01-01T00:00:00.000Z', type: 'decision', data: { callId: 'c1', step: 1, intent: 'create_account', args: { user: 'bob', password: token, note: `key ${token} here` }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } } as ThreadEvent;
    const line = eventLine(decided, 'th_1');
    expect(line).toContain('"password":"[sealed]"');
    expect(line).toContain('"note":"key [sealed] here"');
    expect(line).not.toContain('sealed.v1.');
  });
});

describe('the thread list (qa26-timers D5)', () => {
  it('says when each sleeping or backing-off thread moves again in a WAKES column: its time ahead, or due', () => {
    const now = Date.parse('2026-12-07T14:00:00.000Z');
    const row = (id: string, status: ThreadSummary['status'], wakeAt?: string): ThreadSummary => ({
      id, agent: 'napper', status, version: 2, createdAt: '2026-12-07T13:00:00.000Z', updatedAt: '2026-12-07T13:59:00.000Z', ...(wakeAt === undefined ? {} : { wakeAt }),
    });
    const later = '2026-12-07T14:30:00.000Z';
    const table = threadsTable([row('th-nap', 'sleeping', later), row('th-retry', 'backing_off', '2026-12-07T13:59:30.000Z'), row('th-run', 'running')], now).split('\n');
    expect(table[0]).toMatch(/^ID +AGENT +STATUS +EVENTS +UPDATED +WAKES$/);
    expect(table[1]).toMatch(new RegExp(`^th-nap +napper +sleeping +2 +1m ago +${new Date(later).toTimeString().slice(0, 8)}$`));
    expect(table[2]).toMatch(/^th-retry +napper +backing_off +2 +1m ago +due$/);
    expect(table[3]).toMatch(/^th-run +napper +running +2 +1m ago$/);
    // None sleeping: no column.
    expect(threadsTable([row('th-run', 'running')], now).split('\n')[0]).toMatch(/^ID +AGENT +STATUS +EVENTS +UPDATED$/);
  });
});

describe('the thread list of ended threads (qa27-observe D5)', () => {
  it('says why each failed or cancelled thread ended in a REASON column, on one line cut as PENDING is', () => {
    const now = Date.parse('2026-12-07T14:00:00.000Z');
    const row = (id: string, status: ThreadSummary['status'], failure?: ThreadSummary['failure']): ThreadSummary => ({
      id, agent: 'orders', status, version: 2, createdAt: '2026-12-07T13:00:00.000Z', updatedAt: '2026-12-07T13:59:00.000Z', ...(failure === undefined ? {} : { failure }),
    });
    const table = threadsTable([
      row('th-fail', 'failed', { kind: 'failed', message: `step fetch:\n agent thread th-9 failed ${'x'.repeat(80)}` }),
      row('th-stop', 'failed', { kind: 'stopped', message: 'a human (ana) stopped the agent after an escalation' }),
      row('th-cancel', 'cancelled', { kind: 'cancelled', message: 'no longer needed', by: 'bo' }),
      row('th-who', 'cancelled', { kind: 'cancelled', by: 'bo' }),
      row('th-done', 'done'),
    ], now).split('\n');
    expect(table[0]).toMatch(/^ID +AGENT +STATUS +EVENTS +UPDATED +REASON$/);
    const reason = (line: string): string => line.slice(table[0]!.indexOf('REASON'));
    expect(reason(table[1]!)).toMatch(/^step fetch: agent thread th-9 failed x+…$/);
    expect(reason(table[1]!)).toHaveLength(60);
    expect(reason(table[2]!)).toBe('a human (ana) stopped the agent after an escalation');
    expect(reason(table[3]!)).toBe('cancelled by bo: no longer needed');
    expect(reason(table[4]!)).toBe('cancelled by bo');
    expect(table[5]).toMatch(/^th-done +orders +done +2 +1m ago$/);
    // None ended badly: no column.
    expect(threadsTable([row('th-done', 'done')], now).split('\n')[0]).toMatch(/^ID +AGENT +STATUS +EVENTS +UPDATED$/);
  });
});
