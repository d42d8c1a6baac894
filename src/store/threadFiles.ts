import { fstatSync, ftruncateSync, openSync, unlinkSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { SystemError, UnreadableThreadError } from '../errors.js';
import { causeOf, closeQuietly, isCode, PRIVATE_FILE_MODE, readRange, sameFile, sameStamp, stampOf, statIfExists, writeAll, type FileStamp } from './fileIo.js';
import { ThreadCache, type CachedThread } from './threadCache.js';
import { parseThreadFile, THREAD_FILE_EXT } from './threadFile.js';

/** A thread file whose content is invalid (not a torn tail: something a reader must not guess around). */
export class CorruptThreadFileError extends UnreadableThreadError {
  constructor(
    threadId: string,
    /** The thread file. */
    readonly file: string,
    /** What is wrong (`line at byte 678 has no events array`). */
    readonly reason: string,
    /** Where the bad line starts, when one is to blame. */
    readonly byte: number | undefined,
  ) {
    super(
      threadId,
      `thread file ${file} is corrupt: ${reason}`,
      `thread ${threadId} is corrupt: ${reason}; it cannot be read or changed until its file is repaired (the server log names the file)`,
    );
  }
}

/** What a thread file's path names when it is no file. */
const NOT_A_FILE = {
  directory: 'it is a directory, not a file (EISDIR)',
  pipe: 'it is a named pipe, not a file',
  socket: 'it is a socket, not a file',
  device: 'it is a device, not a file',
  other: 'it is not a regular file',
} as const;

function notAFile(stats: Stats): string {
  if (stats.isDirectory()) return NOT_A_FILE.directory;
  if (stats.isFIFO()) return NOT_A_FILE.pipe;
  if (stats.isSocket()) return NOT_A_FILE.socket;
  if (stats.isBlockDevice() || stats.isCharacterDevice()) return NOT_A_FILE.device;
  return NOT_A_FILE.other;
}

/** Thread files a store keeps open for writing (a thread's next append then costs no open). */
const OPEN_FILES = 256;

/**
 * The thread files of a file store directory: reading them through the cache, and writing lines.
 * Nothing here flushes to the disk: the commit log makes writes durable (see `commitLog.ts`).
 *
 * Writers keep the files they wrote open (up to 256, least recently used closed first): under the
 * thread's lock, an append costs an `fstat` to see whether another writer moved the file on, and
 * the write. A file removed behind the store's back is noticed by its link count and reopened.
 */
export class ThreadFiles {
  readonly cache: ThreadCache;
  /**
   * Threads whose file a listing found cut back behind committed lines (see `cutBack.ts`), with
   * the file's size then: reported once for that size.
   */
  readonly cutBack = new Map<string, number>();
  /** Open files by path, least recently used first. */
  readonly #open = new Map<string, number>();
  /**
   * The stats `openForWrite` just took of a file, for the `load` right after it (one `fstat`, not
   * two); anything else clears them.
   */
  #checked: { readonly fd: number; readonly stats: Stats } | undefined;
  /** `dir` with a trailing separator. */
  readonly #prefix: string;

  constructor(
    readonly dir: string,
    cacheSize: number,
  ) {
    this.cache = new ThreadCache(cacheSize);
    this.#prefix = join(dir, sep);
  }

  fileOf(stem: string): string {
    // A stem is only [a-z0-9_%~-]: nothing for `join` to normalize, so the directory is joined once.
    return this.#prefix + stem + THREAD_FILE_EXT;
  }

  /**
   * The thread as its file holds it now, or `undefined` when there is no file or no complete
   * header. Costs one `stat` when the cached copy is current, and re-reads only what a file that
   * grew gained. Throws {@link CorruptThreadFileError} for a corrupt file. `keep` caches the thread.
   * `fd`: the file opened by {@link openForWrite}, read instead of the path. `unchanged`: the
   * caller knows no one else wrote the file since this store cached it (it held the thread's lock
   * throughout): a cached copy is returned without a `stat`.
   */
  load(id: string, file: string, keep: boolean, fd?: number, unchanged = false): CachedThread | undefined {
    if (unchanged) {
      const known = this.cache.peek(id);
      if (known !== undefined) {
        if (keep) this.cache.touch(id, known);
        return known;
      }
    }
    const checked = this.#checked;
    this.#checked = undefined;
    const stats = fd === undefined ? statIfExists(file) : checked?.fd === fd ? checked.stats : fstatSync(fd);
    if (stats === undefined) {
      this.cache.delete(id);
      return undefined;
    }
    if (!stats.isFile()) {
      // Not opened (a named pipe would wait for a writer), and not a file any read makes sense of.
      this.cache.delete(id);
      throw new CorruptThreadFileError(id, file, notAFile(stats), undefined);
    }
    const cached = this.cache.peek(id);
    if (cached !== undefined && sameStamp(cached, stats)) {
      if (keep) this.cache.touch(id, cached);
      return cached;
    }
    const read = fd === undefined ? this.#readPath(id, file, cached) : this.#readOpen(fd, stats, cached, file);
    if (read === undefined) return undefined;
    const parsed = parseThreadFile(id, read.bytes, read.base);
    if (!parsed.ok) {
      this.cache.delete(id);
      throw new CorruptThreadFileError(id, file, parsed.error, parsed.byte);
    }
    if (parsed.content === undefined) {
      this.cache.delete(id);
      return undefined;
    }
    return this.cache.remember(id, { ...parsed.content, ...read.stamp }, keep);
  }

  #readPath(id: string, file: string, cached: CachedThread | undefined): { bytes: Buffer; base: CachedThread | undefined; stamp: FileStamp } | undefined {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) {
        this.cache.delete(id);
        return undefined;
      }
      throw new SystemError(`cannot open ${file} (${causeOf(error)})`, { cause: error });
    }
    try {
      return this.#readOpen(fd, fstatSync(fd), cached, file);
    } finally {
      closeQuietly(fd);
    }
  }

  #readOpen(fd: number, stats: Stats, cached: CachedThread | undefined, file: string): { bytes: Buffer; base: CachedThread | undefined; stamp: FileStamp } {
    const stamp = stampOf(stats);
    // Committed lines never change, so a file that only grew is read from where the cache ends.
    const base = cached !== undefined && sameFile(cached, stamp) && stamp.size >= cached.goodSize ? cached : undefined;
    try {
      return { bytes: readRange(fd, base?.goodSize ?? 0, stamp.size), base, stamp };
    } catch (error) {
      throw new SystemError(`cannot read ${file} (${causeOf(error)})`, { cause: error });
    }
  }

  /**
   * The thread file opened for writing (kept open), or `undefined` when there is none. Call it
   * holding the thread's lock, and use the fd before awaiting anything (it may be closed after).
   * `unchanged` (see {@link load}) skips checking that a file kept open was not removed. Throws
   * {@link CorruptThreadFileError} when the path names a directory (thread `id`'s file).
   */
  openForWrite(id: string, file: string, unchanged = false): number | undefined {
    this.#checked = undefined;
    let fd = this.#open.get(file);
    if (fd !== undefined) {
      this.#open.delete(file);
      const stats = unchanged ? undefined : fstatSync(fd);
      if (stats === undefined || stats.nlink > 0) {
        this.#open.set(file, fd);
        this.#checked = stats === undefined ? undefined : { fd, stats };
        return fd;
      }
      closeQuietly(fd); // removed behind our back: the path may name a new file
    }
    try {
      fd = openSync(file, 'r+');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      if (isCode(error, 'EISDIR')) throw new CorruptThreadFileError(id, file, NOT_A_FILE.directory, undefined);
      throw new SystemError(`cannot open ${file} (${causeOf(error)})`, { cause: error });
    }
    this.#keepOpen(file, fd);
    return fd;
  }

  /** Creates a thread file (`EEXIST` is thrown as is) and keeps it open for writing. */
  createFile(file: string): number {
    let fd: number;
    try {
      fd = openSync(file, 'wx+', PRIVATE_FILE_MODE);
    } catch (error) {
      if (isCode(error, 'EEXIST')) throw error;
      throw new SystemError(`cannot create ${file} (${causeOf(error)})`, { cause: error });
    }
    this.#keepOpen(file, fd);
    return fd;
  }

  #keepOpen(file: string, fd: number): void {
    const old = this.#open.get(file);
    if (old !== undefined && old !== fd) closeQuietly(old);
    this.#open.delete(file);
    this.#open.set(file, fd);
    for (const [oldest, oldFd] of this.#open) {
      if (this.#open.size <= OPEN_FILES) break;
      this.#open.delete(oldest);
      closeQuietly(oldFd);
    }
  }

  /**
   * Writes `bytes` at `position` of an open thread file of `size` bytes (`ino`, `birthtimeMs`),
   * cutting it there first when longer (a torn tail left by a writer that died goes away), and
   * answers the file's new stamp. Its mtime is left unknown: a file this store wrote last is
   * identified by inode, creation time and size (no writer ever cuts a file below the end of a
   * complete line). On failure the file is cut
   * back to `position`: nothing is written.
   */
  writeAt(fd: number, file: string, bytes: Buffer, position: number, stats: Pick<FileStamp, 'ino' | 'birthtimeMs' | 'size'>): FileStamp {
    this.#checked = undefined;
    try {
      if (stats.size !== position) ftruncateSync(fd, position);
      writeAll(fd, bytes, position);
      return { ino: stats.ino, birthtimeMs: stats.birthtimeMs, size: position + bytes.length, mtimeMs: Number.NaN };
    } catch (error) {
      this.truncate(file, position);
      throw new SystemError(`cannot write ${file}`, { cause: error });
    }
  }

  /**
   * Removes a thread file (call it holding the thread's lock) and forgets what the store kept of
   * it. A file gone already is no error.
   */
  remove(id: string, file: string): void {
    this.forget(id, file);
    try {
      unlinkSync(file);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw new SystemError(`cannot remove ${file}`, { cause: error });
    }
  }

  /**
   * Forgets what the store kept of a thread another store deleted: the cached thread, and the
   * file kept open (which would keep a deleted file's data on the disk).
   */
  forget(id: string, file: string): void {
    this.#checked = undefined;
    this.cache.delete(id);
    this.cutBack.delete(id);
    const fd = this.#open.get(file);
    if (fd !== undefined) {
      this.#open.delete(file);
      closeQuietly(fd);
    }
  }

  /** Cuts a file back to `size` (a write that was not committed); quiet when that fails too. */
  truncate(file: string, size: number): void {
    let fd: number | undefined;
    try {
      fd = openSync(file, 'r+');
      ftruncateSync(fd, size);
    } catch {
      // the file is unusable; readers treat the partial line as a torn tail
    } finally {
      if (fd !== undefined) closeQuietly(fd);
    }
  }

  /** Closes the files kept open. */
  close(): void {
    for (const fd of this.#open.values()) closeQuietly(fd);
    this.#open.clear();
  }
}
