import { existsSync, fstatSync, ftruncateSync, openSync, readdirSync, readFileSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../errors.js';
import { parseRecords, type CommitRecord } from './commitRecord.js';
import { closeQuietly, fdatasyncFd, isCode, PRIVATE_FILE_MODE, readRange, sameFile, writeAll, type FileStamp } from './fileIo.js';
import type { LockOwner } from './fileLock.js';

/**
 * The file store's commit log: the write-ahead log that makes appends durable with one flush for
 * many threads (group commit), and the journal every process sharing the directory follows to keep
 * its index current.
 *
 * An append writes its line to the thread file (no flush), then hands the log a record holding
 * the same line and the thread's new summary (see `commitRecord.ts`). Records that arrive while a
 * flush is in flight wait for it and go together in the next batch: one write and one `fdatasync`
 * of the log for all of them, after which every append of the batch resolves. A thread file's own
 * flush comes later, once for many appends, at a checkpoint (see `checkpoint.ts`); until then the
 * log holds the durable copy, and after a machine crash the store writes back any line a thread
 * file lost.
 *
 * The log is a series of segments `log.<gen>` in the index directory, each starting with a header
 * line naming the machine's boot and the segment file (see {@link segmentOrigin}). Writers of every process append under one lock file, at the end
 * of the newest segment, after cutting a torn tail a writer that died left; a new segment is
 * started when the newest passes `rotateBytes`, and older ones are deleted by a checkpoint.
 */

/** Where a reader of the log stands: everything before this has been read. */
export interface LogPosition {
  readonly gen: number;
  readonly offset: number;
}

/** Options of {@link CommitLog.open}. */
export interface CommitLogOptions {
  /** The index directory holding the segments. */
  readonly dir: string;
  /** Flush each batch to the disk before its appends resolve. */
  readonly fsync: boolean;
  readonly locks: LockOwner;
  /** A segment longer than this is sealed and a new one started. */
  readonly rotateBytes: number;
  /** Records other writers (other processes, other store instances) wrote, in log order. */
  readonly onRecords: (records: readonly CommitRecord[]) => void;
  /** Called after this log started a new segment (time for a checkpoint). */
  readonly onRotated: () => void;
  /**
   * Called when segments this log had not read yet were deleted by a checkpoint elsewhere (this
   * process fell a whole segment behind): their records are in the index snapshot, not here.
   */
  readonly onGap: () => void;
}

interface Waiter {
  readonly bytes: Buffer;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const WAL_LOCK = '.wal';
const SEGMENT_PREFIX = 'log.';
const READ_CHUNK = 4 << 20;
/** Buffers one `writev` takes (IOV_MAX is 1024 on Linux). */
const WRITEV_MAX = 1024;

let bootId: string | undefined;

/** This boot of the machine (Linux), or `'unknown'`: a log written in the same boot lost nothing. */
export function currentBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || 'unknown';
    } catch {
      bootId = 'unknown';
    }
  }
  return bootId;
}

export function segmentFile(dir: string, gen: number): string {
  return join(dir, `${SEGMENT_PREFIX}${String(gen).padStart(12, '0')}`);
}

/** Generations of the segments in `dir`, oldest first. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw new SystemError(`cannot read the index directory ${dir}`, { cause: error });
  }
  return names
    .filter((name) => /^log\.\d{12}$/.test(name))
    .map((name) => Number(name.slice(SEGMENT_PREFIX.length)))
    .sort((a, b) => a - b);
}

/** What a segment's header line says: the boot it was started in, and which file it was started as. */
interface SegmentHeader {
  readonly boot: string;
  /** The segment file's inode and creation time when it was started (absent from older segments). */
  readonly file?: Pick<FileStamp, 'ino' | 'birthtimeMs'>;
}

/** The header of a segment (its first line, in `bytes`), or `undefined` when it has none. */
function segmentHeader(bytes: Buffer): SegmentHeader | undefined {
  const end = bytes.indexOf(10);
  if (end === -1) return undefined;
  try {
    const { log, boot, ino, born } = JSON.parse(bytes.toString('utf8', 0, end)) as { log?: unknown; boot?: unknown; ino?: unknown; born?: unknown };
    if (log !== 'switchyard' || typeof boot !== 'string') return undefined;
    return typeof ino === 'number' && typeof born === 'number' ? { boot, file: { ino, birthtimeMs: born } } : { boot };
  } catch {
    return undefined;
  }
}

/**
 * Where the segment open at `fd` comes from: `'here'`, written in this boot of the machine as this
 * very file (no thread file lost a line it records: written pages survive a process crash);
 * `'copy'`, written in this boot but as another file (a copy of the directory restored on this
 * host: its thread files may have been copied before lines the log holds); `'crash'`, written in
 * another boot (a machine crash took what was not flushed; or a copy restored after a reboot, or
 * on another host). The file is told by its inode and creation time, as the header recorded them
 * (a segment from before they were recorded is judged by its boot alone).
 */
export function segmentOrigin(fd: number): 'here' | 'copy' | 'crash' {
  const boot = currentBoot();
  const header = segmentHeader(readRange(fd, 0, 4096));
  if (boot === 'unknown' || header?.boot !== boot) return 'crash';
  return header.file === undefined || sameFile(header.file, fstatSync(fd)) ? 'here' : 'copy';
}

/**
 * Reads the records of `fd` from `offset` on, chunk by chunk; answers where the complete lines end.
 * Stops at a partial last line (a write in progress, or a torn tail).
 */
export function readRecords(fd: number, offset: number, withLines: boolean, onRecords: (records: readonly CommitRecord[], invalid: number) => void): number {
  const size = fstatSync(fd).size;
  let at = offset;
  while (at < size) {
    const bytes = readRange(fd, at, Math.min(size, at + READ_CHUNK));
    let parsed = parseRecords(bytes, withLines);
    if (parsed.consumed === 0 && bytes.length === READ_CHUNK) {
      // One line longer than a chunk: read up to its end.
      const whole = readRange(fd, at, size);
      parsed = parseRecords(whole, withLines);
    }
    if (parsed.consumed === 0) break;
    onRecords(parsed.records, parsed.invalid);
    at += parsed.consumed;
  }
  return at;
}

export class CommitLog {
  #gen: number;
  #fd: number;
  #offset: number;
  #pending: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #retired: number[] = [];
  #closed = false;

  private constructor(
    readonly options: CommitLogOptions,
    gen: number,
    fd: number,
    offset: number,
  ) {
    this.#gen = gen;
    this.#fd = fd;
    this.#offset = offset;
  }

  /**
   * Opens the log to follow it from `from` (records before it are known already); starts the first
   * segment of an empty log. Call {@link catchUp} to read what follows.
   */
  static async open(options: CommitLogOptions, from: LogPosition): Promise<CommitLog> {
    let segments = listSegments(options.dir);
    if (segments.length === 0) {
      const release = await options.locks.acquire(WAL_LOCK);
      try {
        segments = listSegments(options.dir);
        if (segments.length === 0) startSegment(options.dir, Math.max(1, from.gen));
      } finally {
        release();
      }
      segments = listSegments(options.dir);
    }
    // Follow from the segment `from` names, or the oldest one after it.
    const gen = segments.find((g) => g >= from.gen) ?? segments.at(-1)!;
    const offset = gen === from.gen ? from.offset : 0;
    return new CommitLog(options, gen, openSegment(options.dir, gen), offset);
  }

  /** Everything before this position has been applied (read, or written by this log). */
  get position(): LogPosition {
    return { gen: this.#gen, offset: this.#offset };
  }

  /**
   * Resolves once `record` (see `encodeRecord`) is in the log and, with `fsync`, on the disk. Records
   * handed in while a batch is being flushed go out together in the next one.
   */
  commit(record: Buffer): Promise<void> {
    if (this.#closed) return Promise.reject(new SystemError('the commit log is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ bytes: record, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /** Reads what other writers added since the last look, up to the newest segment's end. */
  catchUp(): void {
    for (;;) {
      this.#offset = readRecords(this.#fd, this.#offset, false, (records) => this.options.onRecords(records));
      if (existsSync(segmentFile(this.options.dir, this.#gen + 1))) {
        this.#switchTo(this.#gen + 1);
        continue;
      }
      if (fstatSync(this.#fd).nlink > 0) return;
      // Our segment was deleted under us, and the next one too: go on with the oldest left, and
      // let the owner take what the deleted ones held from the snapshot.
      const next = listSegments(this.options.dir).find((gen) => gen > this.#gen);
      if (next === undefined) return;
      this.#switchTo(next);
      this.options.onGap();
    }
  }

  /**
   * Seals the newest segment by starting a new one (a checkpoint then deletes the sealed one), so
   * that what its records hold (a deleted thread's lines) does not wait for `rotateBytes` of
   * writes to leave the disk.
   */
  async rotate(): Promise<void> {
    if (this.#closed) throw new SystemError('the commit log is closed');
    const release = await this.options.locks.acquire(WAL_LOCK);
    try {
      this.catchUp();
      startSegment(this.options.dir, this.#gen + 1);
      this.catchUp();
    } finally {
      release();
    }
  }

  /** Waits for the records handed in so far, then closes the log. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing !== undefined) await this.#flushing;
    closeQuietly(this.#fd);
    for (const fd of this.#retired.splice(0)) closeQuietly(fd);
  }

  async #flushLoop(): Promise<void> {
    try {
      // Appends made in this turn of the event loop join the first batch; later ones wait for the
      // next. (A turn, not a microtask: a loop of writes that never waits for I/O, without fsync,
      // would otherwise never let timers and I/O run.)
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        try {
          const fd = await this.#write(batch.map((w) => w.bytes));
          if (this.options.fsync) await fdatasyncFd(fd);
          for (const waiter of batch) waiter.resolve();
        } catch (error) {
          const failure = error instanceof SystemError ? error : new SystemError('cannot write the commit log', { cause: error });
          for (const waiter of batch) waiter.reject(failure);
        }
        if (this.#pending.length === 0) for (const fd of this.#retired.splice(0)) closeQuietly(fd);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Appends records to the newest segment under the log's lock; answers the fd written to. */
  async #write(records: readonly Buffer[]): Promise<number> {
    const release = await this.options.locks.acquire(WAL_LOCK);
    let rotated = false;
    try {
      this.catchUp();
      const size = this.#cutTornTail();
      // Whatever another writer added since catchUp read it is applied before ours goes after it.
      if (size > this.#offset) this.#offset = readRecords(this.#fd, this.#offset, false, (records) => this.options.onRecords(records));
      const length = writeRecords(this.#fd, records);
      this.#offset = size + length;
      if (this.#offset >= this.options.rotateBytes) {
        startSegment(this.options.dir, this.#gen + 1);
        rotated = true;
      }
      return this.#fd;
    } finally {
      release();
      if (rotated) this.options.onRotated();
    }
  }

  /** Cuts a partial line a writer that died left at the end of the segment; answers the size. */
  #cutTornTail(): number {
    const size = fstatSync(this.#fd).size;
    if (size === 0) return 0;
    if (readRange(this.#fd, size - 1, size)[0] === 10) return size; // the usual case: whole lines
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - 65536);
      const chunk = readRange(this.#fd, start, end);
      if (end === size && chunk[chunk.length - 1] === 10) return size;
      const newline = chunk.lastIndexOf(10);
      if (newline !== -1) {
        ftruncateSync(this.#fd, start + newline + 1);
        return start + newline + 1;
      }
      end = start;
    }
    ftruncateSync(this.#fd, 0);
    return 0;
  }

  #switchTo(gen: number): void {
    const fd = openSegment(this.options.dir, gen);
    // A flush in flight may still be syncing the old segment: close it once no flush runs.
    this.#retired.push(this.#fd);
    if (this.#flushing === undefined) for (const old of this.#retired.splice(0)) closeQuietly(old);
    this.#gen = gen;
    this.#fd = fd;
    this.#offset = 0;
  }
}

/** Writes the records with as few system calls as `writev` allows; answers the bytes written. */
function writeRecords(fd: number, records: readonly Buffer[]): number {
  let total = 0;
  for (let start = 0; start < records.length; start += WRITEV_MAX) {
    const chunk = records.slice(start, start + WRITEV_MAX);
    const length = chunk.reduce((sum, record) => sum + record.length, 0);
    const written = writevSync(fd, chunk);
    // A short write (a signal, a full disk): the rest goes in one piece.
    if (written < length) writeAll(fd, Buffer.concat(chunk).subarray(written), null);
    total += length;
  }
  return total;
}

function openSegment(dir: string, gen: number): number {
  try {
    return openSync(segmentFile(dir, gen), 'a+', PRIVATE_FILE_MODE);
  } catch (error) {
    throw new SystemError(`cannot open the commit log segment ${segmentFile(dir, gen)}`, { cause: error });
  }
}

/** Creates segment `gen` with its header line (nothing when another writer made it first). */
function startSegment(dir: string, gen: number): void {
  let fd: number;
  try {
    fd = openSync(segmentFile(dir, gen), 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if (isCode(error, 'EEXIST')) return;
    throw new SystemError(`cannot start the commit log segment ${segmentFile(dir, gen)}`, { cause: error });
  }
  try {
    const { ino, birthtimeMs: born } = fstatSync(fd);
    writeAll(fd, Buffer.from(`${JSON.stringify({ log: 'switchyard', gen, boot: currentBoot(), ino, born })}\n`), null);
  } finally {
    closeQuietly(fd);
  }
}
