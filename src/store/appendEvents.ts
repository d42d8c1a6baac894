import { isoTime, type Clock } from '../clock.js';
import { promiseOf, SwitchyardError, ThreadTooLargeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { versionOf, type NewEvent, type Thread, type ThreadEvent } from '../thread/events.js';
import { deriveState } from '../thread/state.js';
import { stampEvents } from '../thread/thread.js';
import type { ThreadStore } from './threadStore.js';

/** The longest reason a failure recorded for a thread too large keeps (it must fit the store's reserve). */
const MAX_REASON_CHARS = 1000;

/**
 * Thrown by {@link appendEvents} when the events did not fit the store and the thread's failure was
 * recorded instead: the step stops there (nothing after the append runs, a tool call not recorded
 * is not run), and its actor goes on from `thread`, which has come to rest failed.
 */
export class ThreadFailedError extends SwitchyardError {
  constructor(
    /** The thread as stored, ending with its `failed` event. */
    readonly thread: Thread,
    cause: ThreadTooLargeError,
  ) {
    super(`thread ${thread.id} failed: ${cause.message}`, { cause });
  }
}

/** Options of {@link appendEvents}. */
export interface AppendOptions {
  /**
   * When the events would not fit the store (a {@link ThreadTooLargeError}, thrown before anything
   * is written), a short `failed` event is recorded instead, which brings the thread to rest
   * (retrying the step would not make them fit): by default it says which events could not be
   * recorded; given the call whose outcome they are, it says that its tool ran and its result could
   * not be recorded (its effect happened), and on a thread already cancelled it says so in the
   * call's `error` (no event but the call's outcome follows a cancel), returned as appended. `false`
   * throws the error to the caller, the thread unchanged (a human's answer, which a smaller one may
   * replace).
   */
  readonly tooLarge?: false | { readonly tool: string; readonly callId: string };
}

/**
 * Persists new events with the thread's version as the expected version (optimistic). Events the
 * store cannot hold (a {@link ThreadTooLargeError}) bring the thread to rest instead: a short
 * `failed` event is appended in their place (the store keeps a reserve for it) and a
 * {@link ThreadFailedError} carries the failed thread to the step runner, unless `options.tooLarge`
 * is `false`. Only stores with a size limit throw it, so the other stores pay nothing for this.
 */
export function appendEvents(
  /** `logger`: a step's, bound to the thread and its agent (AgentDeps.logger). */
  deps: AppendDeps,
  thread: Thread,
  events: readonly NewEvent[],
  options?: AppendOptions,
): Promise<Thread> {
  const version = versionOf(thread);
  const at = isoTime(deps.clock.now());
  // Not an async function awaiting the store: on every append that would suspend a frame of
  // its own, only for the rare refusal below.
  const written = storeAppend(deps.store, thread.id, version, stampEvents(version, events, at));
  return written.catch((error: unknown) => tooLargeRecorded(deps, thread, events, options, at, error));
}

type AppendDeps = { readonly store: ThreadStore; readonly clock: Clock; readonly logger?: Logger };

/**
 * `store.append`, a synchronous throw (a store of the user's) made a rejection, as an async
 * function's would be: for callers that return the store's promise instead of awaiting it.
 */
export function storeAppend(store: ThreadStore, id: string, version: number, events: readonly ThreadEvent[]): Promise<Thread> {
  return promiseOf(() => store.append(id, version, events));
}

/** After a refused append: the thread's failure (or the call's error) recorded instead, as {@link appendEvents} says. */
async function tooLargeRecorded(deps: AppendDeps, thread: Thread, events: readonly NewEvent[], options: AppendOptions | undefined, at: string, error: unknown): Promise<Thread> {
  const version = versionOf(thread);
  if (!(error instanceof ThreadTooLargeError) || options?.tooLarge === false) throw error;
  const ran = options?.tooLarge;
  const why =
    ran === undefined
      ? `could not record ${[...new Set(events.map((e) => e.type))].join(', ')}: ${error.message}`
      : `${ran.tool} ran (call ${ran.callId}) and its result could not be recorded: ${error.message}`;
  const reason = why.length > MAX_REASON_CHARS ? `${why.slice(0, MAX_REASON_CHARS - 1)}…` : why;
  const state = deriveState(thread.events);
  if (ran !== undefined && state.terminal !== null) {
    // The call's outcome after a cancel (the one event a thread takes after its end): recorded as
    // its error, which ends nothing, rather than a failure after the cancel.
    const data = { kind: 'tool_error' as const, message: reason, callId: ran.callId, tool: ran.tool, attempt: state.consecutiveErrors + 1 };
    const written = await deps.store.append(thread.id, version, stampEvents(version, [{ type: 'error', data }], at));
    deps.logger?.warn({ size: error.size, limit: error.limit, state: state.terminal }, 'tool result too large for its store: recorded as its error');
    return written;
  }
  const failed = await deps.store.append(thread.id, version, stampEvents(version, [{ type: 'failed', data: { reason } }], at));
  deps.logger?.warn({ size: error.size, limit: error.limit, state: 'failed' }, 'thread too large for its store: failed');
  throw new ThreadFailedError(failed, error);
}
