import type { Thread, ThreadEvent } from '../thread/events.js';
import type { ThreadStatus } from '../thread/state.js';

/** What `list` returns for each thread: enough to show a table without loading events. */
export interface ThreadSummary {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** The seq of the last event. */
  readonly version: number;
  /** ISO time of the first event. */
  readonly createdAt: string;
  /** ISO time of the last event. */
  readonly updatedAt: string;
}

/** Filters for {@link ThreadStore.list}. */
export interface ListOptions {
  agent?: string;
  status?: ThreadStatus | readonly ThreadStatus[];
  /** @default 100 */
  limit?: number;
}

/**
 * Durable storage of threads with optimistic concurrency.
 *
 * - `create` fails with `VersionConflictError` (expected 0) when the id exists.
 * - `append(id, expectedVersion, events)` appends only if the thread's version (seq of its last
 *   event) equals `expectedVersion`; otherwise it throws `VersionConflictError` and writes nothing.
 *   The events' seqs must continue from `expectedVersion + 1`.
 * - A committed append is never lost or torn, even if the process dies mid-write.
 */
export interface ThreadStore {
  create(thread: Thread): Promise<Thread>;
  append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread>;
  /** The thread, or `undefined` when it does not exist. */
  get(id: string): Promise<Thread | undefined>;
  /** Summaries, most recently updated first. */
  list(options?: ListOptions): Promise<ThreadSummary[]>;
  close(): Promise<void>;
}
