import type { Job } from '../bus/bus.js';
import { MAX_TIMER_MS, sleep, systemClock } from '../clock.js';
import { formatIssues } from '../errors.js';
import { jobPayloadSchema, type JobPayload } from './payloads.js';
import { comesBack, keepJob, replaceJob, retryLater, type WorkerScope } from './workerScope.js';

/** How long a guard job waits in place for its write to land before it hands itself back. */
const GUARD_WAIT_MS = 1_000;
const GUARD_POLL_MS = 25;

/** A continuation job read: the thread it names, or why it is terminated. */
export type ContinuationRead = { readonly ok: true; readonly payload: JobPayload } | { readonly ok: false; readonly reason: string };

/** Reads a continuation job (switchyard's own, but from outside all the same). Never throws. */
export function readContinuation(job: Pick<Job, 'data' | 'json'>, maxPayloadBytes: number): ContinuationRead {
  if (job.data.length > maxPayloadBytes) return { ok: false, reason: `job payload is ${job.data.length} bytes; the limit is ${maxPayloadBytes}` };
  const json = job.json();
  if (!json.success) return { ok: false, reason: 'job payload is not JSON' };
  const parsed = jobPayloadSchema.safeParse(json.data);
  if (!parsed.success) return { ok: false, reason: `invalid job: ${formatIssues(parsed.error.issues).join('; ')}` };
  return { ok: true, payload: parsed.data };
}

/**
 * Whether a continuation job is due now: a guard's write landed, a wake-up's deadline passed.
 * Otherwise the job is settled here (handed back, or acknowledged) and false is returned.
 */
export async function continuationDue(scope: WorkerScope, job: Job, agent: string, payload: JobPayload): Promise<boolean> {
  const { threadId, after, wakeAt } = payload;
  if (after !== undefined && !(await guardDue(scope, job, agent, threadId, after))) return false;
  return wakeAt === undefined || wakeDue(scope, job, agent, threadId, wakeAt);
}

/**
 * Whether a guard job (see `AgentQueues.guard`) is due: its write landed. Then it runs like any
 * continuation, even when the thread moved on since: the run that moved it may have died before
 * it replied or woke a parent (both are idempotent). Otherwise the job is settled here: handed
 * back while its write may still land, acknowledged once it cannot (a write that never happened;
 * logged at warn, naming the bucket, when there is no thread at all).
 */
async function guardDue(scope: WorkerScope, job: Job, agent: string, threadId: string, after: number): Promise<boolean> {
  const { runtime, queues, logger } = scope.ctx;
  const deadline = Date.now() + GUARD_WAIT_MS;
  let view = await runtime.get(threadId);
  // The guard was enqueued just before its write: on a first delivery, give the write a moment.
  while ((view === undefined || view.version <= after) && Date.now() < deadline) {
    await sleep(systemClock, GUARD_POLL_MS);
    view = await runtime.get(threadId);
  }
  if (view !== undefined && view.version > after) return true;
  if (job.deliveryCount >= queues.config.maxDeliver - 1) {
    // No thread at all: deleted, or a launch that never landed; or a process of another bucket
    // enqueued it (the queues refuse a bucket they are not bound to, but not a queue set up by hand).
    if (view === undefined) logger.warn({ threadId, agent, after, bucket: queues.bucket }, 'a guard job found no thread in the bucket and is given up (acknowledged): the thread was deleted, or its launch never landed');
    else logger.debug({ threadId, after }, 'the write a guard job waited for never landed');
    await job.ack();
  } else await retryLater(scope, job);
  return false;
}

/**
 * Whether a sleeping thread's wake-up job is due. Enqueued as the thread falls asleep, it comes
 * early and is handed back until the deadline (a nak with that delay, capped by the timer limit).
 * On its last delivery (a sleep past four timer limits) a fresh job with deliveries of its own
 * replaces it; a queue of one delivery per job has nothing to hand back, so the job is kept,
 * heartbeating, until the deadline.
 */
async function wakeDue(scope: WorkerScope, job: Job, agent: string, threadId: string, wakeAt: number): Promise<boolean> {
  const remaining = wakeAt - Date.now();
  if (remaining <= 0) return true;
  const { queues, runtime } = scope.ctx;
  // A job from outside may name no thread: it would come back until its deadline, however far.
  if ((await runtime.get(threadId)) === undefined) {
    await job.term(`thread ${threadId} does not exist`);
    return false;
  }
  if (comesBack(scope, job)) await job.nak(Math.min(remaining, MAX_TIMER_MS));
  else if (queues.config.maxDeliver > 1) await replaceJob(scope, job, agent, { threadId, wakeAt });
  else {
    const kept = await keepJob(scope, job, { agent, threadId, wakeAt }, (signal) => sleep(systemClock, Math.min(remaining, MAX_TIMER_MS), signal));
    return kept && wakeDue(scope, job, agent, threadId, wakeAt);
  }
  return false;
}
