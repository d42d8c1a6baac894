import type { Agent } from '../agent/agent.js';
import type { Clock } from '../clock.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, startedCall, threadStatus, TERMINAL_STATUSES, unrecordedCall, type StartedCall, type UnrecordedCall } from '../thread/state.js';
import type { ThreadEvents } from './threadEvents.js';
import type { ThreadView } from './threadView.js';

/** Options of {@link Runtime.watch}. */
export interface WatchOptions {
  /** Yield events after this seq. @default 0 (all events) */
  afterSeq?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * How long after its start the outcome of a call of a tool this process does not know (the agent
 * is not among its own) is waited for, past the cancel of its thread: 2 minutes.
 */
export const UNKNOWN_TOOL_OUTCOME_WAIT_MS = 120_000;
/**
 * Added to a tool's `timeoutMs` when its call's outcome is waited for: the worker's write of it,
 * its way to this process, clocks of processes a little apart.
 */
export const OUTCOME_GRACE_MS = 10_000;

/** The outcome a follower of a cancelled thread still waits for: its call, and until when (epoch ms). */
export interface AwaitedOutcome extends UnrecordedCall {
  readonly until: number;
}

/**
 * The outcome of a call that `thread`'s cancel left running in another process (see
 * {@link unrecordedCall}), and until when it is waited for: the call cannot run past its tool's
 * `timeoutMs` from its start, so until then plus {@link OUTCOME_GRACE_MS}; a tool that `agents`
 * does not hold, {@link UNKNOWN_TOOL_OUTCOME_WAIT_MS} from its start. Undefined when nothing is awaited.
 */
export function awaitedOutcome(thread: Pick<Thread, 'agent' | 'events'>, agents: ReadonlyMap<string, Agent>): AwaitedOutcome | undefined {
  const call = unrecordedCall(thread.events);
  if (call === undefined) return undefined;
  const timeoutMs = toolTimeoutMs(thread.agent, call, agents);
  return { ...call, until: startOf(call) + (timeoutMs === undefined ? UNKNOWN_TOOL_OUTCOME_WAIT_MS : timeoutMs + OUTCOME_GRACE_MS) };
}

/**
 * Until when (epoch ms) the tool call `thread`'s log shows started, with no outcome after it, may
 * still record one. Of a cancelled thread, as long as {@link awaitedOutcome} waits for it; of one
 * that has not ended, its tool's `timeoutMs` + {@link OUTCOME_GRACE_MS} from its last start, when
 * `agents` holds the tool (a pipeline's step has no timeout: undefined). Past it, the process that
 * ran the call stopped (or is stuck): nothing will record its outcome, and the thread of a process
 * gone is taken over when its job is delivered again (or its server restarts). Undefined when no
 * call is open, or its thread ended otherwise.
 */
export function callDueBy(thread: Pick<Thread, 'agent' | 'events'>, agents: ReadonlyMap<string, Agent>): number | undefined {
  const awaited = awaitedOutcome(thread, agents);
  if (awaited !== undefined) return awaited.until;
  if (deriveState(thread.events).terminal !== null) return undefined;
  const call = startedCall(thread.events);
  const timeoutMs = call === undefined ? undefined : toolTimeoutMs(thread.agent, call, agents);
  return call === undefined || timeoutMs === undefined ? undefined : startOf(call) + timeoutMs + OUTCOME_GRACE_MS;
}

/** `view` with its {@link callDueBy} (ISO time) when it has one: what a thread is shown with over HTTP. */
export function withCallDueBy<TView extends ThreadView>(view: TView, agents: ReadonlyMap<string, Agent>): TView {
  const dueBy = callDueBy(view, agents);
  return dueBy === undefined ? view : { ...view, callDueBy: new Date(dueBy).toISOString() };
}

/** The `timeoutMs` of the tool `call` runs, when `agents` holds the thread's agent and that tool. */
function toolTimeoutMs(agent: string, call: StartedCall, agents: ReadonlyMap<string, Agent>): number | undefined {
  return agents.get(agent)?.toolsByName.get(call.tool)?.timeoutMs;
}

/** When `call` last started (epoch ms; 0 for a time that does not parse). */
function startOf(call: StartedCall): number {
  const started = Date.parse(call.startedAt);
  return Number.isFinite(started) ? started : 0;
}

/**
 * How the thread `written` (a change to the id) stands to the thread `read` of the same id: the same
 * incarnation, an `earlier` one (deleted before `read` was created: a write of it is stale) or a
 * `later` one (`read` was deleted since, whether or not its deletion was heard). Told apart by their
 * creation instants (first events' times), as {@link incarnationKeyOf} is; `read` with no events yet
 * is taken as the same.
 */
export function incarnationOrder(read: Pick<Thread, 'events'>, written: Pick<Thread, 'events'>): 'earlier' | 'same' | 'later' {
  const readAt = read.events[0]?.at;
  const writtenAt = written.events[0]?.at;
  if (readAt === undefined || writtenAt === undefined || readAt === writtenAt) return 'same';
  const [r, w] = [Date.parse(readAt), Date.parse(writtenAt)];
  if (!Number.isFinite(r) || !Number.isFinite(w) || r === w) return 'same';
  return w > r ? 'later' : 'earlier';
}

/** What {@link watchThread} reads. */
export interface WatchSources {
  readonly events: ThreadEvents;
  load(threadId: string): Promise<Thread>;
  readonly clock: Clock;
  /** The agents this process knows: the timeouts of their tools bound the wait for an outcome. */
  readonly agents: ReadonlyMap<string, Agent>;
}

/**
 * A thread's events, stored then live, until it ends (done, failed, cancelled), it is deleted (the
 * incarnation read: see {@link ThreadEvents.onDeleted}; or a later one of its id is written), or
 * the signal aborts; throws the runtime's close error ({@link ThreadEvents.close}) once the
 * runtime closed, after the events that came before it.
 * Listens before it reads, so no event written in between is missed. A thread cancelled while a
 * tool call of it ran in another process is watched past the cancel until that process records
 * the call's outcome, or the wait for it runs out (see {@link awaitedOutcome}).
 */
export async function* watchThread(threadId: string, opts: WatchOptions, sources: WatchSources): AsyncGenerator<ThreadEvent> {
  const { clock, agents } = sources;
  // Each change's events, with the thread they were written to.
  const queue: { events: readonly ThreadEvent[]; thread: Thread }[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = sources.events.subscribeThread(threadId, (change) => {
    queue.push({ events: change.events, thread: change.thread });
    wake?.();
  });
  const onAbort = (): void => wake?.();
  opts.signal?.addEventListener('abort', onAbort);
  // The incarnations of the id heard deleted (it had ended): once the one read is among them,
  // nothing more of it will come, whatever it awaited. Another's deletion (the id launched again
  // since, and deleted again, or a notice of an earlier one arriving late) is not this one's.
  const gone = new Set<string>();
  const unlisten = sources.events.onDeleted(threadId, (deletion) => {
    gone.add(deletion.incarnation);
    wake?.();
  });
  // The runtime closed: once what came before is yielded, the watch throws its error.
  let closed = sources.events.closed();
  const unclose = sources.events.onClosed((error) => {
    closed = error;
    wake?.();
  });
  // Until when the watch goes on, the thread being as written: always while it moves; once it
  // ended, until an outcome it awaits is due, else not at all.
  const endsAt = (thread: Thread): number => {
    if (!TERMINAL_STATUSES.includes(threadStatus(thread))) return Infinity;
    return awaitedOutcome(thread, agents)?.until ?? -Infinity;
  };
  let timer: unknown;
  try {
    if (closed !== undefined) throw closed;
    const thread = await sources.load(threadId);
    const incarnation = incarnationKeyOf(thread);
    let last = opts.afterSeq ?? 0;
    for (const event of thread.events) {
      if (event.seq > last) {
        last = event.seq;
        yield event;
      }
    }
    let until = endsAt(thread);
    while (clock.now() < until && !opts.signal?.aborted && !gone.has(incarnation)) {
      const change = queue.shift();
      if (change === undefined) {
        if (closed !== undefined) throw closed;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (until !== Infinity) timer = clock.setTimeout(() => resolve(), until - clock.now());
        });
        clock.clearTimeout(timer);
        wake = null;
        continue;
      }
      // Another incarnation of the id: a later one means the one read is gone (its deletion not
      // heard yet, or missed); an earlier one's write is stale.
      const order = incarnationOrder(thread, change.thread);
      if (order === 'later') break;
      if (order === 'earlier') continue;
      for (const event of change.events) {
        if (event.seq <= last) continue;
        last = event.seq;
        yield event;
      }
      until = endsAt(change.thread);
    }
  } finally {
    clock.clearTimeout(timer);
    unsubscribe();
    unlisten();
    unclose();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
