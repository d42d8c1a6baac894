import { headers } from '@nats-io/transport-node';
import { isWrongLastSequence, retryRead, type Buckets } from './kvBuckets.js';
import { creationKey, INDEX_MARKER_KEY, statusKey, threadIdOfKey } from './kvKeys.js';
import { scanBucket } from './kvScan.js';
import type { Known, SummaryWriter } from './kvSummaries.js';
import { statusOf } from '../thread/state.js';
import { knownOf, CorruptThreadError } from './kvThread.js';

/** The index format this store writes (`m.index` holds it). */
const INDEX_FORMAT = 1;

/**
 * Writes the index keys of the summaries bucket (see `kvKeys.ts`) as plain publishes that need no
 * ack: a key is written only if absent (`Nats-Expected-Last-Subject-Sequence: 0`), so a write
 * repeated after a retry or by another process never moves a thread in the index's order.
 *
 * A thread's new status key is written before the thread write that moves it there, and the old
 * one removed (purged, leaving no marker) only after that write succeeded. So the index may name a
 * status a thread is not in (a write that failed, a writer that died): listings check each key
 * against the thread's summary, and remove the keys they find stale.
 */
export class IndexWriter {
  readonly #absent = headers();

  constructor(readonly buckets: Buckets) {
    this.#absent.set('Nats-Expected-Last-Subject-Sequence', '0');
  }

  /** A new thread: its creation key and its first status key. */
  created(known: Pick<Known, 'thread' | 'state' | 'since'>): void {
    const { agent, id } = known.thread;
    this.#put(creationKey(agent, id));
    this.entering(agent, id, statusOf(known.state), known.since);
  }

  /** The thread enters `status` at version `since` (call before the write). */
  entering(agent: string, id: string, status: string, since: number): void {
    this.#put(statusKey(status, agent, id, since));
  }

  /** The thread left `status`, entered at `since` (call after the write succeeded). */
  left(agent: string, id: string, status: string, since: number): void {
    this.remove(statusKey(status, agent, id, since));
  }

  /** Removes an index key, marker and all. */
  remove(key: string): void {
    void this.buckets.jsm.streams.purge(this.buckets.summariesStream, { filter: this.buckets.summariesSubject + key }).catch(() => undefined);
  }

  #put(key: string): void {
    try {
      this.buckets.nc.publish(this.buckets.summariesSubject + key, undefined, { headers: this.#absent });
    } catch {
      // a lost index key is written again by a listing that repairs the thread
    }
  }
}

/**
 * Makes sure every thread has its index keys: when the summaries bucket has no `m.index` (a bucket
 * from before the index, or the marker was deleted), reads every thread once, writes its index
 * keys and summary, then the marker. Answers whether it built the index.
 */
export async function ensureIndex(buckets: Buckets, index: IndexWriter, summaries: SummaryWriter): Promise<boolean> {
  const marker = await retryRead(() => buckets.summaries.get(INDEX_MARKER_KEY));
  if (marker?.operation === 'PUT') return false;
  for await (const batch of scanBucket(buckets, buckets.threadsStream, buckets.threadsSubject, { filter: '>', lastPerKey: true })) {
    for (const entry of batch) {
      const id = entry.deleted ? undefined : threadIdOfKey(entry.key);
      if (id === undefined) continue;
      let known: Known;
      try {
        known = knownOf(id, { bucket: buckets.threadsStream, revision: entry.seq, created: new Date(), json: <T>() => JSON.parse(new TextDecoder().decode(entry.value)) as T });
      } catch (error) {
        if (error instanceof CorruptThreadError) continue;
        throw error;
      }
      index.created(known);
      summaries.put(known);
    }
  }
  await buckets.nc.flush();
  try {
    await buckets.summaries.create(INDEX_MARKER_KEY, JSON.stringify({ format: INDEX_FORMAT, builtAt: new Date().toISOString() }));
  } catch (error) {
    if (!isWrongLastSequence(error)) throw error; // another process finished first
  }
  return true;
}
