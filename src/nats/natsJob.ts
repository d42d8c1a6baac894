import type { JetStreamClient, JetStreamManager, JetStreamPublishOptions, PubAck } from '@nats-io/jetstream';
import { nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { DeadLetter } from '../bus/bus.js';
import { decodeText, parseJson } from '../bus/busMessage.js';
import { MSG_ID_HEADER, maxDeliverReason, nakOrDeadLetter, retryDelayFor, type NormalizedJobQueueOptions, type SettleableJob } from '../bus/jobRunner.js';
import type { Delivery } from './jobPuller.js';
import { apiCode, natsQueueNames, unavailable } from './natsQueueSetup.js';
import { retryWhileNoResponders } from './unanswered.js';

/** What a job's reply subject is sent to settle it (nats.js `jsmsg.ts`). */
const ACK = '+ACK';
const NAK = '-NAK';
const TERM = '+TERM';
const WORKING = '+WPI';
/** How long an ack waits for the server to confirm it (nats.js's JetStream timeout). */
const ACK_TIMEOUT_MS = 5_000;

/** What a delivered job needs of its bus: the connection, JetStream, and header decoding. */
export interface NatsJobHost {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  fromHeaders(headers: MsgHdrs | undefined): Record<string, string>;
}

/** The queue a job came from. */
export interface NatsJobSource {
  readonly host: NatsJobHost;
  /** The queue's name (its work stream). */
  readonly name: string;
  readonly config: NormalizedJobQueueOptions;
}

/** The stored form of a dead letter (the DLQ stream's message payload). */
export interface DeadLetterRecord extends DeadLetter {
  queue: string;
  seq: number;
}

/** What a dead letter records of its job, and why it ended there. */
export interface DeadJob {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Record<string, string>;
  readonly cause: DeadLetter['cause'];
  readonly reason: string;
  readonly deliveryCount: number;
}

/**
 * `js.publish`, retried while nobody answers for the stream (see {@link retryWhileNoResponders}).
 */
export function publishToStream(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array | string,
  options: Partial<JetStreamPublishOptions>,
): Promise<PubAck> {
  return retryWhileNoResponders(() => js.publish(subject, data, options));
}

/** Records a job in the queue's dead-letter stream, once (its msg id is `<queue>:<seq>`); resolves with the record. */
export async function deadLetter(source: NatsJobSource, job: DeadJob): Promise<DeadLetterRecord> {
  const names = natsQueueNames(source.name);
  const record: DeadLetterRecord = {
    queue: source.name,
    seq: job.seq,
    id: `${source.name}:${job.seq}`,
    subject: job.subject,
    data: decodeText(job.data),
    headers: job.headers,
    reason: job.reason,
    cause: job.cause,
    deliveryCount: job.deliveryCount,
    at: new Date().toISOString(),
  };
  // The msg id makes the explicit path and the max-deliveries advisory path write one record.
  await publishToStream(source.host.js, names.dlqSubject, JSON.stringify(record), {
    msgID: record.id,
    expect: { streamName: names.dlqStream },
  });
  return record;
}

/**
 * Dead-letters a job whose last delivery expired unacknowledged, from the server's max-deliveries
 * advisory (the server only sends the advisory; the message stays in the work stream). Resolves
 * with the dead letter, or undefined when the job was gone (another process handled it).
 */
export async function deadLetterExpired(source: NatsJobSource, jsm: JetStreamManager, advisoryData: Uint8Array): Promise<DeadLetterRecord | undefined> {
  const { host, config } = source;
  const parsed = parseJson(advisoryData);
  if (!parsed.success) return undefined;
  const advisory = parsed.data as { stream_seq?: unknown; deliveries?: unknown };
  if (typeof advisory.stream_seq !== 'number') return undefined;
  const seq = advisory.stream_seq;
  const stream = natsQueueNames(source.name).stream;
  const stored = await jsm.streams.getMessage(stream, { seq });
  if (!stored) return undefined; // another process handled it
  const deliveryCount = typeof advisory.deliveries === 'number' ? advisory.deliveries : config.maxDeliver;
  const reason = maxDeliverReason(config.maxDeliver, 'ack wait expired');
  const record = await deadLetter(source, { seq, subject: stored.subject, data: stored.data, headers: host.fromHeaders(stored.header), cause: 'max_deliver', reason, deliveryCount });
  try {
    await jsm.streams.deleteMessage(stream, seq, false);
  } catch (error) {
    if (apiCode(error) === undefined) throw error; // already deleted elsewhere: fine
  }
  return record;
}

/** A delivered message as a job: settled by acks sent to its reply subject. */
export function natsJob(source: NatsJobSource, msg: Delivery): SettleableJob {
  const { host, name, config } = source;
  let settled = false;
  const headers = host.fromHeaders(msg.headers);
  const { deliveryCount, seq, reply } = msg;
  const msgId = headers[MSG_ID_HEADER];
  /** Sends an ack of another kind than `+ACK` (nak, term, in progress) and waits until the server has it. */
  const settleWith = async (body: string): Promise<void> => {
    host.nc.publish(reply, body);
    await host.nc.flush();
  };
  const terminate = async (cause: DeadLetter['cause'], reason: string): Promise<void> => {
    // Record first: if that fails the job is not lost, it is redelivered (or the advisory fires).
    await deadLetter(source, { seq, subject: msg.subject, data: msg.data, headers, cause, reason, deliveryCount });
    await settleWith(TERM);
  };
  const nak = async (delayMs: number, error?: unknown): Promise<void> => {
    settled = true;
    await nakOrDeadLetter(
      { deliveryCount, maxDeliver: config.maxDeliver, error },
      (reason) => terminate('max_deliver', reason),
      () => settleWith(delayMs > 0 ? `${NAK} ${JSON.stringify({ delay: nanos(delayMs) })}` : NAK),
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
    working: () => settleWith(WORKING),
    fail: (error: unknown) => nak(retryDelayFor(config, deliveryCount), error ?? 'handler failed'),
  };
}
