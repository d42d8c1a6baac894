import { assign, type AnyEventObject, type EventObject } from 'xstate';
import { MAX_TIMER_MS } from '../src/clock.js';
import { messageOf, VersionConflictError } from '../src/errors.js';
import { type AgentDeps } from '../src/agent/deps.js';
import type { Thread } from '../src/thread/events.js';
import { deriveState, statusOf, type ThreadState, type ThreadStatus } from '../src/thread/state.js';
import { STEP_DONE, STEP_FAILED, stopsWithActor, type StepEvent, type StepRunner, type WatchedActor } from './stepRunner.js';

// What the durable machines (the agent and every pipeline) share: a thread in context with its
// derived state, control events and the states that record them, the routing guards that read
// the thread first, and one way to end early. Each machine's setup registers `threadGuards` and
// `threadActions` under these names and a `run` action that hands a step to its step runner.

/** Control events every durable machine (agent, pipeline) accepts. */
export type ControlEvent =
  | { type: 'PAUSE'; reason?: string; by?: string }
  | { type: 'RESUME'; by?: string }
  | { type: 'CANCEL'; reason?: string; by?: string };

/** What an agent or pipeline actor ends with. */
export interface AgentMachineOutput {
  readonly threadId: string;
  readonly status: ThreadStatus;
  readonly thread: Thread;
  /** Why the actor stopped early: a version conflict (another worker advanced the thread) or a step that threw (e.g. the store failed). */
  readonly stopped?: string;
  /** The state whose step threw, when one did (not a version conflict). */
  readonly failedIn?: string;
}

/** The context every durable machine holds. */
export interface ThreadContext {
  readonly deps: AgentDeps;
  thread: Thread;
  state: ThreadState;
  pauseRequested: boolean;
  control: { reason?: string; by?: string };
  stopped: string | null;
  /** The state whose step threw (not a version conflict), if one did. */
  failedIn: string | null;
  /** Runs the working states' steps (./stepRunner.ts); stopped with the actor, drained before a runtime closes. */
  readonly runner: Pick<StepRunner, 'stop' | 'drain' | 'finishing'>;
}

/** The context fields for a thread as persisted: the thread and its derived state. */
export const withThread = (thread: Thread): { thread: Thread; state: ThreadState } => ({ thread, state: deriveState(thread.events) });

/**
 * `deps` with its logger bound to the thread and its agent, so that every line of the actor (its
 * own, its steps', its tools') names them, once: the lines add neither. The supervisor and
 * `createAgentActor` hand over such a child already, kept as is; a logger without them (someone
 * building on the exported machines) gets a child with the bindings it lacks, once per actor.
 */
export function threadDeps<TDeps extends AgentDeps>(deps: TDeps, thread: Thread): TDeps {
  const bound = deps.logger.bindings();
  const missing = { ...(bound.threadId === undefined ? { threadId: thread.id } : {}), ...(bound.agent === undefined ? { agent: thread.agent } : {}) };
  return Object.keys(missing).length === 0 ? deps : { ...deps, logger: deps.logger.child(missing) };
}

/**
 * The context a durable machine starts with, before its own fields: its logger is bound to the
 * thread ({@link threadDeps}), and its step runner stops with `actor` (see `stopsWithActor`).
 */
export function threadContext<TDeps extends AgentDeps, TRunner extends Pick<StepRunner, 'stop' | 'drain' | 'finishing'>>(
  actor: WatchedActor,
  deps: TDeps,
  thread: Thread,
  runner: TRunner,
): ThreadContext & { readonly deps: TDeps; readonly runner: TRunner } {
  const bound = threadDeps(deps, thread);
  return {
    deps: bound,
    ...withThread(thread),
    pauseRequested: false,
    control: {},
    stopped: null,
    failedIn: null,
    runner: stopsWithActor(actor, runner, bound.logger),
  };
}

/** Why an actor stops early: a lost optimistic append, or a step that threw. */
export function stopReason(error: unknown): string {
  return error instanceof VersionConflictError ? `superseded: ${error.message}` : `step failed: ${messageOf(error)}`;
}

/** Who asked for a control event and why, as kept in context for the step that records it. */
export const controlOf = ({ event }: { event: { reason?: string; by?: string } }): { reason?: string; by?: string } => ({ reason: event.reason, by: event.by });

/** The output of a durable machine, from its context. */
export function machineOutput(context: { thread: Thread; state: ThreadState; stopped: string | null; failedIn: string | null }): AgentMachineOutput {
  return {
    threadId: context.thread.id,
    status: statusOf(context.state),
    thread: context.thread,
    ...(context.stopped === null ? {} : { stopped: context.stopped }),
    ...(context.failedIn === null ? {} : { failedIn: context.failedIn }),
  };
}

type Args = { context: ThreadContext };

/** What routing reads of a durable machine's context. */
export type RouteContext = Pick<ThreadContext, 'deps' | 'thread' | 'state' | 'pauseRequested'>;
type RouteArgs = { context: RouteContext };

/** The guards routing reads first, the same in every durable machine. */
export const threadGuards = {
  isDone: ({ context }: RouteArgs) => context.state.terminal === 'done',
  isFailed: ({ context }: RouteArgs) => context.state.terminal === 'failed',
  isCancelled: ({ context }: RouteArgs) => context.state.terminal === 'cancelled',
  shouldPause: ({ context }: RouteArgs) => context.pauseRequested && !context.state.paused,
  isPaused: ({ context }: RouteArgs) => context.state.paused,
  isBackingOff: ({ context }: RouteArgs) => context.state.backoffUntil !== null && context.state.backoffUntil > context.deps.clock.now(),
  /** It waits for a human's answer to its escalation (an agent's own, or one written from outside: `Runtime.escalate`). */
  isEscalated: ({ context }: RouteArgs) => context.state.pendingRequest?.kind === 'escalation',
  isAwaitingHuman: ({ context }: RouteArgs) => context.state.pendingRequest !== null,
};

/**
 * The delay of a timer that ends a wait at `until` (epoch ms, as recorded), from `now`. A wait
 * longer than one timer holds (MAX_TIMER_MS) wakes, routes, and waits again.
 */
export const untilDelay = (until: number | null, now: number): number => Math.min(MAX_TIMER_MS, Math.max(0, (until ?? 0) - now));

/** The backoff delay: until the recorded retry time. */
export const backoffDelay = ({ context }: Args): number => untilDelay(context.state.backoffUntil, context.deps.clock.now());

/**
 * The actions of the shared states, for a machine whose events are `TEvent` (registered by name in
 * each machine's setup: `actions: { ...threadActions<MyEvent>(), run }`).
 */
export function threadActions<TContext extends ThreadContext, TEvent extends EventObject>() {
  const assignFrom = assign<TContext, AnyEventObject, undefined, TEvent, never>;
  // The updates touch only the shared fields; TypeScript cannot see that they fit any TContext.
  const update = (fields: Partial<ThreadContext>): Partial<TContext> => fields as Partial<TContext>;
  return {
    /** Keeps the thread a step persisted. */
    keepThread: assignFrom(({ event }) => {
      const step = event as StepEvent;
      return update(step.type === STEP_DONE ? withThread(step.output.thread) : {});
    }),
    /** Records why a step threw; the actor stops. */
    keepFailure: assignFrom(({ event, self }) => {
      const step = event as StepEvent;
      if (step.type !== STEP_FAILED) return update({});
      // The snapshot is still the working state's while its transition runs.
      const failedIn = step.error instanceof VersionConflictError ? null : String(self.getSnapshot().value);
      return update({ stopped: stopReason(step.error), failedIn });
    }),
    /** Keeps who sent a PAUSE or CANCEL, and why, for the step that records it. */
    keepControl: assignFrom(({ event }) => update({ control: controlOf({ event: event as { reason?: string; by?: string } }) })),
    /** A PAUSE while a step runs: the machine pauses when the step is done. */
    requestPause: assignFrom(({ event }) => update({ pauseRequested: true, control: controlOf({ event: event as { reason?: string; by?: string } }) })),
    /** The pause is recorded. */
    pauseRecorded: assignFrom(() => update({ pauseRequested: false })),
    /** Keeps who sent a RESUME. */
    keepResumer: assignFrom(({ event }) => update({ control: { by: (event as { by?: string }).by } })),
    log: ({ context }: Args, params: { state: string }) => {
      // The logger is bound to the thread and its agent (threadContext): naming them again would repeat their keys.
      context.deps.logger.debug({ state: params.state }, 'agent state');
    },
    /** Tells whoever runs the actor that it rests (the supervisor evicts it). */
    rest: ({ context }: Args, params: { state: string }) => {
      context.deps.onRest?.({ state: params.state, thread: context.thread });
    },
    /** Tells whoever runs the actor that it sleeps until `wakeAt` (the supervisor evicts it and wakes it then). */
    restUntil: ({ context }: Args, params: { state: string; wakeAt: number | null }) => {
      if (params.wakeAt !== null) context.deps.onRest?.({ state: params.state, thread: context.thread, wakeAt: params.wakeAt });
    },
  };
}

/** How every working state ends: back to routing with the thread the step persisted, or stopped. */
export const AFTER_STEP = {
  [STEP_DONE]: { target: 'routing', actions: 'keepThread' },
  [STEP_FAILED]: { target: 'stopped', actions: 'keepFailure' },
} as const;

/** The root's handlers: CANCEL from anywhere, PAUSE once the step in progress is done. */
export const ROOT_CONTROL = {
  CANCEL: { target: '.cancelling', actions: 'keepControl' },
  PAUSE: { actions: 'requestPause' },
} as const;

/**
 * The root of every durable machine: it starts in `routing`, its step runner lives as long as the
 * actor (the working states hand it their step on entry; `stopsWithActor` in ./stepRunner.ts
 * stops it with the actor), and it takes the control events.
 */
export const THREAD_ROOT = {
  initial: 'routing',
  on: ROOT_CONTROL,
} as const;

/** A waiting state (backing off, sleeping, awaiting a human) pauses at once. */
export const PAUSE_NOW = { PAUSE: { target: 'pausing', actions: 'keepControl' } } as const;

/** The first routes out of `routing`, before each machine's own: ended, pausing, paused. */
export const ROUTE_CONTROL = [
  { guard: 'isDone', target: 'done' },
  { guard: 'isFailed', target: 'failed' },
  { guard: 'isCancelled', target: 'cancelled' },
  { guard: 'shouldPause', target: 'pausing' },
  { guard: 'isPaused', target: 'paused' },
] as const;

/** The routes to the states that wait for a human's answer, after {@link ROUTE_CONTROL}. */
export const ROUTE_HUMAN = [
  { guard: 'isEscalated', target: 'escalated' },
  { guard: 'isAwaitingHuman', target: 'awaitingHuman' },
] as const;

/**
 * A state that waits for a human's answer: the actor rests (whoever runs it evicts it; the answer,
 * written to the log, starts the thread again) and can be paused meanwhile.
 */
export const restForHuman = (state: 'awaitingHuman' | 'escalated') =>
  ({
    entry: [
      { type: 'log', params: { state } },
      { type: 'rest', params: { state } },
    ],
    on: PAUSE_NOW,
  }) as const;

/**
 * A backoff longer than this (ms) rests as a sleep does: the actor tells whoever runs it to stop it
 * and start it again at the recorded retry time, so a thread waiting out a rate limit (up to 10
 * minutes) holds no actor, supervisor slot or worker job meanwhile. Shorter ones are waited out in
 * the actor: an ordinary error's retry (1 s, then 2 s by default, give or take 20 %) stays on the hot
 * path, where a rest would cost a store read, and on NATS a wake-up job, for a wait of a moment.
 */
export const REST_BACKOFF_OVER_MS = 5_000;

/** When a backoff rests (see {@link REST_BACKOFF_OVER_MS}): its retry time, or null when the actor waits it out. */
const backoffRestUntil = ({ context }: Args): number | null => {
  const until = context.state.backoffUntil;
  return until !== null && until - context.deps.clock.now() > REST_BACKOFF_OVER_MS ? until : null;
};

/**
 * Backing off after a failed step, until the recorded retry time: a long backoff rests (the
 * supervisor evicts the actor and wakes the thread then); the timer wakes an actor nobody stopped.
 */
export const BACKING_OFF = {
  entry: [
    { type: 'log', params: { state: 'backingOff' } },
    { type: 'restUntil', params: (args: Args) => ({ state: 'backingOff', wakeAt: backoffRestUntil(args) }) },
  ],
  after: { backoff: { target: 'routing' } },
  on: PAUSE_NOW,
} as const;

/** The states that record control events, the paused state, and the final states. */
export const CONTROL_STATES = {
  pausing: {
    entry: { type: 'run', params: { state: 'pausing', step: 'pause' } },
    on: { ...AFTER_STEP, [STEP_DONE]: { target: 'routing', actions: ['keepThread', 'pauseRecorded'] } },
  },
  paused: {
    entry: [
      { type: 'log', params: { state: 'paused' } },
      { type: 'rest', params: { state: 'paused' } },
    ],
    on: {
      RESUME: { target: 'resuming', actions: 'keepResumer' },
      // Already paused: without this the root handler would set pauseRequested, and the next
      // RESUME would pause the thread again at once.
      PAUSE: {},
    },
  },
  resuming: { entry: { type: 'run', params: { state: 'resuming', step: 'resume' } }, on: AFTER_STEP },
  cancelling: { entry: { type: 'run', params: { state: 'cancelling', step: 'cancel' } }, on: AFTER_STEP },
  done: { type: 'final', entry: { type: 'log', params: { state: 'done' } } },
  failed: { type: 'final', entry: { type: 'log', params: { state: 'failed' } } },
  cancelled: { type: 'final', entry: { type: 'log', params: { state: 'cancelled' } } },
  stopped: { type: 'final', entry: { type: 'log', params: { state: 'stopped' } } },
} as const;
