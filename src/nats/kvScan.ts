import { AckPolicy, DeliverPolicy, type ConsumerConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { retryRead, type Buckets } from './kvBuckets.js';

/** One message of a bucket's stream met by {@link scanBucket}. */
export interface ScannedEntry {
  /** The KV key (the subject after the bucket's prefix). */
  readonly key: string;
  /** Stream sequence: the entry's revision. */
  readonly seq: number;
  /** Empty when scanned headers only. */
  readonly value: Uint8Array;
  /** A delete or purge marker. */
  readonly deleted: boolean;
  /** When the server stored it (ms since the epoch). */
  readonly time: number;
}

/** Options of {@link scanBucket}. */
export interface ScanOptions {
  /** A key filter (one subject filter: nats-server 2.9 takes no more). */
  readonly filter: string;
  /** Only messages after this stream sequence. @default 0 */
  readonly after?: number;
  /** The last message of each key only (the bucket's current entries). @default false */
  readonly lastPerKey?: boolean;
  /** Values are left out. @default false */
  readonly headersOnly?: boolean;
  /** Messages fetched at a time. @default 256 */
  readonly batch?: number;
  /** Told how many messages the scan will read, once its consumer exists. */
  readonly onPending?: (count: number) => void;
}

/** A consumer left behind by a reader that died goes away after this long idle. */
const INACTIVE_MS = 30_000;

/**
 * Reads the messages of a KV bucket's stream that match a key filter, in stream order, batch by
 * batch, through an ephemeral pull consumer (memory storage, no acks) that is deleted when the
 * reader stops. The number of messages to read is known when the consumer is created, so the
 * reader never waits for messages that will not come, and the server reads only the matching
 * messages (no scan of the whole bucket in this process).
 */
export async function* scanBucket(buckets: Buckets, stream: string, prefix: string, options: ScanOptions): AsyncGenerator<ScannedEntry[]> {
  const { filter, after = 0, lastPerKey = false, headersOnly = false, batch = 256, onPending } = options;
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.None,
    filter_subject: prefix + filter,
    headers_only: headersOnly,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(INACTIVE_MS),
    deliver_policy: lastPerKey ? DeliverPolicy.LastPerSubject : after > 0 ? DeliverPolicy.StartSequence : DeliverPolicy.All,
    ...(after > 0 && !lastPerKey ? { opt_start_seq: after + 1 } : {}),
  };
  // Right after a failover the server may not answer at once; a consumer made by a try that timed
  // out goes away after INACTIVE_MS.
  const info = await retryRead(() => buckets.side.jsm.consumers.add(stream, config));
  try {
    let pending = info.num_pending;
    onPending?.(pending);
    const consumer = buckets.side.js.consumers.getConsumerFromInfo(info);
    while (pending > 0) {
      const want = Math.min(pending, batch);
      const messages = await consumer.fetch({ max_messages: want, expires: 5_000 });
      const out: ScannedEntry[] = [];
      for await (const m of messages) {
        const operation = m.headers?.get('KV-Operation');
        out.push({ key: m.subject.slice(prefix.length), seq: m.seq, value: m.data, deleted: operation === 'DEL' || operation === 'PURGE', time: m.time.getTime() });
        pending = m.info.pending;
        if (out.length >= want) break;
      }
      if (out.length === 0) return;
      yield out;
    }
  } finally {
    void buckets.side.jsm.consumers.delete(stream, info.name).catch(() => undefined);
  }
}
