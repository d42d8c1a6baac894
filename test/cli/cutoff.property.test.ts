/** `prune --ended-before`: a duration back from now (`30d`, `12h`) or an ISO date, anything else refused by name. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCutoff } from '../../src/cli/cutoff.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const NOW = Date.parse('2026-12-06T04:00:00.000Z');

describe('parseCutoff', () => {
  it('a whole number and a unit (s, m, h, d, w) is that long before now', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])), fc.integer({ min: 0, max: 4e12 }), (n, unit, now) => {
        expect(parseCutoff(`${n}${unit}`, now)).toEqual({ success: true, data: now - n * UNIT_MS[unit] });
      }),
    );
  });

  it('refuses a duration of zero (it would take every thread that ended, as a time after now would), saying so', () => {
    for (const zero of ['0s', '0m', '0d', '000w']) {
      expect(parseCutoff(zero, NOW)).toEqual({ success: false, error: `${zero} is no time back from now: it would take every thread that ended; give a duration of at least 1s, or an ISO date` });
    }
    expect(parseCutoff('0s', NOW, 'it would list every thread')).toMatchObject({ error: expect.stringContaining('0s is no time back from now: it would list every thread') });
    expect(parseCutoff('1s', NOW)).toEqual({ success: true, data: NOW - 1000 });
  });

  it('an ISO date or time up to now is that instant (a date alone: its midnight UTC)', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date(NOW), noInvalidDate: true }), (date) => {
        expect(parseCutoff(date.toISOString(), NOW)).toEqual({ success: true, data: date.getTime() });
        const day = date.toISOString().slice(0, 10);
        expect(parseCutoff(day, NOW)).toEqual({ success: true, data: Date.parse(`${day}T00:00:00.000Z`) });
      }),
    );
  });

  it('refuses an ISO date or time after now (it would take every thread that ended), naming it and now', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(NOW + 1), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (date) => {
        const parsed = parseCutoff(date.toISOString(), NOW);
        expect(parsed).toEqual({ success: false, error: expect.stringContaining(date.toISOString()) });
        if (!parsed.success) expect(parsed.error).toContain(`now (${new Date(NOW).toISOString()})`);
      }),
    );
    // Today's midnight is past; tomorrow's is not.
    expect(parseCutoff('2026-12-06', NOW).success).toBe(true);
    expect(parseCutoff('2026-12-07', NOW)).toEqual({ success: false, error: expect.stringContaining('2026-12-07 (2026-12-07T00:00:00.000Z) is after now') });
  });

  it('refuses anything else, saying what it takes', () => {
    const durationLike = /^\d+[smhdw]$/;
    const isoLike = /^\d{4}-\d{2}-\d{2}/;
    fc.assert(
      fc.property(
        fc.string().filter((s) => !durationLike.test(s) && !isoLike.test(s)),
        (value) => {
          const parsed = parseCutoff(value, NOW);
          expect(parsed.success).toBe(false);
          if (!parsed.success) expect(parsed.error).toContain('a duration such as 30d or 12h, or an ISO date such as 2026-01-31');
        },
      ),
    );
    // Date.parse takes 2026-02-30 as March 2nd: a day that does not exist is refused all the same.
    for (const bad of ['30', 'd', '1.5d', '-3d', '30 days', '2026-13-45', '2026-02-30', '2026-02-30T00:00:00Z', '2026-01-31 junk', '']) expect(parseCutoff(bad, NOW).success, bad).toBe(false);
  });
});
