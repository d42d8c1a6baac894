import { readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { createLockOwner } from '../store/fileLock.js';

/** Options of {@link claimDir}. */
export interface DirClaimOptions {
  /**
   * A claim not refreshed for this long is broken (its holder died on another host, or froze).
   * @default 30 s
   */
  readonly staleMs?: number;
  /** How often the holder refreshes its claim. @default 5 s */
  readonly heartbeatMs?: number;
}

const DIR_LOCK = 'serve';

/**
 * Takes the data directory for this process: the runtime's start-up recovery takes every running
 * thread for one a dead process left behind, so a second `serve` on the directory would take over
 * the threads the first is running (and ask a human whether its tool calls in progress took
 * effect). The claim is a lease: its holder refreshes the lock's time every `heartbeatMs`, and a
 * lock not refreshed for `staleMs` is broken, so a directory whose serve died on another host (a
 * volume moved to another machine) is taken over after that; one whose holder was a process of
 * this host that is gone, at once.
 */
export function claimDir(dir: string, options: DirClaimOptions = {}): () => void {
  const { staleMs = 30_000, heartbeatMs = 5_000 } = options;
  const owner = createLockOwner(dir, { staleMs, timeoutMs: 0 });
  const held = owner.tryAcquire(DIR_LOCK);
  const lockFile = join(dir, `${DIR_LOCK}.lock`);
  if (held === undefined) {
    owner.dispose();
    const wait = `if it no longer runs, it is taken over ${Math.ceil(staleMs / 1000)} s after its last heartbeat, or delete ${lockFile}`;
    throw new ConfigError(`${dir} is in use by another switchyard serve (${holderOf(lockFile)}): stop it or pass another --dir (${wait})`);
  }
  // Setting the times moves the lock's ctime, which is what the stale check reads.
  const heartbeat = setInterval(() => refresh(lockFile), heartbeatMs);
  heartbeat.unref();
  return () => {
    clearInterval(heartbeat);
    held();
    owner.dispose();
  };
}

/** Marks the lock as refreshed now (a lock broken meanwhile is someone else's: left alone). */
function refresh(lockFile: string): void {
  try {
    const now = new Date();
    utimesSync(lockFile, now, now);
  } catch {
    // Gone (released, or broken as stale): the next serve's own claim decides.
  }
}

/** Who holds the lock, as its owner file says. */
function holderOf(lockFile: string): string {
  try {
    const info = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown; host?: unknown };
    return `pid ${String(info.pid)} on ${String(info.host)}`;
  } catch {
    return 'pid unknown';
  }
}
