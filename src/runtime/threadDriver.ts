import { createActor, type InspectionEvent } from 'xstate';
import type { AgentContext, AgentMachineEvent } from '../../machines/agentMachine.js';
import type { PipelineMachine } from '../../machines/pipelineMachine.js';
import { supervisorMachine, type AgentRest } from '../../machines/supervisorMachine.js';
import type { ThreadContext } from '../../machines/threadMachine.js';
import type { Agent } from '../agent/agent.js';
import { recordCallNotRun } from '../agent/executeStep.js';
import { LateCalls } from '../agent/lateCalls.js';
import { LoggedRests } from './loggedRests.js';
import { orAfter, type Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { ChildLauncher } from '../pipeline/pipelineSteps.js';
import type { ThreadStore } from '../store/threadStore.js';
import { versionOf, type Thread } from '../thread/events.js';
import { deriveState } from '../thread/state.js';
import { parentIdOf } from './threadView.js';
import { WakeTimers } from './wakeTimers.js';

/** Why the runtime schedules a thread, when it is more than "it should move on". */
export interface ScheduleReason {
  /**
   * A child thread of this pipeline ended (its id, and its version then): the pipeline continues.
   * One child ends once, so a scheduler may deduplicate on it.
   */
  readonly childEnded?: { readonly threadId: string; readonly version: number };
  /**
   * The thread sleeps, or backs off for long (a rate limit), until this time (epoch ms) and holds
   * nothing meanwhile: the scheduler moves it again then (a job due at the deadline). Sent once per
   * sleep or backoff, while the thread may still be claimed by the job that ran it: the scheduler
   * must not fold it into that run.
   */
  readonly wakeAt?: number;
  /**
   * An actor here moved the thread on from a rest that a job had settled (a late call's outcome
   * answered the question asked there, by another process or by this one's own step when the call
   * outlived its timeout: `AgentDeps.onRevived`): no job carries the
   * thread, though this process runs it. The scheduler enqueues a continuation whoever runs the
   * thread now, which waits for that run to let go before it runs the thread, so the thread is
   * continued if this process dies first. It must not fold it into the run in progress.
   */
  readonly revived?: true;
}

/** What {@link createThreadDriver} is given; fully normalized by the runtime. */
export interface ThreadDriverOptions {
  readonly agents: ReadonlyMap<string, Agent>;
  readonly pipelines: ReadonlyMap<string, { readonly pipeline: Pipeline; readonly machine: PipelineMachine }>;
  /** The runtime's store, whose writes listeners see. */
  readonly store: ThreadStore;
  readonly model: Model;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  readonly maxConcurrent: number;
  readonly schedule: ((thread: Thread, reason?: ScheduleReason) => void | Promise<void>) | undefined;
  /** What tool calls' secrets are sealed and opened with (see `RuntimeOptions.sealSecret`). */
  readonly sealSecrets: readonly string[];
  /** Pipelines delegate to agents through the runtime itself (launching by id is idempotent). */
  readonly children: ChildLauncher;
  /** Told when an actor rests, with the thread it last wrote (null when it stopped without one). */
  readonly onRested: (threadId: string, thread: Thread | null) => void;
  /** Told when an actor's thread fell asleep and its wake-up was scheduled (only with `schedule`). */
  readonly onSlept: (threadId: string, thread: Thread) => void;
}

/**
 * The first wait before a thread whose step failed (the store threw), or whose actor failed again
 * after its immediate restart, is started again; it doubles with each failure in a row.
 */
const FAILED_STEP_FIRST_DELAY_MS = 1_000;
/** The longest wait before a thread whose step or actor failed is started again. */
const FAILED_STEP_MAX_DELAY_MS = 60_000;
/** What the line of each start after a failure says, by what failed. */
const RESTART_AFTER = {
  step: 'a step failed: starting the thread again after a backoff',
  actor: 'agent actor failed again: starting the thread again after a backoff',
} as const;

/** Moves threads: the supervisor and its actors here, or the scheduler (a job queue) elsewhere. */
export interface ThreadDriver {
  /** Hands the thread to the supervisor, which spawns an actor and evicts it when it rests. */
  drive(thread: Thread): void;
  /**
   * Runs a thread that looks idle (a wait on it found no actor): not one whose wake-up is armed here
   * (asleep, or backing off after a failure), which its timer moves at its time.
   */
  driveIdle(thread: Thread): void;
  /** Hands a thread to the scheduler when there is one, else runs it here. */
  start(thread: Thread, reason?: ScheduleReason): void;
  /** Continues a thread after a write from outside (a response, a resume): now, or once its actor rests. */
  continueAfterWrite(thread: Thread, reason?: ScheduleReason): void;
  /** When a pipeline's child thread ends, the pipeline continues. */
  wakeParent(child: Thread): void;
  /** Whether the supervisor has this thread running or queued. */
  isActive(threadId: string): boolean;
  /** Whether an actor runs the thread now (not only queued). */
  isRunning(threadId: string): boolean;
  /** `running` when an actor runs the thread here, its place in the queue when it waits for a slot (`maxConcurrent`), else undefined. */
  placeOf(threadId: string): 'running' | QueuePlace | undefined;
  /** Whether an actor that just persisted a resting status may still be finishing its step. */
  isBusy(threadId: string): boolean;
  /** Delivers a control event to the thread's running actor. */
  forward(threadId: string, event: AgentMachineEvent): void;
  /** Drops the thread's actor without waiting (its thread stays where the log says). */
  evict(threadId: string): void;
  /** Forgets a deleted thread: its actor, its wake-up, a restart it was due; nothing moves it again. */
  forget(threadId: string): void;
  /** Actors in memory now. */
  activeCount(): number;
  /**
   * Stops every actor; nothing is driven afterwards. With a `drainMs` above 0, first lets the tool
   * calls in progress finish and journal their results, for up to that long in real time (other steps are
   * aborted at once, and no actor starts another step); then aborts those still running.
   */
  close(drainMs: number): Promise<void>;
  /** The tool calls the close aborted whose tool has not returned yet (see `Runtime.abandonedCalls`). */
  abandonedCalls(): AbandonedCalls;
}

/** A thread's place in the supervisor's queue: it waits for one of `maxConcurrent` slots, `running` of them taken. */
export interface QueuePlace {
  /** 1 for the next thread to start. */
  readonly position: number;
  readonly running: number;
  readonly maxConcurrent: number;
}

/**
 * Tool calls that a closing runtime aborted (past its drain time, or at once without one) and
 * whose tool has not returned yet: it ignores its abort signal, or has not got round to it.
 */
export interface AbandonedCalls {
  readonly calls: readonly AbandonedCall[];
  /** Resolves once every one of those tools has returned (at once when there are none). */
  readonly returned: Promise<void>;
}

/** One of the {@link AbandonedCalls}. */
export interface AbandonedCall {
  readonly threadId: string;
  /** The tool, when the actor's thread names it (not yet for a decision still writing its call). */
  readonly tool: string | undefined;
  /**
   * Whether the tool is idempotent: the process that continues the thread runs the call again
   * (at worst while it still runs here). Otherwise (or unknown) it asks a human whether it took effect.
   */
  readonly idempotent: boolean;
}

/** Builds the {@link ThreadDriver} of a runtime and starts its supervisor. */
export function createThreadDriver(options: ThreadDriverOptions): ThreadDriver {
  const { agents, pipelines, store, model, clock, logger, inspect, maxConcurrent, schedule, sealSecrets, children, onRested, onSlept } = options;
  // Threads answered or resumed while their actor was still finishing a step: restart them once it rests.
  const restartWhenRested = new Set<string>();
  let closed = false;
  let closing: Promise<void> | undefined;
  // The tool calls the close aborted, by thread, until their tool returns (its step settles).
  const abandoned = new Map<string, { readonly call: AbandonedCall; readonly returned: Promise<void> }>();
  // Threads whose actor stopped on a failed step (the store threw), or failed again after its
  // immediate restart, with the failures in a row: started again after a backoff (see
  // restartAfterFailure below).
  const failedSteps = new Map<string, number>();
  // Sleeping threads, and those backing off for long, hold no actor (nor a slot): they are started
  // again at their deadline, here, or by the scheduler when there is one (see sleep below). Threads
  // whose step failed wait for their restart on the same timers (a thread is never both).
  const wakeUps = new WakeTimers(clock, (threadId) =>
    failedSteps.has(threadId) ? retryStored(threadId) : driveStored(threadId, 'could not wake a sleeping thread'),
  );
  /** Runs the thread as stored now (the log, not an actor that rested, is the truth). */
  const driveStored = (threadId: string, failure: string): void => {
    store.get(threadId).then(
      (thread) => thread && drive(thread),
      (error: unknown) => logger.error({ threadId, err: messageOf(error) }, failure),
    );
  };

  /**
   * The thread's actor stopped because a step threw (the store failed: a full disk, NATS down), or
   * it failed itself again after its immediate restart (an action threw), and nobody else moves it
   * here: it is started again from its log after a backoff that grows with the failures in a row
   * (1 s, doubling, at most 60 s), until its actor comes to rest. Its waiters wait on meanwhile:
   * the thread still moves. With a scheduler the job that ran it carries it on instead (it was not
   * at rest).
   */
  const restartAfterFailure = (threadId: string, agent: string | undefined, state: string, reason: string, failed: keyof typeof RESTART_AFTER = 'step'): void => {
    const attempt = (failedSteps.get(threadId) ?? 0) + 1;
    failedSteps.set(threadId, attempt);
    const delayMs = Math.min(FAILED_STEP_MAX_DELAY_MS, FAILED_STEP_FIRST_DELAY_MS * 2 ** Math.min(attempt - 1, 16));
    logger.warn({ threadId, agent, state, reason, attempt, delayMs }, RESTART_AFTER[failed]);
    wakeUps.arm(threadId, clock.now() + delayMs);
  };
  /** Starts a thread whose step failed again, as stored now; a store that still fails backs off again. */
  const retryStored = (threadId: string): void => {
    store.get(threadId).then(
      (thread) => {
        if (thread === undefined) failedSteps.delete(threadId);
        else drive(thread);
      },
      (error: unknown) => {
        if (!closed) restartAfterFailure(threadId, undefined, 'stopped', `reading the thread failed: ${messageOf(error)}`);
      },
    );
  };

  const loggedRests = new LoggedRests();
  const onRest = (rest: AgentRest): void => {
    const log = { threadId: rest.threadId, agent: rest.thread?.agent, state: rest.state, status: rest.status, elapsedMs: elapsedOf(rest.thread) };
    if (rest.problem) logger.warn({ ...log, reason: rest.problem }, 'agent actor stopped early');
    else if (!loggedRests.first(rest.threadId, rest.thread)) logger.debug(log, 'agent at rest, as logged before: the run moved nothing');
    else if (rest.status === 'escalated' || rest.status === 'failed') logRestWithReason(log, rest.status, rest.thread);
    else logger.info(rest.status === 'paused' || rest.status === 'cancelled' ? { ...log, ...controlOf(rest.thread) } : log, 'agent at rest');
    if (rest.failedIn === undefined) failedSteps.delete(rest.threadId);
    if (restartWhenRested.delete(rest.threadId)) {
      driveStored(rest.threadId, 'could not restart a thread written while its actor finished');
      return;
    }
    if (rest.failedIn !== undefined && schedule === undefined && !closed) {
      restartAfterFailure(rest.threadId, rest.thread?.agent, rest.failedIn, rest.problem ?? 'step failed', rest.actorFailed ? 'actor' : 'step');
      return;
    }
    if (rest.wakeAt !== undefined) {
      sleep(rest.threadId, rest.thread, rest.wakeAt);
      return;
    }
    // An actor that stopped early (superseded, failed) holds a stale thread: let waiters read it.
    onRested(rest.threadId, rest.problem === undefined ? rest.thread : null);
  };
  /**
   * An escalated thread rests at warn, a failed one at error, with the reason (the escalation's,
   * as its thread records it, or the failure's): an operator alerting on the level learns of a
   * revoked key or a dead endpoint. One line per rest, as any other rest.
   */
  const logRestWithReason = (log: Record<string, unknown>, status: 'escalated' | 'failed', thread: Thread | null): void => {
    const reason = thread === null ? undefined : restReason(thread, status);
    const line = reason === undefined ? log : { ...log, reason };
    if (status === 'failed') logger.error(line, 'agent at rest');
    else logger.warn(line, 'agent at rest');
  };
  /**
   * A thread sleeps (or backs off for long) until `wakeAt`. It is not a rest for those waiting on
   * it: it moves again on its own at the deadline. With a scheduler the wake is a durable job, and once it is scheduled the
   * runs that asked (a worker's, which then lets go of its job) are told; if it cannot be
   * scheduled, the thread is woken here.
   */
  const sleep = (threadId: string, thread: Thread | null, wakeAt: number): void => {
    if (schedule === undefined || thread === null) {
      // Closing: the next process re-arms the recorded deadline.
      if (!closed) wakeUps.arm(threadId, wakeAt);
      return;
    }
    Promise.resolve()
      .then(() => schedule(thread, { wakeAt }))
      .then(
        () => onSlept(threadId, thread),
        (error: unknown) => {
          logger.error({ threadId, agent: thread.agent, err: messageOf(error) }, 'could not schedule the wake-up of a sleeping thread; waking it here');
          wakeUps.arm(threadId, wakeAt);
        },
      );
  };
  /**
   * A thread a write here moved on from a rest (see {@link ScheduleReason.revived}): a job of its
   * own carries it, or, without a scheduler, it is run here: now, or once the actor that holds it
   * rests (the one that asked the question may still be coming to rest; one that goes on by
   * itself is then restarted once more, idle).
   */
  const onRevived = (thread: Thread): void => {
    if (schedule !== undefined) start(thread, { revived: true });
    else continueAfterWrite(thread);
  };
  const supervisor = createActor(supervisorMachine, {
    // With a scheduler, other processes write the threads too (see AgentDeps.otherWriters). A
    // thread a late outcome revived is moved on by onRevived (a job of its own, or an actor here).
    input: { agents, pipelines, deps: { model, store, clock, logger, children, onRevived, lateCalls: new LateCalls(), sealSecrets, ...(schedule === undefined ? {} : { otherWriters: true }) }, maxConcurrent, onRest },
    clock,
    ...(inspect ? { inspect } : {}),
  });
  supervisor.start();

  const isActive = (threadId: string): boolean => {
    const { context } = supervisor.getSnapshot();
    return context.running.includes(threadId) || context.queue.some((t) => t.id === threadId);
  };
  const drive = (thread: Thread): void => {
    if (closed) return;
    if (!agents.has(thread.agent) && !pipelines.has(thread.agent)) {
      logger.error({ threadId: thread.id, agent: thread.agent }, 'no such agent in this runtime; thread left as is');
      return;
    }
    supervisor.send({ type: 'START', thread });
    const { context } = supervisor.getSnapshot();
    // Nothing else says why a thread that is `running` makes no step: it waits for a slot (a START
    // that finds every slot taken queues it last).
    if (context.queue.at(-1)?.id === thread.id) {
      logger.debug({ threadId: thread.id, agent: thread.agent, running: context.running.length, queued: context.queue.length, maxConcurrent }, 'thread queued: waiting for a slot');
    }
  };
  const start = (thread: Thread, reason?: ScheduleReason): void => {
    if (schedule === undefined) {
      drive(thread);
      return;
    }
    Promise.resolve()
      .then(() => schedule(thread, reason))
      .catch((error: unknown) => logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, 'could not schedule thread'));
  };
  const continueAfterWrite = (thread: Thread, reason?: ScheduleReason): void => {
    if (isActive(thread.id)) restartWhenRested.add(thread.id);
    else start(thread, reason);
  };
  /**
   * Here when this runtime has the pipeline, else through `schedule` (a durable job that a process
   * serving the pipeline takes), with the reason saying which child ended. A pipeline that has
   * ended is not woken: it takes no step, and what ended it reports its end (a cancel, which ends
   * its children after it, is continued by its own guard job on NATS), so a wake-up would only
   * report the same rest twice.
   */
  const wakeParent = (child: Thread): void => {
    const parentId = parentIdOf(child);
    if (parentId === undefined) return;
    const reason: ScheduleReason = { childEnded: { threadId: child.id, version: versionOf(child) } };
    store.get(parentId).then(
      (parent) => {
        if (parent === undefined || deriveState(parent.events).terminal !== null) return;
        if (pipelines.has(parent.agent)) continueAfterWrite(parent, reason);
        else if (schedule !== undefined) start(parent, reason);
      },
      (error: unknown) => logger.error({ threadId: parentId, childId: child.id, err: messageOf(error) }, 'could not read the pipeline of an ended child'),
    );
  };
  return {
    drive,
    driveIdle: (thread) => {
      if (!wakeUps.has(thread.id)) drive(thread);
    },
    start,
    continueAfterWrite,
    wakeParent,
    isActive,
    isRunning: (threadId) => supervisor.getSnapshot().context.running.includes(threadId),
    placeOf: (threadId) => {
      const { context } = supervisor.getSnapshot();
      if (context.running.includes(threadId)) return 'running';
      const index = context.queue.findIndex((t) => t.id === threadId);
      return index < 0 ? undefined : { position: index + 1, running: context.running.length, maxConcurrent };
    },
    isBusy: (threadId) => isActive(threadId) || restartWhenRested.has(threadId),
    forward: (threadId, event) => supervisor.send({ type: 'FORWARD', threadId, event }),
    evict: (threadId) => {
      wakeUps.cancel(threadId);
      supervisor.send({ type: 'EVICT', threadId });
    },
    forget: (threadId) => {
      wakeUps.cancel(threadId);
      failedSteps.delete(threadId);
      restartWhenRested.delete(threadId);
      if (isActive(threadId)) supervisor.send({ type: 'EVICT', threadId });
    },
    activeCount: () => supervisor.getSnapshot().context.running.length,
    close(drainMs) {
      closing ??= (async () => {
        closed = true;
        wakeUps.clear();
        await drainToolCalls(drainMs);
        supervisor.send({ type: 'EVICT_ALL' });
        supervisor.stop();
      })();
      return closing;
    },
    abandonedCalls: () => {
      const entries = [...abandoned.values()];
      return { calls: entries.map((e) => e.call), returned: Promise.all(entries.map((e) => e.returned)).then(() => undefined) };
    },
  };

  /**
   * Waits, up to `drainMs` of real time (not the runtime's clock), for the tool calls in progress
   * to finish and journal their results (the store is still open), so the next process need not ask a human whether they took effect.
   * Nothing else moves meanwhile: no actor is started, no actor starts another step (but a cancel
   * that waits for a call is recorded after it), and every other step in progress is aborted (a
   * decision is made again from the log). A decision that was writing its call with it is waited
   * for too; its call, which no execute step will run here, is then recorded as not run, so the
   * next process finds it not started (instead of asking a human whether it took effect). The
   * calls still running at the deadline (all of them, without a drain time) are aborted when their
   * actors stop, and kept as abandoned until their tool returns.
   */
  async function drainToolCalls(drainMs: number): Promise<void> {
    // Without a drain time the steps in progress are only stopped (below, with their actors); those
    // that finish (tool calls) are still followed until their tool returns.
    if (drainMs > 0) supervisor.send({ type: 'DRAIN' });
    // Past the drain time, a step that settles late (an aborted tool) records nothing more.
    let overdue = false;
    const calls = [...supervisor.getSnapshot().context.actors.entries()].flatMap(([threadId, actor]) => {
      const { runner } = (actor.getSnapshot() as { context: ThreadContext }).context;
      const drained = drainMs > 0 ? runner.drain() : runner.finishing();
      if (drained === undefined) return [];
      const call = { threadId, actor, over: false, done: drained.then(() => (overdue ? undefined : recordUnstartedCall(actor.getSnapshot() as { context: ThreadContext }))) };
      // Once the tool returned (the runner's step never rejects).
      void drained.then(() => {
        call.over = true;
      });
      return [call];
    });
    if (calls.length === 0) return;
    let finished = false;
    if (drainMs > 0) {
      logger.info({ calls: calls.length, drainMs }, 'waiting for the tool calls in progress before stopping');
      // Real time, not the runtime's clock: a process stopping gives its calls a real grace, and a
      // simulated clock nobody moves (a test's) must neither hold the close up nor cut it short.
      finished = await orAfter(Promise.all(calls.map((c) => c.done)).then(() => true), drainMs, () => false);
    }
    overdue = true;
    if (finished) return;
    // Aborted next (their actors stop): until their tool returns, they still run in this process.
    for (const { threadId, actor, over, done } of calls) {
      if (!over) abandoned.set(threadId, { call: abandonedCall(threadId, actor.getSnapshot() as { context: ThreadContext }), returned: done.then(() => void abandoned.delete(threadId)) });
    }
    if (abandoned.size > 0) logger.warn({ drainMs, threads: [...abandoned.keys()] }, 'tool calls still running at shutdown: aborting them (their threads will ask whether they took effect)');
  }

  /** What is known of the call an actor runs: its tool, from the thread, and whether that is idempotent. */
  function abandonedCall(threadId: string, { context }: { context: ThreadContext }): AbandonedCall {
    const { agent, state } = context as Partial<Pick<AgentContext, 'agent'>> & ThreadContext;
    const tool = state.pendingCall?.tool;
    return { threadId, tool, idempotent: tool !== undefined && agent?.toolsByName.get(tool)?.idempotent === true };
  }

  /**
   * Once an agent actor's drained steps are over: a call its last decision recorded with it that no
   * execute step ran (the runner starts none while draining) is recorded as not run, as a cancel
   * would.
   */
  async function recordUnstartedCall({ context }: { context: ThreadContext }): Promise<void> {
    const { agent, recordedCall, thread, state, deps } = context as Partial<Pick<AgentContext, 'agent' | 'recordedCall'>> & ThreadContext;
    if (agent === undefined || recordedCall === undefined || recordedCall === null || state.terminal !== null) return;
    await recordCallNotRun({ agent, thread, state, deps }, recordedCall, 'the runtime closed');
  }
}

/** Who paused or cancelled a thread, which action and why, from its last control event (for its rest's log line). */
function controlOf(thread: Thread | null): { action?: string; by?: string; reason?: string } {
  const control = thread?.events.findLast((e) => e.type === 'control');
  if (control?.type !== 'control') return {};
  const { action, by, reason } = control.data;
  return { action, ...(by === undefined ? {} : { by }), ...(reason === undefined ? {} : { reason }) };
}

/** Why a thread escalated (`<reason>: <message>` of its last escalation) or failed (its failure). */
function restReason(thread: Thread, status: 'escalated' | 'failed'): string | undefined {
  if (status === 'failed') return deriveState(thread.events).failure;
  for (let i = thread.events.length - 1; i >= 0; i--) {
    const event = thread.events[i]!;
    if (event.type === 'escalation') return `${event.data.reason}: ${event.data.message}`;
  }
  return undefined;
}

/** How long the thread has run, from its first event to its last (ms); undefined with no thread read. */
function elapsedOf(thread: Thread | null | undefined): number | undefined {
  const [first, last] = [thread?.events[0], thread?.events.at(-1)];
  return first === undefined || last === undefined ? undefined : Math.max(0, Date.parse(last.at) - Date.parse(first.at));
}
