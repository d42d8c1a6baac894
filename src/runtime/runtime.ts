import { randomUUID } from 'node:crypto';
import { createActor, type AnyStateMachine, type InspectionEvent } from 'xstate';
import { agentMachine, agentMachineFor } from '../../machines/agentMachine.js';
import { supervisorMachine, type AgentRest } from '../../machines/supervisorMachine.js';
import { AGENT_NAME, type Agent } from '../agent/agent.js';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { ChildLauncher } from '../pipeline/pipelineSteps.js';
import { controlStep } from '../agent/controlStep.js';
import { messageOf, ConfigError, formatIssues, InvalidInputError, InvalidStateError, NotFoundError, VersionConflictError } from '../errors.js';
import { type AgentDeps } from '../agent/deps.js';
import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../store/threadStore.js';
import { jsonSchema, versionOf, type HumanRequest, type Json, type Source, type Thread, type ThreadEvent } from '../thread/events.js';
import { humanResponseInputSchema, validateResponse } from '../thread/humanResponse.js';
import { deriveState, RESTING_STATUSES, statusOf, TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';

/** A thread as the API shows it: its derived state beside its events. */
export interface ThreadView {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  readonly version: number;
  /** Decisions made so far. */
  readonly steps: number;
  readonly pendingRequest: HumanRequest | null;
  readonly output: Json | undefined;
  readonly failure: string | undefined;
  readonly createdAt: string | undefined;
  readonly updatedAt: string | undefined;
  readonly events: readonly ThreadEvent[];
}

/** A change to a thread, as runtime listeners see it. */
export interface ThreadChange {
  readonly thread: Thread;
  /** The events just appended (all of them for a new thread). */
  readonly events: readonly ThreadEvent[];
  readonly status: ThreadStatus;
  /**
   * True when another process wrote these events and {@link Runtime.ingest} read them back; absent
   * for this runtime's own writes (so a listener that forwards writes, like the NATS event fan-out
   * or webhooks, does not echo other processes' events).
   */
  readonly ingested?: true;
}

/** Options of {@link Runtime.launch}. */
export interface LaunchOptions {
  /** A caller-chosen id; launching an existing id returns that thread (idempotent triggers). */
  threadId?: string;
  source?: Source;
}

/** Options of {@link Runtime.run}. */
export interface RunOptions {
  /** Stops waiting (the returned promise rejects with the signal's reason); the thread carries on. */
  signal?: AbortSignal;
  /**
   * The agent or pipeline the thread must belong to. When it belongs to another, `run` throws an
   * {@link InvalidStateError} (status `conflict`), as {@link Runtime.launch} does for an existing id,
   * and runs nothing.
   */
  agent?: string;
  /**
   * The thread as the caller has just read or written it (its `id` must be the `threadId` given),
   * so `run` does not read it again. Only pass a thread nothing can have advanced since: right
   * after {@link Runtime.launch}, say, under a claim that keeps other runs of it away.
   */
  thread?: Thread;
}

/** Who asked for a control operation and why (recorded on the event). */
export interface ControlOptions {
  reason?: string;
  by?: string;
}

/** Options of {@link Runtime.watch}. */
export interface WatchOptions {
  /** Yield events after this seq. @default 0 (all events) */
  afterSeq?: number;
  signal?: AbortSignal;
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  agents: readonly Agent[];
  /** Deterministic pipelines over the agents. @default [] */
  pipelines?: readonly Pipeline[];
  store: ThreadStore;
  /** The model for agents that have none of their own. */
  model: Model;
  /** @default the system clock */
  clock?: Clock;
  /** @default a silent logger */
  logger?: Logger;
  /** Receives XState inspection events from the supervisor and every agent actor. */
  inspect?: (event: InspectionEvent) => void;
  /** Agent actors running at once in this process; more threads wait for a slot. @default 64 */
  maxConcurrent?: number;
  /**
   * Where threads run after a launch, a response, a resume or a child's end. By default in this
   * process. A distributed deployment passes a function that enqueues a durable job; the worker
   * that takes it calls {@link Runtime.run}. A pipeline whose child thread ended is scheduled even
   * when this runtime does not have the pipeline (a worker of the child agents only), with the
   * `reason` saying which child ended, so a worker serving the pipeline continues it.
   * @default run here
   */
  schedule?: (thread: Thread, reason?: ScheduleReason) => void | Promise<void>;
}

/** Why the runtime schedules a thread, when it is more than "it should move on". */
export interface ScheduleReason {
  /**
   * A child thread of this pipeline ended (its id, and its version then): the pipeline continues.
   * One child ends once, so a scheduler may deduplicate on it.
   */
  readonly childEnded?: { readonly threadId: string; readonly version: number };
}

/** The pipeline thread that launched this thread, if one did. */
export function parentIdOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  return first?.type === 'input' ? first.data.source?.parentId : undefined;
}

/**
 * One API to launch, pause and resume agents (factor 6), the same on every surface. Threads that
 * wait for a human or are paused hold no actor in memory; answering loads the thread and continues it.
 */
export interface Runtime {
  readonly agents: ReadonlyMap<string, Agent>;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  /**
   * The machines this runtime runs, by machine id: `supervisor`, the agents' and each pipeline's
   * (`pipeline:<name>`). What the inspector draws.
   */
  readonly machines: ReadonlyMap<string, AnyStateMachine>;
  /** The id (a key of {@link Runtime.machines}) of the machine that runs an agent's or pipeline's threads. */
  machineOf(name: string): string | undefined;
  launch(agent: string, input: unknown, options?: LaunchOptions): Promise<ThreadView>;
  /** The thread, or `undefined`. */
  get(threadId: string): Promise<ThreadView | undefined>;
  list(options?: ListOptions): Promise<ThreadSummary[]>;
  /** Answers the open human request; the response must name its `requestId`. */
  respond(threadId: string, response: unknown): Promise<ThreadView>;
  pause(threadId: string, options?: ControlOptions): Promise<ThreadView>;
  resume(threadId: string, options?: ControlOptions): Promise<ThreadView>;
  cancel(threadId: string, options?: ControlOptions): Promise<ThreadView>;
  /** The thread's events, stored then live, until it ends (done, failed, cancelled) or `signal` aborts. */
  watch(threadId: string, options?: WatchOptions): AsyncIterable<ThreadEvent>;
  /**
   * Resolves when the thread stops moving in this process: it ended, waits for a human or a resume,
   * or (a pipeline) waits for a child thread.
   */
  settled(threadId: string, options?: { signal?: AbortSignal }): Promise<ThreadView>;
  /** Continues every thread that was running or backing off when the last process stopped. */
  recover(): Promise<number>;
  /**
   * Runs the thread in this process (a worker taking a job) and resolves when it rests. Reads the
   * thread once (not at all when `options.thread` is given); throws a {@link NotFoundError} when
   * there is no such thread, and an {@link InvalidStateError} when it is not `options.agent`'s.
   */
  run(threadId: string, options?: RunOptions): Promise<ThreadView>;
  /**
   * Tells this runtime about events another process appended (from the bus), so watchers,
   * `settled` and listeners here see them.
   */
  ingest(threadId: string): Promise<void>;
  /** Listens to every change this runtime writes. Returns an unsubscribe function. */
  subscribe(listener: (change: ThreadChange) => void): () => void;
  /** Threads with an actor in memory now. */
  activeCount(): number;
  /** Stops every actor (their threads stay where the log says) and closes the store. */
  close(): Promise<void>;
}

/** Events after which a thread may have ended. */
const mayEnd = (event: ThreadEvent): boolean =>
  event.type === 'final' || event.type === 'failed' || event.type === 'human_response' || (event.type === 'control' && event.data.action === 'cancel');

/** What a thread id may be. No dots: thread ids appear as one token in NATS subjects. */
export const THREAD_ID_PATTERN = /^[A-Za-z0-9_:-]{1,128}$/;
const THREAD_ID = THREAD_ID_PATTERN;

/** Builds a {@link Runtime} over a store and a model. */
export function createRuntime(options: RuntimeOptions): Runtime {
  const { agents: agentList, model, clock = systemClock, logger = silentLogger(), inspect, maxConcurrent = 64 } = options;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new ConfigError('maxConcurrent must be a positive integer');
  const agents = new Map<string, Agent>();
  for (const a of agentList) {
    if (agents.has(a.name)) throw new ConfigError(`two agents are named ${a.name}`);
    agents.set(a.name, a);
  }
  const pipelines = new Map<string, Pipeline>();
  const pipelineMachines = new Map<string, { pipeline: Pipeline; machine: ReturnType<typeof createPipelineMachine> }>();
  for (const p of options.pipelines ?? []) {
    if (agents.has(p.name) || pipelines.has(p.name)) throw new ConfigError(`two agents or pipelines are named ${p.name}`);
    pipelines.set(p.name, p);
    pipelineMachines.set(p.name, { pipeline: p, machine: createPipelineMachine(p) });
  }
  const listeners = new Set<(change: ThreadChange) => void>();
  // The last version emitted per thread (bounded), so events ingested from elsewhere are emitted once.
  const emitted = new Map<string, number>();
  const emit = (thread: Thread, events: readonly ThreadEvent[], ingested = false): void => {
    emitted.delete(thread.id);
    emitted.set(thread.id, versionOf(thread));
    if (emitted.size > 10_000) emitted.delete(emitted.keys().next().value!);
    const own = threadListeners.get(thread.id);
    if (listeners.size === 0 && own === undefined) return;
    // Status is derived on first read only: most listeners never look at it.
    let status: ThreadStatus | undefined;
    const change: ThreadChange = {
      thread,
      events,
      get status() {
        return (status ??= statusOf(deriveState(thread.events)));
      },
      ...(ingested ? { ingested: true as const } : {}),
    };
    for (const listener of [...(own ?? []), ...listeners]) {
      try {
        listener(change);
      } catch (error) {
        logger.error({ threadId: thread.id, err: messageOf(error) }, 'thread listener failed');
      }
    }
  };
  // Listeners of one thread (settled, watch), so a write wakes only its own thread's waiters.
  const threadListeners = new Map<string, Set<(change: ThreadChange) => void>>();
  const subscribeThread = (threadId: string, listener: (change: ThreadChange) => void): (() => void) => {
    let set = threadListeners.get(threadId);
    if (set === undefined) threadListeners.set(threadId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && threadListeners.get(threadId) === set) threadListeners.delete(threadId);
    };
  };
  const inner = options.store;
  // Every write goes through here so listeners (watch, SSE, webhooks, the bus) see it.
  const store: ThreadStore = {
    create: async (thread) => {
      const created = await inner.create(thread);
      emit(created, created.events);
      return created;
    },
    append: async (id, expectedVersion, events) => {
      const appended = await inner.append(id, expectedVersion, events);
      emit(appended, events);
      if (events.some(mayEnd) && TERMINAL_STATUSES.includes(statusOf(deriveState(appended.events)))) wakeParent(appended);
      return appended;
    },
    get: (id) => inner.get(id),
    list: (opts) => inner.list(opts),
    close: () => inner.close(),
  };
  // Told when an actor comes to rest, which can happen after its last write was emitted.
  // Each is handed the thread as the resting actor last wrote it (null when it failed without one).
  const restListeners = new Map<string, Set<(thread: Thread | null) => void>>();
  const notifyRest = (threadId: string, thread: Thread | null): void => {
    for (const listener of [...(restListeners.get(threadId) ?? [])]) listener(thread);
  };
  // Threads answered or resumed while their actor was still finishing a step: restart them once it rests.
  const restartWhenRested = new Set<string>();
  let closed = false;

  const onRest = (rest: AgentRest): void => {
    const log = { threadId: rest.threadId, agent: rest.thread?.agent, state: rest.state, status: rest.status };
    if (rest.problem) logger.warn({ ...log, reason: rest.problem }, 'agent actor stopped early');
    else logger.info(log, 'agent at rest');
    if (restartWhenRested.delete(rest.threadId)) {
      void store.get(rest.threadId).then((thread) => thread && drive(thread));
      return;
    }
    // An actor that stopped early (superseded, failed) holds a stale thread: let waiters read it.
    notifyRest(rest.threadId, rest.problem === undefined ? rest.thread : null);
  };
  // Pipelines delegate to agents through the runtime itself; launching by id is idempotent.
  const children: ChildLauncher = {
    async launch(agent, input, { threadId, parentId }) {
      const child = await launch(agent, input, { threadId, source: { kind: 'pipeline', parentId } });
      return { status: child.status, output: child.output, failure: child.failure };
    },
  };
  /**
   * When a pipeline's child thread ends, the pipeline continues: here when this runtime has the
   * pipeline, else through `schedule` (a durable job that a process serving the pipeline takes).
   */
  function wakeParent(child: Thread): void {
    const parentId = parentIdOf(child);
    if (parentId === undefined) return;
    const reason: ScheduleReason = { childEnded: { threadId: child.id, version: versionOf(child) } };
    store.get(parentId).then(
      (parent) => {
        if (parent === undefined) return;
        if (pipelines.has(parent.agent)) continueAfterWrite(parent, reason);
        else if (options.schedule !== undefined) start(parent, reason);
      },
      (error: unknown) => logger.error({ threadId: parentId, childId: child.id, err: messageOf(error) }, 'could not read the pipeline of an ended child'),
    );
  }
  const supervisor = createActor(supervisorMachine, {
    input: { agents, pipelines: pipelineMachines, deps: { model, store, clock, logger, children }, maxConcurrent, onRest },
    clock,
    ...(inspect ? { inspect } : {}),
  });
  supervisor.start();

  const load = async (threadId: string): Promise<Thread> => {
    const thread = await store.get(threadId);
    if (thread === undefined) throw new NotFoundError('thread', threadId);
    return thread;
  };

  /** Whether the supervisor has this thread running or queued. */
  const isActive = (threadId: string): boolean => {
    const { context } = supervisor.getSnapshot();
    return context.running.includes(threadId) || context.queue.some((t) => t.id === threadId);
  };

  /** Hands the thread to the supervisor, which spawns an actor and evicts it when it rests. */
  const drive = (thread: Thread): void => {
    if (closed) return;
    if (!agents.has(thread.agent) && !pipelines.has(thread.agent)) {
      logger.error({ threadId: thread.id, agent: thread.agent }, 'no such agent in this runtime; thread left as is');
      return;
    }
    supervisor.send({ type: 'START', thread });
  };

  const { schedule } = options;
  /** Hands a thread to the scheduler when there is one (a job queue), else runs it here. */
  const start = (thread: Thread, reason?: ScheduleReason): void => {
    if (schedule === undefined) {
      drive(thread);
      return;
    }
    Promise.resolve()
      .then(() => schedule(thread, reason))
      .catch((error: unknown) => logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, 'could not schedule thread'));
  };

  /** Continues a thread after a write from outside (a response, a resume). */
  const continueAfterWrite = (thread: Thread, reason?: ScheduleReason): void => {
    if (isActive(thread.id)) restartWhenRested.add(thread.id);
    else start(thread, reason);
  };


  const view = (thread: Thread): ThreadView => {
    const state = deriveState(thread.events);
    return {
      id: thread.id,
      agent: thread.agent,
      status: statusOf(state),
      version: state.version,
      steps: state.totalSteps,
      pendingRequest: state.pendingRequest,
      output: state.output,
      failure: state.failure,
      createdAt: state.createdAt,
      updatedAt: state.updatedAt,
      events: thread.events,
    };
  };

  const deps = (): AgentDeps => ({ model, store, clock, logger });

  /**
   * Resolves when the thread rests (see {@link Runtime.settled}). `known` is the thread when the
   * caller has just read it, so it is not read again.
   */
  const settledFrom = (threadId: string, known: Thread | undefined, opts: { signal?: AbortSignal } = {}): Promise<ThreadView> =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = (value: ThreadView | Error): void => {
        if (done) return;
        done = true;
        unsubscribe();
        const waiting = restListeners.get(threadId);
        waiting?.delete(onActorRest);
        if (waiting?.size === 0) restListeners.delete(threadId);
        opts.signal?.removeEventListener('abort', onAbort);
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      const failWith = (error: unknown): void => finish(error instanceof Error ? error : new Error(messageOf(error)));
      const onAbort = (): void => finish(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      const unsubscribe = subscribeThread(threadId, (change) => {
        if (RESTING_STATUSES.includes(change.status) && !actorBusy(threadId)) finish(view(change.thread));
      });
      // Resting includes a pipeline waiting on a child thread (its status stays running). The
      // supervisor reports a rest from inside its transition, before its snapshot drops the child:
      // look once that transition is over.
      const onActorRest = (thread: Thread | null): void => {
        queueMicrotask(() => {
          if (actorBusy(threadId)) return;
          if (thread !== null) finish(view(thread));
          else load(threadId).then((loaded) => finish(view(loaded)), failWith);
        });
      };
      if (!restListeners.has(threadId)) restListeners.set(threadId, new Set());
      restListeners.get(threadId)!.add(onActorRest);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      (known === undefined ? load(threadId) : Promise.resolve(known)).then((thread) => {
        const v = view(thread);
        if (RESTING_STATUSES.includes(v.status) && !actorBusy(threadId)) finish(v);
        else if (!isActive(threadId) && schedule === undefined) {
          // Nobody is moving this thread in this process (backing off after a restart, say): move it.
          drive(thread);
        }
      }, failWith);
    });
  const settled = (threadId: string, opts: { signal?: AbortSignal } = {}): Promise<ThreadView> => settledFrom(threadId, undefined, opts);

  // An actor that just persisted a resting status may still be finishing its step.
  const actorBusy = (threadId: string): boolean => isActive(threadId) || restartWhenRested.has(threadId);

  const subscribe = (listener: (change: ThreadChange) => void): (() => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };

  const control = async (threadId: string, action: 'pause' | 'resume' | 'cancel', opts: ControlOptions): Promise<ThreadView> => {
    const thread = await load(threadId);
    const current = view(thread);
    if (TERMINAL_STATUSES.includes(current.status)) {
      if (action === 'cancel' && current.status === 'cancelled') return current;
      throw new InvalidStateError(`thread ${threadId} is ${current.status}; it cannot be ${action}d`, threadId, current.status);
    }
    if (action === 'pause' && current.status === 'paused') return current;
    if (action === 'resume' && current.status !== 'paused') return current;
    if (action !== 'resume' && supervisor.getSnapshot().context.running.includes(threadId)) {
      const done = settled(threadId);
      supervisor.send({ type: 'FORWARD', threadId, event: action === 'pause' ? { type: 'PAUSE', ...opts } : { type: 'CANCEL', ...opts } });
      return done;
    }
    if (action !== 'resume' && isActive(threadId)) supervisor.send({ type: 'EVICT', threadId });
    const written = await controlStep(deps(), threadId, { action, ...opts });
    if (action === 'resume') continueAfterWrite(written);
    return view(written);
  };

  /** Throws an {@link InvalidStateError} (status `conflict`) unless the thread is `agentName`'s. */
  function assertOwner(thread: Thread, agentName: string): void {
    if (thread.agent !== agentName) throw new InvalidStateError(`thread ${thread.id} belongs to ${thread.agent}, not ${agentName}`, thread.id, 'conflict');
  }

  /** A launch found the thread already there: it must be the same agent's. */
  function ownedBy(existing: Thread, agentName: string): ThreadView {
    assertOwner(existing, agentName);
    return view(existing);
  }

  /**
   * A pipeline's child of an agent this process does not have, in a deployment with a scheduler:
   * the thread is created here and its job taken by a worker that serves the agent (which checks
   * what it can; an agent nobody serves waits in its queue).
   */
  function servedElsewhere(agentName: string, launchOptions: LaunchOptions): Pick<Agent, 'kind' | 'name' | 'input'> | undefined {
    if (options.schedule === undefined || launchOptions.source?.kind !== 'pipeline' || !AGENT_NAME.test(agentName)) return undefined;
    return { kind: 'agent', name: agentName, input: undefined };
  }

  async function launch(agentName: string, input: unknown, launchOptions: LaunchOptions = {}): Promise<ThreadView> {
    const agent = agents.get(agentName) ?? pipelines.get(agentName) ?? servedElsewhere(agentName, launchOptions);
    if (agent === undefined) throw new NotFoundError('agent', agentName);
    const json = jsonSchema.safeParse(input);
    if (!json.success) throw new InvalidInputError('the input must be a JSON value', [json.error.message]);
    if (agent.input) {
      const checked = agent.input.safeParse(input);
      if (!checked.success) {
        throw new InvalidInputError(
          `invalid input for ${agent.kind} ${agent.name}`,
          formatIssues(checked.error.issues),
        );
      }
    }
    const id = launchOptions.threadId ?? `th_${randomUUID()}`;
    if (!THREAD_ID.test(id)) throw new InvalidInputError(`thread id must match ${THREAD_ID}`);
    if (launchOptions.threadId !== undefined) {
      const existing = await store.get(id);
      if (existing !== undefined) {
        const found = ownedBy(existing, agent.name);
        if (!isActive(id) && found.status === 'running') start(existing);
        return found;
      }
    }
    const created = store.create({
      id,
      agent: agent.name,
      events: [
        {
          seq: 1,
          at: new Date(clock.now()).toISOString(),
          type: 'input',
          data: { input: json.data, ...(launchOptions.source ? { source: launchOptions.source } : {}) },
        },
      ],
    });
    let thread: Thread;
    try {
      thread = await created;
    } catch (error) {
      // Two launches raced on one caller-chosen id: the loser returns the winner's thread.
      if (!(error instanceof VersionConflictError) || launchOptions.threadId === undefined) throw error;
      return ownedBy(await load(id), agent.name);
    }
    logger.info({ threadId: id, agent: agent.name, state: 'launched' }, 'thread launched');
    start(thread);
    return view(thread);
  }

  const machines = new Map<string, AnyStateMachine>([
    [agentMachine.id, agentMachine],
    ...[...agents.values()].map((a): [string, AnyStateMachine] => [agentMachineFor(a).id, agentMachineFor(a)]),
    [supervisorMachine.id, supervisorMachine],
    ...[...pipelineMachines.values()].map(({ machine }): [string, AnyStateMachine] => [machine.id, machine]),
  ]);
  return {
    agents,
    pipelines,
    machines,
    machineOf: (name) => {
      const agent = agents.get(name);
      return agent !== undefined ? agentMachineFor(agent).id : pipelineMachines.get(name)?.machine.id;
    },
    launch,
    async get(threadId) {
      const thread = await store.get(threadId);
      return thread === undefined ? undefined : view(thread);
    },
    list: (opts) => store.list(opts),
    async respond(threadId, response) {
      const parsed = humanResponseInputSchema.safeParse(response);
      if (!parsed.success) {
        throw new InvalidInputError(
          'invalid response',
          formatIssues(parsed.error.issues),
        );
      }
      const thread = await load(threadId);
      const state = deriveState(thread.events);
      if (state.terminal !== null) {
        throw new InvalidStateError(`thread ${threadId} is ${state.terminal}`, threadId, state.terminal);
      }
      const checked = validateResponse(state.pendingRequest, parsed.data);
      if (!checked.success) {
        if (checked.code === 'invalid_response') throw new InvalidInputError(checked.error, [checked.error]);
        throw new InvalidStateError(checked.error, threadId, statusOf(state));
      }
      const written = await store.append(threadId, state.version, [
        { seq: state.version + 1, at: new Date(clock.now()).toISOString(), type: 'human_response', data: checked.data },
      ]);
      logger.info({ threadId, agent: thread.agent, requestId: checked.data.requestId, state: 'responded' }, 'human responded');
      continueAfterWrite(written);
      return view(written);
    },
    pause: (threadId, opts = {}) => control(threadId, 'pause', opts),
    resume: (threadId, opts = {}) => control(threadId, 'resume', opts),
    cancel: (threadId, opts = {}) => control(threadId, 'cancel', opts),
    watch(threadId, opts = {}) {
      return watchThread(threadId, opts);
    },
    settled,
    async recover() {
      const moving = await store.list({ status: ['running', 'backing_off'], limit: Number.MAX_SAFE_INTEGER });
      let count = 0;
      for (const summary of moving) {
        const thread = await store.get(summary.id);
        if (thread === undefined || (!agents.has(thread.agent) && !pipelines.has(thread.agent))) continue;
        start(thread);
        count++;
      }
      if (count > 0) logger.info({ count }, 'recovered threads');
      return count;
    },
    async run(threadId, opts = {}) {
      const { agent, thread: known, ...waitOptions } = opts;
      if (known !== undefined && known.id !== threadId) throw new InvalidInputError(`options.thread is thread ${known.id}, not ${threadId}`);
      const thread = known ?? (await load(threadId));
      if (agent !== undefined) assertOwner(thread, agent);
      const done = settledFrom(threadId, thread, waitOptions);
      drive(thread);
      return done;
    },
    async ingest(threadId) {
      const thread = await store.get(threadId);
      if (thread === undefined) return;
      const known = emitted.get(threadId) ?? 0;
      const fresh = thread.events.filter((e) => e.seq > known);
      if (fresh.length === 0) return;
      emit(thread, fresh, true);
      // Only a thread that stopped moving elsewhere is at rest: `settled` must not resolve on the
      // first event another process appends to a running thread.
      if (RESTING_STATUSES.includes(statusOf(deriveState(thread.events)))) notifyRest(threadId, thread);
    },
    subscribe,
    activeCount: () => supervisor.getSnapshot().context.running.length,
    async close() {
      closed = true;
      supervisor.stop();
      listeners.clear();
      threadListeners.clear();
      await inner.close();
    },
  };

  async function* watchThread(threadId: string, opts: WatchOptions): AsyncGenerator<ThreadEvent> {
    // Each change's events, with whether the thread had ended once they were written.
    const queue: { events: readonly ThreadEvent[]; ended: boolean }[] = [];
    let wake: (() => void) | null = null;
    const unsubscribe = subscribeThread(threadId, (change) => {
      queue.push({ events: change.events, ended: TERMINAL_STATUSES.includes(change.status) });
      wake?.();
    });
    const onAbort = (): void => wake?.();
    opts.signal?.addEventListener('abort', onAbort);
    try {
      const thread = await load(threadId);
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
}
