import type { Job, JobConsumer } from '../bus/bus.js';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../errors.js';
import { continuationDue, readContinuation } from './continuationJob.js';
import { handedOff, runToRest } from './runToRest.js';
import type { SurfaceContext } from './surfaceContext.js';
import type { ThreadRequests } from './threadRequests.js';
import { readTrigger, refuse, triggerThreadId } from './triggerJob.js';
import type { AgentWorkerOptions, WorkerScope } from './workerScope.js';

/** The job-taking side of the NATS surface. */
export interface AgentWorker {
  /** Jobs running now. */
  active(): number;
  /**
   * Stops taking jobs and waits up to `drainMs` for the running ones; the rest are handed back
   * (their runs aborted, the jobs nak'ed to be delivered again shortly).
   */
  stop(drainMs: number): Promise<void>;
}

/**
 * Consumes the work queues of the served agents. A trigger launches its thread (idempotent by
 * thread id), a continuation job names a thread; both run the thread to rest in this process with
 * a heartbeat, publish the result to the reply subjects, then ack. Bad input is terminated (a
 * dead letter with the reason) after an error reply; it never throws out of the handler.
 */
export async function startAgentWorker(ctx: SurfaceContext, requests: ThreadRequests, options: AgentWorkerOptions): Promise<AgentWorker> {
  const scope: WorkerScope = { ctx, requests, options, running: new Set() };
  const consumers: JobConsumer[] = [];
  for (const agent of options.agents) {
    const queue = await ctx.queues.queue(agent);
    consumers.push(queue.consume((job) => onJob(scope, agent, job), { concurrency: options.concurrency }));
  }
  return {
    active: () => scope.running.size,
    async stop(drainMs) {
      const stopped = Promise.all(consumers.map((c) => c.stop()));
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        stopped.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), drainMs);
        }),
      ]);
      clearTimeout(timer);
      if (drained) return;
      ctx.logger.warn({ jobs: scope.running.size }, 'jobs still running at shutdown: handing them back');
      for (const abort of scope.running) abort.abort(new Error('the worker is shutting down'));
      // A job reporting its rest may be waiting on a callback: cut it, and the job is handed back.
      await Promise.all([ctx.callbacks.close(), stopped]);
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
    await refuse(scope, job, agent, read.replyTo, read.error, read.issues);
    return;
  }
  const { payload, replyTo } = read;
  const threadId = await triggerThreadId(scope, agent, job, payload);
  // A redelivery while the first delivery's worker still runs the thread: leave it to that one.
  if (job.deliveryCount > 1 && (await handedOff(scope, job, threadId))) return;
  await runToRest(scope, job, { agent, threadId }, replyTo, async () => {
    try {
      const launched = await scope.ctx.runtime.launch(agent, payload.input, {
        threadId,
        source: { kind: 'nats', ...(replyTo === undefined ? {} : { replyTo }), triggerId: job.msgId ?? job.id },
      });
      // Under the claim nothing advances the thread before the run: it need not be read again.
      return { thread: { id: launched.id, agent: launched.agent, events: launched.events } };
    } catch (error) {
      if (error instanceof InvalidInputError) await refuse(scope, job, agent, replyTo, error.message, error.issues);
      else if (error instanceof InvalidStateError || error instanceof NotFoundError) await refuse(scope, job, agent, replyTo, error.message);
      else throw error; // the store failed: delivered again later
      return false;
    }
  });
}

async function onContinuation(scope: WorkerScope, agent: string, job: Job): Promise<void> {
  const read = readContinuation(job, scope.ctx.maxPayloadBytes);
  if (!read.ok) {
    await job.term(read.reason);
    return;
  }
  const { threadId } = read.payload;
  if (!(await continuationDue(scope, job, agent, read.payload))) return;
  if (await handedOff(scope, job, threadId)) return;
  // The run checks that the thread exists and is this agent's (else the job is terminated).
  await runToRest(scope, job, { agent, threadId }, undefined, async () => ({ agent }));
}
