import type { Job } from '../bus/bus.js';
import { sleep, systemClock } from '../clock.js';
import { InvalidStateError, NotFoundError, RuntimeClosedError, SystemError } from '../errors.js';
import { openDelegation } from '../pipeline/delegations.js';
import { MAX_PIPELINE_DEPTH } from '../pipeline/pipeline.js';
import { parentIdOf, type RunOptions, type ThreadView } from '../runtime/runtime.js';
import { type ThreadStatus, TERMINAL_STATUSES } from '../thread/state.js';
import type { CallbackDelivery } from './callbacks.js';
import { childRequestResultOf, replyingPipelineOf } from './childRequests.js';
import { answering, launchMsgIdOf, msgIdOfTrigger, recordedReplyTo, resultOf, type TriggerResult } from './payloads.js';
import { publishReport, reportHumanNotice, restMsgId } from './reports.js';
import { comesBack, enlist, handBack, heartbeat, keepJob, retryLater, triggerIdOf, type JobTarget, type WorkerScope } from './workerScope.js';

/** Statuses of a thread that is still moving. */
const MOVING: readonly ThreadStatus[] = ['running', 'backing_off'];
/** Runs of one job when schedule requests keep arriving while it runs (then it is enqueued). */
const MAX_ROUNDS = 10;
/** How often a kept job asks whether the run holding its thread let go. */
const HOLDER_POLL_MS = 500;

/**
 * Where a trigger's job reports its thread: its reply subject, and whether the trigger came
 * `later` than the launch of its thread (a client's retry under a new msg id, or its msg id sent
 * again past the dedup window), rather than being the trigger that launched it or a redelivery of
 * that one. A later trigger is told where its thread stands even when the thread has not come to
 * rest, a pipeline waiting for a child (see {@link reportStanding}).
 */
export interface TriggerReply {
  readonly to: string;
  readonly later: boolean;
}

/**
 * Runs the thread here until it rests, heartbeating, then replies and acks. `prepare` runs under
 * the claim (so a launch schedules nothing) and returns the options of the first run, or false
 * when it settled the job itself. A thread that is missing or another agent's is terminated.
 */
export async function runToRest(
  scope: WorkerScope,
  job: Job,
  target: JobTarget,
  reply: TriggerReply | undefined,
  prepare: () => Promise<Omit<RunOptions, 'signal'> | false>,
): Promise<void> {
  const { runtime, queues } = scope.ctx;
  const { threadId } = target;
  const claim = queues.claim(threadId);
  const disown = scope.requests.own(threadId);
  const stopHeartbeat = heartbeat(scope, job, target);
  const abort = enlist(scope);
  let view: ThreadView | undefined;
  let pending = false;
  let stopping = false;
  try {
    const first = await prepare();
    if (first === false) return;
    // A thread that falls asleep (or rests through a long backoff) is let go: its wake-up job
    // carries it on.
    const waiting = { signal: abort.signal, untilAsleep: true };
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      claim.pending = false;
      view = await runtime.run(threadId, round === 1 ? { ...first, ...waiting } : waiting);
      if (!claim.pending) break;
    }
    pending = claim.pending;
  } catch (error) {
    // The worker stops (its runtime drains, refusing new work, before the runs are aborted):
    // handed back once the claim is given up (below), so that the worker the job goes to next
    // finds the thread free.
    if (abort.signal.aborted || error instanceof RuntimeClosedError) stopping = true;
    else if (error instanceof NotFoundError || (error instanceof InvalidStateError && error.conflict === 'thread_exists_other_agent')) {
      // No such thread, or (a continuation) another agent's.
      await job.term(error.message);
      return;
    } else throw error; // nak'ed with the queue's retry delay (or dead-lettered on the last delivery)
  } finally {
    stopHeartbeat();
    claim.release();
    disown();
    scope.running.delete(abort);
  }
  if (stopping) {
    await handBack(scope, job, target);
    return;
  }
  if (view === undefined) return;
  // Still asked to run after MAX_ROUNDS: let the queue carry it on.
  if (pending) await queues.schedule(view);
  // Asleep (a sleep, or a long backoff): its wake-up job, due at the deadline, carries it on;
  // nothing to report yet.
  if (view.status === 'sleeping') {
    await job.ack();
    return;
  }
  if (MOVING.includes(view.status)) {
    if (!(await waitsForChild(scope, view))) {
      await settleUnrested(scope, job, target, view, reply);
      return;
    }
    if (reply?.later === true) await reportStanding(scope, job, view, reply.to);
  } else if (!(await reportRest(scope, job, view, reply?.to))) {
    await handBack(scope, job, target);
    return;
  }
  await job.ack();
}

/**
 * Settles a job whose run stopped before its thread rested: another run advanced it, or the store
 * failed (try again later). Another run that holds the thread may be working on this very job (the
 * job went to it when this delivery's heartbeats were lost, or it has the job's first delivery):
 * an ack would remove the message that run relies on, and a nak on the last delivery would
 * dead-letter it. So the job is kept until the holder lets go, then run here once more (usually at
 * rest by then: its report goes out again, as results do, at least once). A holder that did not
 * answer in time is asked again later while the job has deliveries left.
 */
async function settleUnrested(scope: WorkerScope, job: Job, target: JobTarget, view: ThreadView, reply: TriggerReply | undefined): Promise<void> {
  const handOff = await scope.requests.handOff(view.id);
  if (handOff === 'free' || (handOff === 'unknown' && comesBack(scope, job))) {
    scope.ctx.logger.warn({ threadId: view.id, agent: view.agent, status: view.status, holder: handOff }, 'thread stopped before it rested; retrying later');
    await retryLater(scope, job);
  } else if (await keepWhileHeld(scope, job, target)) {
    await runToRest(scope, job, target, reply, async () => ({ agent: view.agent }));
  }
}

/**
 * Keeps a job, heartbeating, until no run (here or in another process) holds its thread. False
 * when the worker stopped meanwhile: the job was handed back.
 */
export function keepWhileHeld(scope: WorkerScope, job: Job, target: JobTarget): Promise<boolean> {
  return keepJob(scope, job, target, (signal) => whileHeld(scope, target.threadId, signal));
}

/** Resolves once no run (here or in another process) holds the thread. */
async function whileHeld(scope: WorkerScope, threadId: string, signal: AbortSignal): Promise<void> {
  while (await scope.requests.holds(threadId)) await sleep(systemClock, HOLDER_POLL_MS, signal);
}

/**
 * Tells whoever waits on a thread at rest, before its job is acknowledged (so a crash before the
 * ack tells them again: at least once): the reply subjects, the human request (also to the reply
 * subject of a pipeline above it), an HTTP launch's callback, and the pipeline of a child that
 * ended. A report that a stream captures is stored first, and a callback delivered (or refused by
 * its receiver), or this throws and the job comes back. False when the worker stopped while the callback was in flight (the job is to be handed back).
 * Without a job (a thread brought to rest by its job's dead letter, see `escalateExpired`) it
 * heartbeats nothing, and a throw is the caller's to log.
 */
export async function reportRest(scope: WorkerScope, job: Job | undefined, view: ThreadView, replyTo: string | undefined): Promise<boolean> {
  const { ctx } = scope;
  // A stored report or a callback may take a few attempts.
  const stopBeating = job === undefined ? () => undefined : heartbeat(scope, job, { threadId: view.id, agent: view.agent });
  let callback: CallbackDelivery | undefined;
  try {
    for (const [target, result] of repliesOf(scope, job, view, replyTo)) await publishReport(ctx, target, result, { msgId: restMsgId(view) });
    if (view.pendingRequest !== null) {
      await reportHumanNotice(ctx, view.agent, view.id, view.pendingRequest, job !== undefined && job.deliveryCount > 1);
      await reportToPipeline(scope, view);
    }
    callback = await ctx.callbacks.send(view, ctx.runtime);
  } finally {
    stopBeating();
  }
  if (callback?.stopped === true) return false;
  if (TERMINAL_STATUSES.includes(view.status)) await wakeParent(scope, view);
  checkCallback(callback);
  return true;
}

/**
 * The result each reply subject of a thread at rest hears, naming the trigger it answers (see
 * `TriggerResult.msgId`): the job's trigger on its `replyTo`, the launch's on the one it recorded.
 */
function repliesOf(scope: WorkerScope, job: Job | undefined, view: ThreadView, replyTo: string | undefined): Map<string, TriggerResult> {
  const result = resultOf(view);
  const queue = scope.ctx.subjects.queueName(view.agent);
  const replies = new Map<string, TriggerResult>();
  const recorded = recordedReplyTo(view);
  if (replyTo !== undefined && (job !== undefined || replyTo !== recorded)) replies.set(replyTo, answering(result, job && msgIdOfTrigger(triggerIdOf(job), queue)));
  if (recorded !== undefined && !replies.has(recorded)) replies.set(recorded, answering(result, launchMsgIdOf(view, queue)));
  return replies;
}

/**
 * A pipeline's child waits for a human: the reply subject of the nearest pipeline above it (at any
 * depth) that a NATS trigger launched with one hears of it, as a pipeline's callback URL does (see
 * {@link childRequestResultOf}). Its msg id is the child's rest's (`rest.<childId>@<child's
 * incarnation>.<child's version>`): one result per rest of the child, which a stream capturing
 * the subject stores once.
 */
async function reportToPipeline(scope: WorkerScope, view: ThreadView): Promise<void> {
  if (parentIdOf(view) === undefined) return;
  const { ctx } = scope;
  const above = await replyingPipelineOf(view, ctx.runtime, recordedReplyTo);
  const result = above === undefined ? undefined : childRequestResultOf(above.pipeline, view);
  if (above === undefined || result === undefined) return;
  const msgId = launchMsgIdOf(above.pipeline, ctx.subjects.queueName(above.pipeline.agent));
  await publishReport(ctx, above.to, answering(result, msgId), { msgId: restMsgId(view) });
}

/**
 * A callback that was neither delivered nor refused by its receiver (it was down, timed out, or
 * answered 408, 429 or 5xx on every attempt) fails the job: it comes back after the queue's retry
 * delay and calls back again, and its last delivery is dead-lettered with this reason. One dropped
 * because its thread was deleted, or superseded by a later rest of it, is owed to nobody: the job is done.
 */
function checkCallback(delivery: CallbackDelivery | undefined): void {
  if (delivery === undefined || delivery.ok || delivery.refused === true || delivery.deleted === true || delivery.superseded === true) return;
  throw new SystemError(`callback ${delivery.id} not delivered after ${delivery.attempts} attempts: ${delivery.error ?? 'no answer'}`);
}

/**
 * A pipeline's child thread ended: a job on the pipeline's queue continues the pipeline, in
 * whichever process serves it (this one need not know the pipeline). The runtime schedules the
 * same job when it writes the end; their shared msg id makes them one. A pipeline that has ended
 * (cancelled, with its children after it) is not woken: its end is reported by what ended it.
 */
async function wakeParent(scope: WorkerScope, view: ThreadView): Promise<void> {
  const parentId = parentIdOf(view);
  if (parentId === undefined) return;
  const parent = await scope.ctx.runtime.get(parentId);
  if (parent === undefined || TERMINAL_STATUSES.includes(parent.status)) return;
  await scope.ctx.queues.schedule(parent, { childEnded: { threadId: view.id, version: view.version } });
}

/**
 * Settles a job for a thread that a run (here or in another process) holds now: that run takes
 * over a first delivery (acked); anything else is asked again later (nak'ed). False: free.
 */
export async function handedOff(scope: WorkerScope, job: Job, threadId: string): Promise<boolean> {
  const handOff = await scope.requests.handOff(threadId);
  if (handOff === 'free') return false;
  // A first delivery is another job than the one the holding run was given: that run's job still
  // carries the thread if the run stops early. A redelivery may be that very job (the run's
  // heartbeats were lost), whose message an ack would remove.
  if (handOff === 'taken' && job.deliveryCount === 1) {
    await job.ack();
    return true;
  }
  // Not taken for good, or nobody answered in time (a busy owner, or a subscriber that is not
  // switchyard hid the no-responders answer). Ask again later, but never dead-letter a valid job
  // for it: on its last delivery run it here (appends with the expected version keep two runs
  // from both writing).
  if (job.deliveryCount >= scope.ctx.queues.config.maxDeliver - 1) return false;
  await retryLater(scope, job);
  return true;
}

/** A pipeline at rest waits for a child thread that has not ended yet. */
async function waitsForChild(scope: WorkerScope, view: ThreadView): Promise<boolean> {
  const { runtime } = scope.ctx;
  if (!runtime.pipelines.has(view.agent) || view.status !== 'running') return false;
  const childId = openDelegation(view)?.threadId;
  if (childId === undefined) return false;
  const child = await runtime.get(childId);
  return child !== undefined && !TERMINAL_STATUSES.includes(child.status);
}

/**
 * Tells a later trigger of a pipeline that waits for a child where the pipeline stands, as a later
 * trigger of an agent's thread hears that thread's rest (its request, when it waits for a human):
 * the request of the child (at any depth) that waits for a human, as the pipeline's own replyTo
 * heard it at that child's rest (the same result, under the same msg id); else, while the child
 * works, the pipeline's status and version. Its end goes to the replyTo its launch recorded.
 */
async function reportStanding(scope: WorkerScope, job: Job, view: ThreadView, to: string): Promise<void> {
  const waiting = await childAwaitingHuman(scope, view);
  const request = waiting === undefined ? undefined : childRequestResultOf(view, waiting);
  const msgId = msgIdOfTrigger(triggerIdOf(job), scope.ctx.subjects.queueName(view.agent));
  if (waiting !== undefined && request !== undefined) await publishReport(scope.ctx, to, answering(request, msgId), { msgId: restMsgId(waiting) });
  else await publishReport(scope.ctx, to, answering(resultOf(view), msgId), { msgId: restMsgId(view) });
}

/**
 * The descendant of a pipeline, down its chain of children waiting for theirs, that waits for a
 * human now (no child runs deeper than {@link MAX_PIPELINE_DEPTH} levels below its top thread).
 */
async function childAwaitingHuman(scope: WorkerScope, pipeline: ThreadView): Promise<ThreadView | undefined> {
  let parent = pipeline;
  for (let depth = 0; depth < MAX_PIPELINE_DEPTH; depth++) {
    const childId = openDelegation(parent)?.threadId;
    const child = childId === undefined ? undefined : await scope.ctx.runtime.get(childId);
    // Its own child only (an agent's call may name a thread id among its arguments), and not ended.
    if (child === undefined || parentIdOf(child) !== parent.id || TERMINAL_STATUSES.includes(child.status)) return undefined;
    if (child.pendingRequest !== null) return child;
    parent = child;
  }
  return undefined;
}
