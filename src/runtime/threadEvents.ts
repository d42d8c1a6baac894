import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ThreadStore } from '../store/threadStore.js';
import { versionOf, type Thread, type ThreadEvent } from '../thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';

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

/** Who hears about thread writes: every listener, and the listeners of one thread (settled, watch). */
export interface ThreadEvents {
  /** Tells the listeners of every thread and of this one about `events`, just written to `thread`. */
  emit(thread: Thread, events: readonly ThreadEvent[], ingested?: boolean): void;
  /** The last version emitted for the thread (0 when none is remembered). */
  emittedVersion(threadId: string): number;
  /** Listens to every thread. Returns an unsubscribe function. */
  subscribe(listener: Listener): () => void;
  /** Listens to one thread, so a write wakes only its own thread's waiters. */
  subscribeThread(threadId: string, listener: Listener): () => void;
  /** Drops every listener. */
  clear(): void;
}

/** Versions remembered per thread, so events ingested from elsewhere are emitted once. */
const REMEMBERED_THREADS = 10_000;

/** Builds the listener registry of a runtime; a listener that throws is logged and skipped. */
export function createThreadEvents(logger: Logger): ThreadEvents {
  const listeners = new Set<Listener>();
  const threadListeners = new Map<string, Set<Listener>>();
  const emitted = new Map<string, number>();
  return {
    emit(thread, events, ingested = false) {
      emitted.delete(thread.id);
      emitted.set(thread.id, versionOf(thread));
      if (emitted.size > REMEMBERED_THREADS) emitted.delete(emitted.keys().next().value!);
      const own = threadListeners.get(thread.id);
      if (listeners.size === 0 && own === undefined) return;
      // Status is derived on first read only: most listeners never look at it.
      let status: ThreadStatus | undefined;
      const change: ThreadChange = {
        thread,
        events,
        get status() {
          return (status ??= statusOf(deriveState(thread.events)));
        },
        ...(ingested ? { ingested: true as const } : {}),
      };
      for (const listener of [...(own ?? []), ...listeners]) {
        try {
          listener(change);
        } catch (error) {
          logger.error({ threadId: thread.id, err: messageOf(error) }, 'thread listener failed');
        }
      }
    },
    emittedVersion: (threadId) => emitted.get(threadId) ?? 0,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribeThread(threadId, listener) {
      let set = threadListeners.get(threadId);
      if (set === undefined) threadListeners.set(threadId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && threadListeners.get(threadId) === set) threadListeners.delete(threadId);
      };
    },
    clear() {
      listeners.clear();
      threadListeners.clear();
    },
  };
}

/** Events after which a thread may have ended. */
const mayEnd = (event: ThreadEvent): boolean =>
  event.type === 'final' || event.type === 'failed' || event.type === 'human_response' || (event.type === 'control' && event.data.action === 'cancel');

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
    append: async (id, expectedVersion, appendedEvents) => {
      const appended = await inner.append(id, expectedVersion, appendedEvents);
      events.emit(appended, appendedEvents);
      if (appendedEvents.some(mayEnd) && TERMINAL_STATUSES.includes(statusOf(deriveState(appended.events)))) onEnded(appended);
      return appended;
    },
    get: (id) => inner.get(id),
    list: (opts) => inner.list(opts),
    close: () => inner.close(),
  };
}
