import type { ThreadStatus } from '../thread/state.js';
import { decodeCreatedCursor, withCreatedCursor, type CreatedKey } from './createdCursor.js';
import { statIfExists } from './fileIo.js';
import type { FileStoreParts } from './fileStoreParts.js';
import { reindex } from './fileWrites.js';
import { summaryOfEntry, type IndexEntry } from './indexEntry.js';
import { compareSummaries } from './selectSummaries.js';
import { matchesQuery, type ListQuery } from './listQuery.js';
import { pendingRequestSummary } from './pendingRequestSummary.js';
import { encodeThreadId } from './threadFile.js';
import type { CachedThread } from './threadCache.js';
import type { ThreadSummary } from './threadStore.js';

/** Candidates a paged listing takes from the index at a time, beyond what the page still needs. */
const PAGE_SLACK = 16;
/** Times the most-recent listing picks again when checking the files changed what it picked. */
const LATEST_ATTEMPTS = 3;

/**
 * `list` of the file store, from the index. Each entry listed is checked against its file first
 * (one `stat`): a file whose size moved on without a record in the log (another process died
 * before logging its write, or something else wrote it) is read again, and one that is gone is
 * dropped. So a listing costs the index's lookup and a `stat` per thread listed, whatever the
 * number of threads, and a read of each thread listed that may wait for a human (its pending
 * request: from the cache, else its file, not kept in the cache).
 */
export function listThreads(parts: FileStoreParts, query: ListQuery): ThreadSummary[] {
  parts.log.catchUp();
  return query.after === undefined ? latest(parts, query) : page(parts, query, decodeCreatedCursor(query.after));
}

/** The entry as its file has it now, or `undefined` when the thread is gone or unreadable. */
function checked(parts: FileStoreParts, entry: IndexEntry): IndexEntry | undefined {
  const stem = encodeThreadId(entry.id);
  if (stem === undefined) return undefined;
  const file = parts.threads.fileOf(stem);
  const size = statIfExists(file)?.size;
  if (size === entry.size) return entry;
  if (size === undefined) {
    parts.index.remove(entry.id);
    parts.threads.cache.delete(entry.id);
    parts.threads.cutBack.delete(entry.id);
    return undefined;
  }
  return reindex(parts, entry.id, file);
}

function page(parts: FileStoreParts, query: ListQuery, after: CreatedKey | undefined): ThreadSummary[] {
  const out: ThreadSummary[] = [];
  let from = after;
  while (out.length < query.limit) {
    const candidates = parts.index.page(query, from, Math.min(query.limit - out.length, 1 << 20) + PAGE_SLACK);
    if (candidates.length === 0) break;
    for (const candidate of candidates) {
      from = candidate;
      const entry = checked(parts, candidate);
      // Kept only where it was met: an entry whose file now says otherwise is met again (or not)
      // where it now belongs.
      if (entry === undefined || entry.createdAt !== candidate.createdAt || entry.id !== candidate.id) continue;
      const summary = summaryOfEntry(entry);
      if (!matchesQuery(summary, query)) continue;
      out.push(withCreatedCursor(withPending(parts, summary)));
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
    const summaries: ThreadSummary[] = [];
    let changed = false;
    for (const candidate of picked) {
      const cutBack = parts.threads.cutBack.has(candidate.id);
      const entry = checked(parts, candidate);
      if (entry === undefined && cutBack) continue;
      if (entry !== candidate) changed = true;
      if (entry === undefined) continue;
      const summary = summaryOfEntry(entry);
      if (matchesQuery(summary, query)) summaries.push(summary);
    }
    // The files moved some entries on: pick again from the corrected index.
    if (changed && attempt < LATEST_ATTEMPTS) continue;
    // Only the summaries returned read their pending requests.
    const ordered = changed ? summaries.sort(compareSummaries) : summaries;
    return ordered.slice(0, query.limit).map((summary) => withPending(parts, summary));
  }
}

/** Statuses in which a thread may have a human request open (paused: one asked before the pause). */
const MAY_WAIT: readonly ThreadStatus[] = ['awaiting_human', 'escalated', 'paused'];

/**
 * The summary with the request its thread waits for, read from the thread at the summary's
 * version (the cached copy, else the file, which the listing has just checked); as it is when the
 * thread waits for none, moved on meanwhile, or cannot be read (the next listing tells).
 */
function withPending(parts: FileStoreParts, summary: ThreadSummary): ThreadSummary {
  if (!MAY_WAIT.includes(summary.status)) return summary;
  const content = threadOf(parts, summary.id);
  if (content === undefined || content.state.version !== summary.version) return summary;
  const pending = pendingRequestSummary(content.thread.events, content.state);
  return pending === undefined ? summary : Object.freeze({ ...summary, pending });
}

/** The thread as the cache or its file has it (not cached by this read), `undefined` when it cannot be read. */
function threadOf(parts: FileStoreParts, id: string): CachedThread | undefined {
  const stem = encodeThreadId(id);
  try {
    return stem === undefined ? undefined : parts.threads.load(id, parts.threads.fileOf(stem), false);
  } catch {
    return undefined; // unreadable now: listed without its request (a read of the thread reports why)
  }
}
