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
