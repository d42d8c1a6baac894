import { sameFile, type FileStamp } from './fileIo.js';
import type { ThreadFileContent } from './threadFile.js';

/** A thread as read from its file, with the stamp of the file it was read from. */
export interface CachedThread extends ThreadFileContent, FileStamp {}

/**
 * The file store's least-recently-used cache of threads (their events and derived state), so a
 * `get` of a thread that did not change costs one `stat`.
 */
export class ThreadCache {
  /** Least recently used first (a Map keeps insertion order). */
  readonly #entries = new Map<string, CachedThread>();

  constructor(readonly capacity: number) {}

  /** The cached thread, without changing its place in the order. */
  peek(id: string): CachedThread | undefined {
    return this.#entries.get(id);
  }

  /** Marks the thread as just used. */
  touch(id: string, entry: CachedThread): void {
    this.#entries.delete(id);
    this.#entries.set(id, entry);
  }

  /**
   * Records a thread read or written at `entry`'s stamp and answers the newest known copy: a copy
   * of the same file at a higher version is never replaced. `keep` makes it the most recently used
   * (adding it if missing); otherwise only a cached copy is updated in place.
   */
  remember(id: string, entry: CachedThread, keep: boolean): CachedThread {
    const current = this.#entries.get(id);
    if (current !== undefined && sameFile(current, entry) && current.state.version > entry.state.version) return current;
    if (current !== undefined && !keep) {
      this.#entries.set(id, entry); // in place: keeps its place in the order
    } else if (keep && this.capacity > 0) {
      this.touch(id, entry);
      for (const oldest of this.#entries.keys()) {
        if (this.#entries.size <= this.capacity) break;
        this.#entries.delete(oldest);
      }
    }
    return entry;
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  clear(): void {
    this.#entries.clear();
  }
}
