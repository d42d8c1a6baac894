import { InvalidInputError } from '../errors.js';
import { matchesQuery, type ListQuery } from '../store/listQuery.js';
import type { ThreadSummary } from '../store/threadStore.js';
import type { KvEntry } from '@nats-io/kv';
import { retryRead, type Buckets } from './kvBuckets.js';
import type { IndexWriter } from './kvIndex.js';
import { creationSubject, parseIndexEntry, statusSubject, threadKey, type IndexEntry } from './kvKeys.js';
import { checkRevisions, readMany, type ReadResult, type RevisionCheck } from './kvReadMany.js';
import { scanBucket, type ScannedEntry } from './kvScan.js';
import { parseSummary, publicSummary, storedSummaryOf, type Known, type StoredSummary, type SummaryWriter } from './kvSummaries.js';

/** What listing needs from the store. */
export interface ListingParts {
  readonly buckets: Buckets;
  readonly index: IndexWriter;
  readonly summaries: SummaryWriter;
  /** The thread as stored now, `undefined` when missing or not a thread. */
  readonly read: (id: string) => Promise<Known | undefined>;
  /** Walks left open after a page, for the next page of the same walk. */
  readonly walks: WalkCache;
  /** The time now (ms since the epoch), to tell the age of an index entry. */
  readonly now: () => number;
}

const CURSOR_PREFIX = 'n.';
/** How long a page waits for the summaries it reads (those not answered are read from their threads). */
const SUMMARY_READ_TIMEOUT_MS = 1_500;
/**
 * A thread whose events JSON is longer than this has its revision checked without reading its
 * value ({@link checkRevisions}): past it, sending the value costs more than the server's scan.
 */
const LARGE_THREAD = 32 * 1024;
/**
 * An index entry whose thread key has held nothing for this long is a deleted thread's: the
 * create that published it would have written its thread by now (its publish is retried for a
 * minute, its write for 20 s). Younger, it may be a create's still in flight.
 */
const ORPHAN_AFTER_MS = 10 * 60_000;
/** Index entries fetched per page beyond the page (some may be stale). */
const PAGE_SLACK = 16;

/** A cursor's stream sequence as a page writes it: plain decimal. */
const CURSOR_SEQ = /^(?:0|[1-9][0-9]{0,15})$/;

/** The stream sequence a cursor continues after (0 for `''`); `InvalidInputError` for a cursor no page wrote. */
export function decodeCursor(cursor: string): number {
  if (cursor === '') return 0;
  const digits = cursor.startsWith(CURSOR_PREFIX) ? cursor.slice(CURSOR_PREFIX.length) : '';
  const seq = CURSOR_SEQ.test(digits) ? Number(digits) : Number.NaN;
  if (!Number.isSafeInteger(seq)) throw new InvalidInputError('invalid list cursor', [`after: ${JSON.stringify(cursor.slice(0, 80))}`]);
  return seq;
}

/** Key filters (subjects after the index prefix) of the entries a query reads. */
function filtersOf(buckets: Buckets, query: ListQuery): string[] {
  const subjects =
    query.statuses === undefined
      ? [creationSubject(buckets.index, query.agent)]
      : [...new Set(query.statuses)].map((status) => statusSubject(buckets.index, status, query.agent));
  return subjects.map((subject) => subject.slice(buckets.index.prefix.length));
}

/** Index entries of several filters (one consumer each), merged in stream order. */
export class MergedScan {
  readonly #scans: AsyncGenerator<ScannedEntry[]>[];
  readonly #heads: ScannedEntry[][];
  readonly #done: boolean[];
  /** Which scan each entry taken came from (for `putBack`). */
  readonly #origin = new WeakMap<ScannedEntry, number>();

  constructor(buckets: Buckets, filters: readonly string[], after: number, batch: number, onPending?: (n: number) => void) {
    this.#scans = filters.map((filter) => scanBucket(buckets, buckets.index.stream, buckets.index.prefix, { filter, after, batch, onPending }));
    this.#heads = filters.map(() => []);
    this.#done = filters.map(() => false);
  }

  /** Up to `n` next entries, in stream order. */
  async take(n: number): Promise<ScannedEntry[]> {
    const out: ScannedEntry[] = [];
    while (out.length < n) {
      await Promise.all(this.#scans.map((scan, i) => this.#fill(scan, i)));
      let best = -1;
      for (let i = 0; i < this.#heads.length; i++) {
        const head = this.#heads[i]![0];
        if (head !== undefined && (best === -1 || head.seq < this.#heads[best]![0]!.seq)) best = i;
      }
      if (best === -1) break;
      const entry = this.#heads[best]!.shift()!;
      this.#origin.set(entry, best);
      out.push(entry);
    }
    return out;
  }

  /** Puts back the last entries taken, unused (the next `take` returns them first). */
  putBack(entries: readonly ScannedEntry[]): void {
    for (const entry of [...entries].reverse()) this.#heads[this.#origin.get(entry) ?? 0]!.unshift(entry);
  }

  async #fill(scan: AsyncGenerator<ScannedEntry[]>, i: number): Promise<void> {
    if (this.#heads[i]!.length > 0 || this.#done[i]) return;
    const next = await scan.next();
    if (next.done === true) this.#done[i] = true;
    else this.#heads[i]!.push(...next.value);
  }

  async close(): Promise<void> {
    await Promise.all(this.#scans.map((scan) => scan.return(undefined).catch(() => undefined)));
  }
}

/**
 * Walks kept open between the pages of a walk, keyed by their filters and where they stand (the
 * next page's cursor): the next page then costs a fetch from the consumer already positioned,
 * instead of creating one (on nats-server 2.9 that costs a read of the index after the cursor's
 * position in its block). At most 32, each for 20 s (its consumer lives 30 s unused).
 */
export class WalkCache {
  readonly #walks = new Map<string, { scan: MergedScan; until: number }>();

  take(filters: readonly string[], after: number): MergedScan | undefined {
    this.#sweep();
    const key = `${filters.join('|')}@${after}`;
    const walk = this.#walks.get(key);
    this.#walks.delete(key);
    return walk?.scan;
  }

  keep(filters: readonly string[], after: number, scan: MergedScan): void {
    this.#walks.set(`${filters.join('|')}@${after}`, { scan, until: performance.now() + 20_000 });
    for (const [key, walk] of this.#walks) {
      if (this.#walks.size <= 32) break;
      this.#walks.delete(key);
      void walk.scan.close();
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const [key, walk] of this.#walks) {
      if (walk.until > now) continue;
      this.#walks.delete(key);
      void walk.scan.close();
    }
  }

  async close(): Promise<void> {
    const walks = [...this.#walks.values()];
    this.#walks.clear();
    await Promise.all(walks.map((walk) => walk.scan.close()));
  }
}

/** One page of a walk (`after` given): the entries after the cursor, each checked. */
export async function page(parts: ListingParts, query: ListQuery, after: number): Promise<ThreadSummary[]> {
  const filters = filtersOf(parts.buckets, query);
  const cached = parts.walks.take(filters, after);
  try {
    return await pageFrom(parts, query, filters, cached ?? new MergedScan(parts.buckets, filters, after, query.limit + PAGE_SLACK));
  } catch (error) {
    if (cached === undefined) throw error;
    // The kept consumer went away (unused too long, a server restart): start again from the cursor.
    return pageFrom(parts, query, filters, new MergedScan(parts.buckets, filters, after, query.limit + PAGE_SLACK));
  }
}

async function pageFrom(parts: ListingParts, query: ListQuery, filters: readonly string[], scan: MergedScan): Promise<ThreadSummary[]> {
  const limit = Math.min(query.limit, 10_000);
  const out: ThreadSummary[] = [];
  let keep = false;
  let ended = false;
  try {
    while (out.length < limit && !ended) {
      const taken = await scan.take(limit - out.length);
      if (taken.length === 0) break;
      const entries = taken.map(entryOf);
      // Under `updatedBefore`, the walk ends at the first entry made well after it.
      const end = endOfWalk(entries, query.updatedBefore);
      const candidates = taken.slice(0, end);
      const checked = await checkAll(parts, candidates, query.updatedBefore, entries.slice(0, end));
      let used = 0;
      for (; used < candidates.length && out.length < limit; used++) {
        const summary = checked[used];
        if (summary !== undefined && matchesQuery(summary, query)) out.push(Object.freeze({ ...summary, cursor: CURSOR_PREFIX + candidates[used]!.seq }));
      }
      scan.putBack(taken.slice(used));
      ended = used === end && end < taken.length;
    }
    keep = !ended && out.length === limit && limit > 0;
    if (keep) parts.walks.keep(filters, Number(out.at(-1)!.cursor!.slice(CURSOR_PREFIX.length)), scan);
    return out;
  } finally {
    if (!keep) await scan.close();
  }
}

/** Every thread of the query's statuses through the index, or `undefined` when there are more than `max`. */
export async function byIndex(parts: ListingParts, query: ListQuery, max: number): Promise<ThreadSummary[] | undefined> {
  let pending = 0;
  const scan = new MergedScan(parts.buckets, filtersOf(parts.buckets, query), 0, 512, (n) => (pending += n));
  const out: ThreadSummary[] = [];
  try {
    for (;;) {
      const candidates = await scan.take(512);
      if (pending > max) return undefined;
      if (candidates.length === 0) return out;
      const checked = await checkAll(parts, candidates, query.updatedBefore);
      for (const summary of checked) if (summary !== undefined && matchesQuery(summary, query)) out.push(summary);
    }
  } finally {
    await scan.close();
  }
}

const decoder = new TextDecoder();

function entryOf(scanned: ScannedEntry): IndexEntry | undefined {
  try {
    return parseIndexEntry(scanned.key, JSON.parse(decoder.decode(scanned.value)));
  } catch {
    return undefined;
  }
}

/**
 * How far after `updatedBefore` a walk goes on reading index entries before it ends (see
 * `ListOptions.updatedBefore`): past an entry's publish retries (a minute) and the drift of the
 * clocks of the processes that write.
 */
export const UPDATED_BEFORE_SLACK_MS = 10 * 60_000;

/**
 * The time an index entry stands for (ms; NaN when it names none): when its thread entered its
 * status (its creation in an entry written before `enteredAt`, never later), or was created. The
 * thread was last updated at that time or after.
 */
function entryTime(entry: IndexEntry | undefined): number {
  const text = entry === undefined ? undefined : entry.kind === 'status' ? (entry.enteredAt ?? entry.createdAt) : entry.createdAt;
  return text === undefined ? Number.NaN : Date.parse(text);
}

/** Where a walk under `updatedBefore` ends among these entries: the first one made well after it (their length: none). */
function endOfWalk(entries: readonly (IndexEntry | undefined)[], updatedBefore: number | undefined): number {
  if (updatedBefore === undefined) return entries.length;
  const end = entries.findIndex((entry) => entryTime(entry) >= updatedBefore + UPDATED_BEFORE_SLACK_MS);
  return end === -1 ? entries.length : end;
}

/**
 * The summaries the index entries stand for (`parsed`: read from `scanned` when not given; `undefined` for an entry that is stale, its thread
 * moved on or it is a second entry for the same stay, or whose thread is gone: stale entries are
 * deleted; and, unread, for one that entered at or after `updatedBefore`). The summaries are read
 * together ({@link readMany}). A summary is written after its
 * thread, by the writer and in the background, so it may be older than its thread: written a
 * moment later, lost, or never written by a writer killed in between (which also leaves the entry
 * of the status the thread left), or written late for a thread deleted meanwhile. So a summary
 * that confirms or refutes its entry is checked against its thread's current revision, for the
 * whole page at once ({@link checkRevisions}), whatever its status (a thread that ended may be
 * deleted); one that lags, or that is older than its entry, is checked against the thread itself,
 * and repaired.
 */
async function checkAll(
  parts: ListingParts,
  scanned: readonly ScannedEntry[],
  updatedBefore: number | undefined,
  parsed: readonly (IndexEntry | undefined)[] = scanned.map(entryOf),
): Promise<Array<ThreadSummary | undefined>> {
  // An entry at or after `updatedBefore` is left out unread: its thread was updated then or later.
  const entries = updatedBefore === undefined ? parsed : parsed.map((entry) => (entryTime(entry) >= updatedBefore ? undefined : entry));
  const wanted = entries.flatMap((entry) => (entry === undefined ? [] : [threadKey(entry.id)]));
  const read = await readSummaries(parts.buckets, wanted);
  let next = 0;
  const summaries = entries.map((entry) => {
    if (entry === undefined) return undefined;
    const result = read[next++]!;
    return result.kind === 'value' ? parseSummary(result.value) : undefined;
  });
  const verdicts = entries.map((entry, i) => (entry === undefined ? undefined : judge(entry, scanned[i]!.seq, summaries[i])));
  // A verdict holds only while its summary is its thread's current revision, a terminal one too:
  // the thread may have been deleted (and its id taken again) since the summary was written.
  const judged = verdicts.flatMap((verdict, i) => (verdict === 'current' || verdict === 'stale' ? [i] : []));
  const revisions = await checkSummaryRevisions(parts.buckets, judged.map((i) => summaries[i]!));
  judged.forEach((i, k) => {
    if (revisions[k] !== 'current') verdicts[i] = 'unknown';
  });
  return Promise.all(entries.map((entry, i) => (entry === undefined ? undefined : check(parts, entry, scanned[i]!, summaries[i], verdicts[i]!))));
}

/** Whether each summary was made from its thread's current revision. */
function checkSummaryRevisions(buckets: Buckets, summaries: readonly StoredSummary[]): Promise<RevisionCheck[]> {
  const { side, threadsStream, threadsSubject } = buckets;
  const keys = summaries.map((summary) => ({ key: threadKey(summary.id), revision: summary.revision, large: (summary.size ?? 0) > LARGE_THREAD }));
  return checkRevisions(side.nc, keys, {
    stream: threadsStream,
    prefix: threadsSubject,
    direct: side.threadsDirect,
    timeoutMs: SUMMARY_READ_TIMEOUT_MS,
    ...(side.inboxPrefix === undefined ? {} : { inboxPrefix: side.inboxPrefix }),
  });
}

/** The stored summaries of these keys: together when the bucket answers direct gets, else one by one. */
async function readSummaries(buckets: Buckets, keys: readonly string[]): Promise<ReadResult[]> {
  const { side, summariesStream, summariesSubject } = buckets;
  if (side.direct) {
    const { inboxPrefix } = side;
    return readMany(side.nc, keys, { stream: summariesStream, prefix: summariesSubject, timeoutMs: SUMMARY_READ_TIMEOUT_MS, ...(inboxPrefix === undefined ? {} : { inboxPrefix }) });
  }
  return Promise.all(
    keys.map(async (key): Promise<ReadResult> => {
      try {
        const stored = await retryRead(() => side.summaries.get(key));
        return stored?.operation === 'PUT' ? { kind: 'value', value: stored.value } : { kind: 'missing' };
      } catch {
        return { kind: 'unknown' };
      }
    }),
  );
}

/**
 * One entry, given its thread's stored summary and what it says of the entry (`unknown` also for a
 * summary that lags its thread; see {@link checkAll}).
 */
async function check(parts: ListingParts, entry: IndexEntry, scanned: ScannedEntry, summary: StoredSummary | undefined, verdict: Verdict): Promise<ThreadSummary | undefined> {
  const { seq } = scanned;
  if (verdict === 'current') return publicSummary(summary!);
  if (verdict === 'stale') {
    parts.index.remove(seq);
    return undefined;
  }
  const known = await parts.read(entry.id);
  if (known === undefined) {
    // A deleter removes only the entries it knows of (its process's, its summary's): the others
    // go here, once the thread is surely gone.
    if (await orphaned(parts, entry, scanned)) parts.index.remove(seq);
    return undefined;
  }
  parts.summaries.put(known);
  const fresh = storedSummaryOf(known, parts.index.entryOf(known.thread.id, known.since), parts.index.creationOf(known.thread.id));
  const again = judge(entry, seq, fresh);
  if (again === 'current') return publicSummary(fresh);
  if (again === 'stale') parts.index.remove(seq);
  return undefined;
}

/**
 * Whether an index entry whose thread was not found belongs to no thread that is or will be: its
 * thread key holds a delete or purge marker stored after the entry (an entry of a create still in
 * flight over that marker is newer than it), or has held nothing for {@link ORPHAN_AFTER_MS}
 * after the entry. `false` when the key cannot be read, or holds a value (not a thread).
 */
async function orphaned(parts: ListingParts, entry: IndexEntry, scanned: ScannedEntry): Promise<boolean> {
  let last: KvEntry | null;
  try {
    last = await retryRead(() => parts.buckets.threads.get(threadKey(entry.id)));
  } catch {
    return false;
  }
  if (last?.operation === 'PUT') return false;
  return (last !== null && last.created.getTime() > scanned.time) || parts.now() - scanned.time > ORPHAN_AFTER_MS;
}

/** What a summary says of an index entry: it confirms it, refutes it, or is too old to tell. */
type Verdict = 'current' | 'stale' | 'unknown';

/**
 * Whether a summary confirms an index entry, refutes it, or is too old to tell. A summary that
 * refutes its entry does so whatever its age within one life of the thread (the thread had left
 * the entry's stay, or never had it, at the summary's version), and one that confirms it while it
 * is its thread's current revision; both are taken only from a summary of the thread's current
 * revision, as a summary of a deleted thread of the same id would refute the new one's entries. An
 * entry of a thread created at another time than the summary's (`createdAt`, in entries written
 * since it), or a creation entry other than the one the summary names, is a deleted thread's, or
 * a repeat.
 */
function judge(entry: IndexEntry, seq: number, summary: StoredSummary | undefined): Verdict {
  if (summary === undefined || summary.id !== entry.id) return 'unknown';
  if (entry.createdAt !== undefined && entry.createdAt !== summary.createdAt) return 'stale';
  if (entry.kind === 'creation') return summary.created === undefined || summary.created === seq ? 'current' : 'stale';
  if (summary.since === undefined || summary.version < entry.since) return 'unknown';
  if (summary.status !== entry.status || summary.since !== entry.since) return 'stale';
  return summary.entry === undefined || summary.entry === seq ? 'current' : 'stale';
}
