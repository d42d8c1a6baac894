import type { KvEntry } from '@nats-io/kv';
import { isWrongLastSequence, retryRead } from './kvBuckets.js';
import { isNoResponders, isUnanswered, NO_RESPONDERS_RETRY_MS, retryWhile } from './unanswered.js';

/**
 * A compare-and-set write of a KV value (a create, or an update at a known revision), tried again
 * while JetStream does not answer: for up to `withinMs` while no server leads the bucket's stream
 * (a no-responders answer: nothing was written), and after a timeout (the write may have happened).
 * When a try after a timeout meets a wrong last sequence, the key is read back: holding exactly
 * `value`, the earlier try wrote it and its revision is returned; anything else is a conflict, and
 * the wrong-last-sequence error is thrown.
 */
export function casWrite(write: () => Promise<number>, readBack: () => Promise<KvEntry | null>, value: string, withinMs = NO_RESPONDERS_RETRY_MS): Promise<number> {
  return compareAndSet(write, readBack, (entry) => (entry?.operation === 'PUT' && Buffer.from(value).equals(entry.value) ? { landed: entry.revision } : undefined), withinMs);
}

/**
 * A compare-and-set purge of a KV key (its value and history replaced by one purge marker, only
 * while the key's revision is still the one the purge names), tried again as {@link casWrite}
 * tries a write. When a try after a timeout meets a wrong last sequence, the key is read back:
 * holding a purge marker, the earlier try purged it; anything else is a conflict, and the
 * wrong-last-sequence error is thrown.
 */
export function casPurge(purge: () => Promise<void>, readBack: () => Promise<KvEntry | null>, withinMs = NO_RESPONDERS_RETRY_MS): Promise<void> {
  return compareAndSet(purge, readBack, (entry) => (entry?.operation === 'PURGE' ? { landed: undefined } : undefined), withinMs);
}

/**
 * `op`, tried again while JetStream does not answer (see {@link casWrite}); a wrong last sequence
 * after a try that may have landed reads the key back, and `landedAs` says whether what is there
 * is that try's doing (and what `op` would have answered), else the error is thrown.
 */
async function compareAndSet<T>(
  op: () => Promise<T>,
  readBack: () => Promise<KvEntry | null>,
  landedAs: (entry: KvEntry | null) => { landed: T } | undefined,
  withinMs: number,
): Promise<T> {
  let mayHaveLanded = false;
  const unanswered = (error: unknown): boolean => {
    if (!isUnanswered(error)) return false;
    if (!isNoResponders(error)) mayHaveLanded = true;
    return true;
  };
  try {
    return await retryWhile(op, unanswered, withinMs);
  } catch (error) {
    if (!mayHaveLanded || !isWrongLastSequence(error)) throw error;
    const found = landedAs(await retryRead(readBack));
    if (found !== undefined) return found.landed;
    throw error;
  }
}
