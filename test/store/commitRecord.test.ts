import { describe, expect, it } from 'vitest';
import { encodeDeletion, encodeRecord, lineOf, parseRecords } from '../../src/store/commitRecord.js';
import type { IndexEntry } from '../../src/store/indexEntry.js';
import { formatLine } from '../../src/store/threadFile.js';
import { at, inputEvent, prefetchEvent } from './fixtures/events.js';

const entry: IndexEntry = { id: 't1', agent: 'triage', status: 'running', version: 2, createdAt: at(1), updatedAt: at(2), size: 512 };

describe('commit records', () => {
  it('encodes a line given as text once, readable back byte for byte, whatever its characters', () => {
    for (const text of ['plain', 'ünïcödé ✓', '😀 and 中文', 'tab\tand\nnewline']) {
      const lineText = formatLine(2, [inputEvent(1, at(1), { text }), prefetchEvent(2, 'a')]);
      const line = Buffer.from(lineText);
      const record = encodeRecord(entry, 100, lineText);
      expect(record.at(-1)).toBe(10);
      expect(lineOf(record, line.length).equals(line)).toBe(true);
      const parsed = parseRecords(record, true);
      expect(parsed).toMatchObject({ consumed: record.length, invalid: 0 });
      expect(parsed.records).toHaveLength(1);
      expect(parsed.records[0]).toMatchObject({ entry, offset: 100, dirMtimeMs: undefined });
      expect(parsed.records[0]!.line!.equals(line)).toBe(true);
      expect(JSON.parse(parsed.records[0]!.line!.toString('utf8'))).toEqual({ v: 2, events: [inputEvent(1, at(1), { text }), prefetchEvent(2, 'a')] });
    }
  });

  it('encodes a line given as bytes as it is, and the directory mtime of a create', () => {
    const line = Buffer.from(formatLine(1, [inputEvent(1)], { id: 't1', agent: 'triage', at: at(0) }));
    const record = encodeRecord(entry, 0, line, 1234.5);
    const parsed = parseRecords(Buffer.concat([record, record]), true);
    expect(parsed.records).toHaveLength(2);
    for (const read of parsed.records) {
      expect(read).toMatchObject({ entry, offset: 0, dirMtimeMs: 1234.5 });
      expect(read.line!.equals(line)).toBe(true);
    }
  });

  it("carries a sleeping or ended thread's wakeAt and failure (none said as none); a record without them, of the build before, leaves them unknown", () => {
    const line = formatLine(1, [inputEvent(1)], { id: 't1', agent: 'triage', at: at(0) });
    const entries: IndexEntry[] = [
      { ...entry, status: 'sleeping', wakeAt: at(3600) },
      { ...entry, status: 'backing_off' },
      { ...entry, status: 'failed', failure: { kind: 'failed', message: 'step fetch: \uD800 ünï\ttab' } },
      { ...entry, status: 'cancelled', failure: { kind: 'cancelled', by: 'bo' } },
      { ...entry, status: 'cancelled' },
    ];
    for (const written of entries) expect(parseRecords(encodeRecord(written, 0, line), false).records[0]!.entry).toEqual(written);
    const old = Buffer.from(`${JSON.stringify({ i: 't1', a: 'triage', s: 'failed', v: 2, c: at(1), u: at(2), o: 0, z: 512 })}\t${line}`);
    expect(parseRecords(old, false).records[0]!.entry).toEqual({ ...entry, status: 'failed', unknownEnd: true });
    // A running thread has neither to know.
    expect(parseRecords(encodeRecord(entry, 0, line), false).records[0]!.entry).toEqual(entry);
  });

  it('reads a record whose w is no ISO time, or whose f does not parse, as one whose end is unknown, not as none (review28 item 3)', () => {
    const line = formatLine(1, [inputEvent(1)], { id: 't1', agent: 'triage', at: at(0) });
    const head = { i: 't1', a: 'triage', s: 'sleeping', v: 2, c: at(1), u: at(2), o: 0, z: 512 };
    for (const [w, f] of [['tomorrow', null], [5, null], [null, { kind: 'nonsense' }], [at(3600), 'failed']] as const) {
      const record = Buffer.from(`${JSON.stringify({ ...head, w, f })}\t${line}`);
      expect(parseRecords(record, false).records[0]!.entry).toEqual({ ...entry, status: 'sleeping', unknownEnd: true });
    }
    const none = Buffer.from(`${JSON.stringify({ ...head, w: null, f: null })}\t${line}`);
    expect(parseRecords(none, false).records[0]!.entry).toEqual({ ...entry, status: 'sleeping' });
  });

  it('encodes a tombstone: the last entry, the directory mtime, no thread line, between other records', () => {
    const write = encodeRecord(entry, 0, formatLine(1, [inputEvent(1)], { id: 't1', agent: 'triage', at: at(0) }));
    const tombstone = encodeDeletion(entry, 99.5);
    expect(tombstone.at(-1)).toBe(10);
    for (const withLines of [true, false]) {
      const parsed = parseRecords(Buffer.concat([write, tombstone, write]), withLines);
      expect(parsed).toMatchObject({ consumed: write.length * 2 + tombstone.length, invalid: 0 });
      expect(parsed.records.map((r) => r.deleted)).toEqual([undefined, true, undefined]);
      expect(parsed.records[1]).toEqual({ entry, offset: 0, dirMtimeMs: 99.5, deleted: true, line: undefined });
    }
    // A head that says "d" is anything else is not a record.
    expect(parseRecords(Buffer.from(tombstone.toString('utf8').replace('"d":1', '"d":2')), true)).toMatchObject({ records: [], invalid: 1 });
  });
});
