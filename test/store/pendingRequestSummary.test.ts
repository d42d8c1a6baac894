/** A pending request's summary as written, and as read back from what a writer of any version stored. */
import { describe, expect, it } from 'vitest';
import { parsePendingRequestSummary, pendingRequestSummary } from '../../src/store/pendingRequestSummary.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { deriveState } from '../../src/thread/state.js';

const OLD = { requestId: 'req_1', kind: 'input', question: 'Which order?', at: '2026-12-01T00:00:00.000Z' };

describe('a stored pending request read back', () => {
  it('reads one written before context, urgency, format and choices were kept', () => {
    expect(parsePendingRequestSummary(OLD)).toEqual(OLD);
  });

  it('drops only a field it does not know the value of (a later version\'s urgency), keeping the request', () => {
    const read = parsePendingRequestSummary({ ...OLD, urgency: 'critical', format: 'multiple_choice', choices: ['a', 7], context: 'why' });
    expect(read).toEqual({ ...OLD, format: 'multiple_choice', context: 'why' });
  });

  it('is none for what no writer writes', () => {
    expect(parsePendingRequestSummary({ ...OLD, requestId: 3 })).toBeUndefined();
    expect(parsePendingRequestSummary('req_1')).toBeUndefined();
  });
});

describe('the summary of a pending question', () => {
  const asked = (choices: string[]): ThreadEvent[] => [
    { seq: 1, at: '2026-12-01T00:00:00.000Z', type: 'input', data: { input: 'go' } },
    { seq: 2, at: '2026-12-01T00:00:01.000Z', type: 'human_request', data: { requestId: 'req_2', kind: 'input', question: 'Which?', urgency: 'low', format: 'multiple_choice', choices } },
  ] as ThreadEvent[];

  it('keeps the choices whole while they are small, and leaves them out past the bound (the inbox then reads the thread)', () => {
    const few = asked(['full', 'partial']);
    expect(pendingRequestSummary(few, deriveState(few))!.choices).toEqual(['full', 'partial']);
    const many = asked(Array.from({ length: 300 }, (_, i) => `choice number ${i} ${'x'.repeat(20)}`));
    const summary = pendingRequestSummary(many, deriveState(many))!;
    expect(summary.choices).toBeUndefined();
    expect(summary.format).toBe('multiple_choice');
  });
});
