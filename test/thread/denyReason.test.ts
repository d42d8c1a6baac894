import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/thread/events.js';
import { deriveState } from '../../src/thread/state.js';
import { stampEvents } from '../../src/thread/thread.js';

// A thread a human stops after an escalation fails with a reason that says who stopped it and why:
// a pipeline reads its child's failure reason, and the child's human_response is the only other
// place that says it (QA20 debug D9: "a human stopped the agent after an escalation" and nothing more).

const escalated: NewEvent[] = [
  { type: 'input', data: { input: 'ship it' } },
  { type: 'escalation', data: { reason: 'non_retryable_error', message: 'not retried: HTTP 403', requestId: 'req_2' } },
  { type: 'human_request', data: { requestId: 'req_2', kind: 'escalation', question: 'stopped: continue?', urgency: 'high', format: 'yes_no' } },
];

const failureAfter = (response: { by?: string; comment?: string }): string | undefined =>
  deriveState(stampEvents(0, [...escalated, { type: 'human_response', data: { requestId: 'req_2', approved: false, ...response } }], '2025-01-01T00:00:00.000Z')).failure;

describe('the failure of a thread a human stopped after an escalation', () => {
  it('names who stopped it and their comment', () => {
    expect(failureAfter({ by: 'root', comment: 'inventory-svc is down for maintenance' })).toBe('a human (root) stopped the agent after an escalation: inventory-svc is down for maintenance');
  });

  it('says only what it knows, and keeps a long comment bounded', () => {
    expect(failureAfter({})).toBe('a human stopped the agent after an escalation');
    expect(failureAfter({ comment: 'because' })).toBe('a human stopped the agent after an escalation: because');
    const long = failureAfter({ by: 'ops', comment: 'x'.repeat(5000) })!;
    expect(long.length).toBeLessThanOrEqual(600);
    expect(long).toMatch(/^a human \(ops\) stopped the agent after an escalation: x+…$/);
  });
});
