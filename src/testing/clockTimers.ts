import type { SimulatedClock } from 'xstate';

/**
 * When the earliest timer armed on `clock` and not fired yet is due (epoch ms; it may be at or
 * before `clock.now()`, as a timer armed since the last move fires only at the next one), or
 * `undefined` when none is armed or they cannot be read.
 *
 * xstate's `SimulatedClock` offers no way to list its timers, so this reads its private
 * `timeouts` map (xstate 5: timer id -> `{ start, timeout, fn }`, due at `start + timeout`; see
 * `SimulatedClock.flushTimeouts`). Every shape is checked: an xstate that keeps its timers
 * otherwise makes this answer `undefined` (nothing known to be armed), never a wrong time.
 * test/testing/clockTimers.test.ts pins it to the xstate installed.
 */
export function nextTimerDue(clock: SimulatedClock): number | undefined {
  const timeouts: unknown = Reflect.get(clock, 'timeouts');
  if (!(timeouts instanceof Map)) return undefined;
  let due: number | undefined;
  for (const timer of timeouts.values() as IterableIterator<unknown>) {
    const { start, timeout } = (typeof timer === 'object' && timer !== null ? timer : {}) as { start?: unknown; timeout?: unknown };
    if (typeof start !== 'number' || typeof timeout !== 'number') return undefined;
    due = Math.min(due ?? Infinity, start + timeout);
  }
  return due;
}
