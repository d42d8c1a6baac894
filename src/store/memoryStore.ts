import { systemClock, type Clock } from '../clock.js';
import { NotFoundError, SystemError, VersionConflictError } from '../errors.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, reduceState, withState, type ThreadState } from '../thread/state.js';
import { checkAppend, checkNotEnded, checkThread, deepFreeze } from './checkEvents.js';
import { selectSummaries, summaryOf } from './selectSummaries.js';
import type { ListOptions, ThreadStore, ThreadSummary } from './threadStore.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Stamps the creation time of threads created without events (their summary's `createdAt`).
   * @default systemClock
   */
  clock?: Clock;
}

interface StoredThread {
  /** Deeply frozen: handed out as is, never copied on read. Replaced in place by an append, as is the state. */
  thread: Thread;
  state: ThreadState;
  readonly createdAt: string;
  /** Made when first listed, not on every append (most appends are never listed). */
  summary?: ThreadSummary;
}

/**
 * A {@link ThreadStore} in memory: for tests and single-process runs that need no durability.
 *
 * Threads are validated and copied on the way in and deeply frozen, so a returned thread can be
 * shared without copying and callers cannot change what is stored. Each thread keeps its derived
 * state, advanced by folding only the appended events, so `list` never refolds a log (a summary is
 * made from that state when the thread is first listed after a change).
 * A paged listing (`after`) sorts the matching summaries by creation on each page: fine for the
 * sizes a memory store holds.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.create({ id: 't1', agent: 'triage', events: [] });
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): ThreadStore {
  const { clock = systemClock } = options;
  const threads = new Map<string, StoredThread>();
  let closed = false;

  function checkOpen(): void {
    if (closed) throw new SystemError('the memory store is closed');
  }

  return {
    async create(thread: Thread): Promise<Thread> {
      checkOpen();
      const copy = deepFreeze(checkThread(thread));
      const existing = threads.get(copy.id);
      if (existing !== undefined) throw new VersionConflictError(copy.id, 0, existing.state.version);
      const state = deriveState(copy.events);
      const createdAt = copy.events[0]?.at ?? new Date(clock.now()).toISOString();
      const frozen = Object.freeze({ id: copy.id, agent: copy.agent, events: Object.freeze(copy.events) });
      threads.set(copy.id, { thread: frozen, state, createdAt });
      return frozen;
    },

    async append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread> {
      checkOpen();
      const added = deepFreeze(checkAppend(id, expectedVersion, events));
      const stored = threads.get(id);
      if (stored === undefined) throw new NotFoundError('thread', id);
      if (stored.state.version !== expectedVersion) {
        throw new VersionConflictError(id, expectedVersion, stored.state.version);
      }
      if (added.length === 0) return stored.thread;
      checkNotEnded(id, stored.thread.events, stored.state, added);
      let state = stored.state;
      for (const event of added) state = reduceState(state, event);
      const thread: Thread = Object.freeze({
        id,
        agent: stored.thread.agent,
        // concat, not a spread of both: that builds the array by iteration, growing it as it goes.
        events: withState(stored.thread.events.concat(added), state),
      });
      // The record is advanced in place (only this store holds it): no new one per append.
      stored.thread = thread;
      stored.state = state;
      stored.summary = undefined;
      return thread;
    },

    async get(id: string): Promise<Thread | undefined> {
      checkOpen();
      return threads.get(id)?.thread;
    },

    async delete(id: string, expectedVersion: number): Promise<boolean> {
      checkOpen();
      const stored = threads.get(id);
      if (stored === undefined) return false;
      if (stored.state.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, stored.state.version);
      return threads.delete(id);
    },

    async list(listOptions?: ListOptions): Promise<ThreadSummary[]> {
      checkOpen();
      return selectSummaries(
        (function* summaries() {
          for (const stored of threads.values()) yield (stored.summary ??= summaryOf(stored.thread, stored.state, stored.createdAt));
        })(),
        listOptions,
      );
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
}
