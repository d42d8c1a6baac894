import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdTable } from '../../src/store/idTable.js';
import { wellFormedString } from './idArbitrary.js';

/** Ids of up to 255 UTF-8 bytes: awkward ones, long multi-byte ones, and ones equal in UTF-16 length but not in bytes. */
const poolArbitrary = fc
  .tuple(fc.array(wellFormedString, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1100, max: 1600 }))
  .map(([bases, size]) => {
    const ids = Array.from({ length: size }, (_, i) => `${bases[i % bases.length]}${i}`);
    ids.push('é'.repeat(127) + 'a', 'a'.repeat(255), '😀'.repeat(63), 'e\u0301', '\u00e9', 'éa', 'ab');
    return [...new Set(ids)].filter((id) => Buffer.byteLength(id) <= 255);
  });

describe('IdTable under churn', () => {
  it('agrees with a map through growth, rehashes and reused slots, for ids of any bytes', () => {
    fc.assert(
      fc.property(poolArbitrary, fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat()), { minLength: 2500, maxLength: 3500 }), (pool, ops) => {
        const table = new IdTable();
        const model = new Map<string, number>();
        const free: number[] = [];
        let next = 0;
        for (const [op, at] of ops) {
          const id = pool[at % pool.length]!;
          // Three adds to one remove: the table grows past its first rehash, with tombstones on the way.
          if (op > 0 && !model.has(id)) {
            const slot = free.pop() ?? next++;
            table.add(id, slot);
            model.set(id, slot);
          } else if (op === 0 && model.has(id)) {
            table.remove(id);
            free.push(model.get(id)!);
            model.delete(id);
          }
        }
        expect(table.size).toBe(model.size);
        for (const id of pool) expect(table.find(id)).toBe(model.get(id) ?? -1);
        for (const [id, slot] of model) expect(table.idAt(slot)).toBe(id);
      }),
      { numRuns: 25 },
    );
  });
});

describe('IdTable in a long-running store', () => {
  it('keeps its bytes and buckets bounded while threads are created and deleted with a bounded live set', () => {
    const table = new IdTable();
    const live: string[] = [];
    const free: number[] = [];
    let next = 0;
    let peakBytes = 0;
    let peakBuckets = 0;
    for (let i = 0; i < 100_000; i++) {
      const id = `th_${i.toString(16).padStart(8, '0')}-7c1e-4b0a-9d2f-${(i * 2654435761).toString(16).padStart(12, '0')}`;
      table.add(id, free.pop() ?? next++);
      live.push(id);
      // A bounded live set: retention, prune and DELETE /threads/:id end the oldest.
      if (live.length > 200) {
        const gone = live.shift()!;
        free.push(table.find(gone));
        table.remove(gone);
      }
      peakBytes = Math.max(peakBytes, table.bytesUsed);
      peakBuckets = Math.max(peakBuckets, table.buckets);
    }
    expect(table.size).toBe(200);
    for (const id of live) expect(table.idAt(table.find(id))).toBe(id);
    // 200 live ids of 39 bytes, 8 kB (100,000 ids are 3.9 MB): the buffer may hold some dead bytes, not all of them.
    expect(peakBuckets).toBeLessThanOrEqual(2048);
    expect(peakBytes).toBeLessThanOrEqual(64 * 1024);
  });
});

/** Ids of 120 to 255 bytes, so that a few thousand adds and removes fill the 64 kB buffer several times over. */
const longPoolArbitrary = fc
  .tuple(fc.array(wellFormedString, { minLength: 1, maxLength: 10 }), fc.integer({ min: 50, max: 400 }))
  .map(([bases, size]) => {
    const ids = Array.from({ length: size }, (_, i) => {
      const base = bases[i % bases.length]!;
      return `${i}:${base.repeat(Math.ceil((120 + (i % 7) * 15) / Buffer.byteLength(base)))}`;
    });
    return [...new Set(ids)].filter((id) => Buffer.byteLength(id) <= 255);
  });

describe('IdTable against a map, with its buffer compacted', () => {
  it('answers every find, size and idAt as a map would through any adds and removes, in bytes bounded by the live ones', () => {
    fc.assert(
      fc.property(
        longPoolArbitrary,
        fc.array(fc.tuple(fc.constantFrom('add', 'add', 'remove', 'remove', 'find'), fc.nat()), { minLength: 2000, maxLength: 4000 }),
        (pool, ops) => {
          const table = new IdTable();
          const model = new Map<string, number>();
          const free: number[] = [];
          let next = 0;
          let liveBytes = 0;
          let peakLiveBytes = 0;
          for (const [op, at] of ops) {
            const id = pool[at % pool.length]!;
            if (op === 'add' && !model.has(id)) {
              const slot = free.pop() ?? next++;
              table.add(id, slot);
              model.set(id, slot);
              liveBytes += Buffer.byteLength(id);
              peakLiveBytes = Math.max(peakLiveBytes, liveBytes);
            } else if (op === 'remove' && model.has(id)) {
              table.remove(id);
              free.push(model.get(id)!);
              model.delete(id);
              liveBytes -= Buffer.byteLength(id);
            } else if (op === 'find') {
              const slot = table.find(id);
              expect(slot).toBe(model.get(id) ?? -1);
              if (slot !== -1) expect(table.idAt(slot)).toBe(id);
            }
            expect(table.size).toBe(model.size);
          }
          for (const id of pool) expect(table.find(id)).toBe(model.get(id) ?? -1);
          for (const [id, slot] of model) expect(table.idAt(slot)).toBe(id);
          // The buffer grows only when live ids hold half of it.
          expect(table.bytesUsed).toBeLessThanOrEqual(Math.max(1 << 16, 4 * peakLiveBytes + 2 * 255));
        },
      ),
      { numRuns: 40 },
    );
  });
});
