import type { HumanRequest, HumanRequestKind, Json, Thread, ThreadEvent } from '../thread/events.js';
import type { ThreadStatus } from '../thread/state.js';

/**
 * The open human request of a thread, as its summary carries it ({@link ThreadSummary.pending}):
 * enough for an inbox to show what the thread asks and answer it (`respond` with `requestId`)
 * without reading the thread. Kept small, as a summary is written on every status change.
 */
export interface PendingRequestSummary {
  readonly requestId: string;
  /** `approval` of a tool call, `input` (a question), `escalation`, or `interrupted` (did a call run?). */
  readonly kind: HumanRequestKind;
  /** The question asked, cut to 500 characters (then ending in `…`). */
  readonly question: string;
  /** What the human needs to know to answer, when the request says (cut as `question` is). */
  readonly context?: string;
  /**
   * How urgent it is. Absent only from a NATS KV summary written by a version before it (until the
   * thread's next write), or holding a value this version does not know.
   */
  readonly urgency?: HumanRequest['urgency'];
  /**
   * The answer it takes: `yes_no` (an approval's too), `multiple_choice` (one of `choices`, recorded
   * as written) or `free_text`. Absent as `urgency` may be.
   */
  readonly format?: HumanRequest['format'];
  /**
   * A `multiple_choice` question's choices, whole; absent when together they are longer than 2,000
   * characters (read the thread for them).
   */
  readonly choices?: readonly string[];
  /** Approval and interrupted requests: the tool of the call in question. */
  readonly tool?: string;
  /**
   * Approval and interrupted requests: the call's arguments as the thread records them (the
   * agent's secrets redacted), or, when their JSON is longer than 500 characters, the start of
   * that JSON followed by `…` (a string).
   */
  readonly args?: Record<string, Json> | string;
  /** When the request was made: the time of its `human_request` event. */
  readonly at: string;
}

/**
 * Why a thread ended badly, as its summary carries it ({@link ThreadSummary.failure}): enough to
 * tell what failed and why without reading the thread. Taken from the event that ended it, as the
 * thread records it (no more redacted than its events are).
 */
export interface FailureSummary {
  /**
   * `failed`: its `failed` event ended it (a pipeline's step, or a store that refused its size);
   * `stopped`: a human answered its escalation by stopping it; `cancelled`: a cancel ended it.
   */
  readonly kind: 'failed' | 'stopped' | 'cancelled';
  /**
   * Why, cut to 200 characters (then ending in `…`): the `failed` event's reason, the thread's
   * `failure` of a stop (who stopped it and what they said), or the cancel's `reason`: absent only
   * when a cancel gave none.
   */
  readonly message?: string;
  /** Who cancelled it, when the cancel said, cut as `message` is. */
  readonly by?: string;
}

/** What `list` returns for each thread: enough to show a table without loading events. */
export interface ThreadSummary {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** The seq of the last event. */
  readonly version: number;
  /**
   * When the thread was created: the time of its first event, or the time the store created it
   * when it was created without events. It never changes.
   */
  readonly createdAt: string;
  /** Time of the last event (`createdAt` while there is none). */
  readonly updatedAt: string;
  /**
   * The human request the thread waits for (status `awaiting_human` or `escalated`, or `paused`
   * with a request open); absent when it waits for none. The memory and NATS KV stores keep it in
   * the summary (a KV summary written by a version before it has none until the thread's next
   * write); the file store reads it from the thread of each such summary it lists, so its index
   * holds no request text.
   */
  readonly pending?: PendingRequestSummary;
  /**
   * When a sleeping or backing-off thread moves again on its own (ISO time), as its view's
   * `wakeAt`; absent in any other status. The memory and NATS KV stores keep it in the summary (a
   * KV summary written by a version before it has none until the thread's next write); the file
   * store in its index (an entry of an earlier version's index, which lacks it, reads it from the
   * thread once).
   */
  readonly wakeAt?: string;
  /**
   * Why a `failed` or `cancelled` thread ended; absent in any other status, and for a cancel that
   * said neither why nor who. The memory and NATS KV stores keep it in the summary (a KV summary
   * written by a version before it has none: a thread that ended then shows none); the file store
   * in its index, as it keeps `wakeAt` (but for a failure past the 32 MB its index gives their text,
   * read from the thread as an earlier version's entry is: see `failureTable.ts`).
   */
  readonly failure?: FailureSummary;
  /**
   * Set only on the summaries of a paged listing ({@link ListOptions.after}): pass the last one's
   * as `after` to get the next page.
   */
  readonly cursor?: string;
}

/** Filters and paging of {@link ThreadStore.list}. */
export interface ListOptions {
  /** Only threads of this agent. @default every agent */
  agent?: string | undefined;
  /** Only threads in this status, or in any of these. @default every status */
  status?: ThreadStatus | readonly ThreadStatus[] | undefined;
  /** At most this many summaries. @default 100 */
  limit?: number | undefined;
  /**
   * Pages through the threads in a stable order instead of listing the most recently updated
   * first: `''` asks for the first page, then the `cursor` of the last summary of a page for the
   * next one. A page shorter than `limit` is the last.
   *
   * A walk returns every thread that matches the filters from its first page to its last exactly
   * once, however threads change meanwhile. A thread that starts or stops matching during the
   * walk (a new thread, or a status change under a status filter) may or may not appear; in the
   * NATS KV store one that leaves a status and comes back may appear once more.
   *
   * The order is the store's, oldest first: by `createdAt` (then id) in the memory and file
   * stores; in the NATS KV store, by when the thread entered its status under a status filter and
   * by creation otherwise. A cursor is valid only with the store and filters that produced it.
   * @default undefined (no paging: most recently updated first)
   */
  after?: string | undefined;
  /**
   * Only threads last updated strictly before this instant (an ISO time; one `Date.parse` cannot
   * read is an `InvalidInputError`): how retention and `prune` find the threads that ended long
   * ago without reading the others.
   *
   * A walk (`after`) with it ends where the store's order allows, as `updatedAt` is never before
   * `createdAt`, nor before the thread entered its status: in the memory and file stores at the
   * first thread created at or after the instant (a page shorter than `limit`, the last); in the
   * NATS KV store, which reads the index entries of the newer threads without reading their
   * summaries, at the first entry made well after the instant (a thread that entered its status,
   * or was created without a status filter, over 10 minutes after it: the index is in the order
   * its entries were written, which the event times of several processes follow only so closely).
   * A thread whose events go back in time may be left out of a walk, and in the NATS KV store one
   * whose entry came in out of step (a writer whose clock runs ahead by more than that, an index
   * rebuilt while threads were written) may be met only by a later walk with a later instant.
   * @default undefined (no bound)
   */
  updatedBefore?: string | undefined;
}

/**
 * Durable storage of threads with optimistic concurrency.
 *
 * - `create` fails with `VersionConflictError` (expected 0) when the id exists.
 * - `append(id, expectedVersion, events)` appends only if the thread's version (seq of its last
 *   event) equals `expectedVersion`; otherwise it throws `VersionConflictError` and writes nothing.
 *   The events' seqs must continue from `expectedVersion + 1`. A thread that ended takes no more:
 *   an append with an event after its `final`, `failed` or cancel throws `ThreadEndedError` and
 *   writes nothing (`checkNotEnded`), save the outcome of the call a cancel found running, once.
 *   `create` and reads take a log as it is (one written before that rule may hold such events).
 * - A committed append is never lost or torn, even if the process dies mid-write.
 */
export interface ThreadStore {
  create(thread: Thread): Promise<Thread>;
  append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread>;
  /** The thread, or `undefined` when it does not exist. */
  get(id: string): Promise<Thread | undefined>;
  /**
   * Summaries, most recently updated first; with `after`, one page of a walk in the store's
   * stable order (see {@link ListOptions.after}).
   */
  list(options?: ListOptions): Promise<ThreadSummary[]>;
  /**
   * Deletes the thread and everything the store keeps for it (its log, summary and index entries),
   * when its version is still `expectedVersion`, else a `VersionConflictError` as `append` throws,
   * deleting nothing. Resolves `true` once the deletion is durable, `false` when there is no such
   * thread. Permanent: `get` then answers `undefined`, `list` and paged walks leave it out, an
   * `append` is a `NotFoundError`, and the id may be created again as a new thread. The store does
   * not judge the thread's status: the runtime deletes only threads that ended. A store without it
   * cannot delete threads.
   */
  delete?(id: string, expectedVersion: number): Promise<boolean>;
  /**
   * Resolves when the store can serve requests now, rejects with the cause (a `SystemError`)
   * when it cannot: a cheap check, bounded in time, for a readiness probe (`GET /ready`). A store
   * without it is taken as ready.
   */
  ready?(): Promise<void>;
  close(): Promise<void>;
}
