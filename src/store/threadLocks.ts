import type { LockOwner, LockRelease } from './fileLock.js';
import { SystemError } from '../errors.js';
import { createKeyedMutex } from './keyedMutex.js';

/** What a writer learns from taking a thread's lock. */
export interface ThreadLock {
  /** Taking it broke a lock another owner left (that owner may have died mid-write). */
  readonly brokeStale: boolean;
  /**
   * The lock was held without a break since this store's last write to the thread: no one else
   * can have written the thread file meanwhile, so what this store cached of it is current.
   */
  readonly continued: boolean;
}

interface Lease {
  readonly release: LockRelease;
  /** When it was taken, by `performance.now()`... */
  readonly since: number;
  /**
   * ... and by the wall clock, which other processes judge the lock stale by (against its ctime):
   * a machine suspended and resumed finds its monotonic clock barely moved, not its wall clock.
   */
  readonly sinceWall: number;
  /** When the last write under it ended; undefined while a write holds it. */
  idleSince: number | undefined;
}

/** Options of {@link ThreadLocks}. */
export interface ThreadLocksOptions {
  /** A thread's lock file is kept about this long (up to twice) after a write, for its next write. */
  readonly idleMs: number;
  /** A lock file is released after this long even if writes keep coming (far below stale). */
  readonly maxHoldMs: number;
  /**
   * Leases kept at most (each is a hard link to the owner file, and a file system allows only so
   * many: 65,000 on ext4); past it the longest idle ones end.
   */
  readonly maxLeases: number;
}

/**
 * The file store's thread locks: a promise chain per thread inside the process, then the thread's
 * lock file (shared with other processes). A lock file is kept a short while after a write (a
 * lease): the steps of a run write one after the other, and each write after the first then costs
 * no lock-file system calls and no `stat` of the thread file. Another process that wants the
 * thread waits at most that long longer.
 */
export class ThreadLocks {
  readonly #mutex = createKeyedMutex();
  readonly #leases = new Map<string, Lease>();
  #sweeper: NodeJS.Timeout | undefined;
  /** The directory is another process's now (see {@link abandon}). */
  #abandoned = false;

  constructor(
    readonly locks: LockOwner,
    readonly options: ThreadLocksOptions,
  ) {}

  /** Runs `work` holding thread `id`'s lock (`stem`: its lock file's name). */
  run<T>(id: string, stem: string, work: (lock: ThreadLock) => Promise<T>): Promise<T> {
    return this.#mutex.run(id, async () => {
      if (this.#abandoned) throw new SystemError('the thread locks were abandoned: the directory is another process\'s now');
      let lease = this.#leases.get(stem);
      if (lease !== undefined && !this.#fresh(lease)) {
        this.#end(stem, lease);
        lease = undefined;
      }
      const continued = lease !== undefined;
      if (lease === undefined) {
        lease = { release: await this.locks.acquire(stem), since: performance.now(), sinceWall: Date.now(), idleSince: undefined };
        this.#leases.set(stem, lease);
      }
      lease.idleSince = undefined;
      const held = lease;
      try {
        return await work({ brokeStale: !continued && held.release.brokeStale, continued });
      } finally {
        if (this.#abandoned) this.#leases.delete(stem);
        else if (this.options.idleMs <= 0) this.#end(stem, held);
        else {
          held.idleSince = performance.now();
          this.#sweeper ??= setInterval(() => this.#sweep(), this.options.idleMs).unref();
          if (this.#leases.size > this.options.maxLeases) this.#endIdlest();
        }
      }
    });
  }

  /**
   * Whether `lease` was taken less than `maxHoldMs` ago by both clocks, so far below the stale
   * time that no one can have broken its lock meanwhile (a frozen process finds it older).
   */
  #fresh(lease: Lease): boolean {
    const { maxHoldMs } = this.options;
    return performance.now() - lease.since <= maxHoldMs && Date.now() - lease.sinceWall <= maxHoldMs;
  }

  /** Releases the leases idle for `idleMs`. */
  #sweep(): void {
    const now = performance.now();
    for (const [stem, lease] of this.#leases) {
      if (lease.idleSince !== undefined && now - lease.idleSince >= this.options.idleMs) this.#end(stem, lease);
    }
    if (this.#leases.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** Ends idle leases, oldest first (the map keeps taking order), down to the limit. */
  #endIdlest(): void {
    for (const [stem, lease] of this.#leases) {
      if (this.#leases.size <= this.options.maxLeases) return;
      if (lease.idleSince !== undefined) this.#end(stem, lease);
    }
  }

  #end(stem: string, lease: Lease): void {
    if (this.#leases.get(stem) === lease) this.#leases.delete(stem);
    lease.release();
  }

  /**
   * The directory is another process's now (the store is fenced): no lock file is taken or
   * released any more, not even a lease's when it would have ended (the sweep stops); the leases
   * are forgotten, their files left to the stale-lock check of whoever comes next.
   */
  abandon(): void {
    this.#abandoned = true;
    this.#leases.clear();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Waits for the work started so far, then releases every lock file. */
  async close(): Promise<void> {
    await this.#mutex.idle();
    for (const [stem, lease] of [...this.#leases]) this.#end(stem, lease);
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
