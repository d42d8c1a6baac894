import { statusOf, wakeTimeOf, type ThreadStatus } from '../thread/state.js';
import { failureSummary } from './failureSummary.js';
import type { ThreadFileContent } from './threadFile.js';
import type { ThreadSummary } from './threadStore.js';

/**
 * What the file store's index knows of one thread: its summary, and the size of its file when
 * the summary was taken (a listing re-reads a file whose size moved on). Its `wakeAt` and
 * `failure` too (a listing of sleeping or failed threads reads no file), but not the pending
 * request of a waiting thread: a listing reads it from the thread (see `fileListing.ts`), so
 * neither the index in memory nor its snapshot grows with the text of the requests.
 */
export interface IndexEntry extends Omit<ThreadSummary, 'cursor' | 'pending'> {
  readonly size: number;
  /**
   * Set on an entry of a thread that {@link needsEnd} whose `wakeAt` and `failure` are not known:
   * one from an index (snapshot or commit record) written by a build before the index kept them.
   * A listing reads them from the thread instead, and refreshes the entry.
   */
  readonly unknownEnd?: true;
}

/** Statuses whose row may carry `wakeAt` (sleeping, backing off) or `failure` (failed, cancelled). */
const WITH_END: readonly ThreadStatus[] = ['sleeping', 'backing_off', 'failed', 'cancelled'];

/** Whether a thread in `status` may have a `wakeAt` or a `failure` its entry keeps. */
export function needsEnd(status: ThreadStatus): boolean {
  return WITH_END.includes(status);
}

/** The index entry of a thread read from (or written to) a file of `size` bytes. */
export function entryOf(content: ThreadFileContent, size: number): IndexEntry {
  const { thread, state, createdAt } = content;
  const status = statusOf(state);
  const entry = { id: thread.id, agent: thread.agent, status, version: state.version, createdAt, updatedAt: state.updatedAt ?? createdAt, size };
  if (!needsEnd(status)) return entry;
  const wakeAt = wakeTimeOf(state, status);
  const failure = failureSummary(thread.events, state);
  return { ...entry, ...(wakeAt === undefined ? {} : { wakeAt }), ...(failure === undefined ? {} : { failure }) };
}

/** The summary an entry stands for (without `wakeAt` and `failure` when it does not know them). */
export function summaryOfEntry(entry: IndexEntry): ThreadSummary {
  const { id, agent, status, version, createdAt, updatedAt, wakeAt, failure } = entry;
  return Object.freeze({ id, agent, status, version, createdAt, updatedAt, ...(wakeAt === undefined ? {} : { wakeAt }), ...(failure === undefined ? {} : { failure }) });
}
