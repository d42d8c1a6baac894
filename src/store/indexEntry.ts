import { statusOf } from '../thread/state.js';
import type { ThreadFileContent } from './threadFile.js';
import type { ThreadSummary } from './threadStore.js';

/**
 * What the file store's index knows of one thread: its summary, and the size of its file when
 * the summary was taken (a listing re-reads a file whose size moved on). Not the pending request
 * of a waiting thread, the wake time of a sleeping one nor why an ended one failed: a listing reads
 * them from the thread (see `fileListing.ts`), so neither the index in memory nor its snapshot
 * grows with the text of the requests and failures.
 */
export interface IndexEntry extends Omit<ThreadSummary, 'cursor' | 'pending' | 'wakeAt' | 'failure'> {
  readonly size: number;
}

/** The index entry of a thread read from (or written to) a file of `size` bytes. */
export function entryOf(content: ThreadFileContent, size: number): IndexEntry {
  const { thread, state, createdAt } = content;
  return { id: thread.id, agent: thread.agent, status: statusOf(state), version: state.version, createdAt, updatedAt: state.updatedAt ?? createdAt, size };
}

/** The summary an entry stands for. */
export function summaryOfEntry(entry: IndexEntry): ThreadSummary {
  const { id, agent, status, version, createdAt, updatedAt } = entry;
  return Object.freeze({ id, agent, status, version, createdAt, updatedAt });
}
