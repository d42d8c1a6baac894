// What the inspector follows live: inspection messages of every process on the bus (folded into
// the actor registry) and the runtime's thread changes, handed to whoever listens (the page's streams).
import type { Bus, BusSubscription } from '../bus/bus.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import { summaryOf } from '../store/selectSummaries.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { deriveState } from '../thread/state.js';
import { createActorRegistry, type ActorRecord, type ActorRegistry, type ProcessPresence } from './actorRegistry.js';
import type { InspectionMessage, PresenceMessage } from './inspectionMessages.js';

/** A thread as the list shows it: its summary, as `GET /inspector/api/threads` lists it. */
export type ThreadRow = ThreadSummary;

/** One change: an actor seen on the bus, a process gone or back, a thread the runtime changed or deleted. */
export interface FeedUpdate {
  readonly actor?: ActorRecord;
  readonly process?: ProcessPresence;
  readonly thread?: ThreadRow;
  /** The id of a thread the runtime deleted (its actors are forgotten already). */
  readonly deleted?: string;
}

/** Options of {@link createLiveFeed}. */
export interface LiveFeedOptions {
  readonly runtime: Runtime;
  readonly bus: Bus;
  readonly prefix: string;
  readonly maxActors: number;
}

/** The live sources of the inspector, see {@link createLiveFeed}. */
export interface LiveFeed {
  readonly registry: ActorRegistry;
  /** Resolves once the bus subscription is active. */
  readonly ready: Promise<void>;
  /** Calls `listener` with each update until the returned function is called. */
  listen(listener: (update: FeedUpdate) => void): () => void;
  /** Stops listening to the bus and the runtime; drops the listeners. */
  close(): Promise<void>;
}

/**
 * Subscribes to `<prefix>.inspect.>` (a closed bus is tolerated: threads still show, without live
 * actors) and to the runtime's changes. Thread changes are only turned into rows while someone listens.
 */
export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const { runtime, bus, prefix, maxActors } = options;
  const listeners = new Set<(update: FeedUpdate) => void>();
  const notify = (update: FeedUpdate): void => {
    for (const listener of listeners) listener(update);
  };
  // A process gone silent: its actors, now stopped, go to the page like any change, then the process;
  // and so do they, active again, when it is heard from again.
  const registry = createActorRegistry({
    maxActors,
    onGone: (processId, records) => {
      for (const actor of records) notify({ actor });
      notify({ process: { processId, live: false } });
    },
    onLive: (processId, records) => {
      for (const actor of records) notify({ actor });
      notify({ process: { processId, live: true } });
    },
  });
  const depth = prefix.split('.').length + 1;
  let subscription: BusSubscription | undefined;
  let ready: Promise<void> = Promise.resolve();
  try {
    subscription = bus.subscribe(`${prefix}.inspect.>`, (msg) => {
      const processId = msg.subject.split('.')[depth];
      if (processId === undefined) return;
      const parsed = msg.json();
      if (!parsed.success) return;
      // `<prefix>.inspect.<processId>` alone: the process's heartbeat or goodbye (onGone notifies).
      if (msg.subject.split('.').length === depth + 1) {
        registry.presence(processId, parsed.data as PresenceMessage);
        return;
      }
      const actor = registry.apply(processId, parsed.data as InspectionMessage);
      if (actor) notify({ actor });
    });
    ready = bus.flush().catch(() => undefined);
  } catch {
    // A closed bus: the page still shows threads, without live actors.
  }
  const unsubscribe = runtime.subscribe((change) => {
    if (listeners.size > 0) notify({ thread: rowOf(change) });
  });
  // A thread this runtime deletes leaves the actors list, which the page builds its rows from too,
  // and the pages open meanwhile are told.
  const unsubscribeDeletions = runtime.onDelete((threadId) => {
    registry.forgetThread(threadId);
    notify({ deleted: threadId });
  });
  let closed: Promise<void> | undefined;
  return {
    registry,
    ready,
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed ??= (async () => {
        unsubscribe();
        unsubscribeDeletions();
        listeners.clear();
        registry.close();
        await subscription?.unsubscribe().catch(() => undefined);
      })();
      return closed;
    },
  };
}

/** The list row of a changed thread: its summary, as the store lists it. */
export function rowOf(change: ThreadChange): ThreadRow {
  const { thread } = change;
  // A change always carries events; the fallback only satisfies the type.
  return summaryOf(thread, deriveState(thread.events), thread.events[0]?.at ?? '');
}
