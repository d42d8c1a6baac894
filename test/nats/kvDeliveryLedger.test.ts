import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { createKvDeliveryLedger } from '../../src/nats/kvDeliveryLedger.js';
import { runDeliveryLedgerConformance } from '../store/deliveryLedger.conformance.js';
import { useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();
let buckets = 0;

runDeliveryLedgerConformance('nats kv', () => {
  // A fresh bucket per test, so tests sharing the server never see each other's records.
  const bucket = `deliveries_${process.pid}_${++buckets}`;
  return Promise.resolve({ open: () => createKvDeliveryLedger({ nc: bed.client.nc, bucket }), cleanup: () => Promise.resolve() });
});

describe('NATS KV delivery ledger forget', () => {
  it('leaves nothing in the bucket\'s stream of the keys it forgets, not even a purge marker', async () => {
    const bucket = `deliveries_${process.pid}_forget`;
    const ledger = await createKvDeliveryLedger({ nc: bed.client.nc, bucket });
    await ledger.record('callback:t1@x:5', 'd1');
    await ledger.owe({ key: 'callback:t1@x:5', id: 'd1', threadId: 't1' });
    await ledger.record('callback:t2@y:5', 'd2');
    await ledger.forget!('callback:t1@x:5');
    const jsm = await jetstreamManager(bed.client.nc);
    const subjects = (await jsm.streams.info(`KV_${bucket}`, { subjects_filter: '>' })).state.subjects ?? {};
    expect(Object.values(subjects)).toEqual([1]);
    expect(await ledger.get('callback:t1@x:5')).toBeUndefined();
    expect(await ledger.get('callback:t2@y:5')).toBe('d2');
    expect(await ledger.owed()).toEqual([]);
    await ledger.close();
  });
});
