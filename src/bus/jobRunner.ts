import type { ConsumeOptions, Job, JobHandler, JobQueueOptions } from './bus.js';
import { BusError } from './bus.js';
import { assertPattern, assertQueueName, assertSubject, subjectMatches } from './subject.js';

/** The header that carries a job's dedup id (`EnqueueOptions.msgId`), as in JetStream. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** {@link JobQueueOptions} with every default applied. */
export interface NormalizedJobQueueOptions {
  readonly subjects: readonly string[];
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly dedupWindowMs: number;
  readonly retryDelayMs: number;
  /** Never less than `retryDelayMs`. */
  readonly maxRetryDelayMs: number;
  readonly replicas: number;
  /** See {@link JobQueueOptions.owner}. */
  readonly owner?: string;
}

/** A job queue's timing and replication options (every option but `subjects` and `owner`), normalized. */
export type JobQueueTiming = Omit<NormalizedJobQueueOptions, 'subjects' | 'owner'>;

/** The documented defaults of {@link JobQueueOptions}. */
export const JOB_QUEUE_DEFAULTS: JobQueueTiming = Object.freeze({
  maxDeliver: 5,
  ackWaitMs: 30_000,
  dedupWindowMs: 120_000,
  retryDelayMs: 1_000,
  maxRetryDelayMs: 60_000,
  replicas: 1,
});

/** How {@link normalizeJobQueueTiming} reports a bad option. */
export interface JobQueueTimingChecks {
  /**
   * Builds the error for an invalid option from a message like `ackWaitMs must be a positive
   * number, got 0`.
   * @default a RangeError prefixed with "job queue option"
   */
  invalid?: (message: string) => Error;
  /**
   * Accept `retryDelayMs: 0` (redeliver a failed job at once).
   * @default true
   */
  allowZeroRetryDelay?: boolean;
}

const rangeError = (message: string): Error => new RangeError(`job queue option ${message}`);

/**
 * `value`, or `fallback` when it is undefined; throws `invalid(message)` unless it is a positive
 * number.
 */
export function positiveOption(name: string, value: number | undefined, fallback: number, invalid: (message: string) => Error = rangeError): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw invalid(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

/**
 * Validates the timing options of a job queue and applies {@link JOB_QUEUE_DEFAULTS}: each must be
 * a positive number; `maxDeliver` and `replicas` are rounded down, and `maxRetryDelayMs` raised to
 * `retryDelayMs` when it is less.
 */
export function normalizeJobQueueTiming(
  options: Omit<JobQueueOptions, 'subjects'> = {},
  checks: JobQueueTimingChecks = {},
): JobQueueTiming {
  const { invalid = rangeError, allowZeroRetryDelay = true } = checks;
  const positive = (name: keyof JobQueueTiming): number => positiveOption(name, options[name], JOB_QUEUE_DEFAULTS[name], invalid);
  const retryDelayMs = allowZeroRetryDelay && options.retryDelayMs === 0 ? 0 : positive('retryDelayMs');
  return {
    maxDeliver: Math.floor(positive('maxDeliver')),
    ackWaitMs: positive('ackWaitMs'),
    dedupWindowMs: positive('dedupWindowMs'),
    retryDelayMs,
    maxRetryDelayMs: Math.max(retryDelayMs, positive('maxRetryDelayMs')),
    replicas: Math.floor(positive('replicas')),
  };
}

/**
 * How long a job that failed on its `deliveryCount`-th delivery waits before the next one:
 * `retryDelayMs` after the first, doubled for each delivery before it, at most `maxRetryDelayMs`
 * (with the defaults 1, 2, 4 and 8 s over five deliveries: a failing store or server gets 15 s to
 * come back before the job is dead-lettered, not 4).
 */
export function retryDelayFor(timing: Pick<JobQueueTiming, 'retryDelayMs' | 'maxRetryDelayMs'>, deliveryCount: number): number {
  const doublings = Math.min(Math.max(0, Math.floor(deliveryCount) - 1), 30);
  return Math.min(timing.maxRetryDelayMs, timing.retryDelayMs * 2 ** doublings);
}

/** Validates `name` and `options` and applies the documented defaults, once, at construction. */
export function normalizeJobQueueOptions(name: string, options: JobQueueOptions = {}): NormalizedJobQueueOptions {
  assertQueueName(name);
  const subjects = options.subjects ?? [`${name}.>`];
  if (subjects.length === 0) throw new RangeError('job queue option subjects must not be empty');
  subjects.forEach(assertPattern);
  if (options.owner !== undefined && options.owner.trim() === '') throw new RangeError('job queue option owner must not be blank');
  return { subjects: [...subjects], ...normalizeJobQueueTiming(options), ...(options.owner === undefined ? {} : { owner: options.owner }) };
}

/** Throws unless `subject` is a valid subject that one of the queue's `subjects` captures. */
export function assertCaptured(name: string, subjects: readonly string[], subject: string): void {
  assertSubject(subject);
  if (!subjects.some((pattern) => subjectMatches(pattern, subject))) {
    throw new BusError('invalid_subject', `subject ${subject} is not one of job queue ${name}'s subjects (${subjects.join(', ')})`);
  }
}

/** The validated `concurrency` of a consumer (rounded down, at least 1). */
export function consumeConcurrency(options: ConsumeOptions = {}): number {
  const concurrency = Math.floor(options.concurrency ?? 1);
  if (!(concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${options.concurrency}`);
  return concurrency;
}

/**
 * The shared retry rule of a nak (or a failed handler, with its `error`): on the last allowed
 * delivery the job is dead-lettered with a `max_deliver` reason, before that it is retried.
 */
export function nakOrDeadLetter<T>(
  delivery: { readonly deliveryCount: number; readonly maxDeliver: number; readonly error?: unknown },
  deadLetter: (reason: string) => T,
  retry: () => T,
): T {
  if (delivery.deliveryCount < delivery.maxDeliver) return retry();
  const why = delivery.error === undefined ? 'nak on the last delivery' : errorText(delivery.error);
  return deadLetter(maxDeliverReason(delivery.maxDeliver, why));
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
