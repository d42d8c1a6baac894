import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareCreated } from '../../src/store/createdCursor.js';
import type { IndexEntry } from '../../src/store/indexEntry.js';
import { parseListOptions } from '../../src/store/listQuery.js';
import { compareSummaries } from '../../src/store/selectSummaries.js';
import { timeValue } from '../../src/store/indexTime.js';
import { ThreadIndex } from '../../src/store/threadIndex.js';
import { THREAD_STATUSES } from '../../src/thread/state.js';

/** The round trip `timeValue` stands for: the epoch ms of a plain ISO string, else NaN. */
function slowTimeValue(text: string): number {
  const ms = Date.parse(text);
  return text.length === 24 && Number.isFinite(ms) && new Date(ms).toISOString() === text ? ms : Number.NaN;
}

const entry = (id: string, over: Partial<IndexEntry> = {}): IndexEntry => ({
  id,
  agent: 'a',
  status: 'running',
  version: 1,
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-01T00:00:00.000Z',
  size: 100,
  ...over,
});

const time = fc.oneof(
  fc.date({ min: new Date(-5e13), max: new Date(3e14), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024-02-30T00:00:00.000Z', '2024-01-01T00:00:00Z', 'yesterday', '2024-01-01T00:00:00.000+01:00', '0050-01-01T00:00:00.000Z'),
);

describe('ThreadIndex', () => {
  it('reads plain ISO times as epoch ms and nothing else', () => {
    fc.assert(
      fc.property(time, (text) => {
        const fast = timeValue(text);
        const slow = slowTimeValue(text);
        expect(Number.isNaN(fast) ? Number.isNaN(slow) : fast === slow).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(timeValue('2024-02-29T12:00:00.000Z')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(timeValue('2023-02-29T12:00:00.000Z')).toBeNaN();
  });

  it('pages by (createdAt, id) and picks the latest like the summaries sort, for any times, threads deleted and created again', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ id: fc.stringMatching(/^[a-z]{1,4}$/), created: time, updated: time, status: fc.constantFrom(...THREAD_STATUSES), agent: fc.constantFrom('a', 'b'), deleted: fc.boolean() }),
          { maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 7 }),
        (rows, limit) => {
          const index = new ThreadIndex();
          const byId = new Map<string, IndexEntry>();
          for (const row of rows) {
            const known = byId.get(row.id);
            if (row.deleted) {
              // A tombstone of the thread as it is (a second one, of a thread gone, changes nothing).
              expect(index.removeDeleted(known ?? entry(row.id))).toBe(known !== undefined);
              byId.delete(row.id);
              continue;
            }
            const e = entry(row.id, { createdAt: row.created, updatedAt: row.updated, status: row.status, agent: row.agent, version: (known?.version ?? 0) + 1 });
            index.apply(e, true);
            byId.set(row.id, e);
          }
          const all = [...byId.values()];
          const query = parseListOptions({ agent: 'a', status: ['running', 'done', 'awaiting_human'] });
          const matching = all.filter((e) => e.agent === 'a' && query.statuses!.includes(e.status));
          // Walk in pages: the whole walk is the matching entries in key order.
          const walked: IndexEntry[] = [];
          for (let page = index.page(query, undefined, limit); page.length > 0; page = index.page(query, walked.at(-1), limit)) walked.push(...page);
          expect(walked).toEqual([...matching].sort(compareCreated));
          expect(index.latest(query, limit)).toEqual([...matching].sort(compareSummaries).slice(0, limit));
          expect([...index.entries()]).toEqual([...all].sort(compareCreated));
          expect(index.size).toBe(all.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with updatedBefore, matches by updatedAt and ends a page at the first thread created at or after the instant', () => {
    const index = new ThreadIndex();
    const iso = (day: number): string => new Date(Date.UTC(2024, 0, day)).toISOString();
    index.apply(entry('old', { createdAt: iso(1), updatedAt: iso(2) }));
    index.apply(entry('long', { createdAt: iso(3), updatedAt: iso(20) }));
    // A time kept as text compares by Date.parse, and ends nothing.
    index.apply(entry('text', { createdAt: '2024-01-04T00:00:00Z', updatedAt: '2024-01-05T00:00:00Z' }));
    index.apply(entry('new', { createdAt: iso(11), updatedAt: iso(12) }));
    // Past the end of the walk: its events go back in time, and a page never reaches it.
    index.apply(entry('late', { createdAt: iso(12), updatedAt: iso(2) }));
    const query = parseListOptions({ updatedBefore: iso(10), after: '' });
    expect(index.page(query, undefined, 100).map((e) => e.id)).toEqual(['old', 'text']);
    expect(index.page(query, { createdAt: iso(1), id: 'old' }, 1).map((e) => e.id)).toEqual(['text']);
    expect(index.latest(parseListOptions({ updatedBefore: iso(10) }), 100).map((e) => e.id)).toEqual(['text', 'late', 'old']);
  });

  it('keeps the newest version unless told the file says otherwise, and forgets removed threads', () => {
    const index = new ThreadIndex();
    index.apply(entry('t', { version: 3, status: 'done' }));
    expect(index.apply(entry('t', { version: 2, status: 'running' }))).toBe(false);
    expect(index.get('t')?.status).toBe('done');
    expect(index.apply(entry('t', { version: 2, status: 'running' }), true)).toBe(true);
    expect(index.get('t')?.version).toBe(2);
    index.remove('t');
    expect(index.get('t')).toBeUndefined();
    expect(index.size).toBe(0);
    index.apply(entry('u'));
    expect([...index.entries()].map((e) => e.id)).toEqual(['u']);
  });

  it("keeps a sleeping or ended thread's wakeAt and failure; an entry that does not know them learns them at its version, and never forgets them for one that does not know", () => {
    const index = new ThreadIndex();
    const failure = { kind: 'cancelled' as const, message: 'no longer needed', by: 'bo' };
    index.apply(entry('t', { version: 2, status: 'sleeping', wakeAt: '2024-01-01T01:00:00.000Z' }));
    expect(index.get('t')).toMatchObject({ wakeAt: '2024-01-01T01:00:00.000Z' });
    index.apply(entry('t', { version: 3, status: 'cancelled', failure }));
    expect(index.get('t')).toEqual(entry('t', { version: 3, status: 'cancelled', failure }));
    // A record of the build before, of the same version, tells nothing new.
    expect(index.apply(entry('t', { version: 3, status: 'cancelled', unknownEnd: true }))).toBe(false);
    expect(index.get('t')?.failure).toEqual(failure);
    // An entry of that build, then the thread read at its version.
    index.apply(entry('u', { version: 2, status: 'failed', unknownEnd: true }));
    expect(index.get('u')).toEqual(entry('u', { version: 2, status: 'failed', unknownEnd: true }));
    expect(index.apply(entry('u', { version: 2, status: 'failed', failure: { kind: 'failed', message: 'boom' } }))).toBe(true);
    expect(index.get('u')).toEqual(entry('u', { version: 2, status: 'failed', failure: { kind: 'failed', message: 'boom' } }));
    // A thread that moves on leaves them behind; a slot used again starts with none.
    index.apply(entry('t', { version: 4, status: 'running' }), true);
    expect(index.get('t')).toEqual(entry('t', { version: 4, status: 'running' }));
    index.remove('u');
    index.apply(entry('v', { version: 1, status: 'cancelled' }));
    expect(index.get('v')).toEqual(entry('v', { version: 1, status: 'cancelled' }));
  });

  it('keeps a failure it has no room for as not known (a listing reads it from the thread), and knows it once there is room', () => {
    const index = new ThreadIndex(300);
    const failure = (n: number) => ({ kind: 'failed' as const, message: `step ${n}: ${'x'.repeat(150)}` });
    index.apply(entry('t', { status: 'failed', failure: failure(1) }));
    index.apply(entry('u', { status: 'failed', failure: failure(2) }));
    expect(index.get('t')?.failure).toEqual(failure(1));
    expect(index.get('u')).toEqual(entry('u', { status: 'failed', unknownEnd: true }));
    // Told again with no more room: nothing changes.
    expect(index.apply(entry('u', { status: 'failed', failure: failure(2) }))).toBe(false);
    index.remove('t');
    expect(index.apply(entry('u', { status: 'failed', failure: failure(2) }))).toBe(true);
    expect(index.get('u')?.failure).toEqual(failure(2));
  });

  it('drops a deleted thread on its tombstone, but not a thread of its id created again since', () => {
    const index = new ThreadIndex();
    const old = entry('t', { version: 4, status: 'done' });
    index.apply(old);
    expect(index.removeDeleted(old)).toBe(true);
    expect(index.get('t')).toBeUndefined();
    // Created again, then a late reader of the tombstone: another creation time, a higher version, another agent.
    for (const again of [entry('t', { createdAt: '2025-01-01T00:00:00.000Z' }), entry('t', { version: 5 }), entry('t', { agent: 'b' })]) {
      index.apply(again, true);
      expect(index.removeDeleted(old)).toBe(false);
      expect(index.get('t')).toEqual(again);
    }
    expect(index.removeDeleted({ ...old, id: 'never' })).toBe(false);
    expect(index.size).toBe(1);
  });
});

describe('IdTable', () => {
  it('finds, removes and reuses slots like a map would, for any ids', async () => {
    const { IdTable } = await import('../../src/store/idTable.js');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('add', 'remove'), fc.oneof(fc.stringMatching(/^[a-z0-9_-]{1,12}$/), fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }))), { maxLength: 300 }),
        (ops) => {
          const table = new IdTable();
          const model = new Map<string, number>();
          const free: number[] = [];
          let next = 0;
          for (const [op, id] of ops) {
            if (Buffer.byteLength(id) > 255) continue;
            if (op === 'add' && !model.has(id)) {
              const slot = free.pop() ?? next++;
              table.add(id, slot);
              model.set(id, slot);
            } else if (op === 'remove' && model.has(id)) {
              table.remove(id);
              free.push(model.get(id)!);
              model.delete(id);
            }
            expect(table.size).toBe(model.size);
          }
          for (const [id, slot] of model) {
            expect(table.find(id)).toBe(slot);
            expect(table.idAt(slot)).toBe(id);
          }
          for (const [op, id] of ops) if (op === 'remove' && !model.has(id)) expect(table.find(id)).toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
