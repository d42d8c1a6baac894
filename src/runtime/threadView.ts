import { maskedCredentials } from '../context/sealedUrl.js';
import type { Json, Thread, ThreadEvent } from '../thread/events.js';
import { askedRequestOf, deriveState, statusOf, wakeTimeOf, type AskedRequest, type ThreadStatus } from '../thread/state.js';

/** A thread as the API shows it: its derived state beside its events. */
export interface ThreadView {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  readonly version: number;
  /** Steps done so far: an agent's decisions; a pipeline's journaled step results (it makes no decision). */
  readonly steps: number;
  /** The human request it waits for, with `at`, when it was asked; null when it waits for none. */
  readonly pendingRequest: AskedRequest | null;
  readonly output: Json | undefined;
  readonly failure: string | undefined;
  readonly createdAt: string | undefined;
  readonly updatedAt: string | undefined;
  /** When a sleeping or backing-off thread moves again on its own (ISO time); undefined otherwise. */
  readonly wakeAt?: string;
  /**
   * Only in a view from the runtime that runs the thread (an embedded `serve`): the thread waits for
   * a slot (`maxConcurrent` actors run at once), `position` in the queue, `running` slots taken.
   * Its status stays `running` (derived from its events).
   */
  readonly queued?: { readonly position: number; readonly running: number; readonly maxConcurrent: number };
  /**
   * Only in a view from the runtime that runs the thread: true while an actor of that process runs
   * it now (a backing-off thread whose `wakeAt` has passed is making its retry).
   */
  readonly live?: true;
  /**
   * Only in a thread read over HTTP (`GET /threads/:id`, the server's view whatever process runs the thread): when
   * its log shows a tool call started with no outcome after it (in flight, or left so by a cancel),
   * until when that outcome may still be recorded (ISO time): the tool's `timeoutMs` + 10 s from
   * the call's last start (see `callDueBy`; a cancelled thread's call of a tool the runtime does not
   * know, 2 minutes, as a watch waits for it). Past it, the process that ran the call stopped or is
   * stuck, and that run of the call will record nothing. Absent when no call is open, or the thread
   * has not ended and the runtime does not know the tool (a pipeline's step, which has no timeout).
   */
  readonly callDueBy?: string;
  readonly events: readonly ThreadEvent[];
}

/** The API's view of a thread: its state derived from its events. */
export function viewOf(thread: Thread): ThreadView {
  const state = deriveState(thread.events);
  const status = statusOf(state);
  const wakeAt = wakeTimeOf(state, status);
  return {
    id: thread.id,
    agent: thread.agent,
    status,
    version: state.version,
    // An agent's tool results all follow a decision; a pipeline's are its steps.
    steps: state.totalSteps > 0 ? state.totalSteps : thread.events.filter((e) => e.type === 'tool_result').length,
    pendingRequest: askedRequestOf(thread.events, state),
    output: state.output,
    failure: state.failure,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    ...(wakeAt === undefined ? {} : { wakeAt }),
    events: thread.events,
  };
}

export { parentIdOf } from '../pipeline/delegations.js';

/** The http(s) callback URL a thread's launch recorded, if any (a NATS trigger's `replyTo` is a subject). */
export function callbackUrlOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  if (first?.type !== 'input' || first.data.source === undefined || first.data.source.kind === 'nats') return undefined;
  const url = first.data.source.replyTo;
  return url !== undefined && /^https?:\/\//i.test(url) ? url : undefined;
}

/**
 * An event as a surface shows it (an HTTP answer, an event stream, the inspector): the credentials
 * of a callback URL recorded in clear (by a version before they were sealed) masked: the password of
 * its userinfo (`https://user:***@host/hook`), a userinfo without a password whole, the values of its
 * secret-named query parameters (`?b=1&token=***`), as `maskedCredentials` masks them. Sealed ones
 * (see `sealUrl`) hold no credential and are shown as they are. Only what is shown: the stored
 * thread keeps the URL its callbacks are sent to. An event with nothing to mask comes back as it is.
 */
export function shownEvent(event: ThreadEvent): ThreadEvent {
  if (event.type !== 'input' || event.data.source?.replyTo === undefined) return event;
  const { source } = event.data;
  const replyTo = maskedCredentials(source.replyTo!);
  return replyTo === source.replyTo ? event : { ...event, data: { ...event.data, source: { ...source, replyTo } } };
}

/** A view as a surface shows it: its events as {@link shownEvent} shows them. */
export function shownView(view: ThreadView): ThreadView {
  // The launch's source is on the first event.
  const first = view.events[0];
  const shown = first === undefined ? first : shownEvent(first);
  return shown === first ? view : { ...view, events: [shown!, ...view.events.slice(1)] };
}
