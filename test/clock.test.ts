import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/clock.js';

describe('isoTime', () => {
  it('is the ISO time of each millisecond, asked again or in any order', () => {
    for (const ms of [0, 1, 1, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124, 5, 1_700_000_000_123]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
