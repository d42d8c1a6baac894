import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { ERROR_KINDS_FOR_TESTS, eventArbitrary, stamp } from './eventArbitrary.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import {
  deriveState,
  initialState,
  isThreadStatus,
  reduceState,
  statusOf,
  threadStatus,
  unrecordedCall,
  type ThreadState,
} from '../../src/thread/state.js';
import { reduce } from '../../src/thread/thread.js';

const AT = '2025-01-01T00:00:00.000Z';

const input: NewEvent = { type: 'input', data: { input: 'go' } };
const decision = (callId: string, intent: string, step = 1): NewEvent => ({
  type: 'decision',
  data: { callId, step, intent, args: { a: 1 }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
});
const toolCall = (callId: string, attempt = 1): NewEvent => ({
  type: 'tool_call',
  data: { callId, tool: 'add', args: { a: 1 }, idempotencyKey: `t:${callId}`, attempt },
});
const toolResult = (callId: string): NewEvent => ({ type: 'tool_result', data: { callId, tool: 'add', result: 2, durationMs: 0 } });
const error = (retryAt?: string, callId?: string): NewEvent => ({
  type: 'error',
  data: {
    kind: 'model_http',
    message: 'boom',
    attempt: 1,
    ...(retryAt === undefined ? {} : { retryAt }),
    ...(callId === undefined ? {} : { callId }),
  },
});
const request = (requestId: string, kind: 'input' | 'approval' | 'escalation' | 'interrupted', callId?: string): NewEvent => ({
  type: 'human_request',
  data: {
    requestId,
    kind,
    question: 'q?',
    urgency: 'medium',
    format: kind === 'approval' || kind === 'interrupted' ? 'yes_no' : 'free_text',
    ...(callId === undefined ? {} : { callId, tool: 'add', args: { a: 1 } }),
  },
});
const response = (requestId: string, extra: { approved?: boolean; answer?: string } = {}): NewEvent => ({
  type: 'human_response',
  data: { requestId, ...extra },
});
const control = (action: 'pause' | 'resume' | 'cancel'): NewEvent => ({ type: 'control', data: { action } });
const final: NewEvent = { type: 'final', data: { output: 'ok' } };
const escalation = (requestId: string): NewEvent => ({
  type: 'escalation',
  data: { reason: 'max_consecutive_errors', message: '3 errors', requestId },
});

function derive(...events: NewEvent[]): ThreadState {
  return deriveState(stamp(events, AT));
}

function statusAfter(...events: NewEvent[]): string {
  return statusOf(derive(...events));
}

describe('reduceState and deriveState', () => {
  it('starts running with nothing pending', () => {
    const state = derive(input);
    expect(state).toMatchObject({ version: 1, terminal: null, steps: 0, consecutiveErrors: 0, pendingCall: null, pendingRequest: null });
    expect(state.createdAt).toBe(AT);
    expect(statusOf(state)).toBe('running');
    expect(statusOf(initialState)).toBe('running');
  });

  it('tracks a tool call from decision to result', () => {
    const decided = derive(input, decision('call_2', 'add'));
    expect(decided.steps).toBe(1);
    expect(decided.pendingCall).toEqual({ callId: 'call_2', tool: 'add', args: { a: 1 }, started: false, attempts: 0, approved: false, retryApproved: false, judged: [] });
    const started = derive(input, decision('call_2', 'add'), toolCall('call_2'));
    expect(started.pendingCall).toMatchObject({ started: true, attempts: 1 });
    const done = derive(input, decision('call_2', 'add'), toolCall('call_2'), toolResult('call_2'));
    expect(done.pendingCall).toBeNull();
    expect(done.resolvedBefore).toBe(4);
  });

  it('records no pending call for the built-in intents', () => {
    expect(derive(input, decision('call_2', 'done_for_now')).pendingCall).toBeNull();
    expect(derive(input, decision('call_2', 'request_human_input')).pendingCall).toBeNull();
  });

  it('ignores a tool_call or tool_result for another call', () => {
    const state = derive(input, decision('call_2', 'add'), toolCall('call_9'), toolResult('call_9'));
    expect(state.pendingCall).toMatchObject({ callId: 'call_2', started: false, attempts: 0 });
  });

  it('a durable sleep journaled with its call (a pipeline step) sleeps until the call has its result', () => {
    const sleep: NewEvent = { type: 'tool_call', data: { callId: 'c1', tool: 'wait', args: { ms: 5 }, idempotencyKey: 't:c1', attempt: 1, until: 5_000 } };
    expect(derive(input, sleep).sleepUntil).toBe(5_000);
    expect(statusAfter(input, sleep)).toBe('sleeping');
    expect(statusAfter(input, sleep, control('pause'))).toBe('paused');
    expect(statusAfter(input, sleep, toolResult('c1'))).toBe('running');
    expect(statusAfter(input, toolCall('c1'), toolResult('c1'))).toBe('running');
  });

  it('an error backs off until retryAt, and a decision clears the backoff', () => {
    const retryAt = '2025-01-01T00:00:02.000Z';
    const state = derive(input, error(retryAt));
    expect(state.backoffUntil).toBe(Date.parse(retryAt));
    expect(statusOf(state)).toBe('backing_off');
    expect(derive(input, error(retryAt), decision('call_3', 'add')).backoffUntil).toBeNull();
  });

  it('an error naming the pending call clears it; one naming another call does not', () => {
    expect(derive(input, decision('call_2', 'add'), toolCall('call_2'), error(undefined, 'call_2')).pendingCall).toBeNull();
    expect(derive(input, decision('call_2', 'add'), error(undefined, 'call_7')).pendingCall).not.toBeNull();
  });

  it('counts consecutive errors and resets them on a tool result, a prefetch and an answered request', () => {
    expect(derive(input, error(), error()).consecutiveErrors).toBe(2);
    expect(derive(input, error(), error(), decision('call_4', 'add'), toolCall('call_4'), toolResult('call_4')).consecutiveErrors).toBe(0);
    expect(derive(input, error(), { type: 'prefetch', data: { name: 'p', ok: true, result: 1 } }).consecutiveErrors).toBe(0);
    expect(derive(input, error(), { type: 'prefetch', data: { name: 'p', ok: false, error: 'x' } }).consecutiveErrors).toBe(1);
    expect(derive(input, error(), error(), request('r', 'input'), response('r', { answer: 'a' })).consecutiveErrors).toBe(0);
    // A decision alone is no success.
    expect(derive(input, error(), decision('call_3', 'add')).consecutiveErrors).toBe(1);
  });

  it("keeps counting errors across a step of the author's that only ran (a step before a decision, a judge, a compaction); an intent's outcome resets them", () => {
    const custom = (data: Record<string, unknown>): NewEvent => ({ type: 'custom', data: { step: 's', ...data } as never });
    const failedCall = [decision('call_1', 'add'), toolCall('call_1'), error(undefined, 'call_1')];
    expect(derive(input, ...failedCall, custom({ phase: 'before_decision', output: 'ok' })).consecutiveErrors).toBe(1);
    expect(derive(input, ...failedCall, custom({ phase: 'compact', summary: 'so far' })).consecutiveErrors).toBe(1);
    expect(derive(input, error(), decision('call_2', 'add'), custom({ phase: 'after_decision', callId: 'call_2', verdict: 'accept' })).consecutiveErrors).toBe(1);
    expect(derive(input, error(), decision('call_3', 'add'), custom({ phase: 'after_decision', callId: 'call_3', verdict: 'reject', feedback: 'no' })).consecutiveErrors).toBe(1);
    expect(derive(input, error(), decision('call_4', 'wait'), custom({ phase: 'intent', callId: 'call_4', output: 'waited' }))).toMatchObject({ consecutiveErrors: 0, pendingCall: null });
  });

  it('counts the rate limits among the consecutive errors, and resets them with the rest', () => {
    const limited: NewEvent = { type: 'error', data: { kind: 'model_http', message: 'rate limited', attempt: 1, rateLimited: true } };
    expect(derive(input, limited, error(), limited)).toMatchObject({ consecutiveErrors: 3, rateLimits: 2 });
    expect(derive(input, limited, decision('call_3', 'add'), toolCall('call_3'), toolResult('call_3'))).toMatchObject({ consecutiveErrors: 0, rateLimits: 0 });
    expect(derive(input, limited, request('r', 'input'), response('r', { answer: 'a' }))).toMatchObject({ consecutiveErrors: 0, rateLimits: 0 });
  });

  it('ignores a response to a request that is not the open one', () => {
    const state = derive(input, error(), request('r1', 'input'), response('r2', { answer: 'a' }));
    expect(state.pendingRequest?.requestId).toBe('r1');
    expect(state.consecutiveErrors).toBe(1);
    expect(statusOf(state)).toBe('awaiting_human');
  });

  it('approval: approved marks the call approved, denied drops it', () => {
    const asked = [input, decision('call_2', 'divide'), request('r', 'approval', 'call_2')];
    expect(statusAfter(...asked)).toBe('awaiting_human');
    expect(derive(...asked, response('r', { approved: true })).pendingCall).toMatchObject({ callId: 'call_2', approved: true });
    const denied = derive(...asked, response('r', { approved: false }));
    expect(denied.pendingCall).toBeNull();
    expect(statusOf(denied)).toBe('running');
  });

  it('interrupted: approved re-arms the call, denied drops it', () => {
    const asked = [input, decision('call_2', 'deploy'), toolCall('call_2'), request('r', 'interrupted', 'call_2')];
    expect(derive(...asked, response('r', { approved: true })).pendingCall).toMatchObject({
      started: false,
      retryApproved: true,
      attempts: 1,
    });
    expect(derive(...asked, response('r', { approved: false })).pendingCall).toBeNull();
    // Running it again counts a second attempt and clears the retry flag.
    expect(derive(...asked, response('r', { approved: true }), toolCall('call_2', 2)).pendingCall).toMatchObject({
      started: true,
      attempts: 2,
      retryApproved: false,
    });
  });

  it('interrupted with rerun: false: approved marks the call not to run again; logs without it (or with rerun: true) derive as before (qa24 D2)', () => {
    const started = [input, decision('call_2', 'deploy'), toolCall('call_2')];
    const asked = (rerun?: boolean): NewEvent => {
      const event = request('r', 'interrupted', 'call_2');
      return event.type === 'human_request' && rerun !== undefined ? { ...event, data: { ...event.data, rerun } } : event;
    };
    const approved = response('r', { approved: true });
    // The question said approving means it did not take effect and it is not run again.
    expect(derive(...started, asked(false), approved).pendingCall).toMatchObject({ callId: 'call_2', started: false, retryApproved: true, rerun: false });
    // Without the field, or with rerun: true: the same state as ever (approving runs it again).
    const rearmed = { callId: 'call_2', tool: 'deploy', args: { a: 1 }, started: false, attempts: 1, approved: false, retryApproved: true, judged: [] };
    expect(derive(...started, asked(), approved).pendingCall).toEqual(rearmed);
    expect(derive(...started, asked(true), approved).pendingCall).toEqual(rearmed);
    // Denied: dropped, whatever the flag.
    expect(derive(...started, asked(false), response('r', { approved: false })).pendingCall).toBeNull();
    // A log written before, in which the call did run again after such an approval, derives what it always did.
    expect(derive(...started, asked(false), approved, toolCall('call_2', 2))).toEqual(derive(...started, asked(true), approved, toolCall('call_2', 2)));
  });

  it("interrupted: the call's own outcome, recorded late by the process that ran it, answers the question (qa16 #15)", () => {
    const asked = [input, decision('call_2', 'deploy'), toolCall('call_2'), request('r', 'interrupted', 'call_2')];
    for (const outcome of [toolResult('call_2'), error(undefined, 'call_2')]) {
      const state = derive(...asked, outcome);
      expect(state.pendingRequest).toBeNull();
      expect(state.pendingCall).toBeNull();
      expect(statusOf(state)).toBe('running');
      // A human's answer afterwards is to no open request: it changes nothing.
      expect(derive(...asked, outcome, response('r', { approved: true }))).toMatchObject({ pendingRequest: null, pendingCall: null });
    }
    // Another call's outcome, or one naming no call, leaves the question open.
    for (const other of [toolResult('call_9'), error(undefined, 'call_9'), error()]) {
      expect(derive(...asked, other).pendingRequest).toMatchObject({ requestId: 'r', kind: 'interrupted' });
    }
    // So does the call's outcome when the open request is not an interrupted one about it.
    expect(derive(input, decision('call_2', 'deploy'), toolCall('call_2'), request('q', 'input'), toolResult('call_2')).pendingRequest).toMatchObject({ requestId: 'q' });
  });

  it('escalation: an answer resets the step count, a denial fails the thread', () => {
    const escalated = [input, decision('call_2', 'add', 1), decision('call_3', 'add', 2), error(), escalation('r'), request('r', 'escalation')];
    const state = derive(...escalated);
    expect(statusOf(state)).toBe('escalated');
    expect(state.steps).toBe(2);
    expect(state.backoffUntil).toBeNull();
    const continued = derive(...escalated, response('r', { answer: 'try again' }));
    expect(continued).toMatchObject({ steps: 0, totalSteps: 2, consecutiveErrors: 0, pendingRequest: null });
    expect(statusOf(continued)).toBe('running');
    const stopped = derive(...escalated, response('r', { approved: false }));
    expect(statusOf(stopped)).toBe('failed');
    expect(stopped.failure).toMatch(/human stopped/);
  });

  it('pause, resume and cancel', () => {
    expect(statusAfter(input, control('pause'))).toBe('paused');
    expect(statusAfter(input, control('pause'), control('resume'))).toBe('running');
    expect(statusAfter(input, request('r', 'input'), control('pause'))).toBe('paused');
    expect(statusAfter(input, request('r', 'input'), control('pause'), control('resume'))).toBe('awaiting_human');
    const cancelled = derive(input, request('r', 'input'), control('cancel'));
    expect(statusOf(cancelled)).toBe('cancelled');
    expect(cancelled.pendingRequest).toBeNull();
  });

  it.each([
    ['a new thread', [input], 'running'],
    ['a finished run', [input, decision('call_2', 'done_for_now'), final], 'done'],
    ['a failed run', [input, { type: 'failed', data: { reason: 'x' } } as NewEvent], 'failed'],
    ['an open question', [input, decision('call_2', 'request_human_input'), request('r', 'input')], 'awaiting_human'],
    ['an answered question', [input, decision('call_2', 'request_human_input'), request('r', 'input'), response('r', { answer: 'a' })], 'running'],
    ['a retry pending', [input, error('2025-01-01T00:00:01.000Z')], 'backing_off'],
    ['an escalation', [input, error(), escalation('r'), request('r', 'escalation')], 'escalated'],
    ['a paused escalation', [input, error(), escalation('r'), request('r', 'escalation'), control('pause')], 'paused'],
    ['a cancelled backoff', [input, error('2025-01-01T00:00:01.000Z'), control('cancel')], 'cancelled'],
  ] as const)('status of %s is %s', (_name, events, status) => {
    expect(statusAfter(...(events as readonly NewEvent[]))).toBe(status);
    expect(threadStatus({ id: 't', agent: 'a', events: stamp(events as readonly NewEvent[], AT) })).toBe(status);
  });

  it('isThreadStatus', () => {
    expect(isThreadStatus('done')).toBe(true);
    expect(isThreadStatus('finished')).toBe(false);
    expect(isThreadStatus(3)).toBe(false);
  });
});

describe('reduce (thread)', () => {
  it('appends an event that continues the log and refuses one that does not', () => {
    const thread = { id: 't', agent: 'a', events: stamp([input], AT) };
    const [next] = stamp([input, final], AT).slice(1);
    const after = reduce(thread, next!);
    expect(after.events).toHaveLength(2);
    expect(thread.events).toHaveLength(1);
    expect(() => reduce(thread, { ...next!, seq: 3 })).toThrow(InvalidInputError);
  });
});

describe('properties', () => {
  const events = fc.array(eventArbitrary, { maxLength: 40 }).map((list) => stamp([input, ...list], AT));

  it('deriveState is a left fold of reduceState, and reduceState is pure', () => {
    fc.assert(
      fc.property(events, fc.nat(), (all, cut) => {
        const k = cut % (all.length + 1);
        const frozen = all.map((e) => deepFreeze(structuredClone(e)));
        let state = deepFreeze(deriveState(frozen.slice(0, k)));
        for (const event of frozen.slice(k)) state = deepFreeze(reduceState(state, event));
        expect(state).toEqual(deriveState(all));
        expect(state.version).toBe(all.at(-1)!.seq);
        expect(state.updatedAt).toBe(all.at(-1)!.at);
      }),
      { numRuns: 200 },
    );
  });

  it('after a final event the status is done whatever follows', () => {
    fc.assert(
      fc.property(events, fc.array(eventArbitrary, { maxLength: 20 }), (before, afterEvents) => {
        const head = deriveState(before);
        fc.pre(head.terminal === null);
        const all = [...before, ...stamp([final, ...afterEvents], AT).map((e) => ({ ...e, seq: e.seq + before.length }))];
        const state = deriveState(all);
        expect(statusOf(state)).toBe('done');
        expect(state.output).toBe('ok');
        expect(state.pendingRequest).toBeNull();
        expect(state.version).toBe(all.length);
      }),
      { numRuns: 200 },
    );
  });

  it('an error adds one to the consecutive errors; a tool result or an answer to the open request resets them', () => {
    fc.assert(
      fc.property(events, fc.constantFrom(...ERROR_KINDS_FOR_TESTS), (list, kind) => {
        const state = deriveState(list);
        fc.pre(state.terminal === null);
        const next = (event: NewEvent, offset = 1): ThreadEvent => ({ ...stamp([event], AT)[0]!, seq: state.version + offset });
        const err = reduceState(state, next({ type: 'error', data: { kind, message: 'x', attempt: 1 } }));
        expect(err.consecutiveErrors).toBe(state.consecutiveErrors + 1);
        expect(err.rateLimits).toBe(state.rateLimits);
        expect(err.rateLimits).toBeLessThanOrEqual(err.consecutiveErrors);
        const ok = reduceState(err, next(toolResult('call_x'), 2));
        expect(ok.consecutiveErrors).toBe(0);
        expect(ok.rateLimits).toBe(0);
        expect(ok.resolvedBefore).toBe(state.version + 2);
        if (state.pendingRequest !== null) {
          const answered = reduceState(state, next(response(state.pendingRequest.requestId, { approved: true, answer: 'a' })));
          expect(answered.consecutiveErrors).toBe(0);
          expect(answered.pendingRequest).toBeNull();
        }
      }),
      { numRuns: 200 },
    );
  });

  it("an interrupted request is answered by its call's outcome, and only by that; no other request is", () => {
    fc.assert(
      fc.property(events, fc.constantFrom('call_1', 'call_2', 'call_3', 'call_9'), fc.boolean(), (list, id, asResult) => {
        const state = deriveState(list);
        fc.pre(state.terminal === null);
        const outcome: NewEvent = asResult ? toolResult(id) : error(undefined, id);
        const next = reduceState(state, { ...stamp([outcome], AT)[0]!, seq: state.version + 1 });
        const request = state.pendingRequest;
        if (request?.kind === 'interrupted' && request.callId === id) expect(next.pendingRequest).toBeNull();
        else expect(next.pendingRequest).toEqual(request);
      }),
      { numRuns: 300 },
    );
  });

  it('the status is always one a user can see, and terminal states never change status', () => {
    fc.assert(
      fc.property(events, (list) => {
        let terminal: string | null = null;
        let state = initialState;
        for (const event of list) {
          state = reduceState(state, event);
          const status = statusOf(state);
          expect(isThreadStatus(status)).toBe(true);
          if (terminal !== null) expect(status).toBe(terminal);
          else if (state.terminal !== null) terminal = status;
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('unrecordedCall: the call a cancel left running elsewhere, until its outcome is recorded', () => {
  /** `events` stamped one second apart from AT, so each event's time tells which it is. */
  const log = (events: readonly NewEvent[]): ThreadEvent[] =>
    events.map((event, i) => ({ ...event, seq: i + 1, at: new Date(Date.parse(AT) + i * 1000).toISOString() }) as ThreadEvent);
  const timeout: NewEvent = { type: 'error', data: { kind: 'tool_timeout', message: 'add did not finish within 30000 ms', tool: 'add', attempt: 1 } };

  it("names a call started and not resolved when the thread was cancelled, with its last start's time, attempt and idempotency key", () => {
    const events = log([input, decision('c1', 'add'), toolCall('c1'), control('cancel')]);
    expect(unrecordedCall(events)).toEqual({ callId: 'c1', tool: 'add', startedAt: events[2]!.at, attempt: 1, idempotencyKey: 't:c1' });
    // Run again after an interrupted-call request was approved: its second start counts.
    const again = log([input, decision('c1', 'add'), toolCall('c1'), request('r1', 'interrupted', 'c1'), response('r1', { approved: true }), toolCall('c1', 2), control('cancel')]);
    expect(unrecordedCall(again)).toEqual({ callId: 'c1', tool: 'add', startedAt: again[5]!.at, attempt: 2, idempotencyKey: 't:c1' });
  });

  it('is undefined once the outcome is recorded after the cancel: its result, its error, a timeout naming its tool', () => {
    for (const outcome of [toolResult('c1'), error(undefined, 'c1'), timeout]) {
      expect(unrecordedCall(log([input, decision('c1', 'add'), toolCall('c1'), control('cancel'), outcome]))).toBeUndefined();
    }
  });

  it('is undefined when nothing was running at the cancel, or the thread is not cancelled', () => {
    for (const events of [
      [input, decision('c1', 'add'), toolCall('c1'), toolResult('c1'), control('cancel')],
      [input, decision('c1', 'add'), control('cancel')],
      [input, decision('c1', 'add'), toolCall('c1'), request('r1', 'interrupted', 'c1'), control('cancel')],
      [input, decision('c1', 'add'), toolCall('c1')],
      [input, decision('c1', 'add'), toolCall('c1'), control('pause')],
    ]) {
      expect(unrecordedCall(log(events))).toBeUndefined();
    }
    // Another call's error, or an error naming no tool, is not its outcome.
    expect(unrecordedCall(log([input, decision('c1', 'add'), toolCall('c1'), control('cancel'), error(undefined, 'c9'), error()]))).toMatchObject({ callId: 'c1' });
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
