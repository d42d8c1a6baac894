import type { KvEntry } from '@nats-io/kv';
import { sleep, systemClock } from '../clock.js';
import { isWrongLastSequence, retryRead } from './kvBuckets.js';
import { isNoResponders, isUnanswered, NO_RESPONDERS_RETRY_MS } from './unanswered.js';

const encoder = new TextEncoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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
  const deadline = Date.now() + withinMs;
  let mayHaveWritten = false;
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (mayHaveWritten && isWrongLastSequence(error)) {
        const entry = await retryRead(readBack);
        if (entry?.operation === 'PUT' && sameBytes(entry.value, encoder.encode(value))) return entry.revision;
        throw error;
      }
      if (!isUnanswered(error) || Date.now() > deadline) throw error;
      if (!isNoResponders(error)) mayHaveWritten = true;
      await sleep(systemClock, Math.min(50 * 2 ** attempt, 500));
    }
  }
}
