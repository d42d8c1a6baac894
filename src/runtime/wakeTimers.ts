import { MAX_TIMER_MS, type Clock } from '../clock.js';

/**
 * One wake-up per sleeping (or long backing-off) thread whose actor was stopped for the wait: at the
 * recorded deadline `wake` moves the thread again. Arming a thread again replaces its timer; nothing
 * survives the process (recover() re-arms sleeping and backing-off threads from their logs).
 */
export class WakeTimers {
  readonly #timers = new Map<string, unknown>();

  constructor(
    private readonly clock: Clock,
    private readonly wake: (threadId: string) => void,
  ) {}

  /** Wakes `threadId` at `at` (epoch ms). */
  arm(threadId: string, at: number): void {
    this.cancel(threadId);
    const delay = Math.max(0, at - this.clock.now());
    const id = this.clock.setTimeout(() => {
      this.#timers.delete(threadId);
      if (delay > MAX_TIMER_MS) this.arm(threadId, at);
      else this.wake(threadId);
    }, Math.min(delay, MAX_TIMER_MS));
    this.#timers.set(threadId, id);
  }

  /** Forgets `threadId`'s wake-up, if any. */
  cancel(threadId: string): void {
    const id = this.#timers.get(threadId);
    if (id === undefined) return;
    this.#timers.delete(threadId);
    this.clock.clearTimeout(id);
  }

  /** Whether `threadId` has a wake-up armed. */
  has(threadId: string): boolean {
    return this.#timers.has(threadId);
  }

  /** Threads with a wake-up armed. */
  get size(): number {
    return this.#timers.size;
  }

  /** Forgets every wake-up. */
  clear(): void {
    for (const id of this.#timers.values()) this.clock.clearTimeout(id);
    this.#timers.clear();
  }
}
