/** fast-check arbitraries of thread events, with small id domains so calls and requests match often. */
import fc from 'fast-check';
import { errorKindSchema, escalationReasonSchema, type ErrorKind, type NewEvent, type ThreadEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

export const ERROR_KINDS_FOR_TESTS: readonly ErrorKind[] = errorKindSchema.options;

/** Stamps events with seqs 1..n at one time. */
export function stamp(events: readonly NewEvent[], at: string): ThreadEvent[] {
  return [...stampEvents(0, events, at)];
}

const callId = fc.constantFrom('call_1', 'call_2', 'call_3');
const requestId = fc.constantFrom('req_a', 'req_b');
const args = fc.constantFrom<Record<string, number>>({}, { a: 1, b: 2 });
const iso = fc.integer({ min: 0, max: 60_000 }).map((ms) => new Date(Date.parse('2025-01-01T00:00:00.000Z') + ms).toISOString());

/** Any event (without seq and at). */
export const eventArbitrary: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.constant<NewEvent>({ type: 'input', data: { input: 'again' } }),
  fc.record({ name: fc.constantFrom('p1', 'p2'), ok: fc.boolean() }).map(
    ({ name, ok }): NewEvent => ({ type: 'prefetch', data: ok ? { name, ok, result: 1 } : { name, ok, error: 'no' } }),
  ),
  fc.record({ callId, intent: fc.constantFrom('add', 'divide', 'done_for_now', 'request_human_input'), args, step: fc.integer({ min: 1, max: 20 }) }).map(
    ({ callId: id, intent, args: a, step }): NewEvent => ({
      type: 'decision',
      data: { callId: id, step, intent, args: a, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
    }),
  ),
  fc.record({ callId, attempt: fc.integer({ min: 1, max: 3 }), until: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }) }).map(
    ({ callId: id, attempt, until }): NewEvent => ({
      type: 'tool_call',
      data: { callId: id, tool: 'add', args: {}, idempotencyKey: `t:${id}`, attempt, ...(until === undefined ? {} : { until }) },
    }),
  ),
  callId.map((id): NewEvent => ({ type: 'tool_result', data: { callId: id, tool: 'add', result: 3, durationMs: 0 } })),
  fc.record({ kind: fc.constantFrom(...ERROR_KINDS_FOR_TESTS), retryAt: fc.option(iso, { nil: undefined }), callId: fc.option(callId, { nil: undefined }), rateLimited: fc.boolean() }).map(
    ({ kind, retryAt, callId: id, rateLimited }): NewEvent => ({
      type: 'error',
      data: { kind, message: 'x', attempt: 1, ...(retryAt === undefined ? {} : { retryAt }), ...(id === undefined ? {} : { callId: id }), ...(rateLimited ? { rateLimited } : {}) },
    }),
  ),
  fc.record({ requestId, kind: fc.constantFrom('input', 'approval', 'escalation', 'interrupted' as const), callId: fc.option(callId, { nil: undefined }) }).map(
    ({ requestId: id, kind, callId: call }): NewEvent => ({
      type: 'human_request',
      data: { requestId: id, kind, question: 'q', urgency: 'low', format: 'free_text', ...(call === undefined ? {} : { callId: call }) },
    }),
  ),
  fc.record({ requestId, approved: fc.option(fc.boolean(), { nil: undefined }) }).map(
    ({ requestId: id, approved }): NewEvent => ({
      type: 'human_response',
      data: { requestId: id, answer: 'a', ...(approved === undefined ? {} : { approved }) },
    }),
  ),
  fc.constantFrom('pause', 'resume', 'cancel' as const).map((action): NewEvent => ({ type: 'control', data: { action } })),
  fc.constant<NewEvent>({ type: 'final', data: { output: 'ok' } }),
  fc.tuple(requestId, fc.constantFrom(...escalationReasonSchema.options)).map(([id, reason]): NewEvent => ({ type: 'escalation', data: { reason, message: 'm', requestId: id } })),
  fc.constant<NewEvent>({ type: 'failed', data: { reason: 'r' } }),
);
