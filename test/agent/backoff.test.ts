import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { MAX_RETRY_AFTER_MS, serverWaitDelay } from '../../src/agent/backoff.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createClock, settle, startRun, T0 } from '../support/agentHarness.js';

// The wait before a retry that a server's Retry-After sets: never sooner than asked, and spread
// (jitter on top), so threads refused together do not all come back in the same instant.

describe('the wait a Retry-After sets', () => {
  it.each([
    [30_000, 0.2, 0, 30_000],
    [30_000, 0.2, 0.5, 33_000],
    [30_000, 0.2, 1, 36_000],
    [2_000, 0.1, 0.25, 2_050],
    [30_000, 0, 0.9, 30_000],
    // An ask is counted up to the cap (10 minutes), the jitter then added: spread beyond it too.
    [590_000, 0.2, 1, 708_000],
    [MAX_RETRY_AFTER_MS, 0.2, 0.5, 660_000],
    [3_600_000, 0.2, 0, MAX_RETRY_AFTER_MS],
    [3_600_000, 0.2, 1, 720_000],
  ])('asked %i ms, jitter %d, random unit %d: %i ms', (asked, jitter, unit, expected) => {
    expect(serverWaitDelay(asked, jitter, unit)).toBe(expected);
  });

  it('spreads the retries of 20 threads that one 429 with Retry-After: 2 refused at once, none sooner than 2 s', async () => {
    const retries = await retriesOf20(2_000);
    for (const wait of retries) {
      expect(wait).toBeGreaterThanOrEqual(2_000);
      // The calculator's backoff jitter is 20 %.
      expect(wait).toBeLessThanOrEqual(2_400);
    }
    expect(new Set(retries).size).toBeGreaterThan(10);
  });

  it('spreads the retries of 20 threads that one 429 with Retry-After: 3600 refused at once over 10 to 12 minutes, not all at the cap (qa26-timers D7)', async () => {
    const retries = await retriesOf20(3_600_000);
    for (const wait of retries) {
      expect(wait).toBeGreaterThanOrEqual(MAX_RETRY_AFTER_MS);
      expect(wait).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS * 1.2);
    }
    expect(new Set(retries).size).toBeGreaterThan(10);
  });
});

/** How long after T0 each of 20 threads that one 429 with `retryAfterMs` refused at once retries (each checked to back off). */
async function retriesOf20(retryAfterMs: number): Promise<number[]> {
  const clock = createClock();
  const retries: number[] = [];
  for (let i = 0; i < 20; i++) {
    const model = scriptedModel([{ error: { kind: 'http', status: 429, message: 'slow down', retryAfterMs } }]);
    const { actor } = await startRun({ agent: calculator, model, threadId: `thread-${i}`, clock });
    const rest = await settle(actor);
    actor.stop();
    expect(rest.state).toBe('backingOff');
    retries.push(rest.backoffUntil! - T0);
  }
  return retries;
}
