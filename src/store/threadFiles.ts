import { fstatSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError } from '../errors.js';
import { closeQuietly, isCode, readRange, sameStamp, stampOf, statIfExists, writeAll, type FileStamp } from './fileIo.js';
import { ThreadCache, type CachedThread } from './threadCache.js';
import { parseThreadFile, THREAD_FILE_EXT } from './threadFile.js';

/** A thread file whose content is invalid (not a torn tail: something a reader must not guess around). */
export class CorruptThreadFileError extends SystemError {}

/**
 * The thread files of a file store directory: reading them through the cache, and writing lines.
 * Nothing here flushes to the disk: the commit log makes writes durable (see `commitLog.ts`).
 */
export class ThreadFiles {
  readonly cache: ThreadCache;

  constructor(
    readonly dir: string,
    cacheSize: number,
  ) {
    this.cache = new ThreadCache(cacheSize);
  }

  fileOf(stem: string): string {
    return join(this.dir, stem + THREAD_FILE_EXT);
  }

  /**
   * The thread as its file holds it now, or `undefined` when there is no file or no complete
   * header. Costs one `stat` when the cached copy is current, and re-reads only what a file that
   * grew gained. Throws {@link CorruptThreadFileError} for a corrupt file. `keep` caches the thread.
   */
  load(id: string, file: string, keep: boolean): CachedThread | undefined {
    const stats = statIfExists(file);
    if (stats === undefined) {
      this.cache.delete(id);
      return undefined;
    }
    const cached = this.cache.peek(id);
    if (cached !== undefined && sameStamp(cached, stats)) {
      if (keep) this.cache.touch(id, cached);
      return cached;
    }
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) {
        this.cache.delete(id);
        return undefined;
      }
      throw new SystemError(`cannot open ${file}`, { cause: error });
    }
    let stamp: FileStamp;
    let bytes: Buffer;
    let base: CachedThread | undefined;
    try {
      stamp = stampOf(fstatSync(fd));
      // Committed lines never change, so a file that only grew is read from where the cache ends.
      base = cached !== undefined && cached.ino === stamp.ino && stamp.size >= cached.goodSize ? cached : undefined;
      bytes = readRange(fd, base?.goodSize ?? 0, stamp.size);
    } catch (error) {
      throw new SystemError(`cannot read ${file}`, { cause: error });
    } finally {
      closeQuietly(fd);
    }
    const parsed = parseThreadFile(id, bytes, base);
    if (!parsed.ok) {
      this.cache.delete(id);
      throw new CorruptThreadFileError(`thread file ${file} is corrupt: ${parsed.error}`);
    }
    if (parsed.content === undefined) {
      this.cache.delete(id);
      return undefined;
    }
    return this.cache.remember(id, { ...parsed.content, ...stamp }, keep);
  }

  /**
   * Writes `bytes` at `position` of `file` after cutting it there (a torn tail left by a writer that
   * died goes away), and answers the file's new stamp. Opens the file exclusively when `create`
   * (`EEXIST` is thrown as is). On failure the file is cut back to `position`: nothing is written.
   */
  writeAt(file: string, bytes: Buffer, position: number, create: boolean): FileStamp {
    let fd: number;
    try {
      fd = openSync(file, create ? 'wx' : 'r+');
    } catch (error) {
      if (create && isCode(error, 'EEXIST')) throw error;
      throw new SystemError(`cannot open ${file}`, { cause: error });
    }
    try {
      if (!create && fstatSync(fd).size !== position) ftruncateSync(fd, position);
      writeAll(fd, bytes, position);
      return stampOf(fstatSync(fd));
    } catch (error) {
      this.truncate(file, position);
      throw new SystemError(`cannot write ${file}`, { cause: error });
    } finally {
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
}
