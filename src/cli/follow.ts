import { sleep, systemClock, type Clock } from '../clock.js';
import type { ThreadView } from '../runtime/runtime.js';
import { parentIdOf } from '../runtime/threadView.js';
import type { ThreadEvent } from '../thread/events.js';
import { deriveState, RESTING_STATUSES, statusOf, TERMINAL_STATUSES, unrecordedCall, wakeAtOf, type ThreadStatus } from '../thread/state.js';
import { ServerError, type Client } from './client.js';
import { delegationOf, openDelegations, type Delegation } from '../pipeline/delegations.js';
import { isOpenRequest } from './format.js';

/** Options of {@link followThread}. */
export interface FollowOptions {
  /** Report events after this seq (earlier ones are read to derive the status, not reported). @default 0 */
  reportAfter?: number;
  /** Do not stop before the thread reached this seq (the event that set it moving). @default 0 */
  atLeast?: number;
  /**
   * The thread, or a child it waits on, may rest already (waiting for a human, paused): follow
   * it until it moves and rests again, as `watch` does. A pipeline's child is followed so too,
   * whether it rested before the follow began or came to rest during it. Costs one request per
   * such thread. @default false
   */
  untilMoved?: boolean;
  /**
   * Called with each reported event, in order, with the thread it belongs to (a pipeline's child
   * too), and whether it is open: false only for a human request (of the thread or a child) that
   * was answered before the follow began (with `untilMoved`), which reads as past.
   */
  onEvent?: (event: ThreadEvent, threadId: string, open: boolean) => void;
  /**
   * Called when a pipeline delegates a step to a child thread, and again when that child rests; with
   * `untilMoved`, also when the follow reached a child that rested already (it waits for it to move).
   */
  onChild?: (child: { threadId: string; agent: string; view?: ThreadView }) => void;
  /**
   * With `untilMoved`: called when the events up to the follow's start are reported and the thread
   * rested then (not ended), with its view then; the follow goes on waiting for it to move.
   */
  onResting?: (view: ThreadView) => void;
  /**
   * Called when no event of a followed thread (a pipeline's child too) came for `quietMs`, with that
   * thread and its status then (undefined before its first event came); again only after an event
   * came and another such spell passed. The follow goes on.
   */
  onQuiet?: (threadId: string, status: ThreadStatus | undefined) => void;
  /**
   * Called when a followed thread (a pipeline's child too) rests sleeping or backing off, no event
   * having come for a moment after the one that put it there: it moves again on its own at `until`
   * (epoch ms). Once per such rest; the follow goes on.
   */
  onSleeping?: (threadId: string, status: 'sleeping' | 'backing_off', until: number) => void;
  /** How long a thread may stay quiet before `onQuiet`. @default 30000 */
  quietMs?: number;
  /** The clock of the quiet timer. @default the system clock */
  clock?: Clock;
  signal?: AbortSignal;
  /**
   * How the follow waits before it asks again for a child the pipeline named but has not launched
   * yet (the pipeline journals the child first). @default a timer (aborted by `signal`)
   */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** How often a child not found yet is asked for before the follow gives up with the not-found error. */
const CHILD_ASKS = 40;
/** The wait before the second ask; it doubles up to {@link CHILD_WAIT_MAX_MS} (about 35 s in all). */
const CHILD_WAIT_MS = 50;
const CHILD_WAIT_MAX_MS = 1000;
/** How long a followed thread may stay quiet before `onQuiet` (as long as `serve --no-worker` waits to warn). */
const QUIET_MS = 30_000;
/** How long no event comes after the one that put a thread to sleep before `onSleeping`: not in a replay's burst. */
const SLEEP_NOTE_MS = 500;

/** When a thread sleeping or backing off moves again on its own, from its events; undefined when it does neither. */
function wakeOf(events: readonly ThreadEvent[]): { status: 'sleeping' | 'backing_off'; until: number } | undefined {
  if (events.length === 0) return undefined;
  const state = deriveState(events);
  const status = statusOf(state);
  const until = wakeAtOf(state, status);
  return until === null ? undefined : { status: status as 'sleeping' | 'backing_off', until };
}

/** Waits `ms`, or less when `signal` aborts. */
const timer = (ms: number, signal?: AbortSignal): Promise<void> => sleep(systemClock, ms, signal).catch(() => undefined);

/**
 * Streams a thread's events until it rests: it ended, or waits for a human, or is paused. The
 * status is derived from the events with the runtime's own reducer, so the client agrees with the
 * server on when to stop. A thread cancelled while a tool call of it ran in another process is
 * followed past the cancel until the call's outcome is recorded, or the server ends the stream
 * (its wait for it ran out: `unrecordedCall` of the returned thread's events then names the call).
 * Returns the thread as the server shows it then.
 */
export async function followThread(client: Client, threadId: string, options: FollowOptions = {}): Promise<ThreadView> {
  const { reportAfter = 0, onEvent, onChild, onResting, onQuiet, onSleeping, quietMs = QUIET_MS, clock = systemClock, signal, wait = timer, untilMoved = false } = options;
  let { atLeast = 0 } = options;
  // The thread when the follow began (with untilMoved): what happened up to it is read, not waited
  // for, and its requests answered by then are past.
  const atStart = untilMoved ? await client.get(threadId) : undefined;
  const began = atStart?.version ?? 0;
  // It rested then without having ended: said once its events so far are, and followed until it moves.
  const restingAtStart = atStart !== undefined && RESTING_STATUSES.includes(atStart.status) && !TERMINAL_STATUSES.includes(atStart.status) ? atStart : undefined;
  if (restingAtStart !== undefined) atLeast = Math.max(atLeast, began + 1);
  const events: ThreadEvent[] = [];
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // A pipeline stays "running" while a child waits for a human: follow the child, and stop there.
  let waitingChild = false;
  // An event after `reportAfter` came (the follow reached what it reports).
  let caughtUp = false;
  // The quiet timer runs while the follow waits for this thread's next event (not while it follows a child).
  let quiet: unknown;
  // And the timer of the note that it sleeps, with the rest said last (each said once).
  let sleepNote: unknown;
  let saidRest: string | undefined;
  const hush = (): void => {
    if (quiet !== undefined) clock.clearTimeout(quiet);
    if (sleepNote !== undefined) clock.clearTimeout(sleepNote);
    quiet = undefined;
    sleepNote = undefined;
  };
  const listen = (): void => {
    hush();
    if (onQuiet !== undefined) {
      quiet = clock.setTimeout(() => {
        quiet = undefined;
        onQuiet(threadId, events.length === 0 ? undefined : statusOf(deriveState(events)));
      }, quietMs);
    }
    const wake = onSleeping === undefined ? undefined : wakeOf(events);
    if (wake !== undefined && saidRest !== `${wake.status}@${wake.until}`) {
      sleepNote = clock.setTimeout(() => {
        sleepNote = undefined;
        saidRest = `${wake.status}@${wake.until}`;
        onSleeping?.(threadId, wake.status, wake.until);
      }, SLEEP_NOTE_MS);
    }
  };
  try {
    listen();
    for await (const event of client.events(threadId, { signal: stop.signal })) {
      hush();
      events.push(event);
      if (event.seq > reportAfter) onEvent?.(event, threadId, atStart === undefined || event.seq > atStart.version || isOpenRequest(event, atStart));
      // The child of a delegation reported, or (the follow begun after it: a resume) the one the
      // pipeline still waits on when the first event reported comes.
      const delegated = event.seq > reportAfter ? delegationOf(event) : null;
      const waitedOn = delegated === null && event.seq > reportAfter && !caughtUp ? earlierDelegation(events, reportAfter) : null;
      if (event.seq > reportAfter) caughtUp = true;
      const child = delegated ?? waitedOn;
      if (child !== null) {
        onChild?.(child);
        const childOptions = {
          ...(onEvent ? { onEvent } : {}),
          ...(onChild ? { onChild } : {}),
          ...(signal ? { signal } : {}),
          ...(onQuiet ? { onQuiet } : {}),
          ...(onSleeping ? { onSleeping } : {}),
          quietMs,
          clock,
          wait,
        };
        // A child delegated before the follow began: only what it does from now on is reported.
        const childFrom = waitedOn === null ? 0 : ((await client.get(child.threadId).catch(() => undefined))?.version ?? 0);
        let rested = await followChild(client, threadId, child.threadId, { ...childOptions, reportAfter: childFrom, untilMoved: untilMoved && event.seq <= began, onResting: (view) => onChild?.({ ...child, view }) });
        // Undefined: the pipeline rested without the child (it could not launch it); its events say why.
        if (rested !== undefined) onChild?.({ ...child, view: rested });
        // A child that came to rest after the follow began (a human to answer) is followed, as one
        // resting when it began is, until it moves and rests again (watch).
        if (untilMoved && event.seq > began && rested !== undefined && !TERMINAL_STATUSES.includes(rested.status)) {
          // Not done before the event after that rest (it may have moved already when read again).
          rested = await followChild(client, threadId, child.threadId, { ...childOptions, reportAfter: rested.version, atLeast: rested.version + 1, untilMoved: true });
          if (rested !== undefined) onChild?.({ ...child, view: rested });
        }
        if (rested !== undefined && !TERMINAL_STATUSES.includes(rested.status)) {
          waitingChild = true;
          break;
        }
      }
      if (restingAtStart !== undefined && event.seq === began) onResting?.(restingAtStart);
      // A thread cancelled while its call ran elsewhere rests once the call's outcome is recorded
      // after the cancel (the server ends the stream when its wait for it runs out).
      if (event.seq >= atLeast && RESTING_STATUSES.includes(statusOf(deriveState(events))) && unrecordedCall(events) === undefined) break;
      listen();
    }
  } finally {
    hush();
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
  }
  const view = await client.get(threadId);
  if (!waitingChild && !RESTING_STATUSES.includes(view.status)) {
    throw new ServerError(`the event stream of thread ${threadId} closed while it was ${view.status}`, 0);
  }
  return view;
}

/**
 * The child a pipeline's step delegated to before `reportAfter` and still waits on (no result
 * recorded), when the pipeline has not ended: what a follow begun after the delegation (a resume
 * of the pipeline) follows, as it would have followed it from its delegation.
 */
function earlierDelegation(events: readonly ThreadEvent[], reportAfter: number): Delegation | null {
  if (reportAfter === 0 || TERMINAL_STATUSES.includes(statusOf(deriveState(events)))) return null;
  const open = openDelegations({ events }).at(-1);
  const at = open === undefined ? undefined : events.find((event) => delegationOf(event)?.threadId === open.threadId);
  return open !== undefined && at !== undefined && at.seq <= reportAfter ? open : null;
}

/** Thrown inside a follow of a thread that turned out not to be the pipeline's child. */
class NotTheChild extends Error {}

/**
 * Follows a child a pipeline just named. The pipeline journals the child before it launches it, so
 * the child may not be there yet: a not-found before any of its events means "not yet", asked
 * again after a short wait while the pipeline moves (at most {@link CHILD_ASKS} times). Resolves
 * with `undefined` when the pipeline rested without it, or the thread under its id is not its child.
 */
async function followChild(
  client: Client,
  parentId: string,
  childId: string,
  options: FollowOptions & { wait: NonNullable<FollowOptions['wait']> },
): Promise<ThreadView | undefined> {
  const { onEvent, wait, signal } = options;
  for (let ask = 1; ; ask++) {
    let seen = false;
    try {
      return await followThread(client, childId, {
        ...options,
        onEvent: (event, threadId, open) => {
          // A thread under the child's id that this pipeline did not launch is not its child (the
          // pipeline's launch is refused and its events say so): not followed, not reported.
          if (threadId === childId && event.seq === 1 && parentIdOf({ events: [event] }) !== parentId) throw new NotTheChild();
          if (threadId === childId) seen = true;
          onEvent?.(event, threadId, open);
        },
      });
    } catch (error) {
      if (error instanceof NotTheChild) return undefined;
      if (!(error instanceof ServerError && error.status === 404) || seen || ask >= CHILD_ASKS) throw error;
      const parent = await client.get(parentId);
      if (RESTING_STATUSES.includes(parent.status)) return undefined;
      await wait(Math.min(CHILD_WAIT_MS * 2 ** (ask - 1), CHILD_WAIT_MAX_MS), signal);
    }
  }
}
