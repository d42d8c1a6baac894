import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { LockOwner, LockRelease } from '../../src/store/fileLock.js';
import type { IndexEntry } from '../../src/store/indexEntry.js';
import { loadSnapshot, readSnapshotHeader, snapshotFile, UnusableSnapshotError, writeSnapshot } from '../../src/store/indexSnapshot.js';
import { encodeThreadId } from '../../src/store/threadFile.js';
import { ThreadIndex } from '../../src/store/threadIndex.js';
import { THREAD_STATUSES } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from './idArbitrary.js';

const root = mkdtempSync(join(tmpdir(), 'switchyard-snapshot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
function freshDir(): string {
  const dir = join(root, String(++dirs));
  mkdirSync(dir);
  return dir;
}

/** Locks for one process: nothing else writes these directories. */
const locks: LockOwner = {
  acquire: () => Promise.resolve(Object.assign(() => {}, { brokeStale: false }) as LockRelease),
  tryAcquire: () => Object.assign(() => {}, { brokeStale: false }) as LockRelease,
  dispose: () => {},
};

/** Mostly plain ISO times (kept as epoch ms), now and then any text (kept as text). */
const time = fc.oneof(fc.date({ min: new Date(-5e13), max: new Date(2.5e14), noInvalidDate: true }).map((d) => d.toISOString()), awkwardString);

/** A row's `wakeAt` and `failure` (any text in them), or that the entry does not know them. */
const endArbitrary: fc.Arbitrary<Pick<IndexEntry, 'wakeAt' | 'failure' | 'unknownEnd'>> = fc.oneof(
  fc.record(
    {
      wakeAt: fc.date({ min: new Date(-5e13), max: new Date(2.5e14), noInvalidDate: true }).map((d) => d.toISOString()),
      failure: fc.record({ kind: fc.constantFrom('failed' as const, 'stopped' as const, 'cancelled' as const), message: awkwardString, by: awkwardString }, { requiredKeys: ['kind'] }),
    },
    { requiredKeys: [] },
  ),
  fc.constant({ unknownEnd: true as const }),
);

const entryArbitrary: fc.Arbitrary<IndexEntry> = fc
  .tuple(
    fc.record({
      id: idArbitrary.filter((id) => encodeThreadId(id) !== undefined),
      agent: awkwardString,
      status: fc.constantFrom(...THREAD_STATUSES),
      version: fc.maxSafeNat(),
      createdAt: time,
      updatedAt: time,
      size: fc.maxSafeNat(),
    }),
    endArbitrary,
  )
  .map(([entry, end]) => ({ ...entry, ...end }));

/** The index of `entries` (one per id, the last wins). */
function indexOf(entries: readonly IndexEntry[]): ThreadIndex {
  const index = new ThreadIndex();
  for (const entry of entries) index.apply(entry, true);
  return index;
}

/** The snapshot's load, or the error it threw. */
function loadOrError(dir: string): ThreadIndex | Error {
  const index = new ThreadIndex();
  try {
    loadSnapshot(dir, index);
    return index;
  } catch (error) {
    return error as Error;
  }
}

describe('index snapshots', () => {
  it('load back every index written, whatever its ids, agents, times, wake times and failures', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArbitrary, { maxLength: 8 }), fc.nat(), fc.nat(), async (entries, gen, offset) => {
        const dir = freshDir();
        const index = indexOf(entries);
        index.noteDirMtime(12.5);
        expect(await writeSnapshot(dir, index, { gen, offset }, { fsync: false, locks })).toBe(true);
        const loaded = new ThreadIndex();
        expect(loadSnapshot(dir, loaded)).toMatchObject({ covers: { gen, offset }, dirMtimeMs: 12.5 });
        expect([...loaded.entries()]).toEqual([...index.entries()]);
      }),
      { numRuns: 100 },
    );
    // A non-ASCII agent name in the header, and a time that is not well-formed UTF-16.
    const dir = freshDir();
    const index = indexOf([{ id: 't', agent: 'trié 中文', status: 'done', version: 2, createdAt: '\uD800', updatedAt: 'x', size: 9 }]);
    await writeSnapshot(dir, index, { gen: 1, offset: 0 }, { fsync: false, locks });
    const loaded = new ThreadIndex();
    loadSnapshot(dir, loaded);
    expect(loaded.get('t')).toEqual(index.get('t'));
  });

  it('never replace a snapshot covering more, however long its header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 400 }), fc.nat({ max: 10 }), fc.nat({ max: 10 }), async (agents, newer, older) => {
        fc.pre(newer !== older);
        const dir = freshDir();
        // Many agents with long names make a header longer than one read of it.
        const entries = Array.from({ length: agents }, (_, i) => ({ id: `t${i}`, agent: `${'a'.repeat(250)}${i}`, status: 'running' as const, version: 1, createdAt: 'c', updatedAt: 'u', size: 1 }));
        const index = indexOf(entries);
        expect(await writeSnapshot(dir, index, { gen: newer, offset: 0 }, { fsync: false, locks })).toBe(true);
        expect(await writeSnapshot(dir, index, { gen: older, offset: 0 }, { fsync: false, locks })).toBe(older > newer);
        expect(readSnapshotHeader(dir)?.covers.gen).toBe(Math.max(newer, older));
      }),
      { numRuns: 20 },
    );
  });

  it('refuse a row with a field in a form no writer writes, instead of reading a guess', async () => {
    const count = fc.constantFrom('', ' ', ' 1', '1 ', '+1', '1.5', '-1', '0x1', '1e2', '01', '-0', 'NaN', 'Infinity');
    const timeJunk = fc.constantFrom('', ' ', ' 1', '+1', '1.5', '0x1', '1e2', '01', '-0', '--1', 'NaN', 'Infinity', '~%', '~%zz', '~%E9');
    const wakeJunk = fc.constantFrom(' ', ' 1', '+1', '1.5', '0x1', '1e2', '01', '-0', 'NaN', '~2024', '??');
    const kindJunk = fc.constantFrom(' ', '3', '01', '-1', '1.5', '?', '~0');
    const textJunk = fc.constantFrom(' ', 'x', '?', '~%', '~%zz', '!!');
    // Fields: 1 agent, 2 status, 3 version, 4 created, 5 updated, 6 size, 7 wake, 8 failure kind, 9 message, 10 by.
    const damage = fc.oneof(
      fc.tuple(fc.constantFrom(1, 2, 3, 6), count),
      fc.tuple(fc.constantFrom(4, 5), timeJunk),
      fc.tuple(fc.constant(7), wakeJunk),
      fc.tuple(fc.constant(8), kindJunk),
      fc.tuple(fc.constantFrom(9, 10), textJunk),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(entryArbitrary, { minLength: 1, maxLength: 4 }), fc.nat(), damage, async (entries, row, [field, junk]) => {
        const dir = freshDir();
        await writeSnapshot(dir, indexOf(entries), { gen: 1, offset: 0 }, { fsync: false, locks });
        const lines = readFileSync(snapshotFile(dir), 'latin1').split('\n');
        const rows = lines.length - 3; // header, rows, end line, ''
        const fields = lines[1 + (row % rows)]!.split('\t');
        fields[field] = junk;
        lines[1 + (row % rows)] = fields.join('\t');
        writeFileSync(snapshotFile(dir), lines.join('\n'), 'latin1');
        expect(loadOrError(dir)).toBeInstanceOf(UnusableSnapshotError);
      }),
      { numRuns: 150 },
    );
  });

  it('read a snapshot of the format before wakeAt and failure (7 fields a row): entries that may have them do not know them', async () => {
    const dir = freshDir();
    const rows = ['t1\t0\t3\t2\t1704067201000\t1704067202000\t347', 't2\t0\t6\t2\t1704067201000\t1704067202000\t599', 't3\t0\t5\t3\t1704067201000\t1704067203000\t400'];
    const header = { index: 'switchyard-threads', format: 1, covers: { gen: 1, offset: 0 }, dirMtimeMs: 1, agents: ['triage'] };
    writeFileSync(snapshotFile(dir), `${[JSON.stringify(header), ...rows, JSON.stringify({ end: 3 })].join('\n')}\n`);
    const loaded = loadOrError(dir);
    if (loaded instanceof Error) throw loaded;
    expect([...loaded.entries()].map(({ id, status, unknownEnd }) => ({ id, status, unknownEnd }))).toEqual([
      { id: 't1', status: 'sleeping', unknownEnd: true },
      { id: 't2', status: 'failed', unknownEnd: true },
      { id: 't3', status: 'done', unknownEnd: undefined },
    ]);
    // Written again, in this build's format, they still do not know them (until a read of the thread).
    await writeSnapshot(dir, loaded, { gen: 1, offset: 0 }, { fsync: false, locks });
    expect(readFileSync(snapshotFile(dir), 'utf8')).toContain('"format":2');
    const again = loadOrError(dir);
    if (again instanceof Error) throw again;
    expect([...again.entries()]).toEqual([...loaded.entries()]);
  });

  it('refuse a header whose log position no writer writes', async () => {
    const junk = fc.constantFrom(-1, 1.5, 2 ** 53, -0.5, '1', null, [1], {});
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('gen', 'offset'), junk, async (field, value) => {
        const dir = freshDir();
        await writeSnapshot(dir, indexOf([]), { gen: 1, offset: 0 }, { fsync: false, locks });
        const [header, ...rest] = readFileSync(snapshotFile(dir), 'utf8').split('\n');
        const parsed = JSON.parse(header!) as { covers: Record<string, unknown> };
        parsed.covers[field] = value;
        writeFileSync(snapshotFile(dir), [JSON.stringify(parsed), ...rest].join('\n'));
        expect(loadOrError(dir)).toBeInstanceOf(UnusableSnapshotError);
        expect(() => readSnapshotHeader(dir)).toThrow(UnusableSnapshotError);
      }),
      { numRuns: 30 },
    );
  });

  it('refuse a snapshot cut short or damaged anywhere with UnusableSnapshotError, never another error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArbitrary, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), async (entries, at, byte, cut) => {
        const dir = freshDir();
        await writeSnapshot(dir, indexOf(entries), { gen: 1, offset: 0 }, { fsync: false, locks });
        const bytes = readFileSync(snapshotFile(dir));
        const where = at % bytes.length;
        if (cut) writeFileSync(snapshotFile(dir), bytes.subarray(0, where));
        else writeFileSync(snapshotFile(dir), Buffer.concat([bytes.subarray(0, where), Buffer.from([byte]), bytes.subarray(where + 1)]));
        const loaded = loadOrError(dir);
        if (loaded instanceof Error) expect(loaded).toBeInstanceOf(UnusableSnapshotError);
        else expect(loaded.size).toBeLessThanOrEqual(entries.length);
      }),
      { numRuns: 150 },
    );
  });
});
