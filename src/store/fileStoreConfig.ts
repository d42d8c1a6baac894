import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError } from '../errors.js';

/** Options of `createFileStore`. */
export interface FileStoreOptions {
  /**
   * The directory holding one file per thread; created if missing. Any number of processes may
   * share it.
   * @default join(process.cwd(), '.switchyard', 'threads')
   */
  dir?: string | undefined;
  /**
   * Flush every write to the disk before it resolves, so a committed event survives a power loss
   * (not only a process crash). Concurrent writes share one flush of the commit log. Turn off only
   * for throwaway data.
   * @default true
   */
  fsync?: boolean | undefined;
  /**
   * Called when a listing meets a thread file it cannot read (invalid content before the last
   * line, events that fail validation, or fewer events than the store committed: lines lost
   * behind its back), or a rebuild of the index does; a rebuild reports too, and skips, an entry
   * named like a thread file that cannot be read as one (a directory, a named pipe, a link that
   * loops, no permission), naming it and the cause. The thread is left out of listings; `get` on
   * it throws a `SystemError`. A rebuild also reports each thread the index knew whose file is gone
   * (removed behind the store's back), naming its agent and status (the first 20; the last of them
   * says how many more): `get` finds no such thread.
   * @default does nothing
   */
  onCorrupt?: ((id: string, error: Error) => void) | undefined;
  /**
   * Called when opening had to rebuild the index from the thread files (reading every one of
   * them), with why: `'missing'` (a directory from before the index, or its index was deleted),
   * `'unusable'` (damaged, or another format), `'stale'` (thread files were added or removed
   * without the index knowing). Opening a directory whose index is valid reads no thread file.
   * @default does nothing
   */
  onIndexRebuilt?: ((reason: 'missing' | 'unusable' | 'stale') => void) | undefined;
  /**
   * Once aborted, the store writes nothing more to its directory (another process holds it now,
   * as `switchyard serve`'s claim says): every call fails as after `close()`, a pending checkpoint
   * is dropped, and `close()` saves no index and releases no lock file there, only this process's
   * file handles.
   * @default never
   */
  fence?: AbortSignal | undefined;
  /**
   * How many threads (with their events and derived state) this store keeps in memory, least
   * recently used dropped first. The index of summaries for `list` covers every thread regardless.
   * @default 1000
   */
  cacheSize?: number | undefined;
  /**
   * A thread's lock file older than this is presumed abandoned and broken (a lock whose process is
   * dead on this host is broken at once).
   * @default 10_000
   */
  staleLockMs?: number | undefined;
  /**
   * How long a write waits for another process's lock before it fails with a `SystemError`.
   * @default 30_000
   */
  lockTimeoutMs?: number | undefined;
  /**
   * Size of a commit log segment: past it the log starts a new segment and a checkpoint flushes the
   * thread files the older segments wrote, saves the index and deletes them. Larger means fewer
   * flushes of thread files and a longer log to read after a crash.
   * @default 64 MiB
   */
  checkpointBytes?: number | undefined;
  /**
   * Stamps the creation time of threads created without events (their summary's `createdAt`).
   * @default systemClock
   */
  clock?: Clock | undefined;
}

/** {@link FileStoreOptions} with every default applied, checked once at construction. */
export interface FileStoreConfig {
  readonly dir: string;
  readonly fsync: boolean;
  readonly onCorrupt: (id: string, error: Error) => void;
  readonly onIndexRebuilt: (reason: 'missing' | 'unusable' | 'stale') => void;
  readonly cacheSize: number;
  readonly staleLockMs: number;
  readonly lockTimeoutMs: number;
  readonly checkpointBytes: number;
  readonly clock: Clock;
  /** The index directory (commit log segments and the snapshot). */
  readonly indexDir: string;
  /** The lock directory. */
  readonly lockDir: string;
}

/** Subdirectories of the thread directory (names no thread file can have). */
export const INDEX_DIR = '.index';
export const LOCK_DIR = '.locks';

export function normalizeOptions(options: FileStoreOptions): FileStoreConfig {
  const {
    dir = join(process.cwd(), '.switchyard', 'threads'),
    fsync = true,
    onCorrupt = () => {},
    onIndexRebuilt = () => {},
    cacheSize = 1000,
    staleLockMs = 10_000,
    lockTimeoutMs = 30_000,
    checkpointBytes = 64 << 20,
    clock = systemClock,
  } = options;
  for (const [name, value] of [
    ['cacheSize', cacheSize],
    ['staleLockMs', staleLockMs],
    ['lockTimeoutMs', lockTimeoutMs],
    ['checkpointBytes', checkpointBytes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError(`file store ${name} must be a non-negative integer`);
  }
  return { dir, fsync, onCorrupt, onIndexRebuilt, cacheSize, staleLockMs, lockTimeoutMs, checkpointBytes, clock, indexDir: join(dir, INDEX_DIR), lockDir: join(dir, LOCK_DIR) };
}
