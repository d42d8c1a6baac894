import { SystemError } from '../errors.js';

/**
 * What can be published. A `Uint8Array` is sent as is, a `string` as its UTF-8 bytes (not JSON
 * encoded), anything else (objects, arrays, numbers, booleans, `null`) as its JSON encoding.
 */
export type BusPayload = Uint8Array | string | number | boolean | null | object;

/** Message headers: one string value per name. Names are case-sensitive. */
export type BusHeaders = Readonly<Record<string, string>>;

/** The result of {@link BusMessage.json}: a value, never an exception (like zod's `safeParse`). */
export type JsonParseResult = { success: true; data: unknown } | { success: false; error: string };

/** A message delivered to a subscription handler or returned by {@link Bus.request}. */
export interface BusMessage {
  /** The concrete subject the message was published to (never a wildcard). */
  readonly subject: string;
  /** The raw payload. */
  readonly data: Uint8Array;
  /** The headers sent with the message (empty when none). */
  readonly headers: BusHeaders;
  /** Where a reply should go, when the sender expects one (see {@link Bus.respond}). */
  readonly reply?: string;
  /** The payload decoded as UTF-8. */
  text(): string;
  /** The payload parsed as JSON. Never throws: invalid or empty JSON is `{ success: false }`. */
  json(): JsonParseResult;
}

/** Handles one message. A throw or a rejection goes to the bus's `onError`, never further. */
export type BusHandler = (msg: BusMessage) => void | Promise<void>;

/** Options of {@link Bus.publish}. */
export interface PublishOptions {
  /** Headers to send with the message. */
  headers?: Record<string, string> | undefined;
  /** A subject the receiver should reply to. */
  reply?: string | undefined;
}

/** Options of {@link Bus.publishStored}. */
export interface StoredPublishOptions {
  /** Names the message: a repeat within the queue's duplicate window is stored once. */
  msgId: string;
  /** Headers to send with the message. */
  headers?: Record<string, string>;
}

/** Options of {@link Bus.subscribe}. */
export interface SubscribeOptions {
  /**
   * Queue group name. Among the subscriptions with the same queue name whose patterns match a
   * message's subject, exactly one receives it; subscriptions without a queue all receive it.
   */
  queue?: string | undefined;
}

/** Options of {@link Bus.request}. */
export interface RequestOptions {
  /**
   * How long to wait for the reply before rejecting with a {@link BusError} of code `timeout`.
   * @default 5000
   */
  timeoutMs?: number | undefined;
  /** Headers to send with the request. */
  headers?: Record<string, string> | undefined;
}

/** Options of {@link Bus.respond}. */
export interface RespondOptions {
  /** Headers to send with the reply. */
  headers?: Record<string, string> | undefined;
}

/** A live subscription. */
export interface BusSubscription {
  /** Stops deliveries to this subscription. Idempotent. */
  unsubscribe(): Promise<void>;
}

/**
 * The messaging seam: subject-based publish/subscribe with NATS semantics, request/reply, and
 * durable job queues. Two implementations share one conformance suite: the in-process
 * `createMemoryBus` (the embedded default) and `createNatsBus` (NATS core + JetStream).
 *
 * Subjects are dot-separated tokens (`switchyard.thread.t1.respond`). Subscription patterns may use
 * `*` for exactly one token and `>` (last token only) for one or more trailing tokens.
 *
 * @example
 * ```ts
 * const sub = bus.subscribe('switchyard.events.*.>', (msg) => {
 *   const payload = msg.json(); // { success: true, data } or { success: false, error }
 *   if (payload.success) console.log(msg.subject, payload.data);
 * });
 * await bus.publish('switchyard.events.echo.t1.input', { input: 'hi' });
 * await sub.unsubscribe();
 * ```
 */
export interface Bus {
  /**
   * Publishes one message (fire and forget: it reaches the subscriptions that exist when it is
   * routed). Rejects with a {@link BusError} of code `invalid_subject` for an empty subject, a
   * wildcard or an empty token, and `closed` after {@link Bus.close}.
   */
  publish(subject: string, payload: BusPayload, options?: PublishOptions): Promise<void>;
  /**
   * Publishes a message that must outlive a server restart, where a durable queue captures
   * `subject` (a JetStream stream on NATS, any process's; a job queue in memory): resolves true once
   * the queue has stored it. Where none does, publishes nothing and resolves false. (On NATS the
   * streams' subjects are listed every 10 s: a stream created in another process counts from the
   * next listing; when they cannot be listed, the last listing, or none, counts.) Rejects with a
   * {@link BusError}: `invalid_subject` for a malformed subject, `unavailable` (or `timeout`) when
   * the message was not stored (the queue refused it, the server is away). A plain
   * {@link Bus.publish} gets no such answer: the server may drop it (a stream refusing it, a
   * restart) after a later request was answered.
   */
  publishStored(subject: string, payload: BusPayload, options: StoredPublishOptions): Promise<boolean>;
  /**
   * Delivers every message whose subject matches `pattern` to `handler`, in publish order. Throws a
   * {@link BusError} of code `invalid_subject` for a malformed pattern. With a shared NATS server,
   * a subscription is known to other connections after {@link Bus.flush}.
   */
  subscribe(pattern: string, handler: BusHandler, options?: SubscribeOptions): BusSubscription;
  /**
   * Publishes a request and resolves with the first reply. Rejects with a {@link BusError} of code
   * `no_responders` when no subscription matches `subject`, and `timeout` when no reply arrives
   * within `timeoutMs`.
   */
  request(subject: string, payload: BusPayload, options?: RequestOptions): Promise<BusMessage>;
  /**
   * Replies to a message received by a subscription. Rejects with a {@link BusError} of code
   * `no_reply` when the message has no reply subject.
   */
  respond(msg: BusMessage, payload: BusPayload, options?: RespondOptions): Promise<void>;
  /**
   * Opens (creating or updating it when needed) the durable job queue `name`. Calls with the same
   * name share one queue; the last options given win.
   */
  jobQueue(name: string, options?: JobQueueOptions): Promise<JobQueue>;
  /**
   * The name of the durable job queue that captures `subject`, opened by any process on this bus
   * (a JetStream stream on NATS), or `undefined` when none does: a publish there is stored as a job
   * rather than only routed to subscriptions. Never rejects; an unreachable server answers `undefined`.
   */
  queueFor(subject: string): Promise<string | undefined>;
  /**
   * The largest message the bus carries, its payload and its headers together (as
   * `messageBytes` counts them): on NATS the server's `max_payload`, as the connection reports it
   * now (a reconnect may land on a server with another); a larger publish or enqueue is refused.
   * The in-process bus carries any size: `Infinity`. Optional: a bus without it (one written
   * before it existed) carries any size as far as the surface knows (see `largestMessageOf`).
   */
  maxMessageBytes?(): number;
  /** Resolves when everything published so far has been routed. */
  flush(): Promise<void>;
  /**
   * Calls `listener` each time the bus has its server back after losing it. What was published
   * meanwhile (and some of what was published just before) never reached its subscriptions, so
   * what they follow is worth reading again. Returns the function that stops it. The in-process
   * bus never loses its server.
   */
  onReconnect(listener: () => void): () => void;
  /**
   * Stops all job consumers (without waiting for running handlers), ends all subscriptions and
   * rejects pending requests with code `closed`. Idempotent.
   */
  close(): Promise<void>;
}

/** Where a swallowed error happened, passed to {@link BusErrorHandler}. */
export interface BusErrorContext {
  /** The subject (or pattern) involved, when there is one. */
  subject?: string;
  /** The job queue involved, when there is one. */
  queue?: string;
}

/**
 * Receives what a bus swallows: handler throws and rejections, job handler failures, connection
 * errors. A throw from `onError` itself is swallowed too.
 */
export type BusErrorHandler = (error: unknown, context: BusErrorContext) => void;

/** Options every bus implementation takes. */
export interface BusOptions {
  /** Receives the errors the bus swallows. @default ignore them */
  onError?: BusErrorHandler | undefined;
}

/** Options of {@link Bus.jobQueue}. */
export interface JobQueueOptions {
  /**
   * The subjects this queue captures. {@link JobQueue.enqueue} only accepts matching subjects, and
   * a plain {@link Bus.publish} on a matching subject enqueues a job too (as a core NATS publish on
   * a stream's subject does), so any NATS client can trigger work.
   * @default [`${name}.>`]
   */
  subjects?: string[] | undefined;
  /**
   * Deliveries after which a job that was never acked goes to the dead letters.
   * @default 5
   */
  maxDeliver?: number | undefined;
  /**
   * How long a delivered job may go without `ack()` (or a `working()` heartbeat) before it is
   * delivered again.
   * @default 30000
   */
  ackWaitMs?: number | undefined;
  /**
   * How long a `msgId` is remembered: an enqueue with the same `msgId` within this window is a
   * duplicate and enqueues nothing.
   * @default 120000
   */
  dedupWindowMs?: number | undefined;
  /**
   * How long a job whose handler threw waits before it is delivered again, after its first
   * delivery; each later failure of the same job doubles the wait, up to `maxRetryDelayMs`.
   * @default 1000
   */
  retryDelayMs?: number | undefined;
  /**
   * The longest a failed job waits before it is delivered again (raised to `retryDelayMs` when less).
   * @default 60000
   */
  maxRetryDelayMs?: number | undefined;
  /**
   * JetStream replicas of the queue's streams (NATS only; ignored in memory).
   * @default 1
   */
  replicas?: number | undefined;
  /**
   * Binds the queue to one owner (switchyard's agent queues: the KV bucket of the threads their
   * jobs move), so that processes that cannot do its jobs do not take them. On NATS the stream
   * records it in its `description` when it is set up; a stream that records none (set up
   * before, or without an owner) is bound to this one, and opening a queue bound to another owner
   * rejects with a {@link QueueOwnerError}. Ignored in memory (one process).
   * @default none: the queue is opened whatever it is bound to, and its binding left as it is
   */
  owner?: string | undefined;
}

/** Options of {@link JobQueue.enqueue}. */
export interface EnqueueOptions {
  /**
   * Deduplication id: a second enqueue with the same id within `dedupWindowMs` returns
   * `duplicate: true` and enqueues nothing. Sent as the `Nats-Msg-Id` header.
   */
  msgId?: string | undefined;
  /** Headers stored with the job. */
  headers?: Record<string, string> | undefined;
}

/** What {@link JobQueue.enqueue} returns. */
export interface EnqueueResult {
  /** True when `msgId` was seen within the dedup window and nothing was enqueued. */
  duplicate: boolean;
  /** The job's sequence number in its queue (for a duplicate: the original job's). */
  seq: number;
}

/** Options of {@link JobQueue.consume}. */
export interface ConsumeOptions {
  /**
   * How many jobs this consumer runs at once.
   * @default 1
   */
  concurrency?: number | undefined;
  /**
   * Called with the dead letter of a job whose last allowed delivery's ack wait ran out (cause
   * `max_deliver`, reason `max deliveries (N) reached: ack wait expired`): every worker it went to
   * died or stalled with it, so no handler of it settled it. On NATS every process consuming the
   * queue hears the server's advisory, and each that finds the job still in the queue calls it: it
   * must be idempotent. A throw or a rejection goes to the bus's `onError`.
   */
  onExpired?: ((letter: DeadLetter) => void | Promise<void>) | undefined;
}

/**
 * Handles one job. Resolving acks the job (unless the handler already settled it with `ack`,
 * `nak` or `term`); throwing naks it with the queue's retry delay (`retryDelayMs`, doubled for each
 * earlier delivery, at most `maxRetryDelayMs`), or dead-letters it when this was its last allowed
 * delivery.
 */
export type JobHandler = (job: Job) => Promise<void>;

/**
 * A durable work queue: each job is delivered to exactly one consumer at a time (across all
 * processes for NATS), redelivered until acked, and dead-lettered after `maxDeliver` deliveries or
 * on `term()`. Delivery is at least once: handlers should be idempotent.
 */
export interface JobQueue {
  /** The queue's name (also its JetStream stream name). */
  readonly name: string;
  /**
   * Stores a job. Rejects with a {@link BusError} of code `invalid_subject` when `subject` does not
   * match the queue's subjects.
   */
  enqueue(subject: string, payload: BusPayload, options?: EnqueueOptions): Promise<EnqueueResult>;
  /** Starts taking jobs. Several consumers (in any number of processes) share the work. */
  consume(handler: JobHandler, options?: ConsumeOptions): JobConsumer;
  /** The jobs that were terminated or ran out of deliveries, oldest first. */
  deadLetters(): Promise<DeadLetter[]>;
}

/** One delivery of a job. */
export interface Job {
  /** Stable across deliveries: `${queue}:${seq}`. */
  readonly id: string;
  /** The job's sequence number in its queue. */
  readonly seq: number;
  /** The `msgId` it was enqueued with, if any. */
  readonly msgId?: string;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  /** 1 on the first delivery, 2 on the first redelivery, and so on. */
  readonly deliveryCount: number;
  /** The payload decoded as UTF-8. */
  text(): string;
  /** The payload parsed as JSON; never throws. */
  json(): JsonParseResult;
  /** Done: the job is removed from the queue. */
  ack(): Promise<void>;
  /**
   * Failed for now: deliver it again after `delayMs` (default: at once). On the last allowed
   * delivery the job goes to the dead letters instead.
   */
  nak(delayMs?: number): Promise<void>;
  /** Failed for good: the job goes to the dead letters with `reason`, never delivered again. */
  term(reason: string): Promise<void>;
  /** Still working: restarts the ack deadline (`ackWaitMs` from now). */
  working(): Promise<void>;
}

/** A running consumer of a {@link JobQueue}. */
export interface JobConsumer {
  /**
   * Stops taking jobs; resolves once the handlers already running have settled. Idempotent. A job
   * on its last delivery that was on its way to the consumer as it stopped (NATS) is handled too,
   * before it resolves: handing it back would lose it.
   */
  stop(): Promise<void>;
}

/** A job that will not be delivered again. */
export interface DeadLetter {
  /** The job's id (`${queue}:${seq}`). */
  id: string;
  /** The job's subject. */
  subject: string;
  /** The job's payload decoded as UTF-8. */
  data: string;
  /** The job's headers. */
  headers: BusHeaders;
  /**
   * Why: the `term()` reason, or for exhausted deliveries `max deliveries (N) reached: <why>`
   * where `<why>` is the last handler error, `ack wait expired` or `nak on the last delivery`.
   */
  reason: string;
  /** `term` when a handler terminated it, `max_deliver` when it ran out of deliveries. */
  cause: 'term' | 'max_deliver';
  /** Deliveries made. */
  deliveryCount: number;
  /** ISO time it was dead-lettered. */
  at: string;
}

/** What went wrong in a {@link BusError}. */
export type BusErrorCode =
  /** A request found no subscription for its subject. */
  | 'no_responders'
  /** A request got no reply in time, or the server did not answer. */
  | 'timeout'
  /** The bus was closed. */
  | 'closed'
  /** A subject, pattern or queue name is malformed, or outside a queue's subjects. */
  | 'invalid_subject'
  /** `respond` was given a message without a reply subject. */
  | 'no_reply'
  /** The server refused or failed an operation (JetStream errors, lost connection). */
  | 'unavailable'
  /** A job queue is bound to another owner than the one it was opened for ({@link QueueOwnerError}). */
  | 'conflict';

/** A bus operation failed; `code` says how. */
export class BusError extends SystemError {
  constructor(
    /** What went wrong. */
    readonly code: BusErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A job queue opened for an owner while it is bound to another one (see {@link JobQueueOptions.owner}). */
export class QueueOwnerError extends BusError {
  constructor(
    /** The queue's name. */
    readonly queue: string,
    /** The owner the queue is bound to. */
    readonly boundTo: string,
    /** The owner it was opened for. */
    readonly owner: string,
  ) {
    super('conflict', `job queue ${queue} is bound to ${boundTo}, not ${owner}`);
  }
}

/** Type guard for {@link BusError}, optionally of one code. */
export function isBusError(value: unknown, code?: BusErrorCode): value is BusError {
  return value instanceof BusError && (code === undefined || value.code === code);
}
