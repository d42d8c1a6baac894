import { constants, mkdirSync } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { SystemError } from '../errors.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { checkpoint } from './checkpoint.js';
import { checkCommitted } from './cutBack.js';
import type { CommitRecord } from './commitRecord.js';
import { PRIVATE_DIR_MODE } from './fileIo.js';
import { createLockOwner, sweepDeadOwners } from './fileLock.js';
import { listThreads } from './fileListing.js';
import { normalizeOptions, type FileStoreOptions } from './fileStoreConfig.js';
import { applyRecords, type FileStoreParts } from './fileStoreParts.js';
import { appendToThread, createThread, deleteThread } from './fileWrites.js';
import { loadSnapshot, writeSnapshot } from './indexSnapshot.js';
import { openIndex } from './indexRecovery.js';
import { parseListOptions } from './listQuery.js';
import { ThreadFiles } from './threadFiles.js';
import { ThreadIndex } from './threadIndex.js';
import { encodeThreadId } from './threadFile.js';
import { ThreadLocks } from './threadLocks.js';
import type { ListOptions, ThreadStore, ThreadSummary } from './threadStore.js';

export type { FileStoreOptions } from './fileStoreConfig.js';

/**
 * Less free space than this (for this user) and the store is not ready: a probe takes the process
 * out of rotation while launches would fail. A request body may be 1 MiB.
 */
const MIN_FREE_BYTES = 1024 * 1024;
/** A thread's lock file is kept this long after a write, for the run's next write (see `threadLocks.ts`). */
const LEASE_IDLE_MS = 50;
/** ... and released after this long however busy the thread (far below `staleLockMs`). */
const LEASE_MAX_MS = 1_000;
/** ... and at most this many kept at once (each is a hard link: ext4 allows 65,000 per file). */
const MAX_LEASES = 4_096;
/**
 * A delete seals the commit log and checkpoints this long after it (once for every delete
 * meanwhile), so the log's copies of deleted threads' lines leave the disk.
 */
const ERASE_AFTER_MS = 10_000;

/**
 * The embedded, durable {@link ThreadStore}: one append-only JSONL file per thread in `dir` (see
 * `threadFile.ts` for the format), and an index of every thread beside them in `dir/.index`.
 * Survives restarts, and a crash mid-write never corrupts or loses a committed event.
 *
 * - Writes: a write puts its line in the thread file, then a record of it in the commit log
 *   (`commitLog.ts`); it resolves once the log is flushed (`fsync`), one flush for all the writes
 *   of concurrent threads that arrived meanwhile (group commit). Thread files are flushed later,
 *   once per file, at a checkpoint (`checkpoint.ts`); after a machine crash, or in a copy of the
 *   directory whose thread files were copied before its index, the log writes back what they lack. A torn last line is ignored on read and cut away by the next write. A file
 *   holding fewer events than the index knows were committed (cut back behind the store's back: a
 *   partial restore, an interrupted copy) is reported corrupt, never read as an earlier state of
 *   the thread (`cutBack.ts`).
 * - Deletes: under the thread's locks, with its version checked, a delete logs a tombstone
 *   (`commitRecord.ts`) and waits for the log's flush (that is the deletion: it drops the thread
 *   from every index, and no recovery writes a line of it back), then removes the thread file and
 *   flushes the directory. A file a crash between the two left is removed by the next store to
 *   open, or by the checkpoint sealing the tombstone (`fileWrites.ts`, `finishDeletion`); until
 *   then it is listed nowhere, though `get` and `create` of its id see it. A delete whose
 *   tombstone cannot be logged removes nothing. The
 *   log's records hold copies of the thread's lines: about ten seconds after a delete (once for
 *   all the deletes meanwhile), or at `close`, the store seals the log and checkpoints, which
 *   deletes them (a process killed first, or a checkpoint another process was running, leaves
 *   them to the next checkpoint).
 * - Concurrency: writes to a thread are serialized inside the process by a promise chain per
 *   thread, and across processes sharing `dir` by a lock file per thread in `dir/.locks`
 *   (`fileLock.ts`). Under both locks the writer re-reads the thread's version from the file before
 *   it decides between appending and `VersionConflictError`. Reads take no lock.
 * - Reads: up to `cacheSize` threads are cached with their derived state and revalidated by one
 *   `stat` (inode, creation time, size, mtime) per `get`; a file that grew is re-read from where the
 *   cache ends. A tombstone another process logged drops the thread from the cache once this one
 *   reads the log (a write or a listing), and closes the file this one kept open.
 * - Listing: from the index (`threadIndex.ts`), which every process keeps current by reading the
 *   records others add to the log; each thread listed costs one `stat` to check it against its
 *   file. Opening loads the index snapshot and replays the log after it: the thread files are
 *   read only to rebuild a missing or stale index (`indexRecovery.ts`). Pages (`after`) come in
 *   (`createdAt`, id) order.
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
    for (const dir of [config.dir, config.indexDir, config.lockDir]) mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw new SystemError(`cannot create the thread directory ${config.dir}`, { cause: error });
  }
  sweepDeadOwners(config.lockDir);
  const locks = createLockOwner(config.lockDir, { staleMs: config.staleLockMs, timeoutMs: config.lockTimeoutMs });
  const threadLocks = new ThreadLocks(locks, { idleMs: LEASE_IDLE_MS, maxHoldMs: LEASE_MAX_MS, maxLeases: MAX_LEASES });
  const threads = new ThreadFiles(config.dir, config.cacheSize);
  let checkpoints: Promise<void> = Promise.resolve();
  let closed = false;
  /** The checkpoint a delete scheduled (see `ERASE_AFTER_MS`), while it waits. */
  let eraseTimer: NodeJS.Timeout | undefined;

  const recovery = { config, threads, locks, threadLocks };
  // The log calls back only once the store is open (recovery replays into its own index).
  let opened: FileStoreParts | undefined;
  const { index, log, rebuilt } = await openIndex(
    recovery,
    {
      dir: config.indexDir,
      fsync: config.fsync,
      locks,
      rotateBytes: config.checkpointBytes,
      onRotated: () => {
        const open = opened;
        if (open !== undefined) checkpoints = checkpoints.then(() => checkpoint(open)).catch(() => undefined);
      },
      onGap: () => {
        if (opened !== undefined) mergeSnapshot(opened);
      },
    },
    (records: readonly CommitRecord[]) => {
      if (opened === undefined) return;
      applyRecords(opened.index, records);
      // Another store deleted these threads: what this one kept of them goes too.
      for (const record of records) {
        const stem = record.deleted === true ? encodeThreadId(record.entry.id) : undefined;
        if (stem !== undefined) threads.forget(record.entry.id, threads.fileOf(stem));
      }
    },
  );
  const parts: FileStoreParts = { ...recovery, index, log };
  let fenced = false;
  options.fence?.addEventListener('abort', () => {
    fenced = closed = true;
    threadLocks.abandon();
    clearTimeout(eraseTimer);
    eraseTimer = undefined;
  }, { once: true });
  if (rebuilt !== undefined) config.onIndexRebuilt(rebuilt);
  opened = parts;
  let savedChanges = parts.index.changes;

  /** Seals the log's newest segment and checkpoints, which deletes the sealed segments. */
  function erase(): Promise<void> {
    checkpoints = checkpoints.then(async () => {
      await parts.log.rotate();
      await checkpoint(parts);
    }).catch(() => undefined);
    return checkpoints;
  }

  function eraseSoon(): void {
    if (eraseTimer !== undefined) return;
    eraseTimer = setTimeout(() => {
      eraseTimer = undefined;
      void erase();
    }, ERASE_AFTER_MS).unref();
  }

  function checkOpen(): void {
    if (closed) throw new SystemError(`the file store at ${config.dir} is closed`);
  }

  return {
    async create(thread: Thread): Promise<Thread> {
      checkOpen();
      return createThread(parts, thread);
    },

    async append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread> {
      checkOpen();
      return appendToThread(parts, id, expectedVersion, events);
    },

    async get(id: string): Promise<Thread | undefined> {
      checkOpen();
      const stem = encodeThreadId(id);
      if (stem === undefined) return undefined;
      const file = threads.fileOf(stem);
      const content = threads.load(id, file, true);
      return content === undefined ? undefined : checkCommitted(parts, id, file, content)?.thread;
    },

    async delete(id: string, expectedVersion: number): Promise<boolean> {
      checkOpen();
      const deleted = await deleteThread(parts, id, expectedVersion);
      if (deleted) eraseSoon();
      return deleted;
    },

    async list(listOptions?: ListOptions): Promise<ThreadSummary[]> {
      checkOpen();
      return listThreads(parts, parseListOptions(listOptions));
    },

    async ready(): Promise<void> {
      checkOpen();
      // Cheap: the permission and the file system's state, no write (a read-only remount shows as EROFS).
      for (const dir of [config.dir, config.indexDir, config.lockDir]) {
        try {
          await access(dir, constants.W_OK);
        } catch (error) {
          throw new SystemError(`the data directory ${dir} is not writable`, { cause: error });
        }
      }
      let free: number;
      try {
        const { bavail, bsize } = await statfs(config.dir);
        free = bavail * bsize;
      } catch (error) {
        throw new SystemError(`cannot read the free space of the data directory ${config.dir}`, { cause: error });
      }
      if (free < MIN_FREE_BYTES) throw new SystemError(`the disk of the data directory ${config.dir} is full (${free} bytes free)`);
    },

    async close(): Promise<void> {
      if (fenced) {
        // The directory is another process's now: only this process's handles go.
        fenced = false;
        await parts.log.close();
        threads.cache.clear();
        threads.close();
        return;
      }
      if (closed) return;
      closed = true;
      await threadLocks.close();
      if (eraseTimer !== undefined) {
        clearTimeout(eraseTimer);
        eraseTimer = undefined;
        await erase();
        await threadLocks.close(); // the leases the checkpoint took
      }
      await parts.log.close();
      await checkpoints;
      // Saves the index, so the next start reads the snapshot and little or no log.
      if (parts.index.changes !== savedChanges) {
        await writeSnapshot(config.indexDir, parts.index, parts.log.position, { fsync: config.fsync, locks });
        savedChanges = parts.index.changes;
      }
      locks.dispose();
      threads.cache.clear();
      threads.close();
    },
  };
}

/**
 * Segments this process had not read were deleted: their records are in the snapshot, which is
 * merged in (newest version wins).
 */
function mergeSnapshot(parts: FileStoreParts): void {
  const snapshot = new ThreadIndex();
  loadSnapshot(parts.config.indexDir, snapshot);
  for (const entry of snapshot.entries()) parts.index.apply(entry);
  parts.index.noteDirMtime(snapshot.dirMtimeMs);
}
