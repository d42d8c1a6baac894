import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { createKvDeliveryLedger } from '../../src/nats/kvDeliveryLedger.js';
import { runDeliveryLedgerConformance } from '../store/deliveryLedger.conformance.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let buckets = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

runDeliveryLedgerConformance('nats kv', () => {
  // A fresh bucket per test, so tests sharing the server never see each other's records.
  const bucket = `deliveries_${process.pid}_${++buckets}`;
  return Promise.resolve({ open: () => createKvDeliveryLedger({ nc, bucket }), cleanup: () => Promise.resolve() });
});
