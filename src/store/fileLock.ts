import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, futimesSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SystemError } from '../errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './fileIo.js';

/** Options of {@link createLockOwner}. */
export interface FileLockOptions {
  /** A lock held longer than this is broken (its holder is presumed dead or stuck). */
  readonly staleMs: number;
  /** Give up with a `SystemError` after waiting this long for a lock. */
  readonly timeoutMs: number;
}

/**
 * Releases a lock. `brokeStale`: taking it broke a lock another owner left behind (that owner may
 * have died in the middle of what the lock protected).
 */
export interface LockRelease {
  (): void;
  readonly brokeStale: boolean;
  /**
   * Marks the lock as taken now, so that it does not turn stale while its holder runs (a lease);
   * it also refreshes every other lock of this owner (they are links to one owner file). Answers
   * `false`, and touches nothing, when the lock is no longer this owner's: broken as stale (its
   * holder froze for longer than `staleMs`) or removed, and maybe taken by another owner since.
   */
  refresh(): boolean;
}

/** One holder of file locks in a directory (one per store instance). */
export interface LockOwner {
  /** Takes the lock named `name`; resolves to the function that releases it. */
  acquire(name: string): Promise<LockRelease>;
  /** Takes the lock named `name` if no one holds it (breaking a stale one); `undefined` if held. */
  tryAcquire(name: string): LockRelease | undefined;
  /** Removes this owner's file. Call when no lock is held any more. */
  dispose(): void;
}

/** What an owner file (and so every lock it holds) says: enough to tell a dead owner from a busy one. */
interface OwnerInfo {
  pid: number;
  host: string;
  token: string;
  /**
   * The lock directory it was made in: its path, and its device and inode, which tell it from a
   * copy (a lock copied with the directory claims the original, not the copy). Absent from owner
   * files of older versions.
   */
  dir?: string;
  dev?: number;
  ino?: number;
}

/** A directory's identity on this host. */
interface DirId {
  readonly dev: number;
  readonly ino: number;
}

/** The identity of `dir`, `undefined` when it cannot be had (gone): then nothing is judged by it. */
function dirIdOf(dir: string): DirId | undefined {
  try {
    const { dev, ino } = statSync(dir);
    return { dev, ino };
  } catch {
    return undefined;
  }
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

/**
 * Whether process `pid` of this host still runs. `kill(pid, 0)` answers for a zombie too: a process
 * that ended (a SIGKILL included) and that its parent has not reaped yet. A serve started in the
 * background by a script that exited has init for parent, which may reap it only a while later
 * (half a second measured), and a serve restarted at once must not find its directory taken.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (code(error) !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/**
 * Whether `/proc/<pid>/stat` shows an ended process: state `Z` (zombie) or `X` (dead), with no
 * thread left running (a thread group leader that ended alone shows `Z` while its other threads
 * run). `false` where there is no /proc (not Linux) or the pid went away meanwhile.
 */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // Fields after the command name (in parentheses, which may hold spaces): state is the first,
  // num_threads the eighteenth.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (fields[0] === 'Z' || fields[0] === 'X') && Number(fields[17]) <= 1;
}

/** The token an owner file's `content` names, if it can be read. */
function tokenOf(content: string): string | undefined {
  try {
    const token = (JSON.parse(content) as Partial<OwnerInfo>).token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The directory an owner file of this host found in directory `here` says it was made in, when
 * that is another directory (the file was copied here with the directory); `undefined` otherwise
 * (the same directory, another host, or an owner file without the field).
 */
function madeElsewhere(info: Partial<OwnerInfo>, here: DirId | undefined): string | undefined {
  if (info.host !== HOST || here === undefined || typeof info.dev !== 'number' || typeof info.ino !== 'number') return undefined;
  return info.dev === here.dev && info.ino === here.ino ? undefined : String(info.dir);
}

/**
 * True when `content` names an owner on this host that no longer runs, or one that ran in another
 * directory than `here` (its lock directory: the owner file, or a lock linked to it, was copied).
 */
function isDeadOwner(content: string, here: DirId | undefined): boolean {
  let info: Partial<OwnerInfo>;
  try {
    info = JSON.parse(content) as Partial<OwnerInfo>;
  } catch {
    return false; // unreadable: judged by age alone
  }
  if (info.host !== HOST || typeof info.pid !== 'number') return false;
  if (madeElsewhere(info, here) !== undefined) return true;
  return info.pid === process.pid ? !liveTokens.has(String(info.token)) : !isAlive(info.pid);
}

/**
 * The directory a lock file (or owner file) at `file` claims, when that is not the directory it
 * is in: it was copied there with the directory it claims, and holds nothing here. `undefined`
 * when it claims its own directory, cannot be read, or does not say (written by an older version).
 */
export function lockCopiedFrom(file: string): string | undefined {
  try {
    return madeElsewhere(JSON.parse(readFileSync(file, 'utf8')) as Partial<OwnerInfo>, dirIdOf(dirname(file)));
  } catch {
    return undefined;
  }
}

/**
 * Exclusive locks shared by every process using `dir` (and every machine sharing it), one lock file
 * per name.
 *
 * Each owner writes one owner file (`owner.<token>`: its pid, host, a random token, and the
 * directory's path, device and inode) once; taking
 * a lock is a hard link from the owner file to `<name>.lock`, which fails with EEXIST while someone
 * holds it, and releasing it is an unlink. A link is as atomic and exclusive as an O_EXCL create
 * but allocates no inode, which on some file systems makes it about fifty times cheaper (1 ms vs
 * 20 µs measured on ext4 in a VM). It is also the classic lock that works over NFS.
 *
 * A lock is stale, and broken, when its owner ran on this host and ended (its pid is gone, or a
 * zombie), or ran in another directory (the lock was copied with the directory), or when it has been held longer than `staleMs` (judged by the ctime of the link, which a
 * link or unlink updates). Breaking renames the lock aside first and checks it moved the very lock
 * it judged stale, so two processes breaking the same stale lock do not also remove a fresh one.
 * Waits are short and randomized (about 1 ms, doubling to 32 ms) until `timeoutMs`.
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
      mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      const { dev, ino } = statSync(dir);
      writeFileSync(ownerFile, JSON.stringify({ ...info, dir: resolve(dir), dev, ino }), { flag: 'w', mode: PRIVATE_FILE_MODE });
      ownerIno = statSync(ownerFile).ino;
    } catch (error) {
      throw new SystemError(`cannot create lock owner file ${ownerFile}`, { cause: error });
    }
    liveTokens.add(info.token);
    return ownerIno;
  }

  /**
   * Refreshes the lock at `lockFile` if it is still the link to our owner file. The times are set
   * through a descriptor of the very file checked, so a lock taken over between the check and the
   * update is never touched; the token read back tells our file from a new one that reuses the
   * inode of ours (removed meanwhile).
   */
  function refresh(lockFile: string, ino: number): boolean {
    let fd: number;
    try {
      fd = openSync(lockFile, 'r');
    } catch (error) {
      if (code(error) === 'ENOENT') return false; // broken as stale, or removed
      throw new SystemError(`cannot refresh lock ${lockFile}`, { cause: error });
    }
    try {
      if (fstatSync(fd).ino !== ino || tokenOf(readFileSync(fd, 'utf8')) !== info.token) return false;
      const now = new Date();
      futimesSync(fd, now, now); // moves the ctime, which the stale check reads
      return true;
    } catch (error) {
      throw new SystemError(`cannot refresh lock ${lockFile}`, { cause: error });
    } finally {
      closeSync(fd);
    }
  }

  function release(lockFile: string, ino: number): void {
    try {
      // Only our own link: a lock broken as stale may belong to someone else by now.
      if (statSync(lockFile).ino === ino) unlinkSync(lockFile);
    } catch (error) {
      if (code(error) !== 'ENOENT') throw new SystemError(`cannot release lock ${lockFile}`, { cause: error });
    }
  }

  /**
   * Breaks the lock at `lockFile` if it is stale: `'broken'` when this call broke it, `'gone'` when
   * it went away meanwhile (both: try again at once), `'held'` when it is not stale.
   */
  function breakIfStale(lockFile: string): 'broken' | 'gone' | 'held' {
    let content: string;
    let ino: number;
    let ctimeMs: number;
    try {
      const stats = statSync(lockFile);
      content = readFileSync(lockFile, 'utf8');
      ino = stats.ino;
      ctimeMs = stats.ctimeMs;
    } catch (error) {
      if (code(error) === 'ENOENT') return 'gone'; // released meanwhile
      throw new SystemError(`cannot read lock ${lockFile}`, { cause: error });
    }
    if (!isDeadOwner(content, dirIdOf(dir)) && Date.now() - ctimeMs < options.staleMs) return 'held';
    const aside = `${lockFile}.${randomBytes(8).toString('hex')}.stale`;
    try {
      renameSync(lockFile, aside);
    } catch (error) {
      if (code(error) === 'ENOENT') return 'gone'; // someone else broke it
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
    return 'broken';
  }

  /** One try at the lock: its release, `'held'`, or `'again'` (the owner file had to be made again). */
  function attempt(lockFile: string, brokeStale: boolean): LockRelease | 'held' | 'again' {
    const ino = ensureOwnerFile();
    try {
      linkSync(ownerFile, lockFile);
      return Object.assign(() => release(lockFile, ino), { brokeStale, refresh: () => refresh(lockFile, ino) });
    } catch (error) {
      if (code(error) === 'ENOENT') {
        ownerIno = undefined; // the owner file or the directory was removed: make them again
        return 'again';
      }
      if (code(error) !== 'EEXIST') throw new SystemError(`cannot take lock ${lockFile}`, { cause: error });
      return 'held';
    }
  }

  return {
    tryAcquire(name: string): LockRelease | undefined {
      const lockFile = join(dir, `${name}${LOCK_SUFFIX}`);
      let broke = false;
      for (let tries = 0; tries < 3; tries++) {
        const taken = attempt(lockFile, broke);
        if (typeof taken === 'function') return taken;
        if (taken === 'again') continue;
        const outcome = breakIfStale(lockFile);
        if (outcome === 'held') return undefined;
        broke ||= outcome === 'broken';
      }
      return undefined;
    },

    async acquire(name: string): Promise<LockRelease> {
      const lockFile = join(dir, `${name}${LOCK_SUFFIX}`);
      const deadline = Date.now() + options.timeoutMs;
      let wait = 1;
      let broke = false;
      for (;;) {
        const taken = attempt(lockFile, broke);
        if (typeof taken === 'function') return taken;
        if (taken === 'again') continue;
        const outcome = breakIfStale(lockFile);
        broke ||= outcome === 'broken';
        if (outcome !== 'held') continue;
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
  const here = dirIdOf(dir);
  for (const name of names) {
    const file = join(dir, name);
    try {
      if (name.startsWith(OWNER_PREFIX) && isDeadOwner(readFileSync(file, 'utf8'), here)) unlinkSync(file);
      else if (name.endsWith('.stale') && Date.now() - statSync(file).ctimeMs > 60_000) unlinkSync(file);
    } catch {
      // removed by someone else meanwhile
    }
  }
}

/** A lock file found in a lock directory, and whether its owner is known to be dead. */
export interface HeldLock {
  /** The lock's name (what `acquire` was given). */
  readonly name: string;
  /** Its owner ran on this host and no longer runs, or ran in another directory (the lock was copied). */
  readonly dead: boolean;
}

/** The locks held in `dir` now (a lock may be released or taken right after). */
export function heldLocks(dir: string): HeldLock[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (code(error) === 'ENOENT') return [];
    throw new SystemError(`cannot read lock directory ${dir}`, { cause: error });
  }
  const held: HeldLock[] = [];
  const here = dirIdOf(dir);
  for (const name of names) {
    if (!name.endsWith(LOCK_SUFFIX)) continue;
    try {
      held.push({ name: name.slice(0, -LOCK_SUFFIX.length), dead: isDeadOwner(readFileSync(join(dir, name), 'utf8'), here) });
    } catch {
      // released meanwhile
    }
  }
  return held;
}
