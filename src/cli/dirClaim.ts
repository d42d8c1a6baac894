import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError, messageOf, SystemError } from '../errors.js';
import { createLockOwner, lockCopiedFrom, sweepDeadOwners, type LockRelease } from '../store/fileLock.js';
import { shellQuote } from './format.js';

/** Options of {@link claimDir}. */
export interface DirClaimOptions {
  /**
   * A claim not refreshed for this long is broken (its holder died on another host, or froze).
   * @default 30 s
   */
  readonly staleMs?: number;
  /** How often the holder refreshes its claim. @default 5 s */
  readonly heartbeatMs?: number;
  /**
   * Called once, from a heartbeat, when the claim turns out lost: this process froze for longer
   * than `staleMs` (SIGSTOP, a paused VM, a long pause of the collector) and another serve broke
   * the claim as stale meanwhile, or someone removed the lock. `holder` says who holds it now (as
   * `pid <pid> on <host>`, or that no one does). The heartbeat stops; the holder must stop writing
   * to the directory. @default none (the loss goes unnoticed)
   */
  readonly onLost?: (holder: string) => void;
  /**
   * Told at info when the directory's lock claims another directory (it was copied with the
   * directory, whose serve may still run): not a claim on this one, so it is taken. @default none
   */
  readonly logger?: { info(fields: object, message: string): void };
}

const DIR_LOCK = 'serve';

/**
 * Takes the data directory for this process: the runtime's start-up recovery takes every running
 * thread for one a dead process left behind, so a second `serve` on the directory would take over
 * the threads the first is running (and ask a human whether its tool calls in progress took
 * effect). The claim is a lease: its holder refreshes the lock's time every `heartbeatMs`, and a
 * lock not refreshed for `staleMs` is broken, so a directory whose serve died on another host (a
 * volume moved to another machine) is taken over after that; one whose holder was a process of
 * this host that is gone (or a zombie its parent has not reaped yet), at once. A holder that froze
 * for longer than `staleMs` may find its claim taken over when it resumes: its heartbeat then
 * checks the lock is still its own (never refreshing another's) and reports the loss to `onLost`. Throws a {@link ConfigError} for a
 * directory another serve holds, or that this user may not write (see {@link unusable}).
 */
export function claimDir(dir: string, options: DirClaimOptions = {}): () => void {
  const { staleMs = 30_000, heartbeatMs = 5_000 } = options;
  const owner = createLockOwner(dir, { staleMs, timeoutMs: 0 });
  const lockFile = join(dir, `${DIR_LOCK}.lock`);
  let held: ReturnType<typeof owner.tryAcquire>;
  let copiedFrom: string | undefined;
  try {
    // The owner files serves killed (or stopped with a call still running) left: they pile up otherwise.
    sweepDeadOwners(dir);
    copiedFrom = lockCopiedFrom(lockFile);
    held = owner.tryAcquire(DIR_LOCK);
  } catch (error) {
    owner.dispose();
    throw unusable(dir, error);
  }
  if (held === undefined) {
    owner.dispose();
    throw new ConfigError(`${dir} is in use by another switchyard serve (${holderOf(lockFile)}): stop it or pass another --dir (${takeOverHint(lockFile, staleMs)})`);
  }
  if (copiedFrom !== undefined && held.brokeStale) {
    options.logger?.info({ dir, claims: copiedFrom }, `the lock ${lockFile} claims ${copiedFrom}, not ${dir}: it was copied with the directory, so it holds nothing here; ${dir} is claimed by this serve`);
  }
  const claimed = held;
  const heartbeat = setInterval(() => {
    if (refresh(claimed)) return;
    clearInterval(heartbeat); // lost for good: a claim broken as stale is never ours again
    options.onLost?.(existsSync(lockFile) ? holderOf(lockFile) : 'no one (the lock was broken as stale or removed)');
  }, heartbeatMs);
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    held();
    owner.dispose();
  };
}

/**
 * A warning for a data directory others may enter (one an earlier version made 0755, or made by
 * hand): what its threads recorded is theirs to read. `undefined` when only its user (and group) may.
 */
export function openToOthers(dir: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(dir).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o007) === 0) return undefined;
  return `the data directory ${dir} is open to other users (mode ${mode.toString(8)}): threads hold inputs, tool results and answers; chmod -R go-rwx ${shellQuote(dir)}`;
}

/** Why the file system refuses a directory to this user, by error code. */
const DENIED: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
};

/**
 * The error to report for a store under `dir` that opened on directories it may not write, or
 * could not make them: a {@link ConfigError} as for the data directory itself when the file system
 * refuses this user, naming the directory it refused (its system call's path) when the error says
 * it; any other error as it is.
 */
export function unwritableStoreDir(dir: string, error: unknown): unknown {
  const code = errnoFieldOf(error, 'code');
  return code !== undefined && DENIED[code] !== undefined ? unusable(errnoFieldOf(error, 'path') ?? dir, error) : error;
}

/**
 * The error to report for a data directory that could not be written: a {@link ConfigError}
 * (another `--dir` is the fix) when the file system refuses this user, or the path is a file,
 * naming the directory and the cause; else a {@link SystemError} naming both.
 */
function unusable(dir: string, error: unknown): ConfigError | SystemError {
  const code = errnoFieldOf(error, 'code');
  const denied = code === undefined ? undefined : DENIED[code];
  if (denied !== undefined) return new ConfigError(`cannot write the data directory ${dir}: ${denied} (${code}); pass --dir a directory this user can write`, { cause: error });
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    return new ConfigError(isFile(dir) ? `--dir ${dir} is a file, not a directory` : `--dir ${dir}: a folder on its path is a file`, { cause: error });
  }
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  return new SystemError(`cannot use the data directory ${dir}: ${messageOf(cause)}`, { cause: error });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * A string field of a system call's error (`code`: its errno code, `EACCES`...; `path`: the path it
 * failed on), in an error or the errors that caused it.
 */
function errnoFieldOf(error: unknown, field: 'code' | 'path'): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const value = (e as NodeJS.ErrnoException)[field];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * Refreshes the claim; `false` when it is no longer ours (a lock broken meanwhile is someone
 * else's: left alone). A refresh the file system refuses (a disk error) is no proof of a loss:
 * the next heartbeat tries again.
 */
function refresh(held: LockRelease): boolean {
  try {
    return held.refresh();
  } catch {
    return true;
  }
}

/** What the lock's owner file says of its holder; `undefined` when it cannot be read. */
function ownerOf(lockFile: string): { pid?: unknown; host?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown; host?: unknown };
  } catch {
    return undefined;
  }
}

/** Who holds the lock, as its owner file says. */
function holderOf(lockFile: string): string {
  const owner = ownerOf(lockFile);
  return owner === undefined ? 'pid unknown' : `pid ${String(owner.pid)} on ${String(owner.host)}`;
}

/**
 * When a held claim is taken over: a holder of this host as soon as its process has exited (or
 * froze past the stale time); one of another host, whose process cannot be seen from here, only
 * once its heartbeat stopped for the stale time.
 */
function takeOverHint(lockFile: string, staleMs: number): string {
  const owner = ownerOf(lockFile);
  const seconds = Math.ceil(staleMs / 1000);
  if (owner?.host === hostname() && typeof owner.pid === 'number') {
    return `it is taken over as soon as pid ${owner.pid} has exited, or has not refreshed its claim for ${seconds} s`;
  }
  return `if it no longer runs, it is taken over ${seconds} s after its last heartbeat, or delete ${lockFile}`;
}
