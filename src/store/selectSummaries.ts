import { InvalidInputError } from '../errors.js';
import { isThreadStatus, statusOf, type ThreadState, type ThreadStatus } from '../thread/state.js';
import type { ListOptions, ThreadSummary } from './threadStore.js';

/** Default of {@link ListOptions.limit}. */
export const DEFAULT_LIST_LIMIT = 100;

/**
 * The summary of a thread from its derived state. `createdAt` is used for the times of a thread
 * without events (the time the store created it).
 */
export function summaryOf(id: string, agent: string, state: ThreadState, createdAt: string): ThreadSummary {
  return Object.freeze({
    id,
    agent,
    status: statusOf(state),
    version: state.version,
    createdAt: state.createdAt ?? createdAt,
    updatedAt: state.updatedAt ?? createdAt,
  });
}

/** Most recently updated first; ties by id so the order is deterministic. */
export function compareSummaries(a: ThreadSummary, b: ThreadSummary): number {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt < b.updatedAt ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Applies {@link ListOptions} (filters, order, limit) to summaries. */
export function selectSummaries(summaries: Iterable<ThreadSummary>, options: ListOptions = {}): ThreadSummary[] {
  const { agent, status, limit = DEFAULT_LIST_LIMIT } = options;
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new InvalidInputError('list limit must be a non-negative number', [`limit: ${String(limit)}`]);
  }
  const statuses: readonly ThreadStatus[] | undefined =
    status === undefined ? undefined : typeof status === 'string' ? [status] : status;
  for (const s of statuses ?? []) {
    if (!isThreadStatus(s)) throw new InvalidInputError(`unknown thread status: ${String(s)}`, [`status: ${String(s)}`]);
  }
  const selected: ThreadSummary[] = [];
  for (const summary of summaries) {
    if (agent !== undefined && summary.agent !== agent) continue;
    if (statuses !== undefined && !statuses.includes(summary.status)) continue;
    selected.push(summary);
  }
  selected.sort(compareSummaries);
  return selected.length > limit ? selected.slice(0, Math.floor(limit)) : selected;
}
