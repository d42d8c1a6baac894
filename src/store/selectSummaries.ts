import type { Thread } from '../thread/events.js';
import { statusOf, wakeTimeOf, type ThreadState } from '../thread/state.js';
import { compareCreated, decodeCreatedCursor, withCreatedCursor } from './createdCursor.js';
import { failureSummary } from './failureSummary.js';
import { matchesQuery, parseListOptions } from './listQuery.js';
import { pendingRequestSummary } from './pendingRequestSummary.js';
import type { ListOptions, ThreadSummary } from './threadStore.js';

export { DEFAULT_LIST_LIMIT } from './listQuery.js';

/**
 * The summary of a thread from its derived state (folded from its events), with the request it
 * waits for, when it wakes, or why it ended badly. `createdAt` is the thread's creation time (its first event's, or the store's clock
 * for a thread created without events), fixed at creation.
 */
export function summaryOf(thread: Pick<Thread, 'id' | 'agent' | 'events'>, state: ThreadState, createdAt: string): ThreadSummary {
  const pending = pendingRequestSummary(thread.events, state);
  const status = statusOf(state);
  const wakeAt = wakeTimeOf(state, status);
  const failure = failureSummary(thread.events, state);
  return Object.freeze({
    id: thread.id,
    agent: thread.agent,
    status,
    version: state.version,
    createdAt,
    updatedAt: state.updatedAt ?? createdAt,
    ...(pending === undefined ? {} : { pending }),
    ...(wakeAt === undefined ? {} : { wakeAt }),
    ...(failure === undefined ? {} : { failure }),
  });
}

/** Most recently updated first; ties by id so the order is deterministic. */
export function compareSummaries(a: ThreadSummary, b: ThreadSummary): number {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt < b.updatedAt ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Applies {@link ListOptions} to summaries: filters, then either the most recently updated first,
 * or (with `after`) one page of the walk in creation order after the cursor, each summary with
 * its own cursor (a walk with `updatedBefore` ends at the first thread created at or after it).
 */
export function selectSummaries(summaries: Iterable<ThreadSummary>, options: ListOptions = {}): ThreadSummary[] {
  const query = parseListOptions(options);
  const from = query.after === undefined ? undefined : decodeCreatedCursor(query.after);
  // A walk in creation order ends at the first thread created at or after `updatedBefore`: those
  // are left out (the summaries come in no order here).
  const end = query.after === undefined ? undefined : query.updatedBefore;
  const selected: ThreadSummary[] = [];
  for (const summary of summaries) {
    if (!matchesQuery(summary, query)) continue;
    if (from !== undefined && compareCreated(summary, from) <= 0) continue;
    if (end !== undefined && Date.parse(summary.createdAt) >= end) continue;
    selected.push(summary);
  }
  if (query.after === undefined) {
    selected.sort(compareSummaries);
    return selected.length > query.limit ? selected.slice(0, query.limit) : selected;
  }
  selected.sort(compareCreated);
  return selected.slice(0, query.limit).map(withCreatedCursor);
}
