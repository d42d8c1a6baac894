import { createHash } from 'node:crypto';

/**
 * The longest wait a model endpoint's `Retry-After` (or `retry-after-ms`) is counted as: one that
 * asks for longer is taken as this long (10 minutes), the jitter then added as to any ask (so at
 * most 12 minutes with the default 20 %), and so counts as one more rate limit toward
 * `maxConsecutiveRateLimits` if the endpoint is still refusing.
 */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** An agent's default `backoff.jitter`: the fraction of a delay randomized (20 %). */
export const DEFAULT_JITTER = 0.2;

/** A number in 0..1 from a hash of thread and seq: the same on every replay, different per thread. */
export function jitterUnit(threadId: string, seq: number): number {
  return createHash('sha256').update(`${threadId}:${seq}`).digest().readUInt32BE(0) / 0xffffffff;
}

/** An agent's backoff settings, as it resolved them (its defaults filled in). */
interface BackoffSettings {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly jitter: number;
}

/** Exponential backoff with deterministic jitter (a hash of thread and seq), so replays agree. */
export function backoffDelay(agent: { readonly backoff: BackoffSettings }, attempt: number, threadId: string, seq: number): number {
  const { initialMs, factor, maxMs, jitter } = agent.backoff;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  return Math.round(Math.min(maxMs, base * (1 - jitter + 2 * jitter * jitterUnit(threadId, seq))));
}

/**
 * The wait for a server that asked for `askedMs`: that, counted as {@link MAX_RETRY_AFTER_MS} at
 * most, plus up to `jitter` of it more (`unit`, in 0..1, picks how much). Never sooner than asked
 * (short of the cap), and spread, so the threads one rate limit refused together do not all come
 * back together, also when it asked for more than the cap (a cap on the total would bring them
 * all back at the cap).
 */
export function serverWaitDelay(askedMs: number, jitter: number, unit: number): number {
  return Math.ceil(Math.min(MAX_RETRY_AFTER_MS, askedMs) * (1 + jitter * unit));
}
