import { parseFailureSummary } from '../store/failureSummary.js';
import { parsePendingRequestSummary } from '../store/pendingRequestSummary.js';
import { summaryOf } from '../store/selectSummaries.js';
import type { ThreadSummary } from '../store/threadStore.js';
import type { Thread } from '../thread/events.js';
import { isThreadStatus, type ThreadState } from '../thread/state.js';
import { flushBoth, type Buckets } from './kvBuckets.js';
import { hasThreadKey, threadKey } from './kvKeys.js';

/** What the store knows of a thread at one revision of its key. */
export interface Known {
  readonly revision: number;
  /** Deeply frozen: handed out as is. */
  readonly thread: Thread;
  /** `JSON.stringify(thread.events)`, kept so an append serializes only the new events. */
  readonly eventsJson: string;
  readonly state: ThreadState;
  readonly createdAt: string;
  /** The version at which the thread entered its status (see `foldStatus`). */
  readonly since: number;
}

/**
 * What the summaries bucket holds under a thread's key: the summary, the thread revision it was
 * derived from, since which version the thread has its status, and the sequence of its status
 * entry in the index when known (both absent in summaries written before the index).
 */
export interface StoredSummary extends ThreadSummary {
  readonly revision: number;
  readonly since?: number;
  readonly entry?: number;
  /**
   * The sequence of the thread's creation entry in the index, when known (absent in summaries
   * written before it): a creation entry of the same id with another sequence is a deleted
   * thread's, or a repeat.
   */
  readonly created?: number;
  /**
   * The length of the thread's events JSON at that revision (near enough the size of its value),
   * absent in summaries written before it: a listing checks the revision of a large thread without
   * reading its value.
   */
  readonly size?: number;
}

export function storedSummaryOf(known: Known, entry?: number, created?: number): StoredSummary {
  return {
    ...summaryOf(known.thread, known.state, known.createdAt),
    revision: known.revision,
    since: known.since,
    size: known.eventsJson.length,
    ...(entry === undefined ? {} : { entry }),
    ...(created === undefined ? {} : { created }),
  };
}

const decoder = new TextDecoder();

export function parseSummary(bytes: Uint8Array): StoredSummary | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(bytes)) as Partial<StoredSummary> | null;
    if (
      typeof parsed?.id !== 'string' ||
      // Written by something else: an id with no key is no summary a listing can check.
      !hasThreadKey(parsed.id) ||
      typeof parsed.agent !== 'string' ||
      !isThreadStatus(parsed.status) ||
      typeof parsed.version !== 'number' ||
      typeof parsed.revision !== 'number' ||
      typeof parsed.createdAt !== 'string' ||
      typeof parsed.updatedAt !== 'string' ||
      (parsed.since !== undefined && typeof parsed.since !== 'number') ||
      (parsed.entry !== undefined && typeof parsed.entry !== 'number') ||
      (parsed.created !== undefined && typeof parsed.created !== 'number') ||
      (parsed.size !== undefined && typeof parsed.size !== 'number')
    ) {
      return undefined;
    }
    // A pending request no writer writes is left out (the row shows none), not the summary.
    const { pending, wakeAt, failure, ...summary } = parsed as StoredSummary;
    const checked = pending === undefined ? undefined : parsePendingRequestSummary(pending);
    // Likewise a wake time that is no time, and a failure no writer writes.
    const wake = typeof wakeAt === 'string' && !Number.isNaN(Date.parse(wakeAt)) ? { wakeAt } : {};
    const failed = failure === undefined ? undefined : parseFailureSummary(failure);
    return { ...summary, ...(checked === undefined ? {} : { pending: checked }), ...wake, ...(failed === undefined ? {} : { failure: failed }) };
  } catch {
    return undefined;
  }
}

/** The summary without what only the store needs. */
export function publicSummary(summary: StoredSummary): ThreadSummary {
  const { id, agent, status, version, createdAt, updatedAt, pending, wakeAt, failure } = summary;
  return Object.freeze({
    id,
    agent,
    status,
    version,
    createdAt,
    updatedAt,
    ...(pending === undefined ? {} : { pending }),
    ...(wakeAt === undefined ? {} : { wakeAt }),
    ...(failure === undefined ? {} : { failure }),
  });
}

/** Where a thread's index entries are, as far as this process knows (the index writer). */
export interface EntrySequences {
  /** The sequence of the thread's status entry for the stay that began at `since`. */
  entryOf(id: string, since: number): number | undefined;
  /** The sequence of the thread's creation entry. */
  creationOf(id: string): number | undefined;
}

/**
 * Writes summaries after thread writes, without holding up the writer: each waits `delayMs` and is
 * coalesced with later writes of the same thread (a thread moving through its steps costs one
 * summary write per interval, not one per append), then goes out as a plain publish on the
 * bucket's subject (no ack to wait for: a lost summary is repaired by a listing).
 */
export class SummaryWriter {
  readonly #due = new Map<string, Known>();
  #timer: NodeJS.Timeout | undefined;
  /** Something was published since the last `settle` (a summary, or an index entry: `touch`). */
  #unsettled = false;

  constructor(
    readonly buckets: Buckets,
    readonly delayMs: number,
    /** The sequences of the thread's status entry and creation entry in the index, when known. */
    readonly index: EntrySequences,
  ) {}

  /** Writes the summary of `known` soon. */
  write(known: Known): void {
    this.#due.set(known.thread.id, known);
    this.#timer ??= setTimeout(() => this.flush(), this.delayMs).unref();
  }

  /** Writes the due summaries now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const due = [...this.#due.values()];
    this.#due.clear();
    for (const known of due) this.put(known);
  }

  /** Writes one summary now. */
  put(known: Known): void {
    try {
      const { id } = known.thread;
      const summary = storedSummaryOf(known, this.index.entryOf(id, known.since), this.index.creationOf(id));
      this.#unsettled = true;
      this.buckets.side.nc.publish(this.buckets.summariesSubject + threadKey(known.thread.id), JSON.stringify(summary));
    } catch {
      // repaired by a listing
    }
  }

  /** Drops the summary of a deleted thread that was waiting to be written. */
  forget(id: string): void {
    this.#due.delete(id);
  }

  /** Notes a publish of another kind (an index entry) that `settle` must wait for. */
  touch(): void {
    this.#unsettled = true;
  }

  /**
   * Writes the due summaries and waits until the server has everything published so far (one
   * round trip per connection; none when nothing was published since the last time).
   */
  async settle(): Promise<void> {
    this.flush();
    if (!this.#unsettled) return;
    this.#unsettled = false;
    await flushBoth(this.buckets).catch(() => undefined);
  }
}
