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
export async function casWrite(
  write: () => Promise<number>,
  readBack: () => Promise<KvEntry | null>,
  value: string,
  withinMs = NO_RESPONDERS_RETRY_MS,
): Promise<number> {
  let mayHaveWritten = false;
  const unanswered = (error: unknown): boolean => {
    if (!isUnanswered(error)) return false;
    if (!isNoResponders(error)) mayHaveWritten = true;
    return true;
  };
  try {
    return await retryWhile(write, unanswered, withinMs);
  } catch (error) {
    if (!mayHaveWritten || !isWrongLastSequence(error)) throw error;
    const entry = await retryRead(readBack);
    if (entry?.operation === 'PUT' && Buffer.from(value).equals(entry.value)) return entry.revision;
    throw error;
  }
}

/**
 * A compare-and-set purge of a KV key (its value and history replaced by one purge marker, only
 * while the key's revision is still the one the purge names), tried again as {@link casWrite}
 * tries a write. When a try after a timeout meets a wrong last sequence, the key is read back:
 * holding a purge marker, the earlier try purged it; anything else is a conflict, and the
 * wrong-last-sequence error is thrown.
 */
export async function casPurge(purge: () => Promise<void>, readBack: () => Promise<KvEntry | null>, withinMs = NO_RESPONDERS_RETRY_MS): Promise<void> {
  let mayHavePurged = false;
  const unanswered = (error: unknown): boolean => {
    if (!isUnanswered(error)) return false;
    if (!isNoResponders(error)) mayHavePurged = true;
    return true;
  };
  try {
    await retryWhile(purge, unanswered, withinMs);
  } catch (error) {
    if (!mayHavePurged || !isWrongLastSequence(error)) throw error;
    const entry = await retryRead(readBack);
    if (entry?.operation === 'PURGE') return;
    throw error;
  }
}
