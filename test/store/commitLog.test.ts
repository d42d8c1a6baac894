import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CommitLog, segmentFile } from '../../src/store/commitLog.js';
import { encodeRecord, parseRecords, type CommitRecord } from '../../src/store/commitRecord.js';
import type { LockOwner, LockRelease } from '../../src/store/fileLock.js';
import type { IndexEntry } from '../../src/store/indexEntry.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { applyRecords } from '../../src/store/fileStoreParts.js';
import { encodeThreadId, formatLine } from '../../src/store/threadFile.js';
import { ThreadIndex } from '../../src/store/threadIndex.js';
import { THREAD_STATUSES } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from './idArbitrary.js';
import { newThread } from './fixtures/events.js';
import { batchesArbitrary } from './threadArbitrary.js';

const entryFields = {
  agent: awkwardString,
  status: fc.constantFrom(...THREAD_STATUSES),
  version: fc.maxSafeNat(),
  createdAt: awkwardString,
  updatedAt: awkwardString,
  size: fc.maxSafeNat(),
};

/** Entries the store writes: of ids it can store. */
const entryArbitrary: fc.Arbitrary<IndexEntry> = fc.record({ ...entryFields, id: idArbitrary.filter((id) => encodeThreadId(id) !== undefined) });

/** A record as the store writes it: the thread line is a batch of events, the header line of a create. */
const recordArbitrary: fc.Arbitrary<{ record: Omit<CommitRecord, 'line'>; line: Buffer }> = fc
  .record({
    entry: entryArbitrary,
    offset: fc.maxSafeNat(),
    dirMtimeMs: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }).map((ms) => ms + 0), { nil: undefined }),
    batches: batchesArbitrary,
    header: fc.boolean(),
  })
  .map(({ entry, offset, dirMtimeMs, batches, header }) => ({
    record: { entry, offset, dirMtimeMs },
    line: Buffer.from(formatLine(batches[0]!.length, batches[0]!, header ? { id: entry.id, agent: entry.agent, at: entry.createdAt } : undefined)),
  }));

/** A segment: its header line, then records; where each record ends. */
function segmentOf(records: readonly { record: Omit<CommitRecord, 'line'>; line: Buffer }[]): { bytes: Buffer; ends: number[] } {
  const parts: Buffer[] = [Buffer.from(`${JSON.stringify({ log: 'switchyard', gen: 1, boot: 'b' })}\n`)];
  for (const { record, line } of records) parts.push(encodeRecord(record.entry, record.offset, line, record.dirMtimeMs));
  const ends: number[] = [];
  let end = 0;
  for (const part of parts) ends.push((end += part.length));
  return { bytes: Buffer.concat(parts), ends: ends.slice(1) };
}

function expectRecords(read: readonly CommitRecord[], written: readonly { record: Omit<CommitRecord, 'line'>; line: Buffer }[]): void {
  expect(read.map(({ line, ...rest }) => ({ ...rest, line: line?.toString('latin1') }))).toEqual(written.map(({ record, line }) => ({ ...record, line: line.toString('latin1') })));
}

describe('commit records', () => {
  it('read back every record written, whatever its ids, names and times', () => {
    fc.assert(
      fc.property(fc.array(recordArbitrary, { maxLength: 5 }), (records) => {
        const { bytes } = segmentOf(records);
        const parsed = parseRecords(bytes, true);
        expect(parsed.invalid).toBe(0);
        expect(parsed.consumed).toBe(bytes.length);
        expectRecords(parsed.records, records);
      }),
      { numRuns: 150 },
    );
  });

  it('read a torn segment (any prefix) as its whole records, and stop where they end', () => {
    fc.assert(
      fc.property(fc.array(recordArbitrary, { minLength: 1, maxLength: 4 }), fc.nat(), (records, at) => {
        const { bytes, ends } = segmentOf(records);
        const cut = at % (bytes.length + 1);
        const whole = ends.filter((end) => end <= cut).length;
        const parsed = parseRecords(bytes.subarray(0, cut), true);
        expect(parsed.invalid).toBe(0);
        expectRecords(parsed.records, records.slice(0, whole));
        const headerEnd = bytes.indexOf(10) + 1;
        expect(parsed.consumed).toBe(whole > 0 ? ends[whole - 1] : cut >= headerEnd ? headerEnd : 0);
      }),
      { numRuns: 150 },
    );
  });

  it('give only records an index can hold: every one read applies and is found by its id', () => {
    const anyId = fc.oneof(awkwardString, idArbitrary, fc.constant('x'.repeat(300)), fc.constant('\uD800'));
    const foreign = fc.record({ entry: fc.record({ ...entryFields, id: anyId }), offset: fc.nat(), line: fc.constant('{"v":1,"events":[]}\n') });
    fc.assert(
      fc.property(fc.array(foreign, { minLength: 1, maxLength: 4 }), (records) => {
        const bytes = Buffer.concat(records.map(({ entry, offset, line }) => encodeRecord(entry, offset, line)));
        const parsed = parseRecords(bytes, false);
        expect(parsed.records.length + parsed.invalid).toBe(records.length);
        const index = new ThreadIndex();
        applyRecords(index, parsed.records);
        for (const { entry } of parsed.records) expect(index.get(entry.id)?.id).toBe(entry.id);
      }),
      { numRuns: 200 },
    );
  });

  it('never throw on foreign bytes, and consume only whole lines', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
      fc.array(fc.oneof(fc.constantFrom('{"i":', '{"i":"t","a":"a","s":"done","v":1,"c":"","u":"","o":0,"z":0}', '\t', '\n', '{', '["i"]', '{"i":1}'), fc.string()), { maxLength: 8 }).map((parts) => Buffer.from(parts.join(''))),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const parsed = parseRecords(b, true);
        expect(parsed.consumed === 0 || b[parsed.consumed - 1] === 10).toBe(true);
        expect(b.subarray(parsed.consumed).includes(10)).toBe(false);
        const lines = b.subarray(0, parsed.consumed).filter((byte) => byte === 10).length;
        expect(parsed.records.length + parsed.invalid).toBeLessThanOrEqual(lines);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the commit log', () => {
  const root = mkdtempSync(join(tmpdir(), 'switchyard-commitlog-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let dirs = 0;

  it('skips a record of an id no thread can have, instead of failing every open of the store', async () => {
    const dir = join(root, 'foreign');
    const store = await createFileStore({ dir });
    await store.create(newThread('t1'));
    await store.close();
    const [segment] = readdirSync(join(dir, '.index')).filter((name) => name.startsWith('log.'));
    const foreign = { id: 'x'.repeat(300), agent: 'a', status: 'running', version: 1, createdAt: 'c', updatedAt: 'u', size: 10 } as const;
    appendFileSync(join(dir, '.index', segment!), encodeRecord(foreign, 0, '{"v":1,"events":[]}\n'));
    const again = await createFileStore({ dir });
    expect((await again.list()).map((s) => s.id)).toEqual(['t1']);
    await again.close();
  });

  /** Locks for one process: nothing else writes these directories. */
  const locks: LockOwner = {
    acquire: () => Promise.resolve(Object.assign(() => {}, { brokeStale: false }) as LockRelease),
    tryAcquire: () => Object.assign(() => {}, { brokeStale: false }) as LockRelease,
    dispose: () => {},
  };

  // Now and then a record longer than the 64 KiB the log reads back at a time to find a torn tail.
  const bigRecord = fc.tuple(recordArbitrary, fc.integer({ min: 70_000, max: 200_000 })).map(([{ record }, length]) => ({
    record,
    line: Buffer.from(formatLine(1, [{ seq: 1, at: 'now', type: 'input', data: { input: 'x'.repeat(length) } }])),
  }));
  const lastRecord = fc.oneof({ weight: 3, arbitrary: recordArbitrary }, { weight: 1, arbitrary: bigRecord });

  it('cuts the torn record a dead writer left, and writes the next one after the last whole record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recordArbitrary, { maxLength: 3 }), lastRecord, recordArbitrary, fc.nat(), async (before, last, next, at) => {
        const records = [...before, last];
        const dir = join(root, String(++dirs));
        const { bytes, ends } = segmentOf(records);
        // The last record torn anywhere before its newline.
        const lastStart = ends.length > 1 ? ends.at(-2)! : bytes.indexOf(10) + 1;
        const cut = lastStart + (at % (bytes.length - lastStart));
        mkdirSync(dir);
        writeFileSync(segmentFile(dir, 1), bytes.subarray(0, cut));
        const seen: CommitRecord[] = [];
        const log = await CommitLog.open(
          { dir, fsync: false, locks, rotateBytes: 1 << 30, onRecords: (r) => seen.push(...r), onRotated: () => {}, onGap: () => {} },
          { gen: 1, offset: 0 },
        );
        await log.commit(encodeRecord(next.record.entry, next.record.offset, next.line, next.record.dirMtimeMs));
        await log.close();
        const after = readFileSync(segmentFile(dir, 1));
        const parsed = parseRecords(after, true);
        expect(parsed).toMatchObject({ invalid: 0, consumed: after.length });
        expectRecords(parsed.records, [...records.slice(0, -1), next]);
        // The whole records another writer left were read (once) before writing after them.
        expect(seen.map((r) => r.entry)).toEqual(records.slice(0, -1).map(({ record }) => record.entry));
      }),
      { numRuns: 40 },
    );
  });
});
