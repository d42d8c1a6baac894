import {
  closeSync,
  fdatasync,
  fstatSync,
  fsync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, InvalidInputError, NotFoundError, SystemError, VersionConflictError } from '../errors.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, reduceState, rememberState } from '../thread/state.js';
import { checkAppend, checkThread, deepFreeze } from './checkEvents.js';
import { createLockOwner, sweepDeadOwners } from './fileLock.js';
import { createKeyedMutex } from './keyedMutex.js';
import { selectSummaries, summaryOf } from './selectSummaries.js';
import {
  decodeThreadId,
  encodeThreadId,
  formatLine,
  parseThreadFile,
  THREAD_FILE_EXT,
  type ThreadFileContent,
} from './threadFile.js';
import type { ListOptions, ThreadStore, ThreadSummary } from './threadStore.js';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /**
   * The directory holding one file per thread; created if missing. Any number of processes may
   * share it.
   * @default join(process.cwd(), '.switchyard', 'threads')
   */
  dir?: string;
  /**
   * Flush every write to the disk before it resolves, so a committed event survives a power loss
   * (not only a process crash). Turn off only for throwaway data.
   * @default true
   */
  fsync?: boolean;
  /**
   * Called when `list` meets a thread file it cannot read (invalid content before the last line,
   * or events that fail validation). The thread is left out of the list; `get` on it throws a
   * `SystemError`. Called once per change of the file.
   * @default does nothing
   */
  onCorrupt?: (id: string, error: Error) => void;
  /**
   * How many threads (with their events and derived state) this store keeps in memory, least
   * recently used dropped first. Summaries for `list` are kept for every thread regardless.
   * @default 1000
   */
  cacheSize?: number;
  /**
   * A thread's lock file older than this is presumed abandoned and broken (a lock whose process is
   * dead on this host is broken at once).
   * @default 10_000
   */
  staleLockMs?: number;
  /**
   * How long a write waits for another process's lock before it fails with a `SystemError`.
   * @default 30_000
   */
  lockTimeoutMs?: number;
  /**
   * Stamps the creation time of threads created without events (their summary times).
   * @default systemClock
   */
  clock?: Clock;
}

interface FileStoreConfig {
  readonly dir: string;
  readonly fsync: boolean;
  readonly onCorrupt: (id: string, error: Error) => void;
  readonly cacheSize: number;
  readonly staleLockMs: number;
  readonly lockTimeoutMs: number;
  readonly clock: Clock;
}

/** What identifies one state of a file: if none of these changed, neither did its content. */
interface FileStamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** A thread as read from its file, with the stamp of the file it was read from. */
interface CachedThread extends ThreadFileContent, FileStamp {}

/** The `list` index entry of a file; `summary` is undefined while the file has no valid thread. */
interface IndexEntry extends FileStamp {
  readonly summary: ThreadSummary | undefined;
}

/** The subdirectory of lock files (a name no thread file can have). */
const LOCK_DIR = '.locks';
/** `list` gives the event loop a turn after this much synchronous work. */
const LIST_SLICE_MS = 8;

const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);

function normalizeOptions(options: FileStoreOptions): FileStoreConfig {
  const {
    dir = join(process.cwd(), '.switchyard', 'threads'),
    fsync = true,
    onCorrupt = () => {},
    cacheSize = 1000,
    staleLockMs = 10_000,
    lockTimeoutMs = 30_000,
    clock = systemClock,
  } = options;
  for (const [name, value] of [
    ['cacheSize', cacheSize],
    ['staleLockMs', staleLockMs],
    ['lockTimeoutMs', lockTimeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError(`file store ${name} must be a non-negative integer`);
  }
  return { dir, fsync, onCorrupt, cacheSize, staleLockMs, lockTimeoutMs, clock };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function stampOf(stats: Stats): FileStamp {
  return { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** `stat` that answers `undefined` for a missing file. */
function statIfExists(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (error) {
    throw new SystemError(`cannot stat ${file}`, { cause: error });
  }
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  let written = 0;
  while (written < bytes.length) {
    written += writeSync(fd, bytes, written, bytes.length - written, position + written);
  }
}

function readRange(fd: number, start: number, end: number): Buffer {
  const bytes = Buffer.allocUnsafe(end - start);
  let read = 0;
  while (read < bytes.length) {
    const bytesRead = readSync(fd, bytes, read, bytes.length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return read === bytes.length ? bytes : bytes.subarray(0, read);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing left to do with it
  }
}

/**
 * The embedded, durable {@link ThreadStore}: one append-only JSONL file per thread in `dir` (see
 * `threadFile.ts` for the format). Survives restarts, and a crash mid-write never corrupts or loses
 * a committed event: an append is one write of one line, flushed (`fsync`) before it resolves, and
 * a torn last line is ignored on read and truncated away by the next append.
 *
 * Concurrency: writes to a thread are serialized inside the process by a promise chain per thread,
 * and across processes sharing `dir` by a lock file per thread in `dir/.locks` (see
 * `createLockOwner`; locks of dead processes are broken at once, others after `staleLockMs`).
 * Under both locks the writer re-reads the thread's version from the file before it decides
 * between appending and `VersionConflictError`. Reads take no lock: a reader ignores an incomplete
 * last line.
 *
 * Caching: up to `cacheSize` threads are cached with their derived state and revalidated by one
 * `stat` (inode, size, mtime) per `get`; a file that grew is re-read from where the cache ends, so
 * only the new lines are parsed and folded. (On file systems with coarse mtimes, a torn tail
 * replaced within the same tick by a line of exactly its length would go unnoticed until the
 * next write; ext4, APFS, NTFS and XFS keep nanoseconds.)
 *
 * Listing: a summary per thread is kept in memory, updated on this store's writes. To see other
 * processes' writes, each `list` reads the directory and `stat`s every thread file, re-reading only
 * the files that changed: a few microseconds per thread (about 60 ms for 10,000 threads), spent in
 * slices that give the event loop a turn every few milliseconds.
 *
 * @example
 * ```ts
 * const store = await createFileStore({ dir: '/var/lib/switchyard/threads' });
 * const thread = await store.get('t1');
 * ```
 */
export async function createFileStore(options: FileStoreOptions = {}): Promise<ThreadStore> {
  const config = normalizeOptions(options);
  try {
    await mkdir(config.dir, { recursive: true });
  } catch (error) {
    throw new SystemError(`cannot create the thread directory ${config.dir}`, { cause: error });
  }
  /** Least recently used first (Map keeps insertion order). */
  const cache = new Map<string, CachedThread>();
  const index = new Map<string, IndexEntry>();
  const idsByName = new Map<string, string | null>();
  const lockDir = join(config.dir, LOCK_DIR);
  sweepDeadOwners(lockDir);
  const locks = createLockOwner(lockDir, { staleMs: config.staleLockMs, timeoutMs: config.lockTimeoutMs });
  const mutex = createKeyedMutex();
  let closed = false;

  function checkOpen(): void {
    if (closed) throw new SystemError(`the file store at ${config.dir} is closed`);
  }

  function fileOf(stem: string): string {
    return join(config.dir, stem + THREAD_FILE_EXT);
  }

  function forget(id: string): void {
    cache.delete(id);
    index.delete(id);
  }

  /** Records a thread read or written at `entry`'s stamp; never replaces a newer one of the same file. */
  function remember(id: string, entry: CachedThread, keep: boolean): CachedThread {
    const current = cache.get(id);
    if (current !== undefined && current.ino === entry.ino && current.state.version > entry.state.version) {
      return current;
    }
    const indexed = index.get(id);
    if (!(indexed?.summary !== undefined && indexed.ino === entry.ino && indexed.summary.version > entry.state.version)) {
      index.set(id, {
        ino: entry.ino,
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        summary: summaryOf(id, entry.thread.agent, entry.state, entry.createdAt),
      });
    }
    if (current !== undefined && !keep) {
      cache.set(id, entry); // updates in place, keeping its place in the LRU order
    } else if (keep && config.cacheSize > 0) {
      cache.delete(id);
      cache.set(id, entry);
      for (const oldest of cache.keys()) {
        if (cache.size <= config.cacheSize) break;
        cache.delete(oldest);
      }
    }
    return entry;
  }

  /**
   * The thread as its file holds it now, or `undefined` when there is no file or no complete
   * header. Costs one `stat` when the cached copy is current; re-reads only what the file gained.
   * Throws `SystemError` when the file is corrupt. `keep` puts the thread in the LRU cache.
   *
   * Synchronous on purpose: thread files are small and almost always in the page cache, where a
   * read takes microseconds, while each trip through libuv's thread pool costs tens of them; the
   * parsing that follows is synchronous anyway and costs more than the read.
   */
  function load(id: string, file: string, keep: boolean): CachedThread | undefined {
    const stats = statIfExists(file);
    if (stats === undefined) {
      forget(id);
      return undefined;
    }
    const cached = cache.get(id);
    if (cached !== undefined && sameStamp(cached, stats)) {
      if (keep) {
        cache.delete(id);
        cache.set(id, cached);
      }
      return cached;
    }
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) {
        forget(id);
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
      cache.delete(id);
      index.set(id, { ...stamp, summary: undefined });
      throw new SystemError(`thread file ${file} is corrupt: ${parsed.error}`);
    }
    if (parsed.content === undefined) {
      cache.delete(id);
      index.set(id, { ...stamp, summary: undefined });
      return undefined;
    }
    return remember(id, { ...parsed.content, ...stamp }, keep);
  }

  /** Runs `work` holding this thread's in-process lock and then its lock file. */
  function locked<T>(id: string, stem: string, work: () => Promise<T>): Promise<T> {
    return mutex.run(id, async () => {
      const release = await locks.acquire(stem);
      try {
        return await work();
      } finally {
        release();
      }
    });
  }

  /**
   * Writes `bytes` at `position` of the open file `fd` after cutting the file to `position`, then
   * flushes it (`fsync` option) and closes it. On failure the file is cut back to `position`, so a
   * failed write commits nothing. Small writes are synchronous (they land in the page cache);
   * the flush, which waits for the disk, is not.
   */
  async function writeLine(fd: number, file: string, bytes: Buffer, position: number, full: boolean): Promise<FileStamp> {
    try {
      if (fstatSync(fd).size !== position) ftruncateSync(fd, position);
      writeAll(fd, bytes, position);
      if (config.fsync) await (full ? fsyncFd(fd) : fdatasyncFd(fd));
      return stampOf(fstatSync(fd));
    } catch (error) {
      try {
        ftruncateSync(fd, position);
      } catch {
        // the file is unusable; readers treat the partial line as a torn tail
      }
      throw new SystemError(`cannot write ${file}`, { cause: error });
    } finally {
      closeQuietly(fd);
    }
  }

  /** Makes a new file's directory entry durable. */
  async function syncDir(): Promise<void> {
    let fd: number | undefined;
    try {
      fd = openSync(config.dir, 'r');
      await fsyncFd(fd);
    } catch (error) {
      // Some platforms (Windows) cannot open or flush a directory; the file's own flush still holds.
      if (!isCode(error, 'EISDIR') && !isCode(error, 'EPERM') && !isCode(error, 'EINVAL')) {
        throw new SystemError(`cannot flush ${config.dir}`, { cause: error });
      }
    } finally {
      if (fd !== undefined) closeQuietly(fd);
    }
  }

  async function create(thread: Thread): Promise<Thread> {
    checkOpen();
    const copy = checkThread(thread);
    const stem = encodeThreadId(copy.id);
    if (stem === undefined) {
      throw new InvalidInputError(`thread id ${JSON.stringify(copy.id)} cannot be stored`, [
        'id: must be well-formed Unicode and at most 200 bytes once escaped',
      ]);
    }
    const { id, agent } = copy;
    const file = fileOf(stem);
    return locked(id, stem, async () => {
      let fd: number;
      let fresh = true;
      try {
        fd = openSync(file, 'wx');
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw new SystemError(`cannot create ${file}`, { cause: error });
        const existing = load(id, file, true);
        if (existing !== undefined) throw new VersionConflictError(id, 0, existing.state.version);
        // The file has no complete header: a create that died mid-write. We hold the lock, so
        // no one is writing it now; it is ours to rewrite.
        try {
          fd = openSync(file, 'r+');
        } catch (reopenError) {
          throw new SystemError(`cannot open ${file}`, { cause: reopenError });
        }
        fresh = false;
      }
      const createdAt = new Date(config.clock.now()).toISOString();
      const bytes = formatLine(copy.events.length, copy.events, { id, agent, at: createdAt });
      const stamp = await writeLine(fd, file, bytes, 0, true);
      if (fresh && config.fsync) await syncDir();
      const events = Object.freeze(deepFreeze(copy.events));
      const entry: CachedThread = {
        thread: Object.freeze({ id, agent, events }),
        state: deriveState(events),
        createdAt,
        goodSize: bytes.length,
        ...stamp,
      };
      return remember(id, entry, true).thread;
    });
  }

  async function append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread> {
    checkOpen();
    const added = checkAppend(id, expectedVersion, events);
    const stem = encodeThreadId(id);
    if (stem === undefined) throw new NotFoundError('thread', id);
    const file = fileOf(stem);
    return locked(id, stem, async () => {
      // Re-read under the lock: another process may have appended since this one last looked.
      const current = load(id, file, true);
      if (current === undefined) throw new NotFoundError('thread', id);
      if (current.state.version !== expectedVersion) {
        throw new VersionConflictError(id, expectedVersion, current.state.version);
      }
      if (added.length === 0) return current.thread;
      const bytes = formatLine(expectedVersion + added.length, added);
      let fd: number;
      try {
        fd = openSync(file, 'r+');
      } catch (error) {
        throw new SystemError(`cannot open ${file}`, { cause: error });
      }
      // Writing at the end of the good lines cuts off a torn tail left by a writer that died.
      let stamp: FileStamp;
      try {
        stamp = await writeLine(fd, file, bytes, current.goodSize, false);
      } catch (error) {
        cache.delete(id);
        throw error;
      }
      deepFreeze(added);
      let state = current.state;
      for (const event of added) state = reduceState(state, event);
      const allEvents = Object.freeze([...current.thread.events, ...added]);
      rememberState(allEvents, state);
      const entry: CachedThread = {
        thread: Object.freeze({ id, agent: current.thread.agent, events: allEvents }),
        state,
        createdAt: current.createdAt,
        goodSize: current.goodSize + bytes.length,
        ...stamp,
      };
      return remember(id, entry, true).thread;
    });
  }

  async function get(id: string): Promise<Thread | undefined> {
    checkOpen();
    const stem = encodeThreadId(id);
    if (stem === undefined) return undefined;
    return load(id, fileOf(stem), true)?.thread;
  }

  /** The id a directory entry holds, or `null` if it is not a thread file. Memoized: names repeat. */
  function idOfName(name: string): string | null {
    let id = idsByName.get(name);
    if (id === undefined) {
      id = name.endsWith(THREAD_FILE_EXT) ? (decodeThreadId(name.slice(0, -THREAD_FILE_EXT.length)) ?? null) : null;
      idsByName.set(name, id);
    }
    return id;
  }

  /** Brings the summary index up to date with the directory: new, changed and removed files. */
  async function refreshIndex(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(config.dir);
    } catch (error) {
      throw new SystemError(`cannot read the thread directory ${config.dir}`, { cause: error });
    }
    // Synchronous stats and reads (see `load`), with a turn for the event loop every few ms.
    let sliceEnd = performance.now() + LIST_SLICE_MS;
    async function nextSlice(): Promise<void> {
      await yieldToLoop();
      sliceEnd = performance.now() + LIST_SLICE_MS;
    }
    const seen = new Set<string>();
    const changed: Array<{ id: string; file: string }> = [];
    for (const name of names) {
      const id = idOfName(name);
      if (id === null) continue;
      const file = join(config.dir, name);
      const stats = statIfExists(file);
      if (stats === undefined) continue;
      seen.add(id);
      const entry = index.get(id);
      if (entry === undefined || !sameStamp(entry, stats)) changed.push({ id, file });
      if (performance.now() > sliceEnd) await nextSlice();
    }
    for (const id of [...index.keys()]) {
      const stem = encodeThreadId(id);
      if (!seen.has(id) && (stem === undefined || statIfExists(fileOf(stem)) === undefined)) forget(id);
    }
    for (const { id, file } of changed) {
      try {
        load(id, file, false);
      } catch (error) {
        config.onCorrupt(id, error instanceof Error ? error : new SystemError(String(error)));
      }
      if (performance.now() > sliceEnd) await nextSlice();
    }
  }

  async function list(listOptions?: ListOptions): Promise<ThreadSummary[]> {
    checkOpen();
    selectSummaries([], listOptions); // bad options fail before the directory scan
    await refreshIndex();
    return selectSummaries(
      (function* summaries() {
        for (const entry of index.values()) if (entry.summary !== undefined) yield entry.summary;
      })(),
      listOptions,
    );
  }

  async function close(): Promise<void> {
    closed = true;
    await mutex.idle();
    locks.dispose();
    cache.clear();
    index.clear();
  }

  return { create, append, get, list, close };
}
