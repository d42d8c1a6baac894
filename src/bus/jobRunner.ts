import type { Job, JobHandler, JobQueueOptions } from './bus.js';
import { assertPattern, assertQueueName } from './subject.js';

/** The header that carries a job's dedup id (`EnqueueOptions.msgId`), as in JetStream. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** {@link JobQueueOptions} with every default applied. */
export interface NormalizedJobQueueOptions {
  readonly subjects: readonly string[];
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly dedupWindowMs: number;
  readonly retryDelayMs: number;
  readonly replicas: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`job queue option ${name} must be a positive number, got ${value}`);
  }
  return value;
}

/** Validates `name` and `options` and applies the documented defaults, once, at construction. */
export function normalizeJobQueueOptions(name: string, options: JobQueueOptions = {}): NormalizedJobQueueOptions {
  assertQueueName(name);
  const subjects = options.subjects ?? [`${name}.>`];
  if (subjects.length === 0) throw new RangeError('job queue option subjects must not be empty');
  subjects.forEach(assertPattern);
  return {
    subjects: [...subjects],
    maxDeliver: Math.floor(positive('maxDeliver', options.maxDeliver, 5)),
    ackWaitMs: positive('ackWaitMs', options.ackWaitMs, 30_000),
    dedupWindowMs: positive('dedupWindowMs', options.dedupWindowMs, 120_000),
    retryDelayMs: options.retryDelayMs === 0 ? 0 : positive('retryDelayMs', options.retryDelayMs, 1_000),
    replicas: Math.floor(positive('replicas', options.replicas, 1)),
  };
}

/** A job the runner can settle: both implementations' deliveries satisfy this. */
export interface SettleableJob extends Job {
  /** True once `ack`, `nak` or `term` was called on this delivery. */
  readonly settled: boolean;
  /**
   * The handler threw: nak with the queue's retry delay, or dead-letter with the error when this
   * was the last allowed delivery.
   */
  fail(error: unknown): Promise<void>;
}

/** The text a dead letter records for an error. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The dead-letter reason for a job that ran out of deliveries. */
export function maxDeliverReason(maxDeliver: number, why: string): string {
  return `max deliveries (${maxDeliver}) reached: ${why}`;
}

/**
 * Runs `handler` on one delivery with the shared semantics: resolving acks (unless the handler
 * settled the job itself), throwing fails the job. Never rejects: errors go to `report`.
 */
export async function runJob(job: SettleableJob, handler: JobHandler, report: (error: unknown) => void): Promise<void> {
  try {
    await handler(job);
  } catch (error) {
    report(error);
    if (!job.settled) {
      await job.fail(error).catch(report);
    }
    return;
  }
  if (!job.settled) {
    await job.ack().catch(report);
  }
}
