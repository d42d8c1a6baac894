import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { WakeTimers } from '../../src/runtime/wakeTimers.js';

describe('WakeTimers', () => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  const setup = () => {
    const clock = new SimulatedClock();
    clock.set(start);
    const woke: Array<[string, number]> = [];
    const timers = new WakeTimers(clock, (id) => woke.push([id, clock.now()]));
    return { clock, woke, timers };
  };

  it('wakes at the deadline, not a millisecond earlier, and a wait longer than a timer holds (24.8 days) too', () => {
    const { clock, woke, timers } = setup();
    const day = 86_400_000;
    timers.arm('short', start + 1_000);
    timers.arm('long', start + 40 * day);
    clock.increment(999);
    expect(woke).toEqual([]);
    clock.increment(1);
    expect(woke).toEqual([['short', start + 1_000]]);
    clock.increment(2 ** 31 - 1 - 1_000); // the first chunk of the long wait ends: armed again, not woken
    expect(woke).toHaveLength(1);
    expect(timers.size).toBe(1);
    clock.set(start + 40 * day - 1);
    expect(woke).toHaveLength(1);
    clock.increment(1);
    expect(woke).toEqual([['short', start + 1_000], ['long', start + 40 * day]]);
    expect(timers.size).toBe(0);
  });

  it('keeps one wake-up per thread (arming again replaces it), and forgets cancelled or cleared ones', () => {
    const { clock, woke, timers } = setup();
    timers.arm('a', start + 100);
    timers.arm('a', start + 200);
    timers.arm('b', start + 100);
    timers.cancel('b');
    timers.arm('c', start + 100);
    expect(['a', 'b', 'c'].map((id) => timers.has(id))).toEqual([true, false, true]);
    clock.increment(100);
    expect(woke).toEqual([['c', start + 100]]); // not a: its first deadline was replaced
    expect(timers.has('c')).toBe(false);
    timers.arm('d', start + 150);
    timers.clear();
    clock.increment(1_000);
    expect(woke).toEqual([['c', start + 100]]);
  });

  it('wakes at once for a deadline already past', () => {
    const { clock, woke, timers } = setup();
    timers.arm('late', start - 5_000);
    clock.increment(0);
    expect(woke).toEqual([['late', start]]);
  });
});
