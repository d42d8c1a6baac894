import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { createLockOwner } from '../store/fileLock.js';

/** Options of {@link claimDir}. */
export interface DirClaimOptions {
  /** A claim of another host's process is broken once its lock is this old. @default never */
  readonly staleMs?: number;
}

const DIR_LOCK = 'serve';

/**
 * Takes the data directory for this process: the runtime's start-up recovery takes every running
 * thread for one a dead process left behind, so a second `serve` on the directory would take over
 * the threads the first is running (and ask a human whether its tool calls in progress took
 * effect). The lock is broken when its holder is a dead process of this host; one of another host
 * holds until it is removed.
 */
export function claimDir(dir: string, options: DirClaimOptions = {}): () => void {
  const owner = createLockOwner(dir, { staleMs: options.staleMs ?? Number.POSITIVE_INFINITY, timeoutMs: 0 });
  const held = owner.tryAcquire(DIR_LOCK);
  if (held === undefined) {
    owner.dispose();
    const lockFile = join(dir, `${DIR_LOCK}.lock`);
    throw new ConfigError(`${dir} is in use by another switchyard serve (${holderOf(lockFile)}): stop it or pass another --dir (if it no longer runs, delete ${lockFile})`);
  }
  return () => {
    held();
    owner.dispose();
  };
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
