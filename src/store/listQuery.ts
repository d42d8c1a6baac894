import { InvalidInputError } from '../errors.js';
import { isThreadStatus, type ThreadStatus } from '../thread/state.js';
import type { ListOptions, ThreadSummary } from './threadStore.js';

/** Default of {@link ListOptions.limit}. */
export const DEFAULT_LIST_LIMIT = 100;

/** {@link ListOptions} checked and normalized once, for every store. */
export interface ListQuery {
  readonly agent: string | undefined;
  /** Undefined: every status. */
  readonly statuses: readonly ThreadStatus[] | undefined;
  /** A whole number, or `Infinity`. */
  readonly limit: number;
  /** The raw cursor of a paged listing (`''` for the first page); undefined when not paging. */
  readonly after: string | undefined;
  /** {@link ListOptions.updatedBefore} as ms since the epoch; undefined: no bound. */
  readonly updatedBefore: number | undefined;
}

/**
 * Checks list options from outside: throws `InvalidInputError` naming what is wrong (a negative
 * limit, an unknown status or one that is not a string, a cursor that is not a string, an
 * `updatedBefore` that is not a time).
 */
export function parseListOptions(options: ListOptions = {}): ListQuery {
  const { agent, status, limit = DEFAULT_LIST_LIMIT, after, updatedBefore } = options;
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new InvalidInputError('list limit must be a non-negative number', [`limit: ${shown(limit)}`]);
  }
  if (agent !== undefined && typeof agent !== 'string') {
    throw new InvalidInputError('list agent must be a string', [`agent: ${shown(agent)}`]);
  }
  if (after !== undefined && typeof after !== 'string') {
    throw new InvalidInputError('list cursor (after) must be a string', [`after: ${shown(after)}`]);
  }
  if (status !== undefined && typeof status !== 'string' && !Array.isArray(status)) {
    throw new InvalidInputError('list status must be a status or an array of statuses', [`status: ${shown(status)}`]);
  }
  const statuses: readonly ThreadStatus[] | undefined =
    status === undefined ? undefined : typeof status === 'string' ? [status] : status;
  for (const s of statuses ?? []) {
    if (!isThreadStatus(s)) throw new InvalidInputError(`unknown thread status: ${shown(s)}`, [`status: ${shown(s)}`]);
  }
  return { agent, statuses, limit: Math.floor(limit), after, updatedBefore: instantOf(updatedBefore) };
}

/** `updatedBefore` as ms since the epoch; `InvalidInputError` for anything but a time `Date.parse` reads. */
function instantOf(updatedBefore: unknown): number | undefined {
  if (updatedBefore === undefined) return undefined;
  const ms = typeof updatedBefore === 'string' ? Date.parse(updatedBefore) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidInputError('list updatedBefore must be an ISO time', [`updatedBefore: ${shown(updatedBefore)}`]);
  }
  return ms;
}

/** A value from outside as an error message shows it; never throws (`{"toString": null}` has no string form). */
function shown(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Whether a summary passes the agent, status and `updatedBefore` filters of a query. */
export function matchesQuery(summary: ThreadSummary, query: ListQuery): boolean {
  if (query.agent !== undefined && summary.agent !== query.agent) return false;
  if (query.updatedBefore !== undefined && !(Date.parse(summary.updatedAt) < query.updatedBefore)) return false;
  return query.statuses === undefined || query.statuses.includes(summary.status);
}
