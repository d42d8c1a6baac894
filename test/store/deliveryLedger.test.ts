import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
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

describe('fileDeliveryLedger: compaction (review28 item 6)', () => {
  it.skipIf(process.platform === 'win32')('leaves the ledger private (0600) when a .tmp a crash left was world-readable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-ledger-'));
    try {
      const path = join(dir, 'deliveries.jsonl');
      await writeFile(path, Array.from({ length: 1_100 }, (_, i) => `${JSON.stringify(['k', `id${i}`])}\n`).join(''), { mode: 0o600 });
      await writeFile(`${path}.tmp`, 'left by a crash\n', { mode: 0o644 });
      await chmod(`${path}.tmp`, 0o644);
      const ledger = fileDeliveryLedger(path);
      expect(await ledger.get('k')).toBe('id1099');
      expect((await readFile(path, 'utf8')).split('\n').filter((line) => line !== '')).toHaveLength(1);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
