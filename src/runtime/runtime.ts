import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { agentMachine, agentMachineFor } from '../../machines/agentMachine.js';
import { createPipelineMachine, type PipelineMachine } from '../../machines/pipelineMachine.js';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { isAgent, type Agent } from '../agent/agent.js';
import { bothSites } from '../agent/definitionSite.js';
import type { AgentDeps } from '../agent/deps.js';
import { systemClock, type Clock } from '../clock.js';
import { sealSecretsOf } from '../context/sealedArgs.js';
import { ConfigError, InvalidInputError, messageOf, NotFoundError, RuntimeClosedError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { isModel, type Model } from '../model/model.js';
import { isPipeline, isPipelineBuilder, pipelineCycle, type Pipeline } from '../pipeline/pipeline.js';
import type { ChildLauncher } from '../pipeline/pipelineSteps.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../store/threadStore.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, RESTING_STATUSES, statusOf } from '../thread/state.js';
import { assertOwner, checkLaunch, launchThread, type LaunchOptions, type LaunchSources } from './launching.js';
import { deleteThread, type DeletedThread } from './deleteThread.js';
import type { LaunchInputs, LaunchInputsOf } from './launchInputs.js';
import { createSettling } from './settling.js';
import { cancelChildrenOfFailed, controlThread, endedWithParent, escalateThread, respondToThread, type ControlOptions, type ControlSources, type ControlWait, type Escalation } from './threadControl.js';
import { createThreadDriver, type AbandonedCalls, type ScheduleReason, type ThreadDriver } from './threadDriver.js';
import { createThreadEvents, observedStore, type ThreadChange, type ThreadDeletion } from './threadEvents.js';
import { viewOf, type ThreadView } from './threadView.js';
import { watchThread, type WatchOptions } from './watchThread.js';

// The runtime's facade: it wires the parts, each in its own file (thread events and watch,
// settling, driving actors, launching, answering and control), behind one API.
export { THREAD_ID_PATTERN, THREAD_ID_RULE, type LaunchOptions } from './launching.js';
export type { ControlOptions, ControlWait, Escalation } from './threadControl.js';
export type { DeletedThread } from './deleteThread.js';
export type { AbandonedCall, AbandonedCalls, ScheduleReason } from './threadDriver.js';
export type { ThreadChange, ThreadDeletion } from './threadEvents.js';
export { parentIdOf, type ThreadView } from './threadView.js';
export type { WatchOptions } from './watchThread.js';
export type { LaunchInputOf, LaunchInputs, LaunchInputsOf } from './launchInputs.js';

/** Options of {@link Runtime.run}. */
export interface RunOptions {
  /** Stops waiting (the returned promise rejects with the signal's reason); the thread carries on. */
  signal?: AbortSignal | undefined;
  /**
   * The agent or pipeline the thread must belong to. When it belongs to another, `run` throws an
   * {@link InvalidStateError} (status `conflict`), as {@link Runtime.launch} does for an existing id,
   * and runs nothing.
   */
  agent?: string | undefined;
  /**
   * The thread as the caller has just read or written it (its `id` must be the `threadId` given),
   * so `run` does not read it again. Only pass a thread nothing can have advanced since: right
   * after {@link Runtime.launch}, say, under a claim that keeps other runs of it away.
   */
  thread?: Thread | undefined;
  /**
   * Resolve also when the thread falls asleep here, or rests through a backoff longer than a few
   * seconds (a rate limit), and its wake-up is handed to `schedule` (a job due at the deadline), so
   * the caller can let go of it (a NATS worker frees its slot). The view resolved then says
   * `sleeping` (a backing-off thread's own status stays `backing_off`). Without `schedule`, or
   * false, `run` waits through the sleep or backoff.
   * @default false
   */
  untilAsleep?: boolean | undefined;
}

/**
 * Options of {@link createRuntime}.
 *
 * @typeParam TAgent - the agents (a union of their types: their names and input schemas type {@link Runtime.launch})
 * @typeParam TPipeline - the pipelines, likewise
 */
export interface RuntimeOptions<TAgent extends Agent = Agent, TPipeline extends Pipeline = Pipeline> {
  agents: readonly TAgent[];
  /** Deterministic pipelines over the agents. @default [] */
  pipelines?: readonly TPipeline[] | undefined;
  store: ThreadStore;
  /**
   * The model for agents that have none of their own: needed when one has none (a `ConfigError`
   * naming it otherwise). @default none
   */
  model?: Model | undefined;
  /** @default the system clock */
  clock?: Clock | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** Receives XState inspection events from the supervisor and every agent actor. */
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** Agent actors running at once in this process; more threads wait for a slot. @default 64 */
  maxConcurrent?: number | undefined;
  /**
   * Where threads run after a launch, a response, a resume or a child's end. By default in this
   * process. A distributed deployment passes a function that enqueues a durable job; the worker
   * that takes it calls {@link Runtime.run}. A pipeline whose child thread ended is scheduled even
   * when this runtime does not have the pipeline (a worker of the child agents only), with the
   * `reason` saying which child ended, so a worker serving the pipeline continues it.
   * @default run here
   */
  schedule?: ((thread: Thread, reason?: ScheduleReason) => void | Promise<void>) | undefined;
  /**
   * The secret a tool call's secrets are sealed with in the thread: a value under a secret-named
   * key (`password`, `token`, `apiKey`…) or a secret-shaped substring (`sk-…`, `Bearer …`, the
   * agent's `secrets`) of a decision's arguments is recorded as `sealed.v1.<token>` (AES-256-GCM,
   * bound to the thread and the call) and opened before the tool runs, on any process with the
   * secret: after a restart, an approval, a rerun. A list: the first seals, all open (a rotation:
   * the current secret, then the ones it replaced). Not the webhook secret (receivers hold that
   * one). Without it such a call is not run: it is recorded (redacted) as an `invalid_args` error
   * the model sees, naming the tool, the arguments and this option.
   * @default none (`switchyard serve` and `worker` read SWITCHYARD_SEAL_SECRET and SWITCHYARD_SEAL_SECRET_PREVIOUS)
   */
  sealSecret?: string | readonly string[] | undefined;
}

/**
 * One API to launch, pause and resume agents (factor 6), the same on every surface. Threads that
 * wait for a human or are paused hold no actor in memory; answering loads the thread and continues it.
 *
 * @typeParam TInputs - the input each agent or pipeline takes, by name ({@link LaunchInputsOf}),
 * which {@link createRuntime} infers from its agents and pipelines: `launch` takes those names
 * only, each with its input. The default takes any name and any input: a `Runtime` annotated
 * without it (what the surfaces take) is any runtime.
 */
export interface Runtime<TInputs extends LaunchInputs = LaunchInputs> {
  readonly agents: ReadonlyMap<string, Agent>;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  /** The clock this runtime reads and arms its timers on ({@link RuntimeOptions.clock}): a test drives the same one. */
  readonly clock: Clock;
  /**
   * The machines this runtime runs, by machine id: `supervisor`, the agents' and each pipeline's
   * (`pipeline:<name>`). What the inspector draws.
   */
  readonly machines: ReadonlyMap<string, AnyStateMachine>;
  /** The id (a key of {@link Runtime.machines}) of the machine that runs an agent's or pipeline's threads. */
  machineOf(name: string): string | undefined;
  /**
   * Launches a thread of the agent or pipeline named `agent` with `input`. Checked at run time too
   * (whatever the types said: JavaScript callers, surfaces): an {@link UnknownAgentError} for a name
   * this runtime lacks, an {@link InvalidInputError} with the issues for input that is not JSON or
   * that its input schema refuses. With `options.threadId` of a thread that exists, resolves with
   * it when launched with the same input (JSON values), else throws an {@link InvalidStateError}
   * (`thread_exists_other_input`): a relaunch changes nothing.
   */
  launch<TName extends keyof TInputs & string>(agent: TName, input: TInputs[TName], options?: LaunchOptions): Promise<ThreadView>;
  /** The thread, or `undefined`. */
  get(threadId: string): Promise<ThreadView | undefined>;
  list(options?: ListOptions): Promise<ThreadSummary[]>;
  /** Answers the open human request; the response must name its `requestId`. */
  respond(threadId: string, response: unknown): Promise<ThreadView>;
  /**
   * Pauses the thread once the step in progress here is done (a tool call runs to its end and its
   * result is recorded first; with `awaitCall: false` the pause is recorded at once, and the
   * call's outcome after it). A call running in another process is not waited for: its worker
   * records the call's outcome after the pause, and a resume goes on from it.
   */
  pause(threadId: string, options?: ControlOptions & ControlWait): Promise<ThreadView>;
  resume(threadId: string, options?: ControlOptions): Promise<ThreadView>;
  /**
   * Cancels the thread (and a pipeline's open children). A tool call in progress here has its
   * signal aborted and is waited for, at most until the tool's `timeoutMs`: its result (or its
   * error, or timeout) is recorded before the cancel, and no step runs after it. A call running
   * in another process is not waited for: its worker records the result after the cancel. With
   * `awaitCall: false` a call here is not waited for either: its signal aborts, the cancel is
   * recorded at once, and the call's outcome after it. A pipeline's open children are cancelled
   * so (`awaitCall: false`): a pipeline's cancel never waits for a child's call.
   */
  cancel(threadId: string, options?: ControlOptions & ControlWait): Promise<ThreadView>;
  /**
   * Escalates a thread that is not at rest to a human, from outside its run (the NATS surface,
   * when a job of it was delivered `maxDeliver` times and no worker finished it): records an
   * `escalation` and the `human_request` (kind `escalation`, urgency high) it opens, as an agent's
   * own escalation does, only if the thread is still at `escalation.version` (a run that writes
   * meanwhile wins). Resolves with the thread escalated, or undefined when it moved on or rests.
   * Answering runs it again; denying fails it.
   */
  escalate(threadId: string, escalation: Escalation): Promise<ThreadView | undefined>;
  /**
   * Deletes a thread that ended (done, failed or cancelled) and everything the store keeps for it,
   * for good (GDPR erasure, disk): `get` then answers `undefined`, `list` leaves it out, and its id
   * may be launched again as a new thread. Followers of the thread here (`watch`, an SSE stream)
   * end, and a `settled` still waiting rejects with a {@link NotFoundError}; one info line is
   * logged. Other processes let go of it when told ({@link Runtime.ingestDeletion}: on NATS every
   * process hears of each deletion). A pipeline's children are not deleted with it.
   *
   * Throws a {@link NotFoundError} when there is no such thread, and an {@link InvalidStateError}
   * (HTTP 409) when it has not ended (cancel it first), when it was cancelled while a tool call
   * of it ran in another process and that call's outcome is still awaited (until the tool's
   * `timeoutMs` + 10 s from the call's start, as `watch` waits; the message says until when), when
   * it is a pipeline's child and the pipeline has not ended (it may still need the child's
   * result), or when the store cannot delete (`ThreadStore.delete` is optional). An event that
   * lands meanwhile (the outcome of a call its cancel left running) makes it read and check the
   * thread again, once; a second {@link VersionConflictError} is thrown.
   *
   * Resolves with what it deleted: its id, agent and status, and, when its cancel left a tool
   * call's outcome unrecorded (the call may have taken effect, and the thread was its only record),
   * that call as `unrecordedCall`, which a warning line logged names too.
   */
  delete(threadId: string): Promise<DeletedThread>;
  /**
   * The thread's events, stored then live, until it ends (done, failed, cancelled), is deleted, or
   * `signal` aborts. A thread cancelled while a tool call of it ran in another process is watched past the
   * cancel until that call's outcome is recorded (that process records it after the cancel), at
   * most until the tool's `timeoutMs` from the call's start plus 10 s (2 minutes from its start
   * for a tool of an agent this runtime does not have); see `awaitedOutcome`. Once the runtime
   * closed, throws a {@link RuntimeClosedError} (`the runtime is closed`) (after the events it had yielded).
   */
  watch(threadId: string, options?: WatchOptions): AsyncIterable<ThreadEvent>;
  /**
   * Resolves when the thread stops moving in this process: it ended, waits for a human or a resume,
   * or (a pipeline) waits for a child thread that has not ended (told from its log and the child's
   * thread, so also where no actor of the pipeline runs: an API process on NATS). A thread cancelled while a tool call of it ran in
   * another process resolves once that call's outcome is recorded, with it, waited for as long as
   * {@link Runtime.watch} waits (then it resolves with the thread as it is). A thread whose step or
   * actor failed here waits on through its backoff (it is started again) until it rests. Rejects with a
   * {@link RuntimeClosedError} (`the runtime is closed`) once the runtime closed ({@link Runtime.close}).
   */
  settled(threadId: string, options?: { signal?: AbortSignal }): Promise<ThreadView>;
  /**
   * Continues every thread that was running, backing off or sleeping when the last process stopped,
   * and resolves with how many. A pipeline's child whose pipeline was cancelled (the process died
   * before cancelling it) is cancelled instead, and not counted.
   *
   * Only one live runtime may recover a store: nothing here checks that the last process did stop.
   * A thread another live process is running (on the same file-store directory, say) is taken over
   * as if that process had died: its call in progress makes a human be asked whether it took
   * effect, or (an idempotent tool) runs a second time at once. `switchyard serve` enforces this
   * with its lease on the data directory; an embedder must see to it (one process at a time, the
   * old one stopped first).
   */
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
  /**
   * Tells this runtime that another process deleted a thread (a deletion notice from the bus), so
   * that here too its followers (`watch`, SSE, `settled`) end as deleted and the listeners of
   * {@link onDelete} hear of it (with `elsewhere: true`: they drop its callbacks and webhooks under
   * way or waiting to retry). Reads the thread once. When the store holds the id again, launched
   * again since as another incarnation, only the followers of the incarnation deleted
   * (`deletion.incarnation`) end: the new one's followers and deliveries, and the `onDelete`
   * listeners (they key by id), are left alone. When it holds the incarnation named (not deleted
   * after all), nothing happens. Resolves with whether the thread was gone (the deletion applied
   * in full); deletes nothing itself.
   */
  ingestDeletion(deletion: Omit<ThreadDeletion, 'elsewhere'>): Promise<boolean>;
  /**
   * The threads something in this process waits on or watches now (`settled`, `watch`, an SSE
   * stream): those to {@link Runtime.ingest} again when events from other processes may have been
   * lost (the bus lost its server).
   */
  watchedThreads(): readonly string[];
  /** Listens to every change this runtime writes. Returns an unsubscribe function. */
  subscribe(listener: (change: ThreadChange) => void): () => void;
  /**
   * Listens for the threads this runtime deletes ({@link Runtime.delete}), each once it is gone
   * from the store (a delivery ledger forgets its records of it), and for those another process
   * deleted that it heard of ({@link Runtime.ingestDeletion}: `deletion.elsewhere` is true).
   * Returns an unsubscribe function.
   */
  onDelete(listener: (threadId: string, deletion: ThreadDeletion) => void): () => void;
  /** Threads with an actor in memory now. */
  activeCount(): number;
  /** Resolves when the store can serve requests now; rejects with the cause (see `ThreadStore.ready`). */
  ready(): Promise<void>;
  /**
   * Stops moving threads, as {@link Runtime.close} does, but leaves the store open: no actor starts
   * and none starts another step; with `drainMs`, tool calls in progress get that long to finish
   * and have their results journaled (other steps are aborted at once, to be made again from the
   * log by whichever process runs the thread next); then every actor stops. Runs waiting on a
   * thread here (`run`, `settled`, `watch`) keep waiting: a worker hands their jobs back. Call
   * `close` afterwards (it releases them). From the start of the drain, the runtime refuses new work
   * (`launch`, `respond`, `pause`, `resume`, `cancel`, `delete`, `run`, `recover`) with a
   * {@link RuntimeClosedError} that says so (`the runtime is draining and takes no new work`) and
   * writes nothing, as a closing one does; `get` and `list` still read.
   */
  drain(options?: RuntimeCloseOptions): Promise<void>;
  /**
   * Stops every actor (their threads stay where the log says) and closes the store. With
   * `drainMs`, tool calls in progress get that long to finish and have their results journaled
   * before their actors stop (nothing else starts meanwhile); those still running then are aborted
   * (their tool's signal), and their threads ask a human whether they took effect, unless the tool
   * is idempotent. A tool that ignores its signal goes on running in this process, its outcome
   * recorded nowhere: see {@link Runtime.abandonedCalls}. Once the actors stopped (at once after a
   * {@link Runtime.drain}) and the cancels of a failed pipeline's open children still on their way
   * are over (waited for up to 5 s; a failure is logged), what still waits on a thread here is released, as nothing will move it
   * in this process: `settled` and `run` reject with a {@link RuntimeClosedError} (`the runtime is closed`)
   * (HTTP 503), and `watch` throws it after the events it had yielded; then the store is closed.
   * From the start of the close (or of a drain before it), the runtime refuses new work itself,
   * whatever its store (one of your own may stay usable): `launch`, `respond`, `pause`, `resume`,
   * `cancel`, `delete`, `run` and `recover` reject with that error and write nothing.
   */
  close(options?: RuntimeCloseOptions): Promise<void>;
  /**
   * The tool calls a {@link Runtime.drain} or {@link Runtime.close} aborted (past its drain time,
   * or at once without one) whose tool has not returned yet: it ignores its abort signal, or has
   * not got round to it. Nothing records their outcome. Until they have returned, or this process
   * has exited, their threads must not be taken by another process: it would ask a human whether
   * a call that still runs took effect (or, for an idempotent tool, run it again meanwhile).
   * Empty before a close.
   */
  abandonedCalls(): AbandonedCalls;
}

/** Options of {@link Runtime.close}. */
export interface RuntimeCloseOptions {
  /**
   * How long tool calls in progress may take to finish before they are aborted (ms). Measured in
   * real time, on the process's own timers, not on the runtime's `clock`: a drain is the grace a
   * stopping process gives its calls, so on a `SimulatedClock` (a test's) it ends after `drainMs`
   * without the clock being moved, and moving the clock does not cut it short.
   * @default 0 (aborted at once)
   */
  drainMs?: number | undefined;
}

/**
 * Refuses, with a {@link ConfigError} naming it, what only the types of {@link RuntimeOptions}
 * would catch (options from JavaScript, a spread of a partial object): met later, each is a
 * TypeError, or a thread escalating with one as its model's error. A model is needed only for an
 * agent without one of its own.
 */
function checkOptions(options: RuntimeOptions | undefined): void {
  function fail(message: string): never {
    throw new ConfigError(message);
  }
  if (typeof options !== 'object' || options === null) fail('createRuntime needs options { agents, store, model }');
  const { agents, pipelines = [], store, model } = options as Partial<Record<keyof RuntimeOptions, unknown>>;
  const named = (value: unknown): string => {
    const name = (value as { name?: unknown }).name;
    return typeof name === 'string' ? ` (${name})` : '';
  };
  if (!Array.isArray(agents)) fail('createRuntime needs agents (options.agents): an array of agents');
  agents.forEach((item: unknown, index) => {
    if (isAgent(item)) return;
    if (isPipeline(item) || isPipelineBuilder(item)) fail(`createRuntime: agents[${index}] is a pipeline${named(item)}: pass it in options.pipelines`);
    fail(`createRuntime: agents[${index}] is not an agent (define it with agent({ ... }))`);
  });
  if (!Array.isArray(pipelines)) fail('createRuntime: options.pipelines must be an array of pipelines');
  pipelines.forEach((item: unknown, index) => {
    if (isPipeline(item)) return;
    if (isPipelineBuilder(item)) fail(`createRuntime: pipelines[${index}] is a pipeline builder: end it with .finish(({ results }) => output)`);
    if (isAgent(item)) fail(`createRuntime: pipelines[${index}] is an agent${named(item)}: pass it in options.agents`);
    fail(`createRuntime: pipelines[${index}] is not a pipeline (define it with pipeline({ ... }))`);
  });
  if (store === undefined || store === null) fail('createRuntime needs a store (options.store), e.g. createMemoryStore() or await createFileStore({ dir })');
  if (typeof (store as { then?: unknown }).then === 'function') fail('createRuntime: store is a promise; await it (await createFileStore({ dir }))');
  const methods = ['create', 'append', 'get', 'list', 'close'] as const;
  if (typeof store !== 'object' || methods.some((method) => typeof (store as Record<string, unknown>)[method] !== 'function')) {
    fail(`createRuntime: store must be a ThreadStore ({ ${methods.join(', ')} })`);
  }
  if (model === undefined || model === null) {
    const without = (agents as Agent[]).find((a) => a.model === undefined);
    if (without !== undefined) fail(`createRuntime needs a model (options.model): agent ${without.name} has none of its own`);
  } else if (!isModel(model)) {
    fail('createRuntime: model must be a Model ({ name, complete(request) })');
  }
}

/** Checks the definitions and builds each pipeline's machine once. */
function definitions(options: RuntimeOptions): { agents: Map<string, Agent>; pipelines: Map<string, Pipeline>; pipelineMachines: Map<string, { pipeline: Pipeline; machine: PipelineMachine }> } {
  const agents = new Map<string, Agent>();
  for (const a of options.agents) {
    const first = agents.get(a.name);
    if (first !== undefined) throw new ConfigError(`two agents are named ${a.name}${bothSites(first, a)}`);
    agents.set(a.name, a);
  }
  const pipelines = new Map<string, Pipeline>();
  const pipelineMachines = new Map<string, { pipeline: Pipeline; machine: PipelineMachine }>();
  for (const p of options.pipelines ?? []) {
    const first = agents.get(p.name) ?? pipelines.get(p.name);
    if (first !== undefined) throw new ConfigError(`two agents or pipelines are named ${p.name}${bothSites(first, p)}`);
    pipelines.set(p.name, p);
    pipelineMachines.set(p.name, { pipeline: p, machine: createPipelineMachine(p) });
  }
  const cycle = pipelineCycle([...pipelines.values()]);
  if (cycle !== null) throw new ConfigError(cycle);
  return { agents, pipelines, pipelineMachines };
}

/** The machines a runtime runs, by machine id (what the inspector draws). */
function machinesOf(agents: ReadonlyMap<string, Agent>, pipelineMachines: ReadonlyMap<string, { machine: PipelineMachine }>): Map<string, AnyStateMachine> {
  return new Map<string, AnyStateMachine>([
    [agentMachine.id, agentMachine],
    ...[...agents.values()].map((a): [string, AnyStateMachine] => [agentMachineFor(a).id, agentMachineFor(a)]),
    [supervisorMachine.id, supervisorMachine],
    ...[...pipelineMachines.values()].map(({ machine }): [string, AnyStateMachine] => [machine.id, machine]),
  ]);
}

/**
 * Continues every thread of this runtime's agents and pipelines that was moving when the last
 * process stopped, sleeping ones included (their actor re-arms the recorded deadline). A child
 * whose pipeline was cancelled (the process died before cancelling it) is cancelled instead.
 */
async function recoverThreads(
  store: ThreadStore,
  control: ControlSources,
  { agents, pipelines, driver, logger }: { agents: ReadonlyMap<string, Agent>; pipelines: ReadonlyMap<string, Pipeline>; driver: ThreadDriver; logger: Logger },
): Promise<number> {
  const moving = await store.list({ status: ['running', 'backing_off', 'sleeping'], limit: Number.MAX_SAFE_INTEGER });
  let count = 0;
  let cancelled = 0;
  const unserved = new Map<string, string[]>();
  for (const summary of moving) {
    if (!agents.has(summary.agent) && !pipelines.has(summary.agent)) {
      unserved.set(summary.agent, [...(unserved.get(summary.agent) ?? []), summary.id]);
      continue;
    }
    const thread = await store.get(summary.id);
    if (thread === undefined) continue;
    try {
      if ((await endedWithParent(control, thread)) !== undefined) {
        cancelled++;
        continue;
      }
    } catch (error) {
      // Left as it is rather than run for a pipeline that may be cancelled: the next recover tries again.
      logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, "could not check or cancel a recovered thread's pipeline; thread left as is");
      continue;
    }
    driver.start(thread);
    count++;
  }
  if (count > 0 || cancelled > 0) logger.info({ count, cancelled }, 'recovered threads');
  warnUnserved(unserved, logger);
  return count;
}

/** Thread ids a warning about unserved threads names at most (per agent). */
const UNSERVED_IDS_SHOWN = 10;

/**
 * Says, once per agent, which moving threads recover() left as they were because this runtime
 * does not serve their agent (a deploy dropped or renamed it): nothing here would ever move them.
 */
function warnUnserved(unserved: ReadonlyMap<string, readonly string[]>, logger: Logger): void {
  for (const [agent, ids] of unserved) {
    logger.warn(
      { agent, threads: ids.length, threadIds: ids.slice(0, UNSERVED_IDS_SHOWN) },
      `moving threads of agent ${agent}, which is not served here, were left as they are: serve the agent to continue them, or cancel them`,
    );
  }
}

/** How long a closing runtime waits for the cancels of failed pipelines' children still on their way. */
const CHILD_CANCELS_WAIT_MS = 5_000;

/**
 * Waits, up to {@link CHILD_CANCELS_WAIT_MS}, for the cancels of failed pipelines' children still
 * on their way (a pipeline that failed right at the close), so that each child is cancelled before
 * the store closes rather than when it next moves. They never reject (a failure is logged by
 * each); past the wait, the close goes on and says so.
 */
async function settleChildCancels(cancels: ReadonlySet<Promise<void>>, clock: Clock, logger: Logger): Promise<void> {
  if (cancels.size === 0) return;
  let timer: unknown;
  const finished = await Promise.race([
    (async () => {
      while (cancels.size > 0) await Promise.all([...cancels]);
      return true;
    })(),
    new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), CHILD_CANCELS_WAIT_MS))),
  ]);
  clock.clearTimeout(timer);
  if (!finished) logger.warn({ pipelines: cancels.size, waitedMs: CHILD_CANCELS_WAIT_MS }, "closing before the cancel of failed pipelines' children finished: each is cancelled when it next moves");
}

/** The runtime's model when every agent brings its own (see {@link RuntimeOptions.model}): never asked. */
const NO_MODEL: Model = {
  name: 'none',
  complete: async () => ({ success: false, error: { kind: 'http', status: 400, retryable: false, message: 'this runtime has no model (options.model): give the agent one' } }),
};

/**
 * Builds a {@link Runtime} over a store and a model. Throws a {@link ConfigError} naming what is
 * wrong in `options`: no agents, store or (for an agent without its own) model, a store not
 * awaited, a pipeline in `agents`, an agent or an unfinished pipeline builder in `pipelines`, two
 * agents or pipelines of one name, a `maxConcurrent` that is not a positive integer.
 */
export function createRuntime<TAgent extends Agent, TPipeline extends Pipeline = never>(options: RuntimeOptions<TAgent, TPipeline>): Runtime<LaunchInputsOf<TAgent | TPipeline>> {
  checkOptions(options);
  const { clock = systemClock, logger = silentLogger(), inspect, maxConcurrent = 64, schedule } = options;
  // Without one, every agent has its own (checked above): this one is never asked.
  const model = options.model ?? NO_MODEL;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new ConfigError('maxConcurrent must be a positive integer');
  const { agents, pipelines, pipelineMachines } = definitions(options);
  const sealSecrets = sealSecretsOf(options.sealSecret);
  const events = createThreadEvents(logger);
  const inner = options.store;
  // Parts built below, told about each other through these late-bound closures.
  let driver: ThreadDriver;
  let launch: (agentName: string, input: unknown, launchOptions?: LaunchOptions) => Promise<ThreadView>;
  const store = observedStore(inner, events, (thread) => driver.wakeParent(thread));
  const load = async (threadId: string): Promise<Thread> => {
    const thread = await store.get(threadId);
    if (thread === undefined) throw new NotFoundError('thread', threadId);
    return thread;
  };
  const settling = createSettling({
    events,
    load,
    isActive: (threadId) => driver.isActive(threadId),
    isBusy: (threadId) => driver.isBusy(threadId),
    clock,
    agents,
    pipelines: new Set(pipelines.keys()),
    ...(schedule === undefined ? { driveIdle: (thread: Thread) => driver.driveIdle(thread) } : {}),
  });
  const children: ChildLauncher = {
    check(agent, input, { parentId }) {
      checkLaunch(launchSources, agent, input, { source: { kind: 'pipeline', parentId } });
    },
    async launch(agent, input, { threadId, parentId, parentKey }) {
      // The pipeline's incarnation as the child's trigger: an earlier pipeline's child is told apart.
      const child = await launch(agent, input, { threadId, source: { kind: 'pipeline', parentId, ...(parentKey === undefined ? {} : { triggerId: parentKey }) } });
      return { status: child.status, output: child.output, failure: child.failure };
    },
  };
  // The cancels of failed pipelines' children still on their way: close waits for them.
  const childCancels = new Set<Promise<void>>();
  const onRested = (threadId: string, thread: Thread | null): void => {
    settling.rested(threadId, thread);
    const cancelling = thread === null ? undefined : cancelChildrenOfFailed(controlSources, thread);
    if (cancelling === undefined) return;
    childCancels.add(cancelling);
    void cancelling.finally(() => childCancels.delete(cancelling));
  };
  driver = createThreadDriver({ agents, pipelines: pipelineMachines, store, model, clock, logger, inspect, maxConcurrent, schedule, sealSecrets, children, onRested, onSlept: settling.slept });
  const deps: AgentDeps = { model, store, clock, logger };
  const controlSources: ControlSources = { deps, driver, served: { agents, pipelines, scheduled: schedule !== undefined }, load, settled: (threadId) => settling.settled(threadId, undefined) };
  const launchSources: LaunchSources = {
    agents,
    pipelines,
    store,
    clock,
    logger,
    scheduled: schedule !== undefined,
    isActive: driver.isActive,
    start: (thread) => driver.start(thread),
    endedWithParent: (thread) => endedWithParent(controlSources, thread),
  };
  launch = (agentName, input, launchOptions) => launchThread(launchSources, agentName, input, launchOptions);
  // Once its drain or close began, the runtime takes no new work itself, whatever its store (one
  // of the user's own may stay usable): nothing here would run it. A pipeline's children are
  // launched through the `launch` above, not refused: the step launching one is the driver's to stop.
  let stopping: 'draining' | 'closed' | undefined;
  const whileOpen =
    <TArgs extends unknown[], TResult>(work: (...args: TArgs) => Promise<TResult>) =>
    (...args: TArgs): Promise<TResult> =>
      stopping === undefined ? work(...args) : Promise.reject(new RuntimeClosedError(stopping));
  return {
    agents,
    pipelines,
    clock,
    machines: machinesOf(agents, pipelineMachines),
    machineOf: (name) => {
      const agent = agents.get(name);
      return agent !== undefined ? agentMachineFor(agent).id : pipelineMachines.get(name)?.machine.id;
    },
    launch: whileOpen(launch),
    async get(threadId) {
      const thread = await store.get(threadId);
      if (thread === undefined) return undefined;
      // What only this process knows: the thread waits for a slot here, or an actor runs it now.
      const place = driver.placeOf(threadId);
      return { ...viewOf(thread), ...(place === undefined ? {} : place === 'running' ? { live: true as const } : { queued: place }) };
    },
    list: (opts) => store.list(opts),
    respond: whileOpen((threadId: string, response: unknown) => respondToThread(controlSources, threadId, response)),
    pause: whileOpen((threadId: string, opts: ControlOptions & ControlWait = {}) => controlThread(controlSources, threadId, 'pause', opts)),
    resume: whileOpen((threadId: string, opts: ControlOptions = {}) => controlThread(controlSources, threadId, 'resume', opts)),
    cancel: whileOpen((threadId: string, opts: ControlOptions & ControlWait = {}) => controlThread(controlSources, threadId, 'cancel', opts)),
    escalate: whileOpen((threadId: string, escalation: Escalation) => escalateThread(controlSources, threadId, escalation)),
    delete: whileOpen((threadId: string) =>
      deleteThread(
        {
          store: inner,
          load,
          logger,
          clock,
          agents,
          forget: (thread) => {
            driver.forget(thread.id);
            events.deleted({ threadId: thread.id, agent: thread.agent, incarnation: incarnationKeyOf(thread) });
          },
        },
        threadId,
      ),
    ),
    watch: (threadId, opts = {}) => watchThread(threadId, opts, { events, load, clock, agents }),
    settled: (threadId, opts = {}) => settling.settled(threadId, undefined, { ...opts, untilOutcome: true }),
    recover: whileOpen(() => recoverThreads(store, controlSources, { agents, pipelines, driver, logger })),
    run: whileOpen(async (threadId: string, opts: RunOptions = {}) => {
      const { agent, thread: known, ...waitOptions } = opts;
      if (known !== undefined && known.id !== threadId) throw new InvalidInputError(`options.thread is thread ${known.id}, not ${threadId}`);
      const thread = known ?? (await load(threadId));
      if (agent !== undefined) assertOwner(thread, agent);
      // Stopped waiting before it began (a worker that stops): nothing is to move the thread.
      waitOptions.signal?.throwIfAborted();
      const done = settling.settled(threadId, thread, waitOptions);
      driver.drive(thread);
      return done;
    }),
    async ingest(threadId) {
      const thread = await store.get(threadId);
      if (thread === undefined) return;
      // 0 for a thread deleted and created again under its id by another process: all of it is new.
      const known = events.emittedVersion(thread);
      const fresh = thread.events.filter((e) => e.seq > known);
      if (fresh.length === 0) return;
      events.emit(thread, fresh, true);
      // Only a thread that stopped moving elsewhere is at rest: `settled` must not resolve on the
      // first event another process appends to a running thread.
      if (RESTING_STATUSES.includes(statusOf(deriveState(thread.events)))) settling.rested(threadId, thread);
    },
    async ingestDeletion({ threadId, agent, incarnation }) {
      const deletion: ThreadDeletion = { threadId, agent, incarnation, elsewhere: true };
      const stored = await store.get(threadId);
      if (stored === undefined) {
        driver.forget(threadId);
        events.deleted(deletion);
        return true;
      }
      // There again, another incarnation: the deleted one's followers end; what keys by id (the
      // actor, the version emitted, callbacks, webhooks, the inspector) is the new one's.
      if (incarnationKeyOf(stored) !== incarnation) events.incarnationDeleted(deletion);
      return false;
    },
    subscribe: (listener) => events.subscribe(listener),
    onDelete: (listener) => events.subscribeDeletions(listener),
    watchedThreads: () => events.watchedThreads(),
    activeCount: () => driver.activeCount(),
    ready: async () => {
      await inner.ready?.();
    },
    abandonedCalls: () => driver.abandonedCalls(),
    drain: ({ drainMs = 0 } = {}) => {
      stopping ??= 'draining';
      return driver.close(drainMs);
    },
    async close({ drainMs = 0 } = {}) {
      stopping = 'closed';
      try {
        await driver.close(drainMs);
        await settleChildCancels(childCancels, clock, logger);
      } finally {
        // Nothing moves a thread here any more: what waits on one is released (not left pending).
        events.close(new RuntimeClosedError());
      }
      await inner.close();
    },
  };
}
