import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type PubAck,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { startJobPuller, type Delivery } from './jobPuller.js';
import { retryWhileNoResponders } from './unanswered.js';
import type {
  BusPayload,
  ConsumeOptions,
  DeadLetter,
  EnqueueOptions,
  EnqueueResult,
  JobConsumer,
  JobHandler,
  JobQueue,
} from '../bus/bus.js';
import { BusError } from '../bus/bus.js';
import { decodeText, encodePayload, parseJson } from '../bus/busMessage.js';
import {
  MSG_ID_HEADER,
  assertCaptured,
  consumeConcurrency,
  errorText,
  maxDeliverReason,
  nakOrDeadLetter,
  retryDelayFor,
  runJob,
  type NormalizedJobQueueOptions,
  type SettleableJob,
} from '../bus/jobRunner.js';

/**
 * How long one pull request waits for a job before it is renewed. The server heartbeats a waiting
 * pull every `expires / 2`; two missed heartbeats (a lost consumer leader, a dead server) end the
 * pull, so this also bounds how long a slot can sit on a pull that nobody will answer.
 */
const FETCH_EXPIRES_MS = 5_000;
/** What a job's reply subject is sent to settle it (nats.js `jsmsg.ts`). */
const ACK = '+ACK';
const NAK = '-NAK';
const TERM = '+TERM';
const WORKING = '+WPI';
/** How long an ack waits for the server to confirm it (nats.js's JetStream timeout). */
const ACK_TIMEOUT_MS = 5_000;
/** Pause after a failed pull (server restarting, consumer missing) before the next one. */
const FETCH_RETRY_MS = 250;

// JetStream API error codes (nats-server errors.json).
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_ALREADY_EXISTS = 10148; // 2.10+: create with a different config
const CONSUMER_NAME_EXISTS = 10013;
const STREAM_SUBJECT_OVERLAP = 10065;

/** The bus-side hooks a NATS job queue needs. */
export interface NatsJobQueueHost {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  report(error: unknown, queue: string, subject?: string): void;
  toHeaders(record: Record<string, string> | undefined): MsgHdrs | undefined;
  fromHeaders(headers: MsgHdrs | undefined): Record<string, string>;
  /** Called when a consumer starts and stops, so `close()` can stop the rest. */
  track(consumer: { halt(): void }, running: boolean): void;
  /** The connection's `inboxPrefix`, when it has one. */
  readonly inboxPrefix?: string;
}

/** The names a queue uses on the server. */
export function natsQueueNames(name: string): { stream: string; durable: string; dlqStream: string; dlqSubject: string } {
  return { stream: name, durable: `${name}_workers`, dlqStream: `${name}_DLQ`, dlqSubject: `_DLQ.${name}` };
}

/** The stored form of a dead letter (the DLQ stream's message payload). */
interface DeadLetterRecord extends DeadLetter {
  queue: string;
  seq: number;
}

/**
 * `js.publish`, retried while nobody answers for the stream (see {@link retryWhileNoResponders}).
 */
function publishToStream(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array | string,
  options: Partial<JetStreamPublishOptions>,
): Promise<PubAck> {
  return retryWhileNoResponders(() => js.publish(subject, data, options));
}

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

function unavailable(what: string, error: unknown): BusError {
  return new BusError('unavailable', `${what}: ${errorText(error)}`, { cause: error });
}

/**
 * Creates or updates the queue's streams and durable consumer (idempotent, safe to race from
 * several processes): a WorkQueue stream `name` with a dedup window, a limits stream `name_DLQ`
 * for dead letters, and a durable pull consumer `name_workers` with explicit acks.
 */
export async function ensureNatsJobQueue(
  jsm: JetStreamManager,
  name: string,
  config: NormalizedJobQueueOptions,
): Promise<ConsumerInfo> {
  const names = natsQueueNames(name);
  const work: Partial<StreamConfig> & { name: string } = {
    name: names.stream,
    subjects: [...config.subjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: config.replicas,
    duplicate_window: nanos(config.dedupWindowMs),
  };
  const dlq: Partial<StreamConfig> & { name: string } = {
    name: names.dlqStream,
    subjects: [names.dlqSubject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: config.replicas,
  };
  try {
    await ensureStream(jsm, work);
    await ensureStream(jsm, dlq);
    const consumer = {
      durable_name: names.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(config.ackWaitMs),
      max_deliver: config.maxDeliver,
    };
    try {
      // On 2.9 adding an existing durable updates it; 2.10+ refuses a changed config instead.
      return await jsm.consumers.add(names.stream, consumer);
    } catch (error) {
      const code = apiCode(error);
      if (code !== CONSUMER_ALREADY_EXISTS && code !== CONSUMER_NAME_EXISTS) throw error;
      return await jsm.consumers.update(names.stream, names.durable, {
        ack_wait: consumer.ack_wait,
        max_deliver: consumer.max_deliver,
      });
    }
  } catch (error) {
    if (apiCode(error) === STREAM_SUBJECT_OVERLAP) {
      throw new BusError('invalid_subject', `job queue ${name}: subjects ${config.subjects.join(', ')} overlap another stream's`, {
        cause: error,
      });
    }
    throw unavailable(`cannot set up job queue ${name}`, error);
  }
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    if (apiCode(error) !== STREAM_NAME_IN_USE) throw error;
    const { name, retention: _retention, storage: _storage, ...changeable } = config;
    await jsm.streams.update(name, changeable);
  }
}

/** A {@link JobQueue} over a JetStream work-queue stream. */
export function natsJobQueue(
  host: NatsJobQueueHost,
  name: string,
  config: NormalizedJobQueueOptions,
): JobQueue {
  const names = natsQueueNames(name);
  const report = (error: unknown, subject?: string): void => host.report(error, name, subject);

  async function deadLetter(
    seq: number,
    subject: string,
    data: Uint8Array,
    headers: Record<string, string>,
    cause: DeadLetter['cause'],
    reason: string,
    deliveryCount: number,
  ): Promise<void> {
    const record: DeadLetterRecord = {
      queue: name,
      seq,
      id: `${name}:${seq}`,
      subject,
      data: decodeText(data),
      headers,
      reason,
      cause,
      deliveryCount,
      at: new Date().toISOString(),
    };
    // The msg id makes the explicit path and the max-deliveries advisory path write one record.
    await publishToStream(host.js, names.dlqSubject, JSON.stringify(record), {
      msgID: record.id,
      expect: { streamName: names.dlqStream },
    });
  }

  /** Sends an ack of another kind than `+ACK` (nak, term, in progress) and waits until the server has it. */
  async function settleWith(reply: string, body: string): Promise<void> {
    host.nc.publish(reply, body);
    await host.nc.flush();
  }

  function toJob(msg: Delivery): SettleableJob {
    let settled = false;
    const headers = host.fromHeaders(msg.headers);
    const { deliveryCount, seq, reply } = msg;
    const msgId = headers[MSG_ID_HEADER];
    const terminate = async (cause: DeadLetter['cause'], reason: string): Promise<void> => {
      // Record first: if that fails the job is not lost, it is redelivered (or the advisory fires).
      await deadLetter(seq, msg.subject, msg.data, headers, cause, reason, deliveryCount);
      await settleWith(reply, TERM);
    };
    const nak = async (delayMs: number, error?: unknown): Promise<void> => {
      settled = true;
      await nakOrDeadLetter(
        { deliveryCount, maxDeliver: config.maxDeliver, error },
        (reason) => terminate('max_deliver', reason),
        () => settleWith(reply, delayMs > 0 ? `${NAK} ${JSON.stringify({ delay: nanos(delayMs) })}` : NAK),
      );
    };
    return {
      id: `${name}:${seq}`,
      seq,
      ...(msgId === undefined ? {} : { msgId }),
      subject: msg.subject,
      data: msg.data,
      headers,
      deliveryCount,
      get settled() {
        return settled;
      },
      text: () => decodeText(msg.data),
      json: () => parseJson(msg.data),
      ack: async () => {
        settled = true;
        try {
          // An ack with a reply, which the server answers once the ack is applied (nats.js's ackAck).
          await host.nc.request(reply, ACK, { timeout: ACK_TIMEOUT_MS });
        } catch (error) {
          throw unavailable(`ack of job ${name}:${seq} failed`, error);
        }
      },
      nak: (delayMs?: number) => nak(delayMs ?? 0),
      term: async (reason: string) => {
        settled = true;
        await terminate('term', reason);
      },
      working: () => settleWith(reply, WORKING),
      fail: (error: unknown) => nak(retryDelayFor(config, deliveryCount), error ?? 'handler failed'),
    };
  }

  /** Dead-letters a job whose last delivery expired (the server only sends an advisory). */
  async function onMaxDeliveries(data: Uint8Array): Promise<void> {
    const parsed = parseJson(data);
    if (!parsed.success) return;
    const advisory = parsed.data as { stream_seq?: unknown; deliveries?: unknown };
    if (typeof advisory.stream_seq !== 'number') return;
    const seq = advisory.stream_seq;
    const stored = await host.jsm.streams.getMessage(names.stream, { seq });
    if (!stored) return; // another process handled it
    const deliveries = typeof advisory.deliveries === 'number' ? advisory.deliveries : config.maxDeliver;
    const reason = maxDeliverReason(config.maxDeliver, 'ack wait expired');
    await deadLetter(seq, stored.subject, stored.data, host.fromHeaders(stored.header), 'max_deliver', reason, deliveries);
    try {
      await host.jsm.streams.deleteMessage(names.stream, seq, false);
    } catch (error) {
      if (apiCode(error) === undefined) throw error; // already deleted elsewhere: fine
    }
  }

  function consume(handler: JobHandler, options: ConsumeOptions = {}): JobConsumer {
    const concurrency = consumeConcurrency(options);
    if (host.nc.isClosed()) throw new BusError('closed', 'the bus is closed');
    const advisories = host.nc.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.stream}.${names.durable}`,
      {
        callback: (error, msg) => {
          if (error) report(error);
          else onMaxDeliveries(msg.data).catch((e: unknown) => report(e));
        },
      },
    );
    const puller = startJobPuller({
      nc: host.nc,
      stream: names.stream,
      durable: names.durable,
      expiresMs: FETCH_EXPIRES_MS,
      heartbeatMs: FETCH_EXPIRES_MS / 2,
      retryMs: FETCH_RETRY_MS,
      ...(host.inboxPrefix === undefined ? {} : { inboxPrefix: host.inboxPrefix }),
      onError: (error) => report(error),
    });
    let halted = false;
    const halt = (): void => {
      if (halted) return;
      halted = true;
      advisories.unsubscribe();
      puller.stop();
    };

    // Each slot asks for a job only when it is free (the puller asks the server for all of them).
    async function slot(): Promise<void> {
      for (;;) {
        const delivery = await puller.next();
        if (delivery === undefined) return;
        await runJob(toJob(delivery), handler, (error) => report(error, delivery.subject));
      }
    }

    const tracked = { halt };
    host.track(tracked, true);
    const slots = Array.from({ length: concurrency }, () => slot());
    return {
      stop: async () => {
        halt();
        await Promise.allSettled(slots);
        host.track(tracked, false);
      },
    };
  }

  return {
    name,
    async enqueue(subject: string, payload: BusPayload, options: EnqueueOptions = {}): Promise<EnqueueResult> {
      assertCaptured(name, config.subjects, subject);
      if (host.nc.isClosed()) throw new BusError('closed', 'the bus is closed');
      const headers = host.toHeaders(options.headers);
      try {
        const ack = await publishToStream(host.js, subject, encodePayload(payload), {
          ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
          ...(headers ? { headers } : {}),
          expect: { streamName: names.stream },
        });
        return { duplicate: ack.duplicate, seq: ack.seq };
      } catch (error) {
        throw unavailable(`enqueue on ${subject} failed`, error);
      }
    },
    consume,
    async deadLetters(): Promise<DeadLetter[]> {
      try {
        const info = await host.jsm.streams.info(names.dlqStream);
        const letters: DeadLetter[] = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const stored = await host.jsm.streams.getMessage(names.dlqStream, { seq });
          if (!stored) continue;
          const parsed = parseJson(stored.data);
          if (!parsed.success) continue;
          const { queue: _queue, seq: _seq, ...letter } = parsed.data as DeadLetterRecord;
          letters.push(letter);
        }
        return letters;
      } catch (error) {
        throw unavailable(`cannot read dead letters of ${name}`, error);
      }
    },
  };
}
