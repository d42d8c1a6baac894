import { errors } from '@nats-io/transport-node';
import { sleep, systemClock } from '../clock.js';

/**
 * How long a JetStream write keeps retrying while no server answers for its stream: right after
 * the stream is created, or while a clustered stream elects a new leader after a node died
 * (4 to 7 s on a 3-node cluster of nats-server 2.9 on 2 busy cores).
 */
export const NO_RESPONDERS_RETRY_MS = 20_000;

function causedBy(error: unknown, kind: typeof errors.NoRespondersError | typeof errors.TimeoutError): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof kind) return true;
  }
  return false;
}

/** True when the error (or one of its causes) says nobody listened: the request reached no stream. */
export function isNoResponders(error: unknown): boolean {
  return causedBy(error, errors.NoRespondersError);
}

/** True when nobody answered: no responders, or a timeout (after which a write may have happened). */
export function isUnanswered(error: unknown): boolean {
  return isNoResponders(error) || causedBy(error, errors.TimeoutError);
}

/**
 * Runs a JetStream request again while it goes unanswered in the way `retryable` picks, for up to
 * `withinMs`, with growing pauses (50 ms to 500 ms).
 */
export async function retryWhile<T>(request: () => Promise<T>, retryable: (error: unknown) => boolean, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!retryable(error) || Date.now() > deadline) throw error;
      await sleep(systemClock, Math.min(50 * 2 ** attempt, 500));
    }
  }
}

/**
 * Runs a JetStream write again while nobody answers for its stream. A no-responders answer means no
 * server stored the message, so the retry cannot write it twice (unlike a timeout, after which the
 * write may have happened).
 */
export function retryWhileNoResponders<T>(write: () => Promise<T>, withinMs = NO_RESPONDERS_RETRY_MS): Promise<T> {
  return retryWhile(write, isNoResponders, withinMs);
}

/**
 * Runs a publish that carries a message id again while it goes unanswered, timeouts included: the
 * stream drops a repeat of an id it stored within its duplicate window (2 minutes by default), so
 * `withinMs` must stay well inside that window.
 */
export function retryDeduplicated<T>(publish: () => Promise<T>, withinMs: number): Promise<T> {
  return retryWhile(publish, isUnanswered, withinMs);
}
