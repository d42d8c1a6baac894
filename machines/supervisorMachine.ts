import { assign, createActor, enqueueActions, setup, type AnyActorLogic, type AnyActorRef, type EventObject } from 'xstate';
import type { Agent } from '../src/agent/agent.js';
import { messageOf } from '../src/errors.js';
import type { Logger } from '../src/logger.js';
import { redactText } from '../src/context/redact.js';
import { redactingLogger } from '../src/context/redactingLogger.js';
import type { Pipeline } from '../src/pipeline/pipeline.js';
import type { PipelineDeps } from '../src/pipeline/pipelineSteps.js';
import type { Thread } from '../src/thread/events.js';
import { deriveState, statusOf, type ThreadStatus } from '../src/thread/state.js';
import { agentMachineFor, type AgentMachineEvent, type AgentMachineOutput } from './agentMachine.js';
import { stateOf } from './stepRunner.js';
import type { PipelineMachine } from './pipelineMachine.js';

/** How a supervised agent came to rest. */
export interface AgentRest {
  readonly threadId: string;
  /** The agent machine's state: awaitingHuman, escalated, paused, done, failed, cancelled, stopped. */
  readonly state: string;
  readonly status: ThreadStatus | null;
  readonly thread: Thread | null;
  /** Why the actor stopped early or failed, if it did. */
  readonly problem?: string;
  /**
   * The state whose step threw (the store failed: a full disk, NATS down), when the actor stopped
   * for that and not because another writer moved its thread on; or, with `actorFailed`, the state
   * its actor failed in: nobody else moves the thread, which may go on once the failure passes.
   */
  readonly failedIn?: string;
  /**
   * The actor itself failed (an action threw, not a step), again after its one immediate restart,
   * or its restart could not read the thread: `failedIn` names its state, `problem` the error.
   */
  readonly actorFailed?: true;
  /** The thread sleeps, or backs off, until then (epoch ms): its actor was stopped for the wait; start it again at that time. */
  readonly wakeAt?: number;
}

/** Input of the supervisor machine. */
export interface SupervisorInput {
  readonly agents: ReadonlyMap<string, Agent>;
  /** Pipelines with their machines (built once per definition). */
  readonly pipelines?: ReadonlyMap<string, { readonly pipeline: Pipeline; readonly machine: PipelineMachine }>;
  readonly deps: PipelineDeps;
  /** Agent actors running at once; more threads wait in a queue. */
  readonly maxConcurrent: number;
  /** Called when a child rests and has been evicted. */
  readonly onRest: (rest: AgentRest) => void;
}

/** Events the supervisor accepts. */
export type SupervisorEvent =
  /** Run this thread (no-op when it already runs or waits for a slot). */
  | { type: 'START'; thread: Thread }
  /** Deliver a control event or a human response to a running child. */
  | { type: 'FORWARD'; threadId: string; event: AgentMachineEvent }
  /** Drop a child without waiting (its thread stays where the log says). */
  | { type: 'EVICT'; threadId: string }
  /** Drop every child and queued thread (the runtime closes). */
  | { type: 'EVICT_ALL' }
  /** Start nothing more (the runtime closes once its children's tool calls finish): queued threads are dropped. */
  | { type: 'DRAIN' }
  /** A child came to rest (sent by the child's own `onRest`, instead of syncing every snapshot). */
  | { type: 'CHILD_RESTED'; threadId: string; state: string; thread: Thread; wakeAt?: number };

interface SupervisorContext {
  readonly agents: ReadonlyMap<string, Agent>;
  readonly pipelines: ReadonlyMap<string, { readonly pipeline: Pipeline; readonly machine: PipelineMachine }>;
  readonly deps: PipelineDeps;
  readonly maxConcurrent: number;
  readonly onRest: (rest: AgentRest) => void;
  /** Thread ids with a child actor now. */
  running: readonly string[];
  /**
   * The child actor of each running thread. Children are created with the supervisor as their
   * parent rather than spawned into its snapshot: a spawn and a stop each copy the snapshot's
   * children, an object keyed by thread ids, which costs more per run than the rest of the
   * supervisor. Only this machine's actions change the map.
   */
  readonly actors: Map<string, AnyActorRef>;
  /** Threads waiting for a slot, oldest first. */
  queue: readonly Thread[];
  /** Set by DRAIN: no child is started any more. */
  draining: boolean;
  /**
   * Child failures in a row per thread, until its child next rests: the first is restarted at
   * once, later ones are reported (`actorFailed`) for the runtime to start again after a backoff.
   */
  failures: Readonly<Record<string, number>>;
}

const DONE = 'xstate.done.actor.';
const ERROR = 'xstate.error.actor.';

/** A child's done or error event under one fixed type, its thread id a field (see {@link supervisorMachine}). */
type ChildEnded = { type: 'CHILD_DONE'; threadId: string; output: AgentMachineOutput } | { type: 'CHILD_FAILED'; threadId: string; error: unknown };

/** XState's `xstate.done.actor.<id>` and `xstate.error.actor.<id>` as {@link ChildEnded}; any other event as it is. */
function childEnded<E extends EventObject>(event: E): E | ChildEnded {
  const { type } = event;
  if (type.startsWith(DONE)) return { type: 'CHILD_DONE', threadId: type.slice(DONE.length), output: (event as { output?: unknown }).output as AgentMachineOutput };
  if (type.startsWith(ERROR)) return { type: 'CHILD_FAILED', threadId: type.slice(ERROR.length), error: (event as { error?: unknown }).error };
  return event;
}

/** The logic and input of a thread's actor, or undefined when this runtime has neither its agent nor its pipeline. */
function logicOf(context: SupervisorContext, thread: Thread, deps: unknown): { logic: AnyActorLogic; input: unknown } | undefined {
  const agent = context.agents.get(thread.agent);
  // An agent with steps of its author runs its own machine (`agent:<name>`).
  if (agent !== undefined) return { logic: agentMachineFor(agent), input: { agent, thread, deps } };
  const pipeline = context.pipelines.get(thread.agent);
  return pipeline === undefined ? undefined : { logic: pipeline.machine, input: { pipeline: pipeline.pipeline, thread, deps } };
}

const NO_SECRETS: readonly string[] = [];

/** The logger of a thread's actor: bound to the thread and its agent, redacting (see `redactingLogger`). */
function threadLogger(context: SupervisorContext, thread: Thread): Logger {
  const agent = context.agents.get(thread.agent);
  const model = agent?.model ?? context.deps.model;
  return redactingLogger(context.deps.logger, agent?.secrets ?? NO_SECRETS, model.secrets).child({ threadId: thread.id, agent: thread.agent });
}

/** What {@link fill} needs of the transition it runs in. */
interface Filling {
  readonly context: SupervisorContext;
  readonly self: AnyActorRef;
  /** Runs `start` once the transition is done. */
  readonly later: (start: () => void) => void;
}

/**
 * Starts children for queued threads while there is capacity. Returns the running ids and the queue
 * after, for the one `assign` of the transition (each assign clones the supervisor's snapshot).
 */
function fill({ context, self, later }: Filling, running: string[], queue: Thread[]): { running: string[]; queue: Thread[] } {
  while (!context.draining && running.length < context.maxConcurrent && queue.length > 0) {
    const thread = queue.shift()!;
    const threadId = thread.id;
    const deps = {
      ...context.deps,
      // What the agent's tools and steps log, and the actor's own lines, never show its secrets,
      // its model's key, nor secret-shaped text.
      logger: threadLogger(context, thread),
      // Deferred: sent from inside the child's entry action, the supervisor would otherwise run
      // its own transition in the middle of the child's.
      onRest: (rest: { state: string; thread: Thread; wakeAt?: number }) =>
        queueMicrotask(() => self.send({ type: 'CHILD_RESTED', threadId, state: rest.state, thread: rest.thread, ...(rest.wakeAt === undefined ? {} : { wakeAt: rest.wakeAt }) })),
    };
    const child = logicOf(context, thread, deps);
    if (child === undefined) {
      context.onRest({ threadId, state: 'stopped', status: null, thread, problem: `no agent or pipeline named ${thread.agent}` });
      continue;
    }
    running.push(threadId);
    const actor = createActor(child.logic, { id: threadId, parent: self, input: child.input });
    context.actors.set(threadId, actor);
    later(() => actor.start());
  }
  return { running, queue };
}

/**
 * Whether the child left the rest it reported before the report arrived (it is sent a microtask
 * late): a wait's own timer fired meanwhile (a simulated clock moved as the wait began), and the
 * child went on from it. Stopping it then would abort the step it runs now, and the wake-up armed
 * for the rest would start the thread a second time (the model asked twice for one wait). The
 * child reports its next rest in turn.
 */
function movedOn(actor: AnyActorRef | undefined, rest: { state: string; thread: Thread }): boolean {
  if (actor === undefined) return false;
  const snapshot = actor.getSnapshot() as { status: string; value: unknown; context: { thread: Thread } };
  return snapshot.status !== 'active' || snapshot.value !== rest.state || snapshot.context.thread !== rest.thread;
}

/**
 * Where a failed child's failure is logged: its own logger, bound to its thread and agent (and
 * redacting its agent's secrets), or, when it failed before it had one (its context was being
 * built), the supervisor's with the thread id.
 */
function failedChildLogger(context: SupervisorContext, threadId: string): Pick<Logger, 'error'> {
  const snapshot = context.actors.get(threadId)?.getSnapshot() as { context?: { deps?: { logger?: Logger } } } | undefined;
  return snapshot?.context?.deps?.logger ?? context.deps.logger.child({ threadId });
}

/** How a child failed: its thread (when its context was built), its state, and the error, its agent's secrets redacted. */
interface ChildFailure {
  readonly thread: Thread | null;
  readonly state: string;
  readonly problem: string;
  readonly logger: Pick<Logger, 'error'>;
}

/** What a failed child's snapshot says of it (its context is missing when building it threw). */
function childFailure(context: SupervisorContext, threadId: string, error: unknown): ChildFailure {
  const snapshot = context.actors.get(threadId)?.getSnapshot() as { value?: unknown; context?: { thread?: Thread } } | undefined;
  const thread = snapshot?.context?.thread ?? null;
  const secrets = thread === null ? undefined : context.agents.get(thread.agent)?.secrets;
  return { thread, state: stateOf(snapshot?.value), problem: redactText(messageOf(error), secrets), logger: failedChildLogger(context, threadId) };
}

/** Reports a failed child for the runtime to start again after a backoff (see {@link AgentRest.actorFailed}). */
function reportFailed(context: SupervisorContext, threadId: string, failed: ChildFailure, problem = failed.problem): void {
  context.onRest({ threadId, state: 'stopped', status: null, thread: failed.thread, problem, failedIn: failed.state, actorFailed: true });
}

/**
 * Starts a failed child again from its thread as stored. A thread gone meanwhile leaves it stopped,
 * so a wait on it ends; a store that cannot read it now reports it failed (logged), for the runtime
 * to start it again after a backoff.
 */
function restartFailed(context: SupervisorContext, self: AnyActorRef, threadId: string, failed: ChildFailure): void {
  context.deps.store.get(threadId).then(
    (thread) =>
      thread
        ? self.send({ type: 'START', thread })
        : context.onRest({ threadId, state: 'stopped', status: null, thread: null, problem: `${failed.problem}; not restarted: its thread is gone` }),
    (error: unknown) => {
      failed.logger.error({ err: messageOf(error) }, 'agent actor not restarted: its thread could not be read');
      reportFailed(context, threadId, failed, `${failed.problem}; not restarted: its thread could not be read: ${messageOf(error)}`);
    },
  );
}

/** The failure counts without `threadId`'s: its child rested (or its thread is dropped). */
function withoutFailures(failures: Readonly<Record<string, number>>, threadId: string): Readonly<Record<string, number>> {
  if (!(threadId in failures)) return failures;
  const { [threadId]: _dropped, ...rest } = failures;
  return rest;
}

/** The running ids without `threadId`. */
const without = (running: readonly string[], threadId: string): string[] => running.filter((id) => id !== threadId);

/**
 * The supervisor: starts one agent actor (its child) per active thread, evicts children that rest
 * (waiting on a human, paused, ended) so waiting threads hold no memory, runs at most
 * `maxConcurrent` at once, restarts a child that failed at once (from its thread), reports one that
 * fails again in a row (`actorFailed`: the runtime backs off before it starts it again), and forwards
 * control events to children. Send `EVICT_ALL` before stopping it: its children are its own, not
 * entries of its snapshot that stopping it would stop.
 *
 * Its children's done and error events reach its machine as {@link ChildEnded}: XState memoizes,
 * per state node and for the machine's life, the transitions of every event type it is asked
 * about, handled or not, and those events are typed by the child's id, its thread's, so a
 * long-running runtime would keep an entry per thread it ever finished (about 150-200 bytes each).
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    input: {} as SupervisorInput,
    events: {} as SupervisorEvent | ChildEnded,
  },
  actions: {
    /** Stops a thread's child, if it has one, and forgets it. */
    stop: enqueueActions(({ context, enqueue }, params: { threadId: string }) => {
      const actor = context.actors.get(params.threadId);
      if (actor === undefined) return;
      context.actors.delete(params.threadId);
      enqueue.stopChild(actor);
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, pipelines: input.pipelines ?? new Map(), running: [], queue: [], draining: false, failures: {}, actors: new Map() }),
  initial: 'supervising',
  states: {
    supervising: {
      on: {
        START: {
          guard: ({ context, event }) => !context.draining && !context.running.includes(event.thread.id) && !context.queue.some((t) => t.id === event.thread.id),
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            enqueue.assign(fill({ context, self, later: enqueue }, [...context.running], [...context.queue, event.thread]));
          }),
        },
        FORWARD: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const actor = context.actors.get(event.threadId);
            if (actor !== undefined) enqueue.sendTo(actor, event.event);
          }),
        },
        EVICT_ALL: {
          actions: enqueueActions(({ context, enqueue }) => {
            for (const threadId of context.actors.keys()) enqueue({ type: 'stop', params: { threadId } });
            enqueue.assign({ running: [], queue: [] });
          }),
        },
        DRAIN: { actions: assign({ draining: true, queue: [] }) },
        EVICT: {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            enqueue({ type: 'stop', params: { threadId: event.threadId } });
            const queue = context.queue.filter((t) => t.id !== event.threadId);
            enqueue.assign({
              ...fill({ context, self, later: enqueue }, without(context.running, event.threadId), queue),
              failures: withoutFailures(context.failures, event.threadId),
            });
          }),
        },
        CHILD_RESTED: {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            const id = event.threadId;
            if (!context.running.includes(id) || movedOn(context.actors.get(id), event)) return;
            enqueue({ type: 'stop', params: { threadId: id } });
            const thread = event.thread;
            const wakeAt = event.wakeAt === undefined ? {} : { wakeAt: event.wakeAt };
            enqueue(() => context.onRest({ threadId: id, state: event.state, status: statusOf(deriveState(thread.events)), thread, ...wakeAt }));
            // A rest ends the failures in a row: a later failure is restarted at once again.
            enqueue.assign({ ...fill({ context, self, later: enqueue }, without(context.running, id), [...context.queue]), failures: withoutFailures(context.failures, id) });
          }),
        },
        CHILD_DONE: {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            const { threadId: id, output } = event;
            // A child at its final state has stopped itself: only forget it.
            context.actors.delete(id);
            const state = output.stopped ? 'stopped' : output.status;
            enqueue(() =>
              context.onRest({
                threadId: id,
                state,
                status: output.status,
                thread: output.thread,
                ...(output.stopped ? { problem: redactText(output.stopped, context.agents.get(output.thread.agent)?.secrets) } : {}),
                ...(output.failedIn === undefined ? {} : { failedIn: output.failedIn }),
              }),
            );
            // Unless a step failed (its thread is started again), the child's failures in a row end.
            const failures = output.failedIn === undefined ? withoutFailures(context.failures, id) : context.failures;
            enqueue.assign({ ...fill({ context, self, later: enqueue }, without(context.running, id), [...context.queue]), failures });
          }),
        },
        CHILD_FAILED: {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            const id = event.threadId;
            const failures = (context.failures[id] ?? 0) + 1;
            const failed = childFailure(context, id, event.error);
            failed.logger.error({ state: failed.state, err: failed.problem, failures }, 'agent actor failed');
            // A child that failed has stopped itself: only forget it.
            context.actors.delete(id);
            // The first failure in a row is restarted at once, from the thread as stored: the log,
            // not the dead actor, is the truth. Later ones are started again after a backoff.
            if (failures < 2) enqueue(() => restartFailed(context, self, id, failed));
            else enqueue(() => reportFailed(context, id, failed));
            enqueue.assign({ ...fill({ context, self, later: enqueue }, without(context.running, id), [...context.queue]), failures: { ...context.failures, [id]: failures } });
          }),
        },
      },
    },
  },
});
renamingChildEvents(supervisorMachine);

/** Makes `machine` (and any machine its `provide` builds) read its children's ending as {@link ChildEnded}. */
function renamingChildEvents(machine: typeof supervisorMachine): typeof supervisorMachine {
  const transition = machine.transition.bind(machine);
  const provide = machine.provide.bind(machine);
  machine.transition = (snapshot, event, actorScope) => transition(snapshot, childEnded(event), actorScope);
  machine.provide = (implementations) => renamingChildEvents(provide(implementations));
  return machine;
}
