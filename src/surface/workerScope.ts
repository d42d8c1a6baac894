import type { Job } from '../bus/bus.js';
import { retryDelayFor } from '../bus/jobRunner.js';
import { messageOf } from '../errors.js';
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
}

/** Delay before a job handed back at shutdown is delivered again (after this process stops its actors). */
export const HANDBACK_DELAY_MS = 2_000;

/** Tells the queue the job is still being worked on, every `heartbeatMs`; returns the stop function. */
export function heartbeat(scope: WorkerScope, job: Job): () => void {
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    job
      .working()
      .catch((error: unknown) => scope.ctx.logger.warn({ jobId: job.id, err: messageOf(error) }, 'heartbeat failed'))
      .finally(() => {
        beating = false;
      });
  }, scope.options.heartbeatMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Hands a job back to be delivered again after the queue's retry delay for its delivery count. */
export function retryLater(scope: WorkerScope, job: Job): Promise<void> {
  return job.nak(retryDelayFor(scope.ctx.queues.config, job.deliveryCount));
}
