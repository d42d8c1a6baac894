import type { ThreadEvent } from '../thread/events.js';
import { initialState, reduceState, statusOf, type ThreadState, type ThreadStatus } from '../thread/state.js';

/** A thread's derived state, its status, and the version at which it entered that status. */
export interface StatusSince {
  readonly state: ThreadState;
  readonly status: ThreadStatus;
  /** The seq of the event after which the thread first had its current status (0: before any). */
  readonly since: number;
}

const START: StatusSince = { state: initialState, status: statusOf(initialState), since: 0 };

/**
 * Folds events onto `from` (a thread without events by default), noting where the status last
 * changed. An index keyed by status and `since` names one stay of a thread in a status: a thread
 * that leaves a status and comes back gets a new key.
 */
export function foldStatus(events: readonly ThreadEvent[], from: StatusSince = START): StatusSince {
  let { state, status, since } = from;
  for (const event of events) {
    state = reduceState(state, event);
    const next = statusOf(state);
    if (next !== status) {
      status = next;
      since = event.seq;
    }
  }
  return { state, status, since };
}
