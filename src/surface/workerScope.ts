import type { Job } from '../bus/bus.js';
import { encodePayload, largestMessageOf, messageBytes } from '../bus/busMessage.js';
import { retryDelayFor } from '../bus/jobRunner.js';
import { messageOf } from '../errors.js';
import { HANDED_BACK_ROOM, type JobPayload } from './payloads.js';
import { MSG_ID_HEADER, TRIGGER_ID_HEADER } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';
import type { ThreadRequests } from './threadRequests.js';

/** Options of the agent worker (`startAgentWorker`), normalized. */
export interface AgentWorkerOptions {
  /** The agents and pipelines whose queues this process consumes. */
  readonly agents: readonly string[];
  /** Jobs run at once per agent queue. */
  readonly concurrency: number;
  /** Heartbeat (`job.working()`) interval while a thread runs. */
  readonly heartbeatMs: number;
}

/** What the parts of the agent worker share. */
export interface WorkerScope {
  readonly ctx: SurfaceContext;
  readonly requests: ThreadRequests;
  readonly options: AgentWorkerOptions;
  /** The runs and holds in progress: aborted when the worker stops before they end. */
  readonly running: Set<AbortController>;
  /** Aborted when the worker begins to stop: a run or hold that starts later is aborted at once (see {@link enlist}). */
  readonly stopping: AbortSignal;
  /** Every job being handled now, with its agent and (once known) its thread: named if the worker stops without settling it. */
  readonly jobs: Map<Job, { readonly agent: string; threadId?: string }>;
}

/** Tells the queue the job is still being worked on, every `heartbeatMs`; returns the stop function. A failure is logged naming the job's thread and agent. */
export function heartbeat(scope: WorkerScope, job: Job, target: { readonly threadId: string; readonly agent: string }): () => void {
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    job
      .working()
      .catch((error: unknown) => scope.ctx.logger.warn({ threadId: target.threadId, agent: target.agent, jobId: job.id, err: messageOf(error) }, 'heartbeat failed'))
      .finally(() => {
        beating = false;
      });
  }, scope.options.heartbeatMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Whether the queue delivers the job again when it is not acknowledged: it has deliveries left. */
export function comesBack(scope: WorkerScope, job: Job): boolean {
  return job.deliveryCount < scope.ctx.queues.config.maxDeliver;
}

/** Hands a job back to be delivered again after the queue's retry delay for its delivery count. */
export function retryLater(scope: WorkerScope, job: Job): Promise<void> {
  return job.nak(retryDelayFor(scope.ctx.queues.config, job.deliveryCount));
}

/** What a job is for: the queue it came from (an agent's or a pipeline's) and its thread. */
export interface JobTarget {
  readonly agent: string;
  readonly threadId: string;
  /** A wake-up job's deadline (epoch ms). */
  readonly wakeAt?: number;
}

/**
 * Registers a run or hold of a job in `scope.running`, to be aborted when the worker stops; at
 * once when it has begun to stop already. The stop aborts what runs when it begins, but a job may
 * reach its run or hold later: a wake-up job still reading its thread then would otherwise sleep
 * out its deadline in the stopping process and wait for ever on its drained runtime, its job never
 * handed back (left unacknowledged, and dead-lettered on a queue of one delivery per job).
 */
export function enlist(scope: WorkerScope): AbortController {
  const abort = new AbortController();
  scope.running.add(abort);
  if (scope.stopping.aborted) abort.abort(scope.stopping.reason);
  return abort;
}

/**
 * Keeps a job, heartbeating, while `wait` runs (its signal is aborted when the worker stops). False
 * when the worker stopped meanwhile (or before): the job was handed back (see {@link handBack}).
 */
export async function keepJob(scope: WorkerScope, job: Job, target: JobTarget, wait: (signal: AbortSignal) => Promise<void>): Promise<boolean> {
  const stopHeartbeat = heartbeat(scope, job, target);
  const abort = enlist(scope);
  try {
    await wait(abort.signal);
    return true;
  } catch (error) {
    if (!abort.signal.aborted) throw error;
    await handBack(scope, job, target);
    return false;
  } finally {
    stopHeartbeat();
    scope.running.delete(abort);
  }
}

/**
 * Hands back a job the stopping worker was running, to be taken at once by the next worker that
 * asks: this process has stopped its actors (see `AgentWorker.stop`) and given up its claim on the
 * thread, so that worker continues the thread from the log. The job is replaced by a fresh
 * continuation job (due now, or at its own wake-up deadline), then acknowledged, rather than
 * nak'ed, so the hand-back costs the job none of its deliveries. (It was written when a nak'ed job
 * had been seen to wait out its ack wait; the cause was the puller dropping a job in flight to it
 * at its stop, since fixed: it drains its subscription.) A trigger whose thread was never created
 * has nothing else to carry it: it is replaced by a copy of itself (see {@link retrigger}), so
 * that it too costs none of its deliveries (a nak of its last delivery would dead-letter a trigger
 * nothing was wrong with). Either is enqueued after the consumer stopped, so the job goes to the
 * next worker (test/nats/shutdown.test.ts, test/nats/jobPuller.test.ts).
 *
 * A thread whose call of a tool that is not idempotent the runtime aborted at its drain deadline
 * and that still runs here (`Runtime.abandonedCalls`: a tool that ignores its signal) is handed
 * back due only one ack wait later, as the job of a worker that died would come back: by then this
 * process has exited (the CLI exits at once), so the next worker does not ask a human whether a
 * call that still runs took effect. (An idempotent call is run again by the next worker, as after a crash.)
 */
export async function handBack(scope: WorkerScope, job: Job, target: JobTarget): Promise<void> {
  const { threadId } = target;
  if (!(await threadExists(scope, threadId))) {
    if (job.subject === scope.ctx.subjects.trigger(target.agent)) await retrigger(scope, job, target);
    else await job.nak(); // a continuation of no thread: its next delivery ends it
    return;
  }
  let { wakeAt } = target;
  if (scope.ctx.runtime.abandonedCalls().calls.some((c) => c.threadId === threadId && !c.idempotent)) {
    wakeAt = Math.max(wakeAt ?? 0, Date.now() + scope.ctx.queues.config.ackWaitMs);
    scope.ctx.logger.warn({ threadId, agent: target.agent, wakeAt: new Date(wakeAt).toISOString() }, 'a tool call aborted at shutdown still runs: its thread is handed back due after the ack wait');
  }
  await replaceJob(scope, job, target.agent, { threadId, ...(wakeAt === undefined ? {} : { wakeAt }) });
}

/** Replaces a job by a fresh continuation job (deliveries of its own, a wake-up if `wakeAt`), then acks it. */
export async function replaceJob(scope: WorkerScope, job: Job, agent: string, payload: JobPayload): Promise<void> {
  const { queues, subjects } = scope.ctx;
  await (await queues.queue(agent)).enqueue(subjects.jobs(agent), payload);
  await job.ack();
}

/** The id a trigger's launch records (`source.triggerId`): the trigger's it copies, else its msg id, else its job id. */
export function triggerIdOf(job: Job): string {
  return job.headers[TRIGGER_ID_HEADER] ?? job.msgId ?? job.id;
}

/**
 * Replaces a trigger whose thread was never created by a copy on the same subject, then acks it:
 * the same payload with its thread id fixed (a thread id from the trigger's place in the queue
 * would change with the copy's), its headers (its reply subject among them) but JetStream's own
 * (`Nats-*`: its msg id, any expectation on the stream), and the original trigger's id in
 * {@link TRIGGER_ID_HEADER} for its launch to record. The copy's msg id is `handback.<job id>`:
 * not the original's, which the queue still remembers (the copy would be dropped as its duplicate,
 * and the trigger lost with the ack), but one per original message, so a hand-back repeated after
 * a lost ack enqueues one copy. A trigger whose payload cannot be read again (it was, to come
 * this far), or whose copy cannot be enqueued (see {@link copyTooLarge}; the queue refused it,
 * the server is away), is handed back as itself: nak'ed, it comes back (a delivery of its own).
 */
async function retrigger(scope: WorkerScope, job: Job, target: JobTarget): Promise<void> {
  const json = job.json();
  if (!json.success || typeof json.data !== 'object' || json.data === null || Array.isArray(json.data)) {
    await job.nak();
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(job.headers)) if (!name.toLowerCase().startsWith('nats-')) headers[name] = value;
  headers[TRIGGER_ID_HEADER] = triggerIdOf(job);
  const msgId = `handback.${job.id}`;
  const copy = encodePayload({ ...json.data, threadId: target.threadId });
  const log = { threadId: target.threadId, agent: target.agent, jobId: job.id };
  const tooLarge = copyTooLarge(scope, copy, { ...headers, [MSG_ID_HEADER]: msgId });
  if (tooLarge !== undefined) {
    scope.ctx.logger.warn({ ...log, reason: tooLarge }, 'trigger handed back as itself: its copy would be too large');
    await job.nak();
    return;
  }
  try {
    const queue = await scope.ctx.queues.queue(target.agent);
    await queue.enqueue(job.subject, copy, { msgId, headers });
  } catch (error) {
    // A copy stored after all (its answer lost) launches the same thread with the same input as
    // the original: the second launch is idempotent.
    scope.ctx.logger.warn({ ...log, err: messageOf(error) }, 'trigger handed back as itself: its copy could not be enqueued');
    await job.nak();
    return;
  }
  scope.ctx.logger.info(log, 'trigger handed back as a copy: its thread was not created here');
  await job.ack();
}

/**
 * Why a trigger's copy would be refused as too large, or undefined when it fits. It is written
 * again from its original's parsed JSON, with its thread id: longer than the original (numbers as
 * 5e+21, say) past the room a copy has over `maxPayloadBytes` ({@link HANDED_BACK_ROOM}), the next
 * worker would refuse it; with its headers, past the bus's largest message (the NATS server's
 * max_payload, which `maxPayloadBytes` may come up to), the queue would.
 */
function copyTooLarge(scope: WorkerScope, copy: Uint8Array, headers: Record<string, string>): string | undefined {
  const limit = scope.ctx.maxPayloadBytes + HANDED_BACK_ROOM;
  if (copy.length > limit) return `its payload is ${copy.length} bytes; a copy may have ${limit}`;
  const bytes = messageBytes(copy, headers);
  const largest = largestMessageOf(scope.ctx.bus);
  return bytes > largest ? `it is ${bytes} bytes with its headers; the bus carries at most ${largest} (the NATS server's max_payload)` : undefined;
}

/** Whether the thread exists (a trigger's may not, if its launch failed); false when the store cannot say. */
async function threadExists(scope: WorkerScope, threadId: string): Promise<boolean> {
  try {
    return (await scope.ctx.runtime.get(threadId)) !== undefined;
  } catch {
    return false;
  }
}
