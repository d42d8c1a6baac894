/**
 * `nextTimerDue` reads the timers armed on xstate's `SimulatedClock` (a private field: xstate has
 * no public way to list them); pinned here to the xstate installed, so an upgrade that keeps them
 * otherwise fails this test rather than silently leaving step timers undriven.
 */
import { describe, expect, it } from 'vitest';
import { nextTimerDue } from '../../src/testing/clockTimers.js';
import { SimulatedClock } from '../../src/testing/index.js';

describe('nextTimerDue', () => {
  it('answers when the earliest armed timer is due, forgetting those cleared or fired', () => {
    const clock = new SimulatedClock();
    clock.set(1_000);
    expect(nextTimerDue(clock)).toBeUndefined();
    const late = clock.setTimeout(() => undefined, 5_000);
    clock.setTimeout(() => undefined, 2_000);
    expect(nextTimerDue(clock)).toBe(3_000);
    clock.increment(2_000);
    expect(nextTimerDue(clock)).toBe(6_000);
    clock.clearTimeout(late);
    expect(nextTimerDue(clock)).toBeUndefined();
  });

  it('answers a timer armed since the last move, already due, with its time', () => {
    const clock = new SimulatedClock();
    clock.set(1_000);
    clock.setTimeout(() => undefined, 0);
    expect(nextTimerDue(clock)).toBe(1_000);
  });
});
