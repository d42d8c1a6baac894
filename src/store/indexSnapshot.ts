import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from '../errors.js';
import { isThreadStatus, THREAD_STATUSES, type ThreadStatus } from '../thread/state.js';
import type { LogPosition } from './commitLog.js';
import { isCode, PRIVATE_FILE_MODE, syncDir } from './fileIo.js';
import type { LockOwner } from './fileLock.js';
import type { IndexRow, ThreadIndex } from './threadIndex.js';
import { decodeThreadId, encodeThreadId } from './threadFile.js';
import { needsEnd } from './indexEntry.js';
import { FAILURE_KINDS } from './failureSummary.js';

/**
 * The file store's index on disk: `snapshot` in the index directory, replaced atomically (written
 * to a temporary file, flushed, renamed). A header line, one line per thread in (`createdAt`, id)
 * order, and an end line with the count:
 *
 * ```
 * {"index":"switchyard-threads","format":2,"covers":{"gen":3,"offset":1200},"dirMtimeMs":...,"agents":["triage"]}
 * t1<TAB>0<TAB>1<TAB>3<TAB>1704067200000<TAB>1704067205000<TAB>795<TAB><TAB><TAB><TAB>
 * t2<TAB>0<TAB>8<TAB>2<TAB>1704067200000<TAB>1704067205000<TAB>335<TAB><TAB>2<TAB>~no%20longer%20needed<TAB>~bo
 * {"end":2}
 * ```
 *
 * Fields of a thread line: file name stem, agent (index into `agents`, or the text field of an
 * agent the header does not list), status (index into `THREAD_STATUSES`), version, createdAt and
 * updatedAt (epoch ms, or a text field when the time is not a plain ISO string), file size, then
 * the row's `wakeAt` (epoch ms; empty for none, `?` when not known: an entry of an earlier build's
 * index, see `IndexEntry.unknownEnd`) and `failure`: its kind (index into `FAILURE_KINDS` of failureSummary.ts,
 * empty for none), message and who cancelled (text fields, empty when absent). A text
 * field is `~` and the URI-encoded text, or `!` and the base64url of its JSON when the text is not
 * well-formed UTF-16. Counts are plain decimal; a row spelled otherwise is damage. `covers`: the
 * commit log position up to which records are in the snapshot; a reader replays the log from there.
 *
 * Format 1, of the builds before the index kept `wakeAt` and `failure`, has the first seven fields
 * alone: read, its entries of threads that may have either are marked not knowing them.
 */

const FORMAT = 2;
/** The format of the builds before `wakeAt` and `failure`: read, never written. */
const FORMAT_WITHOUT_END = 1;
const UNKNOWN = '?';
const SNAPSHOT = 'snapshot';
const SNAPSHOT_LOCK = '.snapshot';
const ROWS_PER_WRITE = 8192;
const READ_CHUNK = 4 << 20;
/** Bytes read at a time for the header alone (it is read whole, however long). */
const HEADER_CHUNK = 65536;

/** What a snapshot's header says. */
export interface SnapshotHeader {
  readonly covers: LogPosition;
  readonly dirMtimeMs: number;
}

/** A snapshot that exists but cannot be used (another format, or damaged): the index is rebuilt. */
export class UnusableSnapshotError extends SystemError {}

export function snapshotFile(dir: string): string {
  return join(dir, SNAPSHOT);
}

/** Orders log positions. */
export function comparePositions(a: LogPosition, b: LogPosition): number {
  return a.gen !== b.gen ? a.gen - b.gen : a.offset - b.offset;
}

const LONE_SURROGATE = /\p{Surrogate}/u;
/** A count as the writer spells it: plain decimal, no sign, no leading zero. */
const COUNT = /^(?:0|[1-9][0-9]*)$/;
const EPOCH_MS = /^(?:0|-?[1-9][0-9]*)$/;

/**
 * A text field: `~` and the URI-encoded text, or, for text that is not well-formed UTF-16 (URI
 * encoding has no spelling for a lone surrogate), `!` and the base64url of its JSON.
 */
function textField(text: string): string {
  return LONE_SURROGATE.test(text) ? `!${Buffer.from(JSON.stringify(text), 'utf8').toString('base64url')}` : `~${encodeURIComponent(text)}`;
}

/** The text of a {@link textField}, `undefined` when the field is not one. Throws on bad escapes. */
function parseText(field: string): string | undefined {
  if (field.startsWith('~')) return decodeURIComponent(field.slice(1));
  if (!field.startsWith('!')) return undefined;
  const text: unknown = JSON.parse(Buffer.from(field.slice(1), 'base64url').toString('utf8'));
  return typeof text === 'string' ? text : undefined;
}

function timeField(value: number | string): string {
  return typeof value === 'number' ? String(value) : textField(value);
}

/** Epoch ms, or the text of a time that is not a plain ISO string; NaN when the field is neither. */
function parseTime(field: string): number | string {
  return EPOCH_MS.test(field) ? Number(field) : (parseText(field) ?? Number.NaN);
}

/** A count field (agent code, status code, version, size), NaN when not written as a count. */
function parseCount(field: string | undefined): number {
  return field !== undefined && COUNT.test(field) ? Number(field) : Number.NaN;
}

/**
 * Writes the index as the snapshot covering the log up to `covers`, unless a snapshot covering
 * more is in place already; answers whether it replaced the snapshot. Rows are formatted a few
 * thousand at a time, with the event loop getting a turn between writes.
 */
export async function writeSnapshot(dir: string, index: ThreadIndex, covers: LogPosition, options: { fsync: boolean; locks: LockOwner }): Promise<boolean> {
  const slots = index.orderedSlots();
  const dirMtimeMs = index.dirMtimeMs;
  const tmp = join(dir, `snapshot.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(tmp, 'wx', PRIVATE_FILE_MODE); // created anew: its mode is ours
  let count = 0;
  try {
    const agents = [...index.agents];
    const agentCode = new Map(agents.map((name, i) => [name, i]));
    await file.write(`${JSON.stringify({ index: 'switchyard-threads', format: FORMAT, covers, dirMtimeMs, agents })}\n`);
    for (let start = 0; start < slots.length; start += ROWS_PER_WRITE) {
      let text = '';
      for (let at = start; at < Math.min(slots.length, start + ROWS_PER_WRITE); at++) {
        const row = index.row(slots[at]!);
        const stem = row === undefined ? undefined : encodeThreadId(row.id);
        if (row === undefined || stem === undefined) continue;
        // An agent first seen while the snapshot is written is not in the header: spelled out.
        const agent = agentCode.get(row.agent) ?? textField(row.agent);
        text += `${stem}\t${agent}\t${THREAD_STATUSES.indexOf(row.status)}\t${row.version}\t${timeField(row.created)}\t${timeField(row.updated)}\t${row.size}\t${endFields(row)}\n`;
        count++;
      }
      await file.write(text);
    }
    await file.write(`${JSON.stringify({ end: count })}\n`);
    if (options.fsync) await file.datasync();
  } catch (error) {
    await file.close().catch(() => undefined);
    unlinkQuietly(tmp);
    throw new SystemError(`cannot write the index snapshot in ${dir}`, { cause: error });
  }
  await file.close();
  return installSnapshot(dir, tmp, covers, options);
}

async function installSnapshot(dir: string, tmp: string, covers: LogPosition, options: { fsync: boolean; locks: LockOwner }): Promise<boolean> {
  const release = await options.locks.acquire(SNAPSHOT_LOCK);
  try {
    let current: SnapshotHeader | undefined;
    try {
      current = readSnapshotHeader(dir);
    } catch {
      current = undefined; // a damaged snapshot is replaced
    }
    if (current !== undefined && comparePositions(current.covers, covers) > 0) {
      unlinkQuietly(tmp);
      return false;
    }
    renameSync(tmp, snapshotFile(dir));
    if (options.fsync) await syncDir(dir);
    return true;
  } catch (error) {
    unlinkQuietly(tmp);
    throw new SystemError(`cannot install the index snapshot in ${dir}`, { cause: error });
  } finally {
    release();
  }
}

/** The `wakeAt` and `failure` fields of a row. */
function endFields({ wake, failure, unknownEnd }: IndexRow): string {
  if (unknownEnd === true) return `${UNKNOWN}\t\t\t`;
  const kind = failure === undefined ? '' : String(FAILURE_KINDS.indexOf(failure.kind));
  const optional = (text: string | undefined): string => (text === undefined ? '' : textField(text));
  return `${wake ?? ''}\t${kind}\t${optional(failure?.message)}\t${optional(failure?.by)}`;
}

/** The `wakeAt` and `failure` of a row's last four fields; `undefined` when they are none a writer writes. */
function parseEnd(fields: readonly string[]): Pick<IndexRow, 'wake' | 'failure' | 'unknownEnd'> | undefined {
  const [wake, kind, message, by] = fields;
  if (wake === UNKNOWN) return kind === '' && message === '' && by === '' ? { unknownEnd: true } : undefined;
  const wakeMs = wake === '' ? undefined : EPOCH_MS.test(wake!) ? Number(wake) : Number.NaN;
  const kindName = kind === '' ? undefined : FAILURE_KINDS[parseCount(kind)];
  const optional = (field: string): string | undefined => (field === '' ? undefined : parseText(field));
  const messageText = optional(message!);
  const byText = optional(by!);
  if (Number.isNaN(wakeMs) || (kind !== '' && kindName === undefined) || (message !== '' && messageText === undefined) || (by !== '' && byText === undefined)) return undefined;
  if (kindName === undefined && (messageText !== undefined || byText !== undefined)) return undefined;
  const failure = kindName === undefined ? undefined : { kind: kindName, ...(messageText === undefined ? {} : { message: messageText }), ...(byText === undefined ? {} : { by: byText }) };
  return { ...(wakeMs === undefined ? {} : { wake: wakeMs }), ...(failure === undefined ? {} : { failure: Object.freeze(failure) }) };
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // gone already
  }
}

/** The header line, as {@link LineReader} reads it (latin1: its JSON may hold UTF-8 agent names). */
function parseHeader(line: string): SnapshotHeader & { agents: string[]; format: number } {
  let header: { index?: unknown; format?: unknown; covers?: { gen?: unknown; offset?: unknown }; dirMtimeMs?: unknown; agents?: unknown };
  try {
    header = JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as typeof header;
  } catch {
    throw new UnusableSnapshotError('the index snapshot header is not JSON');
  }
  if (header.index !== 'switchyard-threads' || (header.format !== FORMAT && header.format !== FORMAT_WITHOUT_END)) throw new UnusableSnapshotError(`the index snapshot is of another format (${String(header.format)})`);
  const { gen, offset } = header.covers ?? {};
  if (!isPosition(gen) || !isPosition(offset) || !Number.isFinite(header.dirMtimeMs) || !Array.isArray(header.agents) || !header.agents.every((a) => typeof a === 'string')) {
    throw new UnusableSnapshotError('the index snapshot header is incomplete');
  }
  return { covers: { gen, offset }, dirMtimeMs: header.dirMtimeMs as number, agents: header.agents as string[], format: header.format };
}

function isPosition(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The snapshot in `dir` opened for reading, `undefined` when there is none. */
function openSnapshot(dir: string): number | undefined {
  try {
    return openSync(snapshotFile(dir), 'r');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined;
    throw new SystemError(`cannot open the index snapshot in ${dir}`, { cause: error });
  }
}

/** The header of the snapshot in `dir`, `undefined` when there is none. */
export function readSnapshotHeader(dir: string): SnapshotHeader | undefined {
  const fd = openSnapshot(dir);
  if (fd === undefined) return undefined;
  try {
    const first = new LineReader(fd, HEADER_CHUNK).next();
    if (first === undefined) throw new UnusableSnapshotError('the index snapshot has no header line');
    return parseHeader(first);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads the snapshot in `dir` into an empty index; answers its header, or `undefined` when there is
 * no snapshot. Throws {@link UnusableSnapshotError} when it cannot be trusted.
 */
export function loadSnapshot(dir: string, index: ThreadIndex): SnapshotHeader | undefined {
  const fd = openSnapshot(dir);
  if (fd === undefined) return undefined;
  try {
    const reader = new LineReader(fd);
    const first = reader.next();
    if (first === undefined) throw new UnusableSnapshotError('the index snapshot is empty');
    const header = parseHeader(first);
    let count = 0;
    for (let line = reader.next(); line !== undefined; line = reader.next()) {
      if (line.startsWith('{')) {
        const end = (JSON.parse(line) as { end?: unknown }).end;
        if (end !== count || reader.next() !== undefined) throw new UnusableSnapshotError(`the index snapshot ends at ${String(end)} rows, read ${count}`);
        index.noteDirMtime(header.dirMtimeMs);
        return header;
      }
      index.restore(parseRow(line, header.agents, header.format === FORMAT));
      count++;
    }
    throw new UnusableSnapshotError('the index snapshot was cut short');
  } catch (error) {
    if (error instanceof SystemError) throw error;
    throw new UnusableSnapshotError(`the index snapshot is damaged: ${(error as Error).message}`, { cause: error });
  } finally {
    closeSync(fd);
  }
}

/** A row of the snapshot; `withEnd`: of the format with `wakeAt` and `failure` (else they are not known). */
function parseRow(line: string, agents: readonly string[], withEnd: boolean): IndexRow {
  const fields = line.split('\t');
  const [stem, agent, status, version, created, updated, size] = fields;
  const id = stem === undefined ? undefined : decodeThreadId(stem);
  const agentName = agent === undefined ? undefined : (parseText(agent) ?? agents[parseCount(agent)]);
  const statusName: ThreadStatus | undefined = THREAD_STATUSES[parseCount(status)];
  if (fields.length !== (withEnd ? 11 : 7) || id === undefined || agentName === undefined || !isThreadStatus(statusName)) {
    throw new UnusableSnapshotError(`the index snapshot has a bad row: ${line.slice(0, 120)}`);
  }
  const end = withEnd ? parseEnd(fields.slice(7)) : needsEnd(statusName) ? { unknownEnd: true as const } : {};
  const row = { id, agent: agentName, status: statusName, version: parseCount(version), created: parseTime(created!), updated: parseTime(updated!), size: parseCount(size), ...end };
  if (end === undefined || !Number.isSafeInteger(row.version) || !Number.isSafeInteger(row.size) || Number.isNaN(row.created) || Number.isNaN(row.updated)) {
    throw new UnusableSnapshotError(`the index snapshot has a bad row: ${line.slice(0, 120)}`);
  }
  return row;
}

/** Reads a file line by line in large chunks (rows are ASCII: stems, digits, URI escapes). */
class LineReader {
  #text = '';
  #at = 0;
  #position = 0;
  #done = false;
  readonly #buffer: Buffer;

  constructor(
    readonly fd: number,
    chunk = READ_CHUNK,
  ) {
    this.#buffer = Buffer.allocUnsafe(chunk);
  }

  next(): string | undefined {
    for (;;) {
      const end = this.#text.indexOf('\n', this.#at);
      if (end !== -1) {
        const line = this.#text.slice(this.#at, end);
        this.#at = end + 1;
        return line;
      }
      if (this.#done) return undefined;
      const read = readSync(this.fd, this.#buffer, 0, this.#buffer.length, this.#position);
      this.#position += read;
      if (read === 0) this.#done = true;
      this.#text = this.#text.slice(this.#at) + this.#buffer.toString('latin1', 0, read);
      this.#at = 0;
    }
  }
}
