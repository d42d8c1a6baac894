import { asSentence, clipText } from '../errors.js';
import { redactText } from '../context/redact.js';
import { versionOf, type ErrorKind, type EscalationReason, type NewEvent, type ThreadEvent } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { backoffDelay, jitterUnit, MAX_RETRY_AFTER_MS, serverWaitDelay } from './backoff.js';
import type { StepInput } from './deps.js';
import { requestIdFor } from './ids.js';

/** Longest error message kept in a thread (the model sees it; a stack trace helps nobody). */
const MAX_MESSAGE = 500;

/** An escalation at `seq` and the human request (at `seq + 1`) it opens; `threadKey` is the thread's `incarnationKeyOf`. */
export function escalationEvents(
  threadKey: string,
  seq: number,
  reason: EscalationReason,
  message: string,
  question: string,
  urgency: 'medium' | 'high',
): NewEvent[] {
  const requestId = requestIdFor(threadKey, seq + 1);
  return [
    { type: 'escalation', data: { reason, message, requestId } },
    { type: 'human_request', data: { requestId, kind: 'escalation', question, urgency, format: 'free_text' } },
  ];
}

/** How {@link errorEvents} treats an error. */
export interface ErrorOptions {
  /** `false` for an error retrying will not fix: it escalates at once. @default true */
  readonly retryable?: boolean;
  /**
   * The model endpoint rate limited the request (a 429, or a 503 or 529 with `Retry-After`): recorded as
   * `rateLimited`, it counts toward the agent's `maxConsecutiveRateLimits` instead of its
   * `maxConsecutiveErrors`, and its message says so and when the agent asks again.
   * @default false
   */
  readonly rateLimited?: boolean;
  /**
   * The least wait the endpoint asked for, in ms (its `Retry-After`): the retry comes no sooner,
   * nor sooner than the agent's own backoff, and up to the backoff's `jitter` later (so threads it
   * refused together come back apart); counted as {@link MAX_RETRY_AFTER_MS} at most.
   */
  readonly retryAfterMs?: number;
}

/**
 * The events that record an error: a compact `error` the model sees next time plus a backoff
 * deadline, or, at `maxConsecutiveErrors` in a row, an escalation to a human instead. An error
 * that is not `retryable` (a model endpoint refusing the request: a bad key, a wrong URL)
 * escalates at once, as retrying it would only fail again. A rate limit waits at least as long as
 * the endpoint asked, and escalates only at `maxConsecutiveRateLimits` rate limits in a row (the
 * other errors among them keep their own count), so a rate-limited thread waits and goes on.
 */
export function errorEvents(
  input: StepInput,
  kind: ErrorKind,
  message: string,
  extra: { callId?: string; tool?: string; tokens?: { prompt: number; completion: number } } = {},
  options: ErrorOptions = {},
): NewEvent[] {
  const { agent, thread, state, deps } = input;
  const attempt = state.consecutiveErrors + 1;
  const seq = versionOf(thread) + 1;
  const rateLimited = options.rateLimited === true;
  const rateLimits = state.rateLimits + (rateLimited ? 1 : 0);
  const errors = attempt - rateLimits;
  const escalates = options.retryable === false || (rateLimited ? rateLimits >= agent.maxConsecutiveRateLimits : errors >= agent.maxConsecutiveErrors);
  const asked = serverWait(options.retryAfterMs);
  const delayMs = escalates
    ? 0
    : Math.max(backoffDelay(agent, attempt, thread.id, seq), asked === 0 ? 0 : serverWaitDelay(asked, agent.backoff.jitter, jitterUnit(`${thread.id}:retry-after`, seq)));
  const retryAt = escalates ? undefined : new Date(deps.clock.now() + delayMs).toISOString();
  const said = rateLimited ? `rate limited${retryAt === undefined ? ', not retried' : `: retrying at ${retryAt} (${waitText(delayMs, options.retryAfterMs)})`}; ${message}` : message;
  // Redacted before it is cut: a secret across the cut would leave its start.
  const redacted = redactText(said, agent.secrets);
  const text = clipText(redacted, MAX_MESSAGE);
  const base = { kind, message: text, attempt, ...extra, ...(rateLimited ? { rateLimited: true } : {}) };
  if (options.retryable === false) {
    return [
      { type: 'error', data: base },
      ...escalationEvents(incarnationKeyOf(thread), seq + 1, 'non_retryable_error', `not retried: ${text}`, `Agent ${agent.name} stopped on an error that retrying will not fix: ${asSentence(text)} Fix the cause, then answer to continue, or deny to stop it.`, 'high'),
    ];
  }
  if (retryAt === undefined) {
    const count = rateLimited ? `${rateLimits} rate limits in a row (maxConsecutiveRateLimits)` : `${errors} errors in a row (maxConsecutiveErrors)`;
    const why = `${count}; the last: ${text}`;
    // Its own reason: a filter on reasons tells an endpoint pacing the agent from an agent failing.
    const reason = rateLimited ? 'max_consecutive_rate_limits' : 'max_consecutive_errors';
    return [
      { type: 'error', data: base },
      ...escalationEvents(incarnationKeyOf(thread), seq + 1, reason, why, `Agent ${agent.name} stopped after ${asSentence(why)} Answer with guidance to continue, or deny to stop it.`, 'high'),
    ];
  }
  return [{ type: 'error', data: { ...base, retryAt } }];
}

/** The wait a server asked for, capped at {@link MAX_RETRY_AFTER_MS}; 0 when it asked for none (or for nonsense: a model of the user's may report anything). */
function serverWait(retryAfterMs: number | undefined): number {
  return retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) : 0;
}

/** How a rate limit's wait came about, for its message: `in 30 s, as the server asked`. */
function waitText(delayMs: number, retryAfterMs: number | undefined): string {
  const asked = serverWait(retryAfterMs);
  // Absent, or not a delay (text, a negative number): the reader cannot tell which from here.
  if (asked === 0) return `in ${seconds(delayMs)}; the server gave no Retry-After that reads as a delay`;
  if (asked < (retryAfterMs ?? 0)) return `in ${seconds(delayMs)}; the server asked for ${seconds(retryAfterMs ?? 0)}, counted as ${seconds(MAX_RETRY_AFTER_MS)} at most`;
  return delayMs === asked ? `in ${seconds(delayMs)}, as the server asked` : `in ${seconds(delayMs)}; the server asked for ${seconds(asked)}`;
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** What a warning about a step's error says of it (see {@link errorLogFields}). */
export interface ErrorLogFields {
  readonly kind: ErrorKind;
  readonly attempt: number;
  readonly retryAt?: string;
  readonly escalated?: true;
  readonly humanAsked?: true;
  readonly err: string;
}

/**
 * The fields of a warning about the error `events` record (an error, then what follows it): its
 * kind, attempt and message (redacted there), and its retry time or what came instead (an
 * escalation, a human asked whether a call took effect). Undefined without an error.
 */
export function errorLogFields(events: readonly (NewEvent | ThreadEvent)[]): ErrorLogFields | undefined {
  const error = events.find((e) => e.type === 'error');
  if (error?.type !== 'error') return undefined;
  const { kind, attempt, retryAt, message } = error.data;
  if (retryAt !== undefined) return { kind, attempt, retryAt, err: message };
  const instead = events.some((e) => e.type === 'escalation') ? { escalated: true as const } : events.some((e) => e.type === 'human_request') ? { humanAsked: true as const } : {};
  return { kind, attempt, ...instead, err: message };
}
