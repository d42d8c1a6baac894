import type { Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import type { ThreadEvents } from './threadEvents.js';

/** Options of {@link Runtime.watch}. */
export interface WatchOptions {
  /** Yield events after this seq. @default 0 (all events) */
  afterSeq?: number;
  signal?: AbortSignal;
}

/**
 * A thread's events, stored then live, until it ends (done, failed, cancelled) or the signal aborts.
 * Listens before it reads, so no event written in between is missed.
 */
export async function* watchThread(
  threadId: string,
  opts: WatchOptions,
  sources: { readonly events: ThreadEvents; load(threadId: string): Promise<Thread> },
): AsyncGenerator<ThreadEvent> {
  // Each change's events, with whether the thread had ended once they were written.
  const queue: { events: readonly ThreadEvent[]; ended: boolean }[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = sources.events.subscribeThread(threadId, (change) => {
    queue.push({ events: change.events, ended: TERMINAL_STATUSES.includes(change.status) });
    wake?.();
  });
  const onAbort = (): void => wake?.();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const thread = await sources.load(threadId);
    let last = opts.afterSeq ?? 0;
    for (const event of thread.events) {
      if (event.seq > last) {
        last = event.seq;
        yield event;
      }
    }
    let ended = TERMINAL_STATUSES.includes(statusOf(deriveState(thread.events)));
    while (!ended && !opts.signal?.aborted) {
      const change = queue.shift();
      if (change === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      for (const event of change.events) {
        if (event.seq <= last) continue;
        last = event.seq;
        yield event;
      }
      ended = change.ended;
    }
  } finally {
    unsubscribe();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
