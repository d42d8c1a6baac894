import type { Stats } from 'node:fs';
import type { ThreadStatus } from '../thread/state.js';
import { decodeCreatedCursor, withCreatedCursor, type CreatedKey } from './createdCursor.js';
import { deepFreeze } from './checkEvents.js';
import { readPrefix, sameStamp, stampOf, statIfExists } from './fileIo.js';
import type { FileStoreParts } from './fileStoreParts.js';
import { reindex } from './fileWrites.js';
import { entryOf, summaryOfEntry, type IndexEntry } from './indexEntry.js';
import { compareSummaries } from './selectSummaries.js';
import { matchesQuery, type ListQuery } from './listQuery.js';
import { parseFailureSummary } from './failureSummary.js';
import { parsePendingRequestSummary, pendingRequestSummary } from './pendingRequestSummary.js';
import { encodeThreadId, parseThreadFile, type ThreadFileContent } from './threadFile.js';
import type { PendingRequestSummary, ThreadSummary } from './threadStore.js';

/** Candidates a paged listing takes from the index at a time, beyond what the page still needs. */
const PAGE_SLACK = 16;
/** Times the most-recent listing picks again when checking the files changed what it picked. */
const LATEST_ATTEMPTS = 3;
/** Statuses in which a thread may have a human request open (paused: one asked before the pause). */
const MAY_WAIT: readonly ThreadStatus[] = ['awaiting_human', 'escalated', 'paused'];

/**
 * `list` of the file store, from the index. Each entry listed is checked against its file first
 * (one `stat`): a file whose size moved on without a record in the log (another process died
 * before logging its write, or something else wrote it) is read again, and one that is gone is
 * dropped. So a listing costs the index's lookup and a `stat` per thread listed, whatever the
 * number of threads; for a thread that may wait for a human, a read of its file instead (its
 * pending request: see {@link readIfAsIndexed} and {@link fromThread}). A sleeping, backing-off,
 * failed or cancelled thread's `wakeAt` and `failure` are in its entry, but for an entry of an
 * earlier build's index, which lacks them (`unknownEnd`): read from the thread as a request is,
 * and kept in the entry from then on.
 */
export function listThreads(parts: FileStoreParts, query: ListQuery): ThreadSummary[] {
  parts.log.catchUp();
  return query.after === undefined ? latest(parts, query) : page(parts, query, decodeCreatedCursor(query.after));
}

/**
 * An entry as its file has it now: with the file's stats as the check found them, or, for a
 * thread that may wait and is not cached, the file's bytes, read instead of a `stat`.
 */
type Checked = { readonly entry: IndexEntry; readonly file: string } & ({ readonly stats: Stats; readonly bytes?: undefined } | { readonly stats?: undefined; readonly bytes: Buffer });

/** The entry as its file has it now, or `undefined` when the thread is gone or unreadable. */
function checked(parts: FileStoreParts, entry: IndexEntry): Checked | undefined {
  const stem = encodeThreadId(entry.id);
  if (stem === undefined) return undefined;
  const file = parts.threads.fileOf(stem);
  const bytes = readIfAsIndexed(parts, entry, file);
  if (bytes !== undefined) return { entry, file, bytes };
  const stats = statIfExists(file);
  if (stats?.size === entry.size) return { entry, file, stats };
  if (stats === undefined) {
    parts.index.remove(entry.id);
    parts.threads.cache.delete(entry.id);
    parts.threads.cutBack.delete(entry.id);
    return undefined;
  }
  const read = reindex(parts, entry.id, file);
  return read === undefined ? undefined : { entry: read, file, stats };
}

/** Whether the row of `entry` holds what the index does not keep: its pending request, or a `wakeAt` or `failure` it lacks. */
function readsThread(entry: IndexEntry): boolean {
  return MAY_WAIT.includes(entry.status) || entry.unknownEnd === true;
}

/**
 * The bytes of the file of a thread whose row holds what the index does not keep (its pending
 * request, or an unknown wake time or failure, is read from them) when the file has the size its
 * entry records: a read of a byte more than that which brings back exactly that many makes the
 * check a `stat` makes, and the read, in one. `undefined`
 * otherwise (gone, moved on, no file, or a cached copy, checked by its stamp): the `stat` tells.
 */
function readIfAsIndexed(parts: FileStoreParts, entry: IndexEntry, file: string): Buffer | undefined {
  if (!readsThread(entry) || parts.threads.cache.peek(entry.id) !== undefined) return undefined;
  try {
    const bytes = readPrefix(file, entry.size + 1);
    return bytes.length === entry.size ? bytes : undefined;
  } catch {
    return undefined;
  }
}

function page(parts: FileStoreParts, query: ListQuery, after: CreatedKey | undefined): ThreadSummary[] {
  const out: ThreadSummary[] = [];
  let from = after;
  while (out.length < query.limit) {
    const candidates = parts.index.page(query, from, Math.min(query.limit - out.length, 1 << 20) + PAGE_SLACK);
    if (candidates.length === 0) break;
    for (const candidate of candidates) {
      from = candidate;
      const found = checked(parts, candidate);
      // Kept only where it was met: an entry whose file now says otherwise is met again (or not)
      // where it now belongs.
      if (found === undefined || found.entry.createdAt !== candidate.createdAt || found.entry.id !== candidate.id) continue;
      if (!matchesQuery(found.entry, query)) continue;
      out.push(withCreatedCursor(withPending(parts, found)));
      if (out.length === query.limit) break;
    }
  }
  return out;
}

function latest(parts: FileStoreParts, query: ListQuery): ThreadSummary[] {
  for (let attempt = 1; ; attempt++) {
    // Threads whose file was cut back keep their entry (what was committed) but are left out:
    // picked in excess so that they leave no hole in the page.
    const picked = parts.index.latest(query, query.limit + parts.threads.cutBack.size);
    const listed: Checked[] = [];
    let changed = false;
    for (const candidate of picked) {
      const cutBack = parts.threads.cutBack.has(candidate.id);
      const found = checked(parts, candidate);
      if (found === undefined && cutBack) continue;
      if (found?.entry !== candidate) changed = true;
      if (found === undefined) continue;
      if (matchesQuery(found.entry, query)) listed.push(found);
    }
    // The files moved some entries on: pick again from the corrected index.
    if (changed && attempt < LATEST_ATTEMPTS) continue;
    // Only the entries returned read their pending requests.
    const ordered = changed ? listed.sort((a, b) => compareSummaries(a.entry, b.entry)) : listed;
    return ordered.slice(0, query.limit).map((found) => withPending(parts, found));
  }
}

/**
 * The summary of an entry, with the request its thread waits for if it waits for one; when it
 * wakes and why it failed as its entry has them, or, for an entry that lacks them, read from
 * the thread (and the entry refreshed).
 */
function withPending(parts: FileStoreParts, found: Checked): ThreadSummary {
  if (found.entry.unknownEnd === true) {
    const read = fromThread(parts, found, (content) => refreshed(parts, found.entry, content));
    return summaryOfEntry(read ?? found.entry);
  }
  const summary = summaryOfEntry(found.entry);
  if (!MAY_WAIT.includes(summary.status)) return summary;
  const pending = fromThread(parts, found, pendingOf);
  return pending === undefined ? summary : Object.freeze({ ...summary, pending });
}

/** The request the thread waits for, as a row shows it; perhaps taken from events not validated: kept only if it reads as one a writer writes. */
function pendingOf(content: ThreadFileContent): PendingRequestSummary | undefined {
  return deepFreeze(parsePendingRequestSummary(pendingRequestSummary(content.thread.events, content.state)));
}

/**
 * The entry of a thread whose entry lacks its `wakeAt` and `failure`, from the thread (at the
 * entry's version, of `entry.size` bytes), now in the index too, so no listing reads it for them
 * again. Perhaps taken from events not validated: a failure kept only if it reads as one a writer
 * writes.
 */
function refreshed(parts: FileStoreParts, entry: IndexEntry, content: ThreadFileContent): IndexEntry {
  const { failure, ...rest } = entryOf(content, entry.size);
  const parsed = parseFailureSummary(failure);
  const fresh = parsed === undefined ? rest : { ...rest, failure: parsed };
  parts.index.apply(fresh);
  return fresh;
}

/**
 * What `pick` takes from the thread of an entry the listing has just checked, at the entry's
 * version: the cached copy when it is of the file as checked, else the file's first `entry.size`
 * bytes (read by the check, or now: no second `stat`), bytes the index vouches for, so parsed
 * without validating their events (see `parseThreadFile`; the reducer decides the request or the
 * wake as for any read). `undefined` when it holds none, or the file moved on or cannot be read
 * now (the next listing tells; a read of the thread reports why).
 */
function fromThread<T>(parts: FileStoreParts, found: Checked, pick: (content: ThreadFileContent) => T | undefined): T | undefined {
  try {
    const content = contentOf(parts, found);
    if (content === undefined || content.state.version !== found.entry.version) return undefined;
    return pick(content);
  } catch {
    return undefined; // unreadable now: listed without it
  }
}

/** The thread as the check found its file (see {@link fromThread}); `undefined` when the bytes hold none. */
function contentOf(parts: FileStoreParts, { entry, file, stats, bytes }: Checked): ThreadFileContent | undefined {
  if (stats !== undefined) {
    const cached = parts.threads.cache.peek(entry.id);
    if (cached !== undefined && sameStamp(cached, stampOf(stats))) return cached;
  }
  const parsed = parseThreadFile(entry.id, bytes ?? readPrefix(file, entry.size), undefined, true);
  return parsed.ok ? parsed.content : undefined;
}
