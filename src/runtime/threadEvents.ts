import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ThreadStore } from '../store/threadStore.js';
import { storeAppend } from '../store/appendEvents.js';
import { versionOf, type Thread, type ThreadEvent } from '../thread/events.js';
import { deriveState, mayEnd, statusOf, TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';

/** A change to a thread, as runtime listeners see it. */
export interface ThreadChange {
  readonly thread: Thread;
  /** The events just appended (all of them for a new thread). */
  readonly events: readonly ThreadEvent[];
  readonly status: ThreadStatus;
  /**
   * True when another process wrote these events and {@link Runtime.ingest} read them back; absent
   * for this runtime's own writes (so a listener that forwards writes, like the NATS event fan-out
   * or webhooks, does not echo other processes' events).
   */
  readonly ingested?: true;
}

type Listener = (change: ThreadChange) => void;

/** A thread's deletion, as the listeners of every deletion hear of it ({@link Runtime.onDelete}). */
export interface ThreadDeletion {
  readonly threadId: string;
  readonly agent: string;
  /**
   * The incarnation deleted, `<threadId>@<incarnation>` (`incarnationKeyOf`): the id may be
   * launched again, as another incarnation.
   */
  readonly incarnation: string;
  /**
   * True when another process deleted it and this runtime heard of it ({@link Runtime.ingestDeletion});
   * absent for this runtime's own deletions (so a listener that tells other processes, like the NATS
   * deletion notices, does not echo theirs).
   */
  readonly elsewhere?: true;
}

/** Who hears about thread writes: every listener, and the listeners of one thread (settled, watch). */
export interface ThreadEvents {
  /** Tells the listeners of every thread and of this one about `events`, just written to `thread`. */
  emit(thread: Thread, events: readonly ThreadEvent[], ingested?: boolean): void;
  /**
   * The last version emitted of this incarnation of the thread (0 when none is remembered): 0 too
   * when the version remembered is another incarnation's (one deleted, its id created again, by
   * another process), told apart by its creation instant, or by being longer than this thread.
   */
  emittedVersion(thread: Thread): number;
  /** Listens to every thread. Returns an unsubscribe function. */
  subscribe(listener: Listener): () => void;
  /** Listens to one thread, so a write wakes only its own thread's waiters. */
  subscribeThread(threadId: string, listener: Listener): () => void;
  /**
   * Listens for the deletion of an incarnation of the thread (followers of that incarnation end,
   * its waiters are told it is gone): the listener compares `deletion.incarnation` with the one it
   * follows, as the id may hold another by now. Returns an unsubscribe function.
   */
  onDeleted(threadId: string, listener: (deletion: ThreadDeletion) => void): () => void;
  /** Listens for the deletion of every thread. Returns an unsubscribe function. */
  subscribeDeletions(listener: (threadId: string, deletion: ThreadDeletion) => void): () => void;
  /** Tells the thread's deletion listeners (and every thread's) it was deleted, and forgets its version (the id may be created again). */
  deleted(deletion: ThreadDeletion): void;
  /**
   * Tells only the thread's own deletion listeners ({@link ThreadEvents.onDeleted}) that
   * `deletion.incarnation` was deleted, for a thread whose id holds another incarnation now: the
   * deleted one's followers end; the version remembered and the listeners of every deletion (keyed
   * by id) are the new incarnation's, left alone.
   */
  incarnationDeleted(deletion: ThreadDeletion): void;
  /** The threads that have listeners of their own now. */
  watchedThreads(): string[];
  /**
   * Listens for the runtime's close: a follower of a thread (`settled`, `watch`) ends with the
   * error given, as nothing will move its thread here any more. Returns an unsubscribe function.
   */
  onClosed(listener: (error: Error) => void): () => void;
  /** The error followers end with once the runtime closed ({@link ThreadEvents.close}); undefined before. */
  closed(): Error | undefined;
  /** The runtime closed: tells every close listener (followers end with `error`), then drops every listener. */
  close(error: Error): void;
}

/** Versions remembered per thread (at least this many threads), so events ingested from elsewhere are emitted once. */
const REMEMBERED_THREADS = 10_000;

/** A change as listeners get it: the status is derived on first read only (most listeners never look). */
class Change implements ThreadChange {
  #status: ThreadStatus | undefined;
  declare readonly ingested?: true;

  constructor(
    readonly thread: Thread,
    readonly events: readonly ThreadEvent[],
    ingested: boolean,
  ) {
    if (ingested) this.ingested = true;
  }

  get status(): ThreadStatus {
    return (this.#status ??= statusOf(deriveState(this.thread.events)));
  }
}

/** What was emitted of a thread: its last version, and its incarnation's creation instant (its first event's time). */
interface Emitted {
  version: number;
  createdAt: string | undefined;
}

/**
 * The last version emitted per thread, for the most recent threads: two generations of a map, the
 * older dropped whole when the newer fills, so remembering costs one map write per emit (a thread
 * already in the newer one is updated in place).
 */
function createVersions(): {
  remember(threadId: string, version: number, createdAt: string | undefined): void;
  get(threadId: string): Emitted | undefined;
  forget(threadId: string): void;
} {
  let current = new Map<string, Emitted>();
  let previous = new Map<string, Emitted>();
  return {
    remember(threadId, version, createdAt) {
      const known = current.get(threadId);
      if (known !== undefined) {
        known.version = version;
        known.createdAt = createdAt;
        return;
      }
      if (current.size >= REMEMBERED_THREADS) {
        previous = current;
        current = new Map();
      }
      current.set(threadId, { version, createdAt });
    },
    get: (threadId) => current.get(threadId) ?? previous.get(threadId),
    forget(threadId) {
      current.delete(threadId);
      previous.delete(threadId);
    },
  };
}

/** Calls each listener of a set (on a copy when it has several: a listener may subscribe or unsubscribe others). */
function notify(set: ReadonlySet<Listener>, change: ThreadChange, logger: Logger): void {
  if (set.size === 1) {
    for (const listener of set) return call(listener, change, logger);
  }
  for (const listener of [...set]) call(listener, change, logger);
}

function call(listener: Listener, change: ThreadChange, logger: Logger): void {
  try {
    listener(change);
  } catch (error) {
    logger.error({ threadId: change.thread.id, err: messageOf(error) }, 'thread listener failed');
  }
}

/** Adds `listener` to the thread's set in `byThread`; the returned function removes it (and the set once empty). */
function listenTo<L>(byThread: Map<string, Set<L>>, threadId: string, listener: L): () => void {
  let set = byThread.get(threadId);
  if (set === undefined) byThread.set(threadId, (set = new Set()));
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0 && byThread.get(threadId) === set) byThread.delete(threadId);
  };
}

/** Builds the listener registry of a runtime; a listener that throws is logged and skipped. */
export function createThreadEvents(logger: Logger): ThreadEvents {
  const listeners = new Set<Listener>();
  const threadListeners = new Map<string, Set<Listener>>();
  const deletionListeners = new Map<string, Set<(deletion: ThreadDeletion) => void>>();
  const everyDeletion = new Set<(threadId: string, deletion: ThreadDeletion) => void>();
  const closeListeners = new Set<(error: Error) => void>();
  let closedWith: Error | undefined;
  const versions = createVersions();
  const tell = (threadId: string, listener: () => void): void => {
    try {
      listener();
    } catch (error) {
      logger.error({ threadId, err: messageOf(error) }, 'thread deletion listener failed');
    }
  };
  const tellFollowers = (deletion: ThreadDeletion): void => {
    for (const listener of [...(deletionListeners.get(deletion.threadId) ?? [])]) tell(deletion.threadId, () => listener(deletion));
  };
  return {
    emit(thread, events, ingested = false) {
      versions.remember(thread.id, versionOf(thread), thread.events[0]?.at);
      const own = threadListeners.get(thread.id);
      if (listeners.size === 0 && own === undefined) return;
      const change = new Change(thread, events, ingested);
      // The thread's own listeners (settled, watch) first, then everyone's.
      if (own !== undefined) notify(own, change, logger);
      if (listeners.size > 0) notify(listeners, change, logger);
    },
    emittedVersion(thread) {
      const emitted = versions.get(thread.id);
      if (emitted === undefined || emitted.createdAt !== thread.events[0]?.at) return 0;
      // Two incarnations created within one millisecond share the instant; the later is shorter at first.
      return versionOf(thread) < emitted.version ? 0 : emitted.version;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribeThread: (threadId, listener) => listenTo(threadListeners, threadId, listener),
    onDeleted: (threadId, listener) => listenTo(deletionListeners, threadId, listener),
    subscribeDeletions(listener) {
      everyDeletion.add(listener);
      return () => everyDeletion.delete(listener);
    },
    deleted(deletion) {
      const { threadId } = deletion;
      versions.forget(threadId);
      tellFollowers(deletion);
      for (const listener of [...everyDeletion]) tell(threadId, () => listener(threadId, deletion));
    },
    incarnationDeleted: (deletion) => tellFollowers(deletion),
    watchedThreads: () => [...threadListeners.keys()],
    onClosed(listener) {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    closed: () => closedWith,
    close(error) {
      closedWith ??= error;
      for (const listener of [...closeListeners]) {
        try {
          listener(closedWith);
        } catch (thrown) {
          logger.error({ err: messageOf(thrown) }, 'runtime close listener failed');
        }
      }
      closeListeners.clear();
      listeners.clear();
      threadListeners.clear();
      deletionListeners.clear();
      everyDeletion.clear();
    },
  };
}

/**
 * The store every write of a runtime goes through, so listeners (watch, SSE, webhooks, the bus)
 * see it; `onEnded` hears of each thread that a write ended (a pipeline's child wakes its parent).
 */
export function observedStore(inner: ThreadStore, events: ThreadEvents, onEnded: (thread: Thread) => void): ThreadStore {
  return {
    create: async (thread) => {
      const created = await inner.create(thread);
      events.emit(created, created.events);
      return created;
    },
    // Not an async function: an append suspends no frame of its own to tell the listeners.
    append: (id, expectedVersion, appendedEvents) =>
      storeAppend(inner, id, expectedVersion, appendedEvents).then((appended) => {
        events.emit(appended, appendedEvents);
        if (appendedEvents.some(mayEnd) && TERMINAL_STATUSES.includes(statusOf(deriveState(appended.events)))) onEnded(appended);
        return appended;
      }),
    get: (id) => inner.get(id),
    list: (opts) => inner.list(opts),
    close: () => inner.close(),
  };
}
