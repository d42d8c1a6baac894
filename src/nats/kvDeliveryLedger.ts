import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';
import type { DeliveryLedger, OwedRecord } from '../store/deliveryLedger.js';
import { isWrongLastSequence, retryRead, streamMissing, systemError } from './kvBuckets.js';

/** Options of {@link createKvDeliveryLedger}. */
export interface KvDeliveryLedgerOptions {
  readonly nc: NatsConnection;
  /** The bucket, created when missing. */
  readonly bucket: string;
  /** @default 1 */
  readonly replicas?: number;
}

/** The first token of the keys owed deliveries are kept under, listed by the filter `owed.*`. */
const OWED = 'owed';

function createLedgerBucket(nc: NatsConnection, bucket: string, replicas: number): Promise<KV> {
  const description = `switchyard deliveries of callbacks and webhooks: key = SHA-256 of the ledger key, value = delivery id; ${OWED}.<SHA-256> = a delivery given up`;
  return new Kvm(jetstream(nc)).create(bucket, { replicas, history: 1, description });
}

/**
 * Checks that a delivery ledger's bucket exists and creates it again, as
 * {@link createKvDeliveryLedger} did, when it is gone (a server that lost its JetStream data).
 * Resolves with the name of its stream when it was missing.
 */
export async function restoreDeliveryLedger(options: KvDeliveryLedgerOptions): Promise<string[]> {
  const { nc, bucket, replicas = 1 } = options;
  const stream = `KV_${bucket}`;
  if (!(await streamMissing(await jetstreamManager(nc, { checkAPI: false }), stream, `cannot check the delivery ledger ${bucket}`))) return [];
  try {
    await createLedgerBucket(nc, bucket, replicas);
  } catch (error) {
    throw systemError(`cannot create again the delivery ledger ${bucket}`, error);
  }
  return [stream];
}

/**
 * A {@link DeliveryLedger} in a KV bucket, shared by every process of a deployment: the key of a
 * record is the SHA-256 of its ledger key (KV keys allow few characters), its value the id; an
 * owed delivery is kept under `owed.<SHA-256 of its ledger key>`, its value the JSON of the
 * {@link OwedRecord}, and listed by that prefix.
 */
export async function createKvDeliveryLedger(options: KvDeliveryLedgerOptions): Promise<DeliveryLedger> {
  const { nc, bucket, replicas = 1 } = options;
  if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError('replicas must be a positive integer');
  let kv: KV;
  try {
    kv = await createLedgerBucket(nc, bucket, replicas);
  } catch (error) {
    throw systemError(`cannot open the delivery ledger ${bucket}`, error);
  }
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const keyOf = (key: string): string => createHash('sha256').update(key).digest('hex');
  const owedKeyOf = (key: string): string => `${OWED}.${keyOf(key)}`;

  /** Reads one key: its entry holding a value, or undefined. */
  async function read(key: string): Promise<KvEntry | undefined> {
    try {
      const entry = await retryRead(() => kv.get(key));
      return entry === null || entry.operation !== 'PUT' ? undefined : entry;
    } catch (error) {
      throw systemError(`cannot read the delivery ledger ${bucket}`, error);
    }
  }

  async function write(key: string, value: string): Promise<void> {
    try {
      await kv.put(key, value);
    } catch (error) {
      throw systemError(`cannot write the delivery ledger ${bucket}`, error);
    }
  }

  return {
    async get(key) {
      return (await read(keyOf(key)))?.string();
    },
    record: (key, id) => write(keyOf(key), id),
    owe: ({ key, id, threadId }) => write(owedKeyOf(key), JSON.stringify({ key, id, threadId })),
    async owed() {
      const keys: string[] = [];
      try {
        for await (const key of await kv.keys(`${OWED}.*`)) keys.push(key);
      } catch (error) {
        throw systemError(`cannot list the owed deliveries in ${bucket}`, error);
      }
      const owed: OwedRecord[] = [];
      for (const key of keys) {
        const record = parseOwed(await read(key));
        if (record !== undefined) owed.push(record);
      }
      return owed;
    },
    async clearOwed(key, id) {
      const entry = await read(owedKeyOf(key));
      if (parseOwed(entry)?.id !== id) return;
      try {
        // Only the entry read: a delivery owed under the key since stays.
        await kv.delete(owedKeyOf(key), { previousSeq: entry!.revision });
      } catch (error) {
        if (!isWrongLastSequence(error)) throw systemError(`cannot write the delivery ledger ${bucket}`, error);
      }
    },
    async forget(key) {
      for (const stored of [keyOf(key), owedKeyOf(key)]) {
        try {
          // A purge of the stream by the key's subject leaves nothing (kv.purge would leave a marker per key).
          await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${stored}` });
        } catch (error) {
          throw systemError(`cannot write the delivery ledger ${bucket}`, error);
        }
      }
    },
    close: () => Promise.resolve(),
  };
}

/** The owed delivery an entry holds, or undefined when it holds none (deleted, or written by something else). */
function parseOwed(entry: KvEntry | undefined): OwedRecord | undefined {
  if (entry === undefined) return undefined;
  try {
    const value = entry.json<Partial<OwedRecord> | null>();
    return typeof value?.key === 'string' && typeof value.id === 'string' && typeof value.threadId === 'string' ? { key: value.key, id: value.id, threadId: value.threadId } : undefined;
  } catch {
    return undefined;
  }
}
