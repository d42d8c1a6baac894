import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryLedger } from '../../src/store/deliveryLedger.js';

/** A fresh, empty ledger for one test: `open` gives a new handle on it (a restart, another process). */
export type DeliveryLedgerFactory = () => Promise<{ open(): Promise<DeliveryLedger>; cleanup(): Promise<void> }>;

/**
 * The behaviour every {@link DeliveryLedger} must have, run against each implementation (file, NATS
 * KV): deliveries recorded, and deliveries given up kept as owed until cleared, both kept across a
 * reopen.
 */
export function runDeliveryLedgerConformance(name: string, factory: DeliveryLedgerFactory): void {
  describe(`DeliveryLedger conformance: ${name}`, () => {
    let open: () => Promise<DeliveryLedger>;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ open, cleanup } = await factory());
    });

    afterEach(async () => {
      await cleanup();
    });

    const hook = 'webhook https://example.com/hooks?a=1&b=two words th_1';

    it('keeps the last id recorded under each key', async () => {
      const ledger = await open();
      expect(await ledger.get('th_1')).toBeUndefined();
      await ledger.record('th_1', 'th_1:3');
      await ledger.record(hook, 'th_1:3');
      await ledger.record('th_1', 'th_1:5');
      await ledger.close();
      const again = await open();
      expect([await again.get('th_1'), await again.get(hook), await again.get('th_2')]).toEqual(['th_1:5', 'th_1:3', undefined]);
      expect(await again.owed()).toEqual([]);
    });

    it('lists what was given up, one per key, apart from what was delivered', async () => {
      const ledger = await open();
      await ledger.owe({ key: hook, id: 'th_1:3', threadId: 'th_1' });
      await ledger.owe({ key: 'th_2', id: 'th_2:4', threadId: 'th_2' });
      await ledger.owe({ key: 'th_2', id: 'th_2:6', threadId: 'th_2' });
      await ledger.record('th_3', 'th_3:1');
      await ledger.close();
      const again = await open();
      const owed = await again.owed();
      expect(owed).toHaveLength(2);
      expect(owed).toEqual(
        expect.arrayContaining([
          { key: hook, id: 'th_1:3', threadId: 'th_1' },
          { key: 'th_2', id: 'th_2:6', threadId: 'th_2' },
        ]),
      );
      // Owed is not delivered.
      expect(await again.get(hook)).toBeUndefined();
    });

    it('clears what is owed under a key only while it is the id given', async () => {
      const ledger = await open();
      await ledger.owe({ key: 'th_2', id: 'th_2:6', threadId: 'th_2' });
      await ledger.owe({ key: hook, id: 'th_1:3', threadId: 'th_1' });
      await ledger.clearOwed('th_2', 'th_2:4'); // an older rest's: the newer stays
      await ledger.clearOwed(hook, 'th_1:3');
      await ledger.clearOwed('th_9', 'th_9:1'); // nothing owed there
      await ledger.close();
      const again = await open();
      expect(await again.owed()).toEqual([{ key: 'th_2', id: 'th_2:6', threadId: 'th_2' }]);
      await again.clearOwed('th_2', 'th_2:6');
      expect(await again.owed()).toEqual([]);
      await again.owe({ key: 'th_2', id: 'th_2:8', threadId: 'th_2' });
      await again.close();
      expect(await (await open()).owed()).toEqual([{ key: 'th_2', id: 'th_2:8', threadId: 'th_2' }]);
    });

    it('forgets a key (its thread was deleted): what was delivered under it and what is owed there; other keys stay', async () => {
      const ledger = await open();
      await ledger.record('th_1', 'th_1@a:3');
      await ledger.owe({ key: 'th_1', id: 'th_1@a:5', threadId: 'th_1' });
      await ledger.record(hook, 'th_1@a:3');
      await ledger.owe({ key: hook, id: 'th_1@a:5', threadId: 'th_1' });
      await ledger.record('th_2', 'th_2@b:4');
      await ledger.owe({ key: 'th_3', id: 'th_3@c:2', threadId: 'th_3' });
      expect(ledger.forget).toBeTypeOf('function');
      await ledger.forget!('th_1');
      await ledger.forget!(hook);
      await ledger.forget!('th_9'); // nothing there
      expect([await ledger.get('th_1'), await ledger.get(hook), await ledger.get('th_2')]).toEqual([undefined, undefined, 'th_2@b:4']);
      await ledger.close();
      const again = await open();
      expect([await again.get('th_1'), await again.get(hook), await again.get('th_2')]).toEqual([undefined, undefined, 'th_2@b:4']);
      expect(await again.owed()).toEqual([{ key: 'th_3', id: 'th_3@c:2', threadId: 'th_3' }]);
      // The key is used again (a thread launched again under the id).
      await again.record('th_1', 'th_1@d:3');
      await again.close();
      expect(await (await open()).get('th_1')).toBe('th_1@d:3');
    });
  });
}
