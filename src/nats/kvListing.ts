import { matchesQuery, type ListQuery } from '../store/listQuery.js';
import { compareSummaries } from '../store/selectSummaries.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { LIST_ATTEMPTS, retryRead, systemError, type Buckets } from './kvBuckets.js';
import { hasThreadKey, threadIdOfKey, threadKey } from './kvKeys.js';
import { byIndex, decodeCursor, page, type ListingParts } from './kvPaging.js';
import { scanBucket, type ScannedEntry } from './kvScan.js';
import { parseSummary, publicSummary, storedSummaryOf } from './kvSummaries.js';

export type { ListingParts } from './kvPaging.js';

/** A status listing that would read more index entries than this reads every summary instead. */
const INDEX_SCAN_LIMIT = 2000;

/**
 * `list` of the NATS KV store:
 *
 * - a page (`after`) reads the index entries after the cursor (a sequence of the index stream)
 *   through consumers on the index's subjects (merged by sequence for several statuses), and
 *   checks each against its thread's summary, and the summary against its thread's revision: the
 *   cost of the page, whatever the number of threads;
 * - a listing by status reads the status's index entries the same way, when there are few;
 * - anything else reads every summary and every thread's revision (headers only), and rebuilds the
 *   summaries that lag their threads.
 */
export async function listThreads(parts: ListingParts, query: ListQuery): Promise<ThreadSummary[]> {
  // Agent names are keys: a name no key can hold (empty, too long) is no agent's, as in the other stores.
  const after = query.after === undefined ? undefined : decodeCursor(query.after);
  if (query.agent !== undefined && !hasThreadKey(query.agent)) return [];
  await parts.summaries.settle();
  if (after !== undefined) return page(parts, query, after);
  if (query.statuses !== undefined) {
    const listed = await byIndex(parts, query, INDEX_SCAN_LIMIT);
    if (listed !== undefined) return listed.sort(compareSummaries).slice(0, query.limit);
  }
  const all = await everySummary(parts);
  return all.filter((s) => matchesQuery(s, query)).sort(compareSummaries).slice(0, query.limit);
}

/**
 * Every summary, checked against its thread's current revision (a headers-only read of the
 * threads bucket); the ones that lag are rebuilt from their threads. (Index entries are not written
 * again here: a repeat after JetStream's duplicate window would list a thread twice.)
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
