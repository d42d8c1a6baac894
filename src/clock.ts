/**
 * Time as the runtime sees it. Injected everywhere so tests can use a simulated clock
 * (xstate's `SimulatedClock` satisfies this interface).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The longest delay one timer holds (2^31 - 1 ms, 24.8 days); a longer wait is armed again in parts. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, timeout) => setTimeout(fn, timeout),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

let lastMs = Number.NaN;
let lastIso = '';

/** `new Date(ms).toISOString()`, the last one remembered: a busy runtime stamps many events within one millisecond. */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** Resolves after `ms` on `clock`, or rejects when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const id = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    function onAbort(): void {
      clock.clearTimeout(id);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `promise`, or what `late` returns (or a rejection with what it throws) once `ms` of real time have
 * passed without it settling: measured on the process's own timers, never on an injected clock, for
 * a grace a process gives before it stops (a drain), which a simulated clock nobody moves must not
 * hold up. The timer is cleared either way. The work itself goes on: this only stops the waiting.
 */
export function orAfter<T, L>(promise: Promise<T>, ms: number, late: () => L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<L>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `promise`, or a rejection (`it did not answer within <ms> ms`) once `ms` of real time have passed
 * without it settling (see {@link orAfter}).
 */
export function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  return orAfter(promise, ms, (): never => {
    throw new Error(`it did not answer within ${ms} ms`);
  });
}

/**
 * Lets a timer armed on a {@link Clock} keep no process alive (a chore in the background): the
 * system clock's timers have `unref`; a simulated clock's ids do not, and are left as they are.
 */
export function unrefTimer(id: unknown): void {
  (id as { unref?: () => void } | null | undefined)?.unref?.();
}
