import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';
import { systemError } from './kvBuckets.js';

/** Options of {@link createKvDeliveryLedger}. */
export interface KvDeliveryLedgerOptions {
  readonly nc: NatsConnection;
  /** The bucket, created when missing. */
  readonly bucket: string;
  /** @default 1 */
  readonly replicas?: number;
}

/**
 * A {@link DeliveryLedger} in a KV bucket, shared by every process of a deployment: the key of a
 * record is the SHA-256 of its ledger key (KV keys allow few characters), its value the id.
 */
export async function createKvDeliveryLedger(options: KvDeliveryLedgerOptions): Promise<DeliveryLedger> {
  const { nc, bucket, replicas = 1 } = options;
  if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError('replicas must be a positive integer');
  let kv: KV;
  try {
    kv = await new Kvm(jetstream(nc)).create(bucket, { replicas, history: 1, description: 'switchyard deliveries of callbacks and webhooks: key = SHA-256 of the ledger key, value = delivery id' });
  } catch (error) {
    throw systemError(`cannot open the delivery ledger ${bucket}`, error);
  }
  const keyOf = (key: string): string => createHash('sha256').update(key).digest('hex');
  return {
    async get(key) {
      try {
        const entry = await kv.get(keyOf(key));
        return entry === null || entry.operation !== 'PUT' ? undefined : entry.string();
      } catch (error) {
        throw systemError(`cannot read the delivery ledger ${bucket}`, error);
      }
    },
    async record(key, id) {
      try {
        await kv.put(keyOf(key), id);
      } catch (error) {
        throw systemError(`cannot write the delivery ledger ${bucket}`, error);
      }
    },
    close: () => Promise.resolve(),
  };
}
