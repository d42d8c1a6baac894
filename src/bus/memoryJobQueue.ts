import type { Clock } from '../clock.js';
import type {
  BusHeaders,
  BusPayload,
  ConsumeOptions,
  DeadLetter,
  EnqueueOptions,
  EnqueueResult,
  JobConsumer,
  JobHandler,
  JobQueue,
} from './bus.js';
import { BusError } from './bus.js';
import { decodeText, encodePayload, parseJson } from './busMessage.js';
import {
  MSG_ID_HEADER,
  assertCaptured,
  consumeConcurrency,
  nakOrDeadLetter,
  retryDelayFor,
  runJob,
  type NormalizedJobQueueOptions,
  type SettleableJob,
} from './jobRunner.js';
import { subjectMatches } from './subject.js';

interface StoredJob {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  readonly msgId: string | undefined;
  deliveryCount: number;
  state: 'ready' | 'inflight' | 'delayed';
  timer: unknown;
  /** The consumer its current delivery went to (whose `onExpired` hears of its last one expiring). */
  consumer: Consumer | undefined;
}

interface Consumer {
  readonly handler: JobHandler;
  readonly concurrency: number;
  readonly onExpired: ConsumeOptions['onExpired'];
  running: number;
  stopped: boolean;
  readonly inflight: Set<Promise<void>>;
}

/** The bus-side hooks a memory queue needs. */
export interface MemoryJobQueueHost {
  readonly clock: Clock;
  report(error: unknown, queue: string, subject?: string): void;
}

/**
 * An in-memory job queue with JetStream work-queue semantics: jobs wait in seq order, each is
 * delivered to one consumer at a time, redelivered when not acked within `ackWaitMs`, and
 * dead-lettered after `maxDeliver` deliveries or on `term()`.
 */
export class MemoryJobQueue {
  readonly name: string;
  private config: NormalizedJobQueueOptions;
  private nextSeq = 1;
  private readonly jobs = new Map<number, StoredJob>();
  /** Seqs of jobs ready for delivery, ascending (redeliveries go before newer jobs). */
  private readonly ready: number[] = [];
  private readonly msgIds = new Map<string, { seq: number; at: number }>();
  private readonly dead: DeadLetter[] = [];
  private consumers: Consumer[] = [];
  private turn = 0;
  private closed = false;

  /** `config` is already normalized (`normalizeJobQueueOptions`): the bus validated it. */
  constructor(
    name: string,
    config: NormalizedJobQueueOptions,
    private readonly host: MemoryJobQueueHost,
  ) {
    this.name = name;
    this.config = config;
  }

  /** The patterns this queue captures. */
  get subjects(): readonly string[] {
    return this.config.subjects;
  }

  /** Applies new normalized options (a later `jobQueue(name, options)` call wins, as a stream update does). */
  configure(config: NormalizedJobQueueOptions): void {
    this.config = config;
  }

  /** True when `subject` belongs to this queue. */
  captures(subject: string): boolean {
    return this.config.subjects.some((pattern) => subjectMatches(pattern, subject));
  }

  /** Stores a job unless its msg id was seen within the dedup window. */
  store(subject: string, data: Uint8Array, headers: BusHeaders): EnqueueResult {
    if (this.closed) throw new BusError('closed', 'the bus is closed');
    const now = this.host.clock.now();
    const msgId = headers[MSG_ID_HEADER];
    this.pruneMsgIds(now);
    if (msgId !== undefined) {
      const seen = this.msgIds.get(msgId);
      if (seen) return { duplicate: true, seq: seen.seq };
    }
    const seq = this.nextSeq++;
    if (msgId !== undefined) this.msgIds.set(msgId, { seq, at: now });
    this.jobs.set(seq, {
      seq,
      subject,
      data,
      headers,
      msgId,
      deliveryCount: 0,
      state: 'ready',
      timer: undefined,
      consumer: undefined,
    });
    this.ready.push(seq);
    this.schedule();
    return { duplicate: false, seq };
  }

  /** The public face of this queue. */
  handle(enqueue: (subject: string, data: Uint8Array, headers: BusHeaders) => EnqueueResult): JobQueue {
    return {
      name: this.name,
      enqueue: async (subject: string, payload: BusPayload, options: EnqueueOptions = {}) => {
        assertCaptured(this.name, this.config.subjects, subject);
        const headers: Record<string, string> = { ...options.headers };
        if (options.msgId !== undefined) headers[MSG_ID_HEADER] = options.msgId;
        return enqueue(subject, encodePayload(payload), Object.freeze(headers));
      },
      consume: (handler, options) => this.consume(handler, options),
      deadLetters: async () => this.dead.map((letter) => ({ ...letter })),
    };
  }

  /** Stops every consumer (without waiting for handlers) and cancels every timer. */
  close(): void {
    this.closed = true;
    for (const consumer of this.consumers) consumer.stopped = true;
    this.consumers = [];
    for (const job of this.jobs.values()) this.clearTimer(job);
  }

  private consume(handler: JobHandler, options: ConsumeOptions = {}): JobConsumer {
    const concurrency = consumeConcurrency(options);
    if (this.closed) throw new BusError('closed', 'the bus is closed');
    const consumer: Consumer = { handler, concurrency, onExpired: options.onExpired, running: 0, stopped: false, inflight: new Set() };
    this.consumers.push(consumer);
    this.schedule();
    return {
      stop: async () => {
        consumer.stopped = true;
        this.consumers = this.consumers.filter((c) => c !== consumer);
        await Promise.allSettled([...consumer.inflight]);
      },
    };
  }

  // Deliveries start on a microtask so enqueue/nak never run handlers re-entrantly.
  private scheduled = false;
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.ready.length > 0 && !this.closed) {
      const consumer = this.pickConsumer();
      if (!consumer) return;
      const seq = this.ready.shift()!;
      const job = this.jobs.get(seq);
      if (job && job.state === 'ready') this.deliver(job, consumer);
    }
  }

  /** Round-robin over consumers with a free slot. */
  private pickConsumer(): Consumer | undefined {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const consumer = this.consumers[(this.turn + i) % n]!;
      if (!consumer.stopped && consumer.running < consumer.concurrency) {
        this.turn = (this.turn + i + 1) % n;
        return consumer;
      }
    }
    return undefined;
  }

  private deliver(job: StoredJob, consumer: Consumer): void {
    job.deliveryCount += 1;
    job.state = 'inflight';
    job.consumer = consumer;
    const delivery = job.deliveryCount;
    this.armAckTimer(job);
    const handle = this.jobHandle(job, delivery);
    consumer.running += 1;
    const run = runJob(handle, consumer.handler, (error) => this.host.report(error, this.name, job.subject)).finally(
      () => {
        consumer.running -= 1;
        consumer.inflight.delete(run);
        this.schedule();
      },
    );
    consumer.inflight.add(run);
  }

  private jobHandle(job: StoredJob, delivery: number): SettleableJob {
    let settled = false;
    const isCurrent = (): boolean =>
      this.jobs.get(job.seq) === job && job.deliveryCount === delivery && job.state === 'inflight';
    const nak = async (delayMs = 0, error?: unknown): Promise<void> => {
      settled = true;
      if (!isCurrent()) return;
      this.clearTimer(job);
      nakOrDeadLetter(
        { deliveryCount: job.deliveryCount, maxDeliver: this.config.maxDeliver, error },
        (reason) => this.deadLetter(job, 'max_deliver', reason),
        () => this.retryAfter(job, delayMs),
      );
    };
    return {
      id: `${this.name}:${job.seq}`,
      seq: job.seq,
      ...(job.msgId === undefined ? {} : { msgId: job.msgId }),
      subject: job.subject,
      data: job.data,
      headers: job.headers,
      deliveryCount: delivery,
      get settled() {
        return settled;
      },
      text: () => decodeText(job.data),
      json: () => parseJson(job.data),
      // Like JetStream, an ack or term from an older delivery still settles the job if it is queued.
      ack: async () => {
        settled = true;
        if (this.jobs.get(job.seq) !== job) return;
        this.clearTimer(job);
        this.jobs.delete(job.seq);
      },
      nak: (delayMs?: number) => nak(delayMs ?? 0),
      term: async (reason: string) => {
        settled = true;
        if (this.jobs.get(job.seq) !== job) return;
        this.deadLetter(job, 'term', reason);
      },
      working: async () => {
        if (isCurrent()) this.armAckTimer(job);
      },
      fail: (error: unknown) => nak(retryDelayFor(this.config, delivery), error ?? 'handler failed'),
    };
  }

  private armAckTimer(job: StoredJob): void {
    this.clearTimer(job);
    job.timer = this.host.clock.setTimeout(() => {
      job.timer = undefined;
      if (this.jobs.get(job.seq) !== job || job.state !== 'inflight') return;
      nakOrDeadLetter(
        { deliveryCount: job.deliveryCount, maxDeliver: this.config.maxDeliver, error: 'ack wait expired' },
        (reason) => this.expired(job, this.deadLetter(job, 'max_deliver', reason)),
        () => this.makeReady(job),
      );
    }, this.config.ackWaitMs);
  }

  private retryAfter(job: StoredJob, delayMs: number): void {
    if (delayMs <= 0) {
      this.makeReady(job);
      return;
    }
    job.state = 'delayed';
    job.timer = this.host.clock.setTimeout(() => {
      job.timer = undefined;
      if (this.jobs.get(job.seq) === job) this.makeReady(job);
    }, delayMs);
  }

  private makeReady(job: StoredJob): void {
    job.state = 'ready';
    // Keep `ready` in seq order: older jobs first, as JetStream redelivers before new messages.
    const at = this.ready.findIndex((seq) => seq > job.seq);
    if (at === -1) this.ready.push(job.seq);
    else this.ready.splice(at, 0, job.seq);
    this.schedule();
  }

  /** Tells the consumer of a job whose last delivery expired (see `ConsumeOptions.onExpired`). */
  private expired(job: StoredJob, letter: DeadLetter): void {
    const onExpired = job.consumer?.onExpired;
    if (onExpired === undefined || this.closed) return;
    const report = (error: unknown): void => this.host.report(error, this.name, job.subject);
    try {
      Promise.resolve(onExpired({ ...letter })).catch(report);
    } catch (error) {
      report(error);
    }
  }

  private deadLetter(job: StoredJob, cause: DeadLetter['cause'], reason: string): DeadLetter {
    this.clearTimer(job);
    this.jobs.delete(job.seq);
    const letter: DeadLetter = {
      id: `${this.name}:${job.seq}`,
      subject: job.subject,
      data: decodeText(job.data),
      headers: job.headers,
      reason,
      cause,
      deliveryCount: job.deliveryCount,
      at: new Date(this.host.clock.now()).toISOString(),
    };
    this.dead.push(letter);
    return letter;
  }

  private clearTimer(job: StoredJob): void {
    if (job.timer !== undefined) {
      this.host.clock.clearTimeout(job.timer);
      job.timer = undefined;
    }
  }

  private pruneMsgIds(now: number): void {
    for (const [id, seen] of this.msgIds) {
      if (now - seen.at >= this.config.dedupWindowMs) this.msgIds.delete(id);
      else break; // insertion order is time order
    }
  }
}
