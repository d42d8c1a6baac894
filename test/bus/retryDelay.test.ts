import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JOB_QUEUE_DEFAULTS, normalizeJobQueueTiming, retryDelayFor } from '../../src/bus/jobRunner.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { ConfigError } from '../../src/errors.js';

describe('the delay before a failed job is delivered again', () => {
  it('with the defaults: 1, 2, 4 and 8 s between five deliveries, then at most a minute', () => {
    const timing = normalizeJobQueueTiming();
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayFor(timing, n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(JOB_QUEUE_DEFAULTS.maxRetryDelayMs).toBe(60_000);
  });

  it('starts at retryDelayMs, never shrinks from one delivery to the next, and never passes maxRetryDelayMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 1, max: 600_000 }), fc.integer({ min: 1, max: 10_000 }), (retryDelayMs, maxRetryDelayMs, deliveries) => {
        const timing = normalizeJobQueueTiming({ retryDelayMs, maxRetryDelayMs });
        expect(timing.maxRetryDelayMs).toBe(Math.max(retryDelayMs, maxRetryDelayMs));
        expect(retryDelayFor(timing, 1)).toBe(retryDelayMs);
        const delay = retryDelayFor(timing, deliveries);
        expect(delay).toBeLessThanOrEqual(timing.maxRetryDelayMs);
        expect(delay).toBeGreaterThanOrEqual(retryDelayMs);
        expect(retryDelayFor(timing, deliveries + 1)).toBeGreaterThanOrEqual(delay);
        expect(Number.isFinite(delay)).toBe(true);
      }),
    );
  });

  it('redelivers at once with retryDelayMs 0, however often the job failed', () => {
    const timing = normalizeJobQueueTiming({ retryDelayMs: 0 });
    expect([1, 2, 10, 1_000].map((n) => retryDelayFor(timing, n))).toEqual([0, 0, 0, 0]);
  });

  it('refuses a maxRetryDelayMs that is not a positive number, with the name of the option', () => {
    expect(() => normalizeJobQueueTiming({ maxRetryDelayMs: 0 })).toThrow(/maxRetryDelayMs must be a positive number, got 0/);
    expect(() => normalizeJobQueueTiming({ maxRetryDelayMs: Number.NaN })).toThrow(RangeError);
    expect(() => createAgentQueues({ bus: createMemoryBus(), maxRetryDelayMs: -1 })).toThrow(ConfigError);
  });
});
