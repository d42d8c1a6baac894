import { isThreadStatus } from '../thread/state.js';
import { parseFailureSummary } from './failureSummary.js';
import { needsEnd, type IndexEntry } from './indexEntry.js';
import { isoMs } from './indexTime.js';
import { encodeThreadId } from './threadFile.js';

/**
 * One record of the file store's commit log: a line
 *
 * ```
 * {"i":"t1","a":"triage","s":"awaiting_human","v":3,"c":"...","u":"...","o":412,"z":795}<TAB>{"v":3,"events":[...]}
 * ```
 *
 * The JSON before the tab is the thread's index entry after the write and where the write went in
 * the thread file (`o`: offset, `z`: the file's size after it; `m`: the thread directory's mtime
 * after a create); for a thread sleeping, backing off, failed or cancelled, also its `wakeAt` (`w`)
 * and `failure` (`f`: `{kind, message?, by?}`), `null` for none (a record without them, of a build
 * before they were logged, leaves its entry's {@link IndexEntry.unknownEnd}). After the tab comes the line written to the thread file, so the record can
 * write it again if the thread file lost it (see `commitLog.ts`). JSON never holds a raw tab or
 * newline, so a reader finds both parts without parsing the second.
 *
 * A deletion is a tombstone: the thread's last entry (the version deleted), `"d":1`, and no
 * thread line (nothing after the tab). It is logged before the thread file is removed, and once
 * more after, with the directory's mtime then (`m`):
 *
 * ```
 * {"i":"t1","a":"triage","s":"done","v":4,"c":"...","u":"...","o":0,"z":1210,"d":1,"m":...}<TAB>
 * ```
 *
 * Replaying it drops the entry, and the log gives back no line of the thread from before it.
 */
export interface CommitRecord {
  /** The thread's entry after the write; for a deletion, its last entry before it. */
  readonly entry: IndexEntry;
  /** Where the line starts in the thread file. */
  readonly offset: number;
  /** Mtime of the thread directory after creating (or removing) the thread file (creates, and a deletion's second tombstone). */
  readonly dirMtimeMs: number | undefined;
  /** The line written to the thread file, newline included (when read with lines; never for a deletion). */
  readonly line: Buffer | undefined;
  /** Set on a tombstone: the thread, at `entry`'s version, was deleted. */
  readonly deleted?: true;
}

const TAB = 9;
const NEWLINE = 10;

/**
 * The bytes of one record; `line` is the thread line, newline included. A line given as text is
 * encoded once, with the record: `lineOf` gives it back as a view of the record's bytes.
 */
export function encodeRecord(entry: IndexEntry, offset: number, line: Buffer | string, dirMtimeMs?: number): Buffer {
  const head = JSON.stringify({
    i: entry.id,
    a: entry.agent,
    s: entry.status,
    v: entry.version,
    c: entry.createdAt,
    u: entry.updatedAt,
    o: offset,
    z: entry.size,
    ...endOf(entry),
    ...(dirMtimeMs === undefined ? {} : { m: dirMtimeMs }),
  });
  if (typeof line === 'string') return Buffer.from(`${head}\t${line}`, 'utf8');
  const headBytes = Buffer.from(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes.length + 1 + line.length);
  headBytes.copy(out, 0);
  out[headBytes.length] = TAB;
  line.copy(out, headBytes.length + 1);
  return out;
}

/** The `w` and `f` fields of an entry that {@link needsEnd} (none for one whose are unknown). */
function endOf(entry: IndexEntry): { w?: string | null; f?: object | null } {
  if (!needsEnd(entry.status) || entry.unknownEnd === true) return {};
  return { w: entry.wakeAt ?? null, f: entry.failure ?? null };
}

/**
 * The bytes of a tombstone: thread `entry` (its last entry) was deleted; `dirMtimeMs`, once its
 * file was removed, the directory's mtime after it.
 */
export function encodeDeletion(entry: IndexEntry, dirMtimeMs?: number): Buffer {
  const head = JSON.stringify({ i: entry.id, a: entry.agent, s: entry.status, v: entry.version, c: entry.createdAt, u: entry.updatedAt, o: 0, z: entry.size, d: 1, m: dirMtimeMs });
  return Buffer.from(`${head}\t\n`, 'utf8');
}

/** The last `length` bytes of a record: its thread line. */
export function lineOf(record: Buffer, length: number): Buffer {
  return record.subarray(record.length - length);
}

/** What {@link parseRecords} found in a buffer. */
export interface ParsedRecords {
  readonly records: CommitRecord[];
  /** Bytes consumed: the end of the last complete line (a partial last line is left). */
  readonly consumed: number;
  /** Lines that are complete but not records (a corrupt log). */
  readonly invalid: number;
}

/**
 * The complete records in `bytes`. Lines that do not start with `{"i":` (a segment's header line)
 * are skipped; a record of an id the store cannot hold counts as invalid. `withLines` keeps each
 * record's thread line (a view into `bytes`).
 */
export function parseRecords(bytes: Buffer, withLines: boolean): ParsedRecords {
  const records: CommitRecord[] = [];
  let invalid = 0;
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end === -1) break;
    if (bytes[start + 2] === 0x69 /* i */ && bytes[start + 1] === 0x22) {
      const tab = bytes.indexOf(TAB, start);
      const record = tab === -1 || tab > end ? undefined : decodeHead(bytes.toString('utf8', start, tab));
      if (record === undefined) invalid++;
      else if (record.deleted === true) records.push({ ...record, line: undefined });
      else records.push({ ...record, line: withLines ? bytes.subarray(tab + 1, end + 1) : undefined });
    } else if (bytes[start] !== 0x7b /* { */) {
      invalid++;
    }
    start = end + 1;
  }
  return { records, consumed: start, invalid };
}

function decodeHead(text: string): Omit<CommitRecord, 'line'> | undefined {
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { i, a, s, v, c, u, o, z, m, d, w, f } = head;
  if (typeof i !== 'string' || typeof a !== 'string' || !isThreadStatus(s) || typeof c !== 'string' || typeof u !== 'string') return undefined;
  // The store writes only ids it can store; another id (too long, ill-formed) would break the index.
  if (encodeThreadId(i) === undefined) return undefined;
  if (!isCount(v) || !isCount(o) || !isCount(z) || (m !== undefined && typeof m !== 'number') || (d !== undefined && d !== 1)) return undefined;
  const entry = { id: i, agent: a, status: s, version: v, createdAt: c, updatedAt: u, size: z, ...endOfHead(w, f, needsEnd(s)) };
  return d === 1 ? { entry, offset: o, dirMtimeMs: m, deleted: true } : { entry, offset: o, dirMtimeMs: m };
}

/**
 * The `wakeAt` and `failure` a record's `w` and `f` give (null: none); unknown when it has neither
 * (a build before them) or either is something else (the listing then reads the thread again).
 */
function endOfHead(w: unknown, f: unknown, needed: boolean): Pick<IndexEntry, 'wakeAt' | 'failure' | 'unknownEnd'> {
  if (!needed) return {};
  if (w === undefined && f === undefined) return { unknownEnd: true };
  const failure = f === null || f === undefined ? undefined : parseFailureSummary(f);
  const wakeKnown = w === null || w === undefined || isIsoTime(w);
  if (!wakeKnown || (failure === undefined && f !== null && f !== undefined)) return { unknownEnd: true };
  return { ...(typeof w === 'string' ? { wakeAt: w } : {}), ...(failure === undefined ? {} : { failure }) };
}

/** An ISO time as `toISOString` writes it (the index keeps it in ms). */
function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(isoMs(value));
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
