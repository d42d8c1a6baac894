/**
 * `show` of a sleeping thread whose wake time has passed (it waits for a slot of `maxConcurrent`,
 * for a worker, or for a server that has its agent): the wake is due, not ahead. Seen as a user:
 * `wakes    2026-12-07 14:10:52` printed at 14:10:56 above `queued   waiting for a slot`.
 */
import { describe, expect, it } from 'vitest';
import { threadDetails } from '../../src/cli/format.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { ThreadEvent } from '../../src/thread/events.js';

/** HH:MM:SS in local time, as show prints a clock time. */
const clockOf = (ms: number): string => new Date(ms).toTimeString().slice(0, 8);

const wakeAt = Date.parse('2026-01-01T00:00:02Z');
const events = [
  { type: 'input', data: { input: 'nap 2' } },
  { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'nap', args: { seconds: 2 }, model: 'm', promptHash: 'sha256:0', latencyMs: 0 } },
  { type: 'custom', data: { step: 'nap', phase: 'intent', callId: 'call_2', output: { waited: 2 }, until: wakeAt } },
].map((e, i) => ({ ...e, seq: i + 1, at: '2026-01-01T00:00:00.000Z' })) as ThreadEvent[];

describe('show of a sleeping thread', () => {
  it('says a wake time in the past is due since then, not that the thread wakes then', () => {
    const view = viewOf({ id: 't1', agent: 'napper', events });
    expect(view.status).toBe('sleeping');
    const past = threadDetails(view, undefined, undefined, wakeAt + 65_000);
    expect(past).toContain(`wake     due since ${clockOf(wakeAt)} (1m 5s ago)`);
    expect(past).not.toContain('wakes');
    // An actor runs it (the wake-up is in progress): it says so.
    expect(threadDetails({ ...view, live: true }, undefined, undefined, wakeAt + 7_000)).toContain(`wake     running now (due since ${clockOf(wakeAt)}, 7 s ago)`);
    // Still ahead: the wake time as before.
    expect(threadDetails(view, undefined, undefined, wakeAt - 1_000)).toContain('wakes    2026-01-01');
  });
});
