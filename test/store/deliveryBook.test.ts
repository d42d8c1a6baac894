import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createDeliveryBook } from '../../src/store/deliveryBook.js';
import type { DeliveryLedger, OwedRecord } from '../../src/store/deliveryLedger.js';

/** A ledger in memory: what is recorded under each key, and what was owed. */
function memoryLedger(): DeliveryLedger & { readonly records: Map<string, string>; readonly owedIds: string[] } {
  const records = new Map<string, string>();
  const owedIds: string[] = [];
  return {
    records,
    owedIds,
    get: async (key) => records.get(key),
    record: async (key, id) => void records.set(key, id),
    owe: async (owed: OwedRecord) => void owedIds.push(owed.id),
    owed: async () => [],
    clearOwed: async () => {},
    close: async () => {},
  };
}

const record = (id: string): OwedRecord => ({ key: 'webhook r t1', id, threadId: 't1' });

describe('DeliveryBook.settle', () => {
  it('never moves a key back to an earlier rest of the same incarnation, nor owes one at or before the rest recorded', async () => {
    const ledger = memoryLedger();
    const book = createDeliveryBook({ ledger, logger: silentLogger(), what: 'webhook' });
    await book.settle(record('t1@abc:6'), true, {});
    await book.settle(record('t1@abc:3'), true, {});
    expect(ledger.records.get('webhook r t1')).toBe('t1@abc:6');
    await book.settle(record('t1@abc:3'), false, {});
    await book.settle(record('t1@abc:6'), false, {});
    expect(ledger.owedIds).toEqual([]);
    // A later rest, and another incarnation (the thread launched again under its id), are recorded.
    await book.settle(record('t1@abc:9'), true, {});
    expect(ledger.records.get('webhook r t1')).toBe('t1@abc:9');
    await book.settle(record('t1@xyz:2'), true, {});
    expect(ledger.records.get('webhook r t1')).toBe('t1@xyz:2');
  });
});

describe('DeliveryBook.deliver', () => {
  it('runs the deliveries under one key in the order of their seqs: a later one stops the earlier one’s retries and starts once it ended; an earlier one starts superseded', async () => {
    const book = createDeliveryBook({ ledger: undefined, logger: silentLogger(), what: 'webhook' });
    const order: string[] = [];
    let release!: () => void;
    const attemptUnderWay = new Promise<void>((resolve) => (release = resolve));
    const first = book.deliver({ threadId: 't1', key: 'k', id: 't1@abc:3', asks: true }, async (_dropped, _check, superseded) => {
      order.push('3 attempt');
      await attemptUnderWay; // its attempt is answered after the later delivery came
      order.push(`3 answered, superseded ${superseded.aborted}`);
    });
    const later = book.deliver({ threadId: 't1', key: 'k', id: 't1@abc:6', asks: false }, async (_dropped, _check, superseded) => {
      order.push(`6 starts, superseded ${superseded.aborted}`);
    });
    const stale = book.deliver({ threadId: 't1', key: 'k', id: 't1@abc:3', asks: true }, async (_dropped, _check, superseded) => {
      order.push(`3 again, superseded ${superseded.aborted}`);
    });
    const otherKey = book.deliver({ threadId: 't1', key: 'other', id: 't1@abc:3', asks: true }, async (_dropped, _check, superseded) => {
      order.push(`3 to another receiver, superseded ${superseded.aborted}`);
    });
    await Promise.resolve();
    release();
    await Promise.all([first, later, stale, otherKey]);
    expect(order.indexOf('3 answered, superseded true')).toBeLessThan(order.indexOf('6 starts, superseded false'));
    expect(order).toContain('3 again, superseded true');
    expect(order).toContain('3 to another receiver, superseded false');
  });
});
