import type { ThreadView } from '../runtime/runtime.js';
import type { ThreadEvent } from '../thread/events.js';
import { deriveState, RESTING_STATUSES, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import { ServerError, type Client } from './client.js';

/** Options of {@link followThread}. */
export interface FollowOptions {
  /** Report events after this seq (earlier ones are read to derive the status, not reported). @default 0 */
  reportAfter?: number;
  /** Do not stop before the thread reached this seq (the event that set it moving). @default 0 */
  atLeast?: number;
  /** Called with each reported event, in order, with the thread it belongs to (a pipeline's child too). */
  onEvent?: (event: ThreadEvent, threadId: string) => void;
  /** Called when a pipeline delegates a step to a child thread, and again when that child rests. */
  onChild?: (child: { threadId: string; agent: string; view?: ThreadView }) => void;
  signal?: AbortSignal;
}

/** The child thread a pipeline's step delegated to, when the event is such a delegation. */
function delegation(event: ThreadEvent): { threadId: string; agent: string } | null {
  if (event.type !== 'tool_call') return null;
  const { threadId, agent } = event.data.args;
  return typeof threadId === 'string' && typeof agent === 'string' ? { threadId, agent } : null;
}

/**
 * Streams a thread's events until it rests: it ended, or waits for a human, or is paused. The
 * status is derived from the events with the runtime's own reducer, so the client agrees with the
 * server on when to stop. Returns the thread as the server shows it then.
 */
export async function followThread(client: Client, threadId: string, options: FollowOptions = {}): Promise<ThreadView> {
  const { reportAfter = 0, atLeast = 0, onEvent, onChild, signal } = options;
  const events: ThreadEvent[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // A pipeline stays "running" while a child waits for a human: follow the child, and stop there.
  let waitingChild = false;
  try {
    for await (const event of client.events(threadId, { signal: stop.signal })) {
      events.push(event);
      if (event.seq > reportAfter) onEvent?.(event, threadId);
      const child = event.seq > reportAfter ? delegation(event) : null;
      if (child !== null) {
        onChild?.(child);
        const rested = await followThread(client, child.threadId, { ...(onEvent ? { onEvent } : {}), ...(onChild ? { onChild } : {}), ...(signal ? { signal } : {}) });
        onChild?.({ ...child, view: rested });
        if (!TERMINAL_STATUSES.includes(rested.status)) {
          waitingChild = true;
          break;
        }
      }
      if (event.seq >= atLeast && RESTING_STATUSES.includes(statusOf(deriveState(events)))) break;
    }
  } finally {
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
  }
  const view = await client.get(threadId);
  if (!waitingChild && !RESTING_STATUSES.includes(view.status)) {
    throw new ServerError(`the event stream of thread ${threadId} closed while it was ${view.status}`, 0);
  }
  return view;
}
