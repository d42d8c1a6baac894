import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { runDeliveryLedgerConformance } from './deliveryLedger.conformance.js';

runDeliveryLedgerConformance('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-ledger-'));
  return {
    open: () => Promise.resolve(fileDeliveryLedger(join(dir, 'deliveries.jsonl'))),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
