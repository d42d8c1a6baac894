import { clipText } from '../errors.js';
import {
  BUILTIN_INTENTS,
  type CustomData,
  type EventOf,
  type HumanRequest,
  type HumanResponse,
  type Json,
  type Thread,
  type ThreadEvent,
} from './events.js';

/** A thread's status, always derived from its events. */
export type ThreadStatus =
  | 'running'
  | 'awaiting_human'
  | 'backing_off'
  | 'sleeping'
  | 'paused'
  | 'done'
  | 'failed'
  | 'escalated'
  | 'cancelled';

export const THREAD_STATUSES: readonly ThreadStatus[] = [
  'running',
  'awaiting_human',
  'backing_off',
  'sleeping',
  'paused',
  'done',
  'failed',
  'escalated',
  'cancelled',
];

/** Statuses a thread never leaves. */
export const TERMINAL_STATUSES: readonly ThreadStatus[] = ['done', 'failed', 'cancelled'];

/** Types of the events after which a thread may have ended (a `control` event only when it cancels). */
export const ENDING_EVENT_TYPES: readonly ThreadEvent['type'][] = ['final', 'failed', 'human_response', 'control'];

/** Whether a thread may have ended with `event` (its status then says whether it did). */
export function mayEnd(event: ThreadEvent): boolean {
  return ENDING_EVENT_TYPES.includes(event.type) && (event.type !== 'control' || event.data.action === 'cancel');
}

/** Statuses at which a thread stops moving until someone acts (or for good): the terminal ones, plus waiting for a human and paused. */
export const RESTING_STATUSES: readonly ThreadStatus[] = [...TERMINAL_STATUSES, 'awaiting_human', 'escalated', 'paused'];

/** A tool call the model decided on that has not produced a result yet. */
export interface PendingCall {
  readonly callId: string;
  readonly tool: string;
  readonly args: Record<string, Json>;
  /** A tool_call event was journaled (the tool started) and no result followed. */
  readonly started: boolean;
  /** How many tool_call events were journaled for this call. */
  readonly attempts: number;
  /** An approval request for this call was answered with approval. */
  readonly approved: boolean;
  /** A human approved an interrupted-call request: "run it again" (or, with {@link rerun} false, "it did not take effect"). */
  readonly retryApproved: boolean;
  /**
   * `false` when the interrupted-call request a human approved said that approving does not run the
   * call again (its `rerun: false`: the version that asked could not run it as recorded): their
   * approval says it did not take effect, and the call is recorded as not run again, whatever
   * tools the version that continues the thread has. Absent otherwise (cleared by a new start).
   */
  readonly rerun?: false;
  /** Judges (after-decision steps) that accepted this call or handed it to a human. */
  readonly judged: readonly string[];
}

/**
 * Everything the runtime needs to know about a thread, folded from its events by {@link reduceState}.
 * Never stored: recomputed from the log.
 */
export interface ThreadState {
  readonly version: number;
  readonly terminal: 'done' | 'failed' | 'cancelled' | null;
  readonly paused: boolean;
  /** Decisions since the start or since a human answered the last escalation. */
  readonly steps: number;
  /** Decisions over the whole thread. */
  readonly totalSteps: number;
  /** Errors since the last success (tool result, an intent's outcome, human response, prefetch). */
  readonly consecutiveErrors: number;
  /** Of {@link consecutiveErrors}, those a model endpoint's rate limit caused (recorded `rateLimited`). */
  readonly rateLimits: number;
  /** The open human request, if any. */
  readonly pendingRequest: HumanRequest | null;
  readonly pendingCall: PendingCall | null;
  /** Epoch ms until which the agent backs off, if it is backing off. */
  readonly backoffUntil: number | null;
  /** Names of prefetch steps already recorded. */
  readonly prefetched: readonly string[];
  /** Names of before-decision steps recorded since the last decision. */
  readonly beforeDone: readonly string[];
  /**
   * Epoch ms until which the thread sleeps, if it sleeps: an agent's durable wait (an intent handler's
   * or a step's of its author, until the next decision), or a pipeline's sleep step (until its result).
   */
  readonly sleepUntil: number | null;
  /** The latest compaction: its summary stands for the events up to `upTo` in the context. */
  readonly compaction: { readonly seq: number; readonly upTo: number } | null;
  readonly output: Json | undefined;
  readonly failure: string | undefined;
  /**
   * Seq of the last event that reset {@link consecutiveErrors} (a success of any kind). The context
   * does not hide errors by it: an error is hidden once what failed has since succeeded (see
   * `ErrorSubject`, src/thread/errorResolution.ts).
   */
  readonly resolvedBefore: number;
  readonly createdAt: string | undefined;
  readonly updatedAt: string | undefined;
}

export const initialState: ThreadState = {
  version: 0,
  terminal: null,
  paused: false,
  steps: 0,
  totalSteps: 0,
  consecutiveErrors: 0,
  rateLimits: 0,
  pendingRequest: null,
  pendingCall: null,
  backoffUntil: null,
  prefetched: [],
  beforeDone: [],
  sleepUntil: null,
  compaction: null,
  output: undefined,
  failure: undefined,
  resolvedBefore: 0,
  createdAt: undefined,
  updatedAt: undefined,
};

/** What an event changes in a state, besides its version and times. */
type Changes = Partial<ThreadState> | null;

const NO_CHANGES: Partial<ThreadState> = {};

/** The pure reducer over one event: `reduceState(state, event) -> state`. */
export function reduceState(state: ThreadState, event: ThreadEvent): ThreadState {
  const changes = state.terminal === null ? changesOf(state, event) : null;
  return withChanges(state, changes ?? NO_CHANGES, event);
}

/** A field of the next state: as `changes` set it, else as it was. */
const changed = <K extends keyof ThreadState>(changes: Partial<ThreadState>, state: ThreadState, key: K): ThreadState[K] =>
  key in changes ? changes[key]! : state[key];

/**
 * `state` with an event's `changes`, version and times. Each field written out: every state is
 * then one object literal of one shape, where spreading a state and a changes object (of many
 * shapes) into a new one took V8's slow path, about twice the time of the fold on every append.
 */
function withChanges(state: ThreadState, changes: Partial<ThreadState>, event: ThreadEvent): ThreadState {
  return {
    version: event.seq,
    terminal: changed(changes, state, 'terminal'),
    paused: changed(changes, state, 'paused'),
    steps: changed(changes, state, 'steps'),
    totalSteps: changed(changes, state, 'totalSteps'),
    consecutiveErrors: changed(changes, state, 'consecutiveErrors'),
    rateLimits: changed(changes, state, 'rateLimits'),
    pendingRequest: changed(changes, state, 'pendingRequest'),
    pendingCall: changed(changes, state, 'pendingCall'),
    backoffUntil: changed(changes, state, 'backoffUntil'),
    prefetched: changed(changes, state, 'prefetched'),
    beforeDone: changed(changes, state, 'beforeDone'),
    sleepUntil: changed(changes, state, 'sleepUntil'),
    compaction: changed(changes, state, 'compaction'),
    output: changed(changes, state, 'output'),
    failure: changed(changes, state, 'failure'),
    resolvedBefore: changed(changes, state, 'resolvedBefore'),
    createdAt: state.createdAt ?? event.at,
    updatedAt: event.at,
  };
}

function changesOf(state: ThreadState, event: ThreadEvent): Changes {
  switch (event.type) {
    case 'input':
      return null;
    case 'prefetch':
      return event.data.ok
        ? { prefetched: [...state.prefetched, event.data.name], consecutiveErrors: 0, rateLimits: 0, resolvedBefore: event.seq }
        : { prefetched: [...state.prefetched, event.data.name] };
    case 'decision': {
      const isTool = !BUILTIN_INTENTS.includes(event.data.intent);
      return {
        steps: state.steps + 1,
        totalSteps: state.totalSteps + 1,
        backoffUntil: null,
        sleepUntil: null,
        beforeDone: [],
        pendingCall: isTool
          ? {
              callId: event.data.callId,
              tool: event.data.intent,
              args: event.data.args,
              started: false,
              attempts: 0,
              approved: false,
              retryApproved: false,
              judged: [],
            }
          : null,
      };
    }
    case 'tool_call':
      return {
        backoffUntil: null,
        sleepUntil: event.data.until ?? state.sleepUntil,
        pendingCall:
          state.pendingCall && state.pendingCall.callId === event.data.callId
            ? startedAgain(state.pendingCall)
            : state.pendingCall,
      };
    case 'tool_result':
      return {
        pendingCall: state.pendingCall?.callId === event.data.callId ? null : state.pendingCall,
        pendingRequest: requestAfterOutcome(state, event.data.callId),
        sleepUntil: null,
        consecutiveErrors: 0,
        rateLimits: 0,
        resolvedBefore: event.seq,
      };
    case 'error': {
      const clearsCall = event.data.callId !== undefined && state.pendingCall?.callId === event.data.callId;
      return {
        consecutiveErrors: state.consecutiveErrors + 1,
        rateLimits: event.data.rateLimited === true ? state.rateLimits + 1 : state.rateLimits,
        pendingCall: clearsCall ? null : state.pendingCall,
        pendingRequest: event.data.callId === undefined ? state.pendingRequest : requestAfterOutcome(state, event.data.callId),
        backoffUntil: event.data.retryAt === undefined ? null : Date.parse(event.data.retryAt),
      };
    }
    case 'human_request':
      return { pendingRequest: event.data };
    case 'human_response':
      return responseChanges(state, event.data, event.seq);
    case 'control':
      if (event.data.action === 'cancel') return { terminal: 'cancelled', pendingRequest: null };
      return { paused: event.data.action === 'pause' };
    case 'final':
      return { terminal: 'done', output: event.data.output, pendingCall: null, pendingRequest: null };
    case 'escalation':
      return { backoffUntil: null };
    case 'failed':
      return { terminal: 'failed', failure: event.data.reason, pendingRequest: null };
    case 'custom':
      return customChanges(state, event.data, event.seq);
  }
}

/**
 * The open request once the outcome of call `callId` is recorded: an interrupted-call request about
 * that call is answered by it (the process that ran the call recorded its outcome after another
 * asked a human whether it ran: it did, and this is what it did), as a human's "it took effect"
 * would; any other stays open.
 */
function requestAfterOutcome(state: ThreadState, callId: string): HumanRequest | null {
  const request = state.pendingRequest;
  return request?.kind === 'interrupted' && request.callId === callId ? null : request;
}

/**
 * A step of the agent's author recorded its result, which moves the flow on. Only an intent's
 * outcome is a success (as a tool result is); a step before a decision, a judge or a compaction
 * that merely ran leaves the errors in a row counting (a failing tool between two of them still
 * escalates after `maxConsecutiveErrors`, its backoff growing).
 */
function customChanges(state: ThreadState, data: CustomData, seq: number): Changes {
  const call = state.pendingCall !== null && state.pendingCall.callId === data.callId ? state.pendingCall : null;
  switch (data.phase) {
    case 'before_decision':
      return { beforeDone: [...state.beforeDone, data.step], sleepUntil: data.until ?? state.sleepUntil };
    case 'compact':
      return { beforeDone: [...state.beforeDone, data.step], compaction: { seq, upTo: data.upTo ?? seq - 1 } };
    case 'after_decision':
      if (call === null) return null;
      return data.verdict === 'reject' ? { pendingCall: null } : { pendingCall: { ...call, judged: [...call.judged, data.step] } };
    case 'intent': {
      // The intent's outcome, as a tool result is: a success.
      const succeeded = { consecutiveErrors: 0, rateLimits: 0, resolvedBefore: seq };
      return call === null ? succeeded : { ...succeeded, pendingCall: null, sleepUntil: data.until ?? null };
    }
  }
}

function responseChanges(state: ThreadState, response: HumanResponse, seq: number): Changes {
  const { requestId, approved } = response;
  const request = state.pendingRequest;
  // A response to anything but the open request changes nothing (stale or forged answers are
  // rejected before they are appended; this keeps the reducer total).
  if (request === null || request.requestId !== requestId) return null;
  const answered = { pendingRequest: null, consecutiveErrors: 0, rateLimits: 0, resolvedBefore: seq };
  switch (request.kind) {
    case 'input':
      return answered;
    case 'approval': {
      const call = state.pendingCall;
      if (call === null || call.callId !== request.callId) return answered;
      return approved === true ? { ...answered, pendingCall: { ...call, approved: true } } : { ...answered, pendingCall: null };
    }
    case 'interrupted': {
      const call = state.pendingCall;
      if (call === null || call.callId !== request.callId) return answered;
      if (approved !== true) return { ...answered, pendingCall: null };
      // Approving means what the question said: run it again, or (rerun: false) it did not take
      // effect and is not run again. Only requests that say rerun: false differ from before.
      const rearmed = { ...call, started: false, retryApproved: true };
      return { ...answered, pendingCall: request.rerun === false ? { ...rearmed, rerun: false } : rearmed };
    }
    case 'escalation':
      if (approved === false) return { ...answered, terminal: 'failed', failure: stoppedBy(response) };
      return { ...answered, steps: 0 };
  }
}

/** `call` as a `tool_call` journals its start: one more attempt, no approval to act on left (nor its `rerun`). */
function startedAgain(call: PendingCall): PendingCall {
  const { rerun, ...rest } = call;
  return { ...rest, started: true, attempts: call.attempts + 1, retryApproved: false };
}

/** The most characters of a human's comment a failure reason quotes. */
const MAX_COMMENT_CHARS = 500;

/** Why a thread failed when a human denied its escalation: who, and what they said. */
function stoppedBy({ by, comment }: HumanResponse): string {
  const who = by ? `a human (${by})` : 'a human';
  const said = comment ? `: ${clipText(comment, MAX_COMMENT_CHARS)}` : '';
  return `${who} stopped the agent after an escalation${said}`;
}

// Derived states by events array. An array seen again costs nothing; a longer one (appended in
// place) folds only its new events. A store hands over the state it folded with the array itself
// (withState: a hidden property, set before the array is frozen), else it is kept in a weak map.
const memo = new WeakMap<readonly ThreadEvent[], { readonly length: number; readonly state: ThreadState }>();
const STATE = Symbol('switchyard.derivedState');

/** The version a state must have to be the state of `events`. */
const lastSeq = (events: readonly ThreadEvent[]): number => (events.length === 0 ? 0 : events[events.length - 1]!.seq);

/** Folds a whole thread (or any list of events) into its state. Memoized per array. */
export function deriveState(events: readonly ThreadEvent[]): ThreadState {
  const attached = (events as { readonly [STATE]?: ThreadState })[STATE];
  if (attached !== undefined && attached.version === lastSeq(events)) return attached;
  const hit = memo.get(events);
  if (hit !== undefined && hit.length === events.length) return hit.state;
  let state = hit !== undefined && hit.length < events.length ? hit.state : initialState;
  for (let i = hit !== undefined && hit.length < events.length ? hit.length : 0; i < events.length; i++) state = reduceState(state, events[i]!);
  memo.set(events, { length: events.length, state });
  return state;
}

/** Records the state of an events array already folded elsewhere (e.g. incrementally by a store). */
export function rememberState(events: readonly ThreadEvent[], state: ThreadState): void {
  memo.set(events, { length: events.length, state });
}

/**
 * A store's new events array, frozen, with the state it folded for it attached: deriving its state
 * again is a property read (no weak map entry for the collector to trace).
 */
export function withState(events: ThreadEvent[], state: ThreadState): readonly ThreadEvent[] {
  Object.defineProperty(events, STATE, { value: state });
  return Object.freeze(events);
}

/** The status a state shows to users. */
export function statusOf(state: ThreadState): ThreadStatus {
  if (state.terminal !== null) return state.terminal;
  if (state.paused) return 'paused';
  if (state.pendingRequest !== null) {
    return state.pendingRequest.kind === 'escalation' ? 'escalated' : 'awaiting_human';
  }
  if (state.backoffUntil !== null) return 'backing_off';
  if (state.sleepUntil !== null) return 'sleeping';
  return 'running';
}

/** When a thread of `status` moves again on its own (epoch ms): a sleep's or a backoff's end; null for any other status. */
export function wakeAtOf(state: ThreadState, status: ThreadStatus): number | null {
  return status === 'sleeping' ? state.sleepUntil : status === 'backing_off' ? state.backoffUntil : null;
}

/** {@link wakeAtOf} as an ISO time; undefined when the thread has none (or one past what a `Date` holds). */
export function wakeTimeOf(state: ThreadState, status: ThreadStatus): string | undefined {
  const wake = wakeAtOf(state, status);
  const date = wake === null ? undefined : new Date(wake);
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** A tool call whose start the log records (its last `tool_call`) and whose outcome it does not (see {@link startedCall}). */
export interface StartedCall {
  readonly callId: string;
  readonly tool: string;
  /** When its last `tool_call` was journaled (ISO time): the tool started then. */
  readonly startedAt: string;
  /** The attempt its last `tool_call` started. */
  readonly attempt: number;
  /** The idempotency key the tool was given: what a human checks the call's effect with. */
  readonly idempotencyKey: string;
}

/** A tool call of a cancelled thread whose outcome is not in the log yet (see {@link unrecordedCall}). */
export type UnrecordedCall = StartedCall;

/**
 * The tool call the log shows started (its `tool_call` journaled) with no outcome after it: in
 * flight, or left so by a process that stopped. Undefined when no call is open, the open one has
 * not started, or a human was asked about it (an interrupted call: nothing runs it).
 */
export function startedCall(events: readonly ThreadEvent[]): StartedCall | undefined {
  return startedCallEvent(events)?.call;
}

/** The {@link startedCall} and the `tool_call` event that last started it (its args, a sleep's `until`). */
export function startedCallEvent(events: readonly ThreadEvent[]): { readonly call: StartedCall; readonly event: EventOf<'tool_call'> } | undefined {
  const call = deriveState(events).pendingCall;
  if (call === null || !call.started) return undefined;
  // From the end back to the call's last start: the reducer reads nothing after a cancel.
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === 'tool_call' && event.data.callId === call.callId) {
      const { attempt, idempotencyKey } = event.data;
      return { call: { callId: call.callId, tool: call.tool, startedAt: event.at, attempt, idempotencyKey }, event };
    }
    if (isOutcomeOf(event, call) || (event.type === 'human_request' && event.data.callId === call.callId)) return undefined;
  }
  return undefined;
}

/**
 * The tool call that was running when the thread was cancelled and whose outcome the log does not
 * hold yet. A process that cancels a thread whose call runs in another (a worker on NATS) cannot
 * wait for the call: the worker records its outcome (its result or its error) after the cancel,
 * so whoever follows the thread waits for that before it ends. Undefined when the thread is not
 * cancelled, no call of it had started, its outcome is recorded, or a human was asked about it
 * (an interrupted call: nothing runs it).
 */
export function unrecordedCall(events: readonly ThreadEvent[]): UnrecordedCall | undefined {
  return deriveState(events).terminal === 'cancelled' ? startedCall(events) : undefined;
}

/**
 * The `human_request` event that asked the request the thread waits for (`state`, derived from
 * `events` when not given), its last when asked again; undefined when it waits for none.
 */
export function pendingRequestEvent(events: readonly ThreadEvent[], state: ThreadState = deriveState(events)): ThreadEvent | undefined {
  const pending = state.pendingRequest;
  return pending === null ? undefined : events.findLast((event) => event.type === 'human_request' && event.data.requestId === pending.requestId);
}

/** A human request a thread waits for, as the API shows it (a thread's view, a trigger's result, a NATS notice). */
export type AskedRequest = HumanRequest & {
  /** When it was asked: the ISO time of its `human_request` event (its last when asked again). */
  readonly at: string;
};

/**
 * The request the thread waits for (`state`, derived from `events` when not given) with when it
 * was asked, or null when it waits for none.
 */
export function askedRequestOf(events: readonly ThreadEvent[], state: ThreadState = deriveState(events)): AskedRequest | null {
  const request = state.pendingRequest;
  // Its event is the last but a few (a pause, a call's outcome): found from the end.
  return request === null ? null : { ...request, at: pendingRequestEvent(events, state)?.at ?? state.updatedAt ?? '' };
}

/** Whether `event` records the outcome of `call`: its result, or its error (or the timeout of a tool that is not idempotent, which names only the tool). */
export function isOutcomeOf(event: ThreadEvent, call: Pick<PendingCall, 'callId' | 'tool'>): boolean {
  if (event.type === 'tool_result') return event.data.callId === call.callId;
  if (event.type !== 'error') return false;
  return event.data.callId === call.callId || (event.data.callId === undefined && event.data.tool === call.tool);
}

/**
 * How the thread ended before an event of `added` that may not follow it, or null when they all
 * may follow `events` (whose state is `state`). A thread takes no event after the one that ended
 * it, save one: the outcome of the call a cancel found running (see {@link unrecordedCall}),
 * recorded once after the cancel by the process that ran it, since its effect happened. Every
 * store refuses such an append; logs written before that rule may still hold events after their
 * end, which the fold ignores and which read as they are.
 */
export function endedBefore(events: readonly ThreadEvent[], state: ThreadState, added: readonly ThreadEvent[]): ThreadState['terminal'] {
  let { terminal } = state;
  // The last event is not folded: nothing of the batch follows it (a batch of one, the usual
  // append, folds nothing here; the store folds it as it writes). Nor is a batch none of whose
  // events before its last may end the thread (a decision with its call): no end can come first.
  const last = added.length - 1;
  if (terminal === null && !endsBefore(added, last)) return null;
  let open = terminal === 'cancelled' ? unrecordedCall(events) : undefined;
  let folded = state;
  for (let i = 0; i <= last; i++) {
    const event = added[i]!;
    if (terminal !== null) {
      if (open === undefined || !isOutcomeOf(event, open)) return terminal;
      open = undefined;
    } else if (i < last) {
      folded = reduceState(folded, event);
      terminal = folded.terminal;
    }
  }
  return null;
}

/** Whether an event of `added` before index `last` may end a thread (see {@link mayEnd}). */
function endsBefore(added: readonly ThreadEvent[], last: number): boolean {
  for (let i = 0; i < last; i++) if (mayEnd(added[i]!)) return true;
  return false;
}

/**
 * Whether the last `added` of `events`, which left the thread at `status`, set its end as receivers
 * of it hear it: they ended it, or, after its cancel, recorded the outcome of the call the cancel
 * left running in another process (see {@link unrecordedCall}): the end's final view. Webhooks and
 * callbacks report each. A status that is not an end answers at once (every other change).
 */
export function settlesEnd(events: readonly ThreadEvent[], added: number, status: ThreadStatus): boolean {
  if (added <= 0 || added > events.length || !TERMINAL_STATUSES.includes(status)) return false;
  const before = events.slice(0, events.length - added);
  return deriveState(before).terminal === null || (unrecordedCall(before) !== undefined && unrecordedCall(events) === undefined);
}

/** The derived status of a thread. */
export function threadStatus(thread: Thread): ThreadStatus {
  return statusOf(deriveState(thread.events));
}

/** Type guard for status strings from outside (query strings, CLI flags). */
export function isThreadStatus(value: unknown): value is ThreadStatus {
  return typeof value === 'string' && (THREAD_STATUSES as readonly string[]).includes(value);
}

/**
 * The `reason` and `by` of the cancel that ended a cancelled thread (each when the cancel gave it):
 * its first cancel event (a cancel always ends a thread that has not ended, and nothing after its
 * end counts).
 */
export function cancelOf(events: readonly ThreadEvent[]): { readonly reason?: string; readonly by?: string } {
  const cancel = events.find((event) => event.type === 'control' && event.data.action === 'cancel');
  if (cancel?.type !== 'control') return {};
  const { reason, by } = cancel.data;
  return { ...(reason === undefined ? {} : { reason }), ...(by === undefined ? {} : { by }) };
}
