import { redactText } from '../context/redact.js';
import { versionOf, type ErrorKind, type NewEvent } from '../thread/events.js';
import { backoffDelay } from './backoff.js';
import type { StepInput } from './deps.js';
import { requestIdFor } from './ids.js';

/** Longest error message kept in a thread (the model sees it; a stack trace helps nobody). */
const MAX_MESSAGE = 500;

/** An escalation at `seq` and the human request (at `seq + 1`) it opens. */
export function escalationEvents(
  threadId: string,
  seq: number,
  reason: 'max_consecutive_errors' | 'max_steps' | 'non_retryable_error',
  message: string,
  question: string,
  urgency: 'medium' | 'high',
): NewEvent[] {
  const requestId = requestIdFor(threadId, seq + 1);
  return [
    { type: 'escalation', data: { reason, message, requestId } },
    { type: 'human_request', data: { requestId, kind: 'escalation', question, urgency, format: 'free_text' } },
  ];
}

/**
 * The events that record an error: a compact `error` the model sees next time plus a backoff
 * deadline, or, at `maxConsecutiveErrors` in a row, an escalation to a human instead. An error
 * that is not `retryable` (a model endpoint refusing the request: a bad key, a wrong URL)
 * escalates at once, as retrying it would only fail again.
 */
export function errorEvents(
  input: StepInput,
  kind: ErrorKind,
  message: string,
  extra: { callId?: string; tool?: string; tokens?: { prompt: number; completion: number } } = {},
  options: { readonly retryable?: boolean } = {},
): NewEvent[] {
  const { agent, thread, state, deps } = input;
  const attempt = state.consecutiveErrors + 1;
  const seq = versionOf(thread) + 1;
  const text = redactText(message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message, agent.secrets);
  const base = { kind, message: text, attempt, ...extra };
  if (options.retryable === false) {
    return [
      { type: 'error', data: base },
      ...escalationEvents(thread.id, seq + 1, 'non_retryable_error', `not retried: ${text}`, `Agent ${agent.name} stopped on an error that retrying will not fix: ${text}. Fix the cause, then answer to continue, or deny to stop it.`, 'high'),
    ];
  }
  if (attempt >= agent.maxConsecutiveErrors) {
    const why = `${attempt} errors in a row; the last: ${text}`;
    return [
      { type: 'error', data: base },
      ...escalationEvents(thread.id, seq + 1, 'max_consecutive_errors', why, `Agent ${agent.name} stopped after ${why}. Answer with guidance to continue, or deny to stop it.`, 'high'),
    ];
  }
  const retryAt = new Date(deps.clock.now() + backoffDelay(agent, attempt, thread.id, seq)).toISOString();
  return [{ type: 'error', data: { ...base, retryAt } }];
}

