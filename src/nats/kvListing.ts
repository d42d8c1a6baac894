import { InvalidInputError } from '../errors.js';
import { matchesQuery, type ListQuery } from '../store/listQuery.js';
import { compareSummaries } from '../store/selectSummaries.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { LIST_ATTEMPTS, retryRead, systemError, type Buckets } from './kvBuckets.js';
import type { IndexWriter } from './kvIndex.js';
import { parseIndexKey, threadIdOfKey, threadKey, type IndexKey } from './kvKeys.js';
import { scanBucket, type ScannedEntry } from './kvScan.js';
import { parseSummary, publicSummary, storedSummaryOf, type Known, type StoredSummary, type SummaryWriter } from './kvSummaries.js';

/** What listing needs from the store. */
export interface ListingParts {
  readonly buckets: Buckets;
  readonly index: IndexWriter;
  readonly summaries: SummaryWriter;
  /** The thread as stored now, `undefined` when missing or not a thread. */
  readonly read: (id: string) => Promise<Known | undefined>;
}

/** A status listing that would read more index keys than this reads every summary instead. */
const INDEX_SCAN_LIMIT = 2000;
const CURSOR_PREFIX = 'n.';

/**
 * `list` of the NATS KV store:
 *
 * - a page (`after`) reads the index keys after the cursor (a stream sequence) through consumers
 *   on `c.<agent>.*` or `s.<status>.<agent>.*.*` (merged by sequence), and checks each against its
 *   thread's summary: cost proportional to the page, whatever the number of threads;
 * - a listing by status reads the status's index keys the same way, when there are few;
 * - anything else reads every summary and every thread's revision (headers only), and rebuilds the
 *   summaries that lag their threads.
 */
export async function listThreads(parts: ListingParts, query: ListQuery): Promise<ThreadSummary[]> {
  await parts.summaries.settle();
  if (query.after !== undefined) return page(parts, query, decodeCursor(query.after));
  if (query.statuses !== undefined) {
    const listed = await byIndex(parts, query, INDEX_SCAN_LIMIT);
    if (listed !== undefined) return listed.sort(compareSummaries).slice(0, query.limit);
  }
  const all = await everySummary(parts);
  return all.filter((s) => matchesQuery(s, query)).sort(compareSummaries).slice(0, query.limit);
}

function decodeCursor(cursor: string): number {
  if (cursor === '') return 0;
  const seq = cursor.startsWith(CURSOR_PREFIX) ? Number(cursor.slice(CURSOR_PREFIX.length)) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidInputError('invalid list cursor', [`after: ${JSON.stringify(cursor.slice(0, 80))}`]);
  return seq;
}

/** Key filters of the index keys a query reads. */
function filtersOf(query: ListQuery): string[] {
  const agent = query.agent === undefined ? '*' : threadKey(query.agent);
  return query.statuses === undefined ? [`c.${agent}.*`] : [...new Set(query.statuses)].map((status) => `s.${status}.${agent}.*.*`);
}

/** Index keys of several filters, merged in stream order. */
class MergedScan {
  readonly #scans: AsyncGenerator<ScannedEntry[]>[];
  readonly #heads: ScannedEntry[][];
  readonly #done: boolean[];

  constructor(parts: ListingParts, filters: readonly string[], after: number, batch: number, onPending?: (n: number) => void) {
    const { buckets } = parts;
    this.#scans = filters.map((filter) => scanBucket(buckets, buckets.summariesStream, buckets.summariesSubject, { filter, after, headersOnly: true, batch, onPending }));
    this.#heads = filters.map(() => []);
    this.#done = filters.map(() => false);
  }

  /** Up to `n` next entries (markers left out), in stream order. */
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
      if (!entry.deleted) out.push(entry);
    }
    return out;
  }

  async #fill(scan: AsyncGenerator<ScannedEntry[]>, i: number): Promise<void> {
    if (this.#heads[i]!.length > 0 || this.#done[i]) return;
    const next = await scan.next();
    if (next.done === true) this.#done[i] = true;
    else this.#heads[i]!.push(...next.value);
  }

  async close(): Promise<void> {
    await Promise.all(this.#scans.map((scan) => scan.return(undefined)));
  }
}

async function page(parts: ListingParts, query: ListQuery, after: number): Promise<ThreadSummary[]> {
  const limit = Math.min(query.limit, 10_000);
  const scan = new MergedScan(parts, filtersOf(query), after, limit + 16);
  const out: ThreadSummary[] = [];
  try {
    while (out.length < limit) {
      const candidates = await scan.take(limit - out.length);
      if (candidates.length === 0) break;
      const checked = await Promise.all(candidates.map((entry) => check(parts, entry)));
      for (let i = 0; i < candidates.length && out.length < limit; i++) {
        const summary = checked[i];
        if (summary !== undefined && matchesQuery(summary, query)) out.push(Object.freeze({ ...summary, cursor: CURSOR_PREFIX + candidates[i]!.seq }));
      }
    }
  } finally {
    await scan.close();
  }
  return out;
}

/** Every thread of the query's statuses through the index, or `undefined` when there are too many. */
async function byIndex(parts: ListingParts, query: ListQuery, max: number): Promise<ThreadSummary[] | undefined> {
  let pending = 0;
  const scan = new MergedScan(parts, filtersOf(query), 0, 512, (n) => (pending += n));
  const out: ThreadSummary[] = [];
  try {
    for (;;) {
      const candidates = await scan.take(512);
      if (pending > max) return undefined;
      if (candidates.length === 0) return out;
      const checked = await Promise.all(candidates.map((entry) => check(parts, entry)));
      for (const summary of checked) if (summary !== undefined && matchesQuery(summary, query)) out.push(summary);
    }
  } finally {
    await scan.close();
  }
}

/**
 * The summary an index key stands for, or `undefined` when the key is stale (its thread moved on,
 * or is gone): stale status keys are removed. A summary older than the key (written a moment
 * later than the thread, or lost) is checked against the thread itself, and repaired.
 */
async function check(parts: ListingParts, entry: ScannedEntry): Promise<ThreadSummary | undefined> {
  const key = parseIndexKey(entry.key);
  if (key === undefined) return undefined;
  const stored = await retryRead(() => parts.buckets.summaries.get(threadKey(key.id))).catch(() => null);
  const summary = stored?.operation === 'PUT' ? parseSummary(stored.value) : undefined;
  const verdict = judge(key, summary);
  if (verdict === 'current') return publicSummary(summary!);
  if (verdict === 'stale') {
    parts.index.remove(entry.key);
    return undefined;
  }
  const known = await parts.read(key.id).catch(() => undefined);
  if (known === undefined) return undefined;
  const fresh = storedSummaryOf(known);
  parts.summaries.put(known);
  const again = judge(key, fresh);
  if (again === 'current') return publicSummary(fresh);
  if (again === 'stale') parts.index.remove(entry.key);
  return undefined;
}

/** Whether a summary confirms an index key, refutes it, or is too old to tell. */
function judge(key: IndexKey, summary: StoredSummary | undefined): 'current' | 'stale' | 'unknown' {
  if (summary === undefined || summary.id !== key.id) return 'unknown';
  if (key.kind === 'creation') return 'current';
  if (summary.since === undefined || summary.version < key.since) return 'unknown';
  return summary.status === key.status && summary.since === key.since ? 'current' : 'stale';
}

/**
 * Every summary, checked against its thread's current revision (a headers-only read of the
 * threads bucket); the ones that lag are rebuilt from their threads (and their index keys
 * written, in case they were lost).
 */
async function everySummary(parts: ListingParts): Promise<ThreadSummary[]> {
  const { buckets } = parts;
  const [stored, revisions] = await Promise.all([
    retryRead(() => lastEntries(buckets, buckets.summariesStream, buckets.summariesSubject, '*', false), LIST_ATTEMPTS),
    retryRead(() => lastEntries(buckets, buckets.threadsStream, buckets.threadsSubject, '>', true), LIST_ATTEMPTS),
  ]);
  const current: ThreadSummary[] = [];
  const stale: string[] = [];
  for (const [key, { seq }] of revisions) {
    const entry = stored.get(key);
    const summary = entry === undefined ? undefined : parseSummary(entry.value);
    // Current only when derived from the thread's current revision.
    if (summary === undefined || summary.revision !== seq || threadKey(summary.id) !== key) stale.push(key);
    else current.push(publicSummary(summary));
  }
  const repaired = await Promise.all(
    stale.map(async (key) => {
      const id = threadIdOfKey(key);
      // A foreign or corrupt entry is left out of the list rather than failing it.
      const known = id === undefined ? undefined : await parts.read(id);
      if (known === undefined) return undefined;
      parts.summaries.put(known);
      parts.index.created(known);
      return publicSummary(storedSummaryOf(known));
    }),
  );
  for (const summary of repaired) if (summary !== undefined) current.push(summary);
  return current;
}

/** The current entry of every key matching `filter` (deleted ones left out). */
async function lastEntries(buckets: Buckets, stream: string, prefix: string, filter: string, headersOnly: boolean): Promise<Map<string, ScannedEntry>> {
  const entries = new Map<string, ScannedEntry>();
  try {
    for await (const batch of scanBucket(buckets, stream, prefix, { filter, lastPerKey: true, headersOnly, batch: 1024 })) {
      for (const entry of batch) if (!entry.deleted) entries.set(entry.key, entry);
    }
  } catch (error) {
    throw systemError('cannot list threads', error);
  }
  return entries;
}

