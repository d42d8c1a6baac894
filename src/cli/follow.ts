import type { ThreadView } from '../runtime/runtime.js';
import type { ThreadEvent } from '../thread/events.js';
import { deriveState, statusOf } from '../thread/state.js';
import { RESTING_STATUSES, ServerError, type Client } from './client.js';

/** Options of {@link followThread}. */
export interface FollowOptions {
  /** Report events after this seq (earlier ones are read to derive the status, not reported). @default 0 */
  reportAfter?: number;
  /** Do not stop before the thread reached this seq (the event that set it moving). @default 0 */
  atLeast?: number;
  /** Called with each reported event, in order. */
  onEvent?: (event: ThreadEvent) => void;
  signal?: AbortSignal;
}

/**
 * Streams a thread's events until it rests: it ended, or waits for a human, or is paused. The
 * status is derived from the events with the runtime's own reducer, so the client agrees with the
 * server on when to stop. Returns the thread as the server shows it then.
 */
export async function followThread(client: Client, threadId: string, options: FollowOptions = {}): Promise<ThreadView> {
  const { reportAfter = 0, atLeast = 0, onEvent, signal } = options;
  const events: ThreadEvent[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const event of client.events(threadId, { signal: stop.signal })) {
      events.push(event);
      if (event.seq > reportAfter) onEvent?.(event);
      if (event.seq >= atLeast && RESTING_STATUSES.includes(statusOf(deriveState(events)))) break;
    }
  } finally {
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
  }
  const view = await client.get(threadId);
  if (!RESTING_STATUSES.includes(view.status)) {
    throw new ServerError(`the event stream of thread ${threadId} closed while it was ${view.status}`, 0);
  }
  return view;
}
