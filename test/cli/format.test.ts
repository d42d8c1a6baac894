/** The CLI's lines for a thread's events: what a human reads before answering. */
import { describe, expect, it } from 'vitest';
import { eventLine } from '../../src/cli/format.js';
import type { HumanRequest, ThreadEvent } from '../../src/thread/events.js';

const request = (data: HumanRequest): ThreadEvent => ({ seq: 4, at: '2026-01-01T00:00:00.000Z', type: 'human_request', data }) as ThreadEvent;

describe('the line of an open human request', () => {
  it('shows the whole question, however long, so the human can answer it from the line', () => {
    // What the execute step asks after a crash or a timeout of a tool that is not idempotent.
    const question = `charge({"customer":"mallory","amount":999,"note":"${'x'.repeat(120)}"}) was started but did not finish within 100 ms. Did it take effect? Approve to run it again; deny and describe the outcome otherwise.`;
    const line = eventLine(request({ requestId: 'r1', kind: 'interrupted', question, urgency: 'high', format: 'yes_no' }), 'th_1');
    expect(line).toContain(question);
    const asked = eventLine(request({ requestId: 'r2', kind: 'input', question: `Which order? ${'y'.repeat(300)} end`, urgency: 'medium', format: 'free_text' }), 'th_1');
    expect(asked).toContain(`${'y'.repeat(300)} end`);
  });
});
