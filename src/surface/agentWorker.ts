import type { Job, JobConsumer } from '../bus/bus.js';
import { bounded } from '../clock.js';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../errors.js';
import type { ThreadView } from '../runtime/runtime.js';
import type { Json } from '../thread/events.js';
import { continuationDue, readContinuation } from './continuationJob.js';
import { escalateExpired } from './expiredJobs.js';
import { handedOff, keepWhileHeld, runToRest } from './runToRest.js';
import type { SurfaceContext } from './surfaceContext.js';
import type { ThreadRequests } from './threadRequests.js';
import { aboutThread } from './threadJobError.js';
import { asTriggerRefusal, readTrigger, refuse, triggerThreadId } from './triggerJob.js';
import { refusal, refusalOf } from './payloads.js';
import { triggerIdOf, type AgentWorkerOptions, type WorkerScope } from './workerScope.js';

/** The job-taking side of the NATS surface. */
export interface AgentWorker {
  /** Jobs running now. */
  active(): number;
  /**
   * Stops taking jobs at once, waits for `drained` (the runtime letting its tool calls in progress
   * finish, then stopping its actors: `runtime.drain`), then hands back every job still
   * running, and any that reaches its run or hold later (its run aborted, or at once; the job
   * replaced by one due at once: nothing here moves its thread
   * any more; one due after the ack wait when a call of a tool that is not idempotent still runs
   * here, see `handBack`). Jobs reporting their thread's rest get what is left of `drainMs`; a
   * callback still in flight then is cut, and its job handed back. Hand-backs get
   * {@link HAND_BACK_GRACE_MS} past the drain deadline: one that has not finished by then (NATS is
   * unreachable, so it cannot) is abandoned with a warning naming its thread and agent, its job
   * left unacknowledged for the queue to deliver again after its ack wait.
   */
  stop(drainMs: number, drained?: Promise<void>): Promise<void>;
}

/**
 * How long past the drain deadline `stop` waits for the jobs to be handed back (a read, an enqueue
 * and an ack: milliseconds on a live connection) before it leaves them unacknowledged. Enough for a
 * hand-back that began while the connection was re-dialling: nats.js drops what was buffered when
 * it dials, so one of its requests waits out its timeout (5 s) before it is sent again.
 */
const HAND_BACK_GRACE_MS = 8_000;

/** Whether `promise` settles (either way) before `deadline` (epoch ms). */
function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return bounded(settled, Math.max(0, deadline - Date.now())).catch(() => false);
}

/**
 * Consumes the work queues of the served agents. A trigger launches its thread (idempotent by
 * thread id), a continuation job names a thread; both run the thread to rest in this process with
 * a heartbeat, publish the result to the reply subjects, then ack. Bad input is terminated (a
 * dead letter with the reason) after an error reply; it never throws out of the handler.
 */
export async function startAgentWorker(ctx: SurfaceContext, requests: ThreadRequests, options: AgentWorkerOptions): Promise<AgentWorker> {
  const stopping = new AbortController();
  const scope: WorkerScope = { ctx, requests, options, running: new Set(), stopping: stopping.signal, jobs: new Map() };
  const consumers: JobConsumer[] = [];
  const handle = async (agent: string, job: Job): Promise<void> => {
    scope.jobs.set(job, { agent });
    try {
      await onJob(scope, agent, job);
    } finally {
      scope.jobs.delete(job);
    }
  };
  for (const agent of options.agents) {
    const queue = await ctx.queues.queue(agent);
    // A job no worker finished (each died or stalled with it) brings its thread to rest: escalated.
    consumers.push(queue.consume((job) => handle(agent, job), { concurrency: options.concurrency, onExpired: (letter) => escalateExpired(scope, agent, letter) }));
  }
  return {
    active: () => scope.running.size,
    async stop(drainMs, drained = Promise.resolve()) {
      const deadline = Date.now() + drainMs;
      // Stopping a consumer stops its pulls at once; it resolves once its running jobs settled.
      const stopped = Promise.all(consumers.map((c) => c.stop()));
      await drained;
      if (scope.running.size > 0) ctx.logger.info({ jobs: scope.running.size }, 'handing the running jobs back to the queue');
      // What runs now is aborted; what starts later (a job that was still on its way to its run
      // or hold) at once, by `enlist`.
      stopping.abort(new Error('the worker is shutting down'));
      for (const abort of scope.running) abort.abort(stopping.signal.reason);
      if (await settlesBy(stopped, deadline)) return;
      ctx.logger.warn({ jobs: scope.jobs.size }, 'jobs still reporting at shutdown: cutting their callbacks and handing them back');
      // A job reporting its rest may be waiting on a callback: cut it, and the job is handed back.
      if (await settlesBy(Promise.all([ctx.callbacks.close(), stopped]), Date.now() + HAND_BACK_GRACE_MS)) return;
      // What is still going cannot finish in time (NATS is unreachable: the hand-back's read,
      // enqueue or ack waits on it). The drain's deadline holds: the job stays unacknowledged and
      // the queue delivers it again after its ack wait (this process sends no more heartbeats).
      for (const [job, { agent, threadId }] of scope.jobs) {
        ctx.logger.warn({ threadId, agent, jobId: job.id, graceMs: HAND_BACK_GRACE_MS }, 'job not handed back by the drain deadline (NATS unreachable?): left unacknowledged, to be delivered again after the ack wait');
      }
    },
  };
}

async function onJob(scope: WorkerScope, agent: string, job: Job): Promise<void> {
  const { subjects } = scope.ctx;
  if (job.subject === subjects.trigger(agent)) await onTrigger(scope, agent, job);
  else if (job.subject === subjects.jobs(agent)) await onContinuation(scope, agent, job);
  else await job.term(`unexpected subject ${job.subject} in the queue of ${agent}`);
}

async function onTrigger(scope: WorkerScope, agent: string, job: Job): Promise<void> {
  const read = readTrigger(job, agent, scope.ctx.maxPayloadBytes);
  if (!read.ok) {
    await refuse(scope, job, agent, read.replyTo, refusal(read.code, read.error, read.issues));
    return;
  }
  const { payload, replyTo } = read;
  const threadId = await triggerThreadId(scope, agent, job, payload);
  scope.jobs.set(job, { agent, threadId });
  await aboutThread({ threadId, agent }, () => runTrigger(scope, agent, job, threadId, payload.input, replyTo));
}

async function runTrigger(scope: WorkerScope, agent: string, job: Job, threadId: string, input: Json, replyTo: string | undefined): Promise<void> {
  const target = { agent, threadId };
  const existing = await scope.ctx.runtime.get(threadId);
  // Settled after the launch too: a trigger racing the one that launched the thread read no thread.
  const reply = replyTo === undefined ? undefined : { to: replyTo, later: isLaterTrigger(job, existing) };
  if (job.deliveryCount > 1) {
    // A redelivery while the first delivery's worker still runs the thread: leave it to that one.
    if (await handedOff(scope, job, threadId)) return;
  } else if (await heldByARun(scope, threadId, existing)) {
    // Another trigger of a thread that a run (here or in another process) holds: a client's retry
    // under a new msg id, or its msg id sent again past the dedup window. That run is neither to be
    // doubled nor judged (its call in progress did not stop): the job waits for it to let go, then
    // reports the thread as it rests to this trigger's reply subject, as a later duplicate's does.
    scope.ctx.logger.info({ threadId, agent, jobId: job.id }, 'trigger of a thread a run holds: waiting for that run to let go');
    if (!(await keepWhileHeld(scope, job, target))) return;
  }
  await runToRest(scope, job, target, reply, async () => {
    try {
      const launched = await scope.ctx.runtime.launch(agent, input, {
        threadId,
        source: { kind: 'nats', ...(replyTo === undefined ? {} : { replyTo }), triggerId: triggerIdOf(job) },
      });
      // Another trigger (another msg id) launched it after this one found no thread: the store's
      // create-if-absent returned that thread, and this trigger is a later one (see TriggerReply).
      if (reply !== undefined && !reply.later) reply.later = launchedByAnother(job, launched);
      // Under the claim nothing advances the thread before the run: it need not be read again.
      return { thread: { id: launched.id, agent: launched.agent, events: launched.events } };
    } catch (thrown) {
      // The launch refuses another input for a thread already there (it speaks of a launch).
      const error = asTriggerRefusal(thrown);
      if (error instanceof InvalidInputError || error instanceof InvalidStateError || error instanceof NotFoundError) await refuse(scope, job, agent, replyTo, refusalOf(error), threadId);
      else throw error; // the store failed: delivered again later
      return false;
    }
  });
}

/**
 * Whether the thread exists (`view`, as read before the launch), is moving, and a run (here or in
 * another process) holds it now. Read first so that a trigger of a new thread, the common case,
 * sends no probe (a probe nobody answers may cost its timeout: see `ThreadRequests.holds`).
 */
async function heldByARun(scope: WorkerScope, threadId: string, view: ThreadView | undefined): Promise<boolean> {
  return view !== undefined && (view.status === 'running' || view.status === 'backing_off') && (await scope.requests.holds(threadId));
}

/**
 * Whether a trigger came later than the launch of its thread (see `TriggerReply.later`): its
 * thread (`existing`, as read before the launch) was there before its first delivery, or was
 * launched by another trigger. A redelivery of the trigger that launched it is not.
 */
function isLaterTrigger(job: Job, existing: ThreadView | undefined): boolean {
  return existing !== undefined && (job.deliveryCount === 1 || launchedByAnother(job, existing));
}

/** Whether `thread` was launched by another trigger than `job` (another msg id), or by no trigger. */
function launchedByAnother(job: Job, thread: Pick<ThreadView, 'events'>): boolean {
  const first = thread.events[0];
  return first?.type !== 'input' || first.data.source?.triggerId !== triggerIdOf(job);
}

async function onContinuation(scope: WorkerScope, agent: string, job: Job): Promise<void> {
  const read = readContinuation(job, scope.ctx.maxPayloadBytes);
  if (!read.ok) {
    await job.term(read.reason);
    return;
  }
  const { threadId } = read.payload;
  scope.jobs.set(job, { agent, threadId });
  await aboutThread({ threadId, agent }, async () => {
    if (!(await continuationDue(scope, job, agent, read.payload))) return;
    if (read.payload.revived === true) {
      // The run that revived the thread holds no job for it: this one waits for it, and carries
      // the thread on if it stopped short of a rest (usually at rest by then: reported again).
      if (!(await keepWhileHeld(scope, job, { agent, threadId }))) return;
    } else if (await handedOff(scope, job, threadId)) return;
    // The run checks that the thread exists and is this agent's (else the job is terminated).
    await runToRest(scope, job, { agent, threadId }, undefined, async () => ({ agent }));
  });
}
