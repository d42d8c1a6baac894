import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SystemError } from '../errors.js';

/** Options of {@link createLockOwner}. */
export interface FileLockOptions {
  /** A lock held longer than this is broken (its holder is presumed dead or stuck). */
  readonly staleMs: number;
  /** Give up with a `SystemError` after waiting this long for a lock. */
  readonly timeoutMs: number;
}

/** One holder of file locks in a directory (one per store instance). */
export interface LockOwner {
  /** Takes the lock named `name`; resolves to the function that releases it. */
  acquire(name: string): Promise<() => void>;
  /** Removes this owner's file. Call when no lock is held any more. */
  dispose(): void;
}

/** What an owner file (and so every lock it holds) says: enough to tell a dead owner from a busy one. */
interface OwnerInfo {
  pid: number;
  host: string;
  token: string;
}

const HOST = hostname();
const OWNER_PREFIX = 'owner.';
const LOCK_SUFFIX = '.lock';
/**
 * Tokens of the owners alive in this process: a lock with our pid but another token was left by an
 * earlier process that had the same pid (containers often reuse pid 1).
 */
const liveTokens = new Set<string>();

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return code(error) === 'EPERM';
  }
}

/** True when `content` names an owner on this host that no longer runs. */
function isDeadOwner(content: string): boolean {
  let info: Partial<OwnerInfo>;
  try {
    info = JSON.parse(content) as Partial<OwnerInfo>;
  } catch {
    return false; // unreadable: judged by age alone
  }
  if (info.host !== HOST || typeof info.pid !== 'number') return false;
  return info.pid === process.pid ? !liveTokens.has(String(info.token)) : !isAlive(info.pid);
}

/**
 * Exclusive locks shared by every process using `dir` (and every machine sharing it), one lock file
 * per name.
 *
 * Each owner writes one owner file (`owner.<token>`: its pid, host and a random token) once; taking
 * a lock is a hard link from the owner file to `<name>.lock`, which fails with EEXIST while someone
 * holds it, and releasing it is an unlink. A link is as atomic and exclusive as an O_EXCL create
 * but allocates no inode, which on some file systems makes it about fifty times cheaper (1 ms vs
 * 20 µs measured on ext4 in a VM). It is also the classic lock that works over NFS.
 *
 * A lock is stale, and broken, when its owner runs on this host and its pid is dead, or when it has
 * been held longer than `staleMs` (judged by the ctime of the link, which a link or unlink
 * updates). Breaking renames the lock aside first and checks it moved the very lock it judged
 * stale, so two processes breaking the same stale lock do not also remove a fresh one. Waits are
 * short and randomized (about 1 ms, doubling to 32 ms) until `timeoutMs`.
 *
 * The file operations are synchronous on purpose: each is one small metadata system call, cheaper
 * than a round trip through libuv's thread pool.
 */
export function createLockOwner(dir: string, options: FileLockOptions): LockOwner {
  const info: OwnerInfo = { pid: process.pid, host: HOST, token: randomBytes(12).toString('hex') };
  const ownerFile = join(dir, `${OWNER_PREFIX}${info.token}`);
  let ownerIno: number | undefined;

  /** Creates the owner file (again, if someone removed it); answers its inode. */
  function ensureOwnerFile(): number {
    if (ownerIno !== undefined) return ownerIno;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(ownerFile, JSON.stringify(info), { flag: 'w' });
      ownerIno = statSync(ownerFile).ino;
    } catch (error) {
      throw new SystemError(`cannot create lock owner file ${ownerFile}`, { cause: error });
    }
    liveTokens.add(info.token);
    return ownerIno;
  }

  function release(lockFile: string, ino: number): void {
    try {
      // Only our own link: a lock broken as stale may belong to someone else by now.
      if (statSync(lockFile).ino === ino) unlinkSync(lockFile);
    } catch (error) {
      if (code(error) !== 'ENOENT') throw new SystemError(`cannot release lock ${lockFile}`, { cause: error });
    }
  }

  /** Breaks the lock at `lockFile` if it is stale; true when the caller should try again at once. */
  function breakIfStale(lockFile: string): boolean {
    let content: string;
    let ino: number;
    let ctimeMs: number;
    try {
      const stats = statSync(lockFile);
      content = readFileSync(lockFile, 'utf8');
      ino = stats.ino;
      ctimeMs = stats.ctimeMs;
    } catch (error) {
      if (code(error) === 'ENOENT') return true; // released meanwhile
      throw new SystemError(`cannot read lock ${lockFile}`, { cause: error });
    }
    if (!isDeadOwner(content) && Date.now() - ctimeMs < options.staleMs) return false;
    const aside = `${lockFile}.${randomBytes(8).toString('hex')}.stale`;
    try {
      renameSync(lockFile, aside);
    } catch (error) {
      if (code(error) === 'ENOENT') return true; // someone else broke it
      throw new SystemError(`cannot break stale lock ${lockFile}`, { cause: error });
    }
    try {
      if (statSync(aside).ino !== ino) {
        // We moved a lock taken after our check: put it back unless a newer one exists already.
        try {
          linkSync(aside, lockFile);
        } catch {
          // EEXIST: the moved lock's owner finds it gone at release and removes nothing.
        }
      }
    } finally {
      try {
        unlinkSync(aside);
      } catch {
        // already gone
      }
    }
    return true;
  }

  return {
    async acquire(name: string): Promise<() => void> {
      const lockFile = join(dir, `${name}${LOCK_SUFFIX}`);
      const deadline = Date.now() + options.timeoutMs;
      let wait = 1;
      for (;;) {
        const ino = ensureOwnerFile();
        try {
          linkSync(ownerFile, lockFile);
          return () => release(lockFile, ino);
        } catch (error) {
          if (code(error) === 'ENOENT') {
            ownerIno = undefined; // the owner file or the directory was removed: make them again
            continue;
          }
          if (code(error) !== 'EEXIST') throw new SystemError(`cannot take lock ${lockFile}`, { cause: error });
        }
        if (breakIfStale(lockFile)) continue;
        if (Date.now() >= deadline) {
          throw new SystemError(`timed out after ${options.timeoutMs} ms waiting for lock ${lockFile}`);
        }
        await delay(wait * (0.5 + Math.random()));
        wait = Math.min(wait * 2, 32);
      }
    },

    dispose(): void {
      liveTokens.delete(info.token);
      if (ownerIno === undefined) return;
      ownerIno = undefined;
      try {
        unlinkSync(ownerFile);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Removes what dead processes on this host left in a lock directory: their owner files and stray
 * files of interrupted lock breaks. Their lock files stay until someone needs the lock (and breaks
 * it then), so a live lock is never touched here.
 */
export function sweepDeadOwners(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (code(error) === 'ENOENT') return;
    throw new SystemError(`cannot read lock directory ${dir}`, { cause: error });
  }
  for (const name of names) {
    const file = join(dir, name);
    try {
      if (name.startsWith(OWNER_PREFIX) && isDeadOwner(readFileSync(file, 'utf8'))) unlinkSync(file);
      else if (name.endsWith('.stale') && Date.now() - statSync(file).ctimeMs > 60_000) unlinkSync(file);
    } catch {
      // removed by someone else meanwhile
    }
  }
}
