import { closeSync, constants, fdatasync, fsync, openSync, readSync, statSync, writeSync, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { SystemError } from '../errors.js';

/**
 * Small synchronous file helpers of the file store. Synchronous on purpose: thread files and log
 * records are small and almost always in the page cache, where a read or write takes microseconds,
 * while each trip through libuv's thread pool costs tens of them. Only flushes to the disk, which
 * wait for the device, go through the pool.
 */

/** What identifies one state of a file: if none of these changed, neither did its content. */
export interface FileStamp {
  readonly ino: number;
  /**
   * The file's creation time: with `ino`, which file this is (a file created where a deleted one
   * was may get its inode back). 0 where the file system does not keep it (inode alone then).
   */
  readonly birthtimeMs: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Modes of what the file store creates: its user's alone, whatever the umask (threads hold inputs,
 * tool results and answers). Files and directories already there keep theirs.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

export const fsyncFd = promisify(fsync);
export const fdatasyncFd = promisify(fdatasync);

/** Whether two stamps are of the same file (maybe in different states). */
export function sameFile(a: Pick<FileStamp, 'ino' | 'birthtimeMs'>, b: Pick<FileStamp, 'ino' | 'birthtimeMs'>): boolean {
  return a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;
}

/**
 * Whether a file still has the stamp `known` recorded. A `known` mtime of NaN stands for "written
 * by this store": the file (inode and creation time) and its size identify the content then (see
 * `ThreadFiles.writeAt`).
 */
export function sameStamp(known: FileStamp, now: FileStamp): boolean {
  return sameFile(known, now) && known.size === now.size && (known.mtimeMs === now.mtimeMs || Number.isNaN(known.mtimeMs));
}

export function stampOf(stats: Stats): FileStamp {
  return { ino: stats.ino, birthtimeMs: stats.birthtimeMs, size: stats.size, mtimeMs: stats.mtimeMs };
}

export function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** The error code of a failed system call (`EACCES`), or its message: for messages naming the cause. */
export function causeOf(error: unknown): string {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  return typeof code === 'string' ? code : String(message);
}

/** `stat` that answers `undefined` for a missing file. */
export function statIfExists(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (error) {
    throw new SystemError(`cannot stat ${file} (${causeOf(error)})`, { cause: error });
  }
}

/** Writes all of `bytes` at `position` (`null`: at the end of a file opened for appending). */
export function writeAll(fd: number, bytes: Buffer, position: number | null): void {
  let written = 0;
  while (written < bytes.length) {
    written += writeSync(fd, bytes, written, bytes.length - written, position === null ? null : position + written);
  }
}

/** The bytes from `start` to `end` (fewer if the file is shorter). */
export function readRange(fd: number, start: number, end: number): Buffer {
  const bytes = Buffer.allocUnsafe(Math.max(0, end - start));
  let read = 0;
  while (read < bytes.length) {
    const bytesRead = readSync(fd, bytes, read, bytes.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return read === bytes.length ? bytes : bytes.subarray(0, read);
}

/**
 * The first `size` bytes of a file (fewer if it is shorter). Opened non-blocking: a path that a
 * named pipe took meanwhile reads as empty instead of waiting for a writer.
 */
export function readPrefix(file: string, size: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return readRange(fd, 0, size);
  } finally {
    closeQuietly(fd);
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing left to do with it
  }
}

/** Makes the directory entries of `dir` durable (files created, renamed or removed in it). */
export async function syncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    await fsyncFd(fd);
  } catch (error) {
    // Some platforms (Windows) cannot open or flush a directory; the files' own flushes still hold.
    if (!isCode(error, 'EISDIR') && !isCode(error, 'EPERM') && !isCode(error, 'EINVAL')) {
      throw new SystemError(`cannot flush ${dir}`, { cause: error });
    }
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}
