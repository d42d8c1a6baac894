import { isoTime, type Clock } from '../clock.js';
import { versionOf, type NewEvent, type Thread } from '../thread/events.js';
import { stampEvents } from '../thread/thread.js';
import type { ThreadStore } from './threadStore.js';

/** Persists new events with the thread's version as the expected version (optimistic). */
export async function appendEvents(deps: { readonly store: ThreadStore; readonly clock: Clock }, thread: Thread, events: readonly NewEvent[]): Promise<Thread> {
  const stamped = stampEvents(versionOf(thread), events, isoTime(deps.clock.now()));
  return deps.store.append(thread.id, versionOf(thread), stamped);
}

