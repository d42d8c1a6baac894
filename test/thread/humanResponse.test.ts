import { describe, expect, it } from 'vitest';
import type { HumanRequest, HumanResponse, ThreadEvent } from '../../src/thread/events.js';
import { humanResponseInputSchema, validateResponse } from '../../src/thread/humanResponse.js';

const base = { requestId: 'req_1', question: 'q?', urgency: 'medium' } as const;
const freeText: HumanRequest = { ...base, kind: 'input', format: 'free_text' };
const yesNo: HumanRequest = { ...base, kind: 'input', format: 'yes_no' };
const choice: HumanRequest = { ...base, kind: 'input', format: 'multiple_choice', choices: ['red', 'green'] };
const approval: HumanRequest = { ...base, kind: 'approval', format: 'yes_no', callId: 'call_2', tool: 'divide', args: { a: 1, b: 2 } };
const interrupted: HumanRequest = { ...base, kind: 'interrupted', format: 'yes_no', callId: 'call_2', tool: 'deploy', args: {} };
const escalation: HumanRequest = { ...base, kind: 'escalation', format: 'free_text' };

function accepted(request: HumanRequest, response: Omit<HumanResponse, 'requestId'>): HumanResponse {
  const result = validateResponse(request, { requestId: request.requestId, ...response });
  if (!result.success) throw new Error(`refused: ${result.error}`);
  return result.data;
}

function refused(request: HumanRequest | null, response: HumanResponse) {
  const result = validateResponse(request, response);
  if (result.success) throw new Error('expected a refusal');
  expect(result.error.length).toBeGreaterThan(0);
  return result.code;
}

describe('validateResponse', () => {
  it('refuses a response when nothing is pending', () => {
    expect(refused(null, { requestId: 'req_1', answer: 'x' })).toBe('no_pending_request');
  });

  it('refuses a response to another (stale or forged) request id', () => {
    for (const request of [freeText, yesNo, choice, approval, interrupted, escalation]) {
      expect(refused(request, { requestId: 'req_0', answer: 'yes', approved: true })).toBe('stale_request');
    }
  });

  it('says when the request named was answered already (a repeat after a lost reply), still as a refusal', () => {
    const events = [
      { seq: 4, at: '2026-01-01T15:52:01.000Z', type: 'human_request', data: { ...approval, requestId: 'req_0' } },
      { seq: 5, at: '2026-01-01T15:52:02.000Z', type: 'human_response', data: { requestId: 'req_0', approved: false, comment: 'charged', by: 'root' } },
    ] as ThreadEvent[];
    const repeated: HumanResponse = { requestId: 'req_0', approved: false, comment: 'charged' };
    for (const request of [approval, null]) {
      const result = validateResponse(request, repeated, events);
      expect(result).toEqual({
        success: false,
        code: request === null ? 'no_pending_request' : 'stale_request',
        error: 'request req_0 was already answered (denied by root at 2026-01-01T15:52:02.000Z)',
      });
    }
    // One never asked: as before.
    expect(validateResponse(approval, { requestId: 'req_forged', approved: true }, events)).toMatchObject({ error: 'request req_forged is not the open request of this thread' });
  });

  it('free text needs a non-blank answer', () => {
    expect(accepted(freeText, { answer: 'blue', by: 'ann' })).toEqual({ requestId: 'req_1', answer: 'blue', by: 'ann' });
    expect(refused(freeText, { requestId: 'req_1' })).toBe('invalid_response');
    expect(refused(freeText, { requestId: 'req_1', answer: '   ' })).toBe('invalid_response');
    expect(refused(freeText, { requestId: 'req_1', approved: true })).toBe('invalid_response');
  });

  it('yes/no takes yes or no in any case, or approved, and records the answer normalized', () => {
    expect(accepted(yesNo, { answer: ' YES ' }).answer).toBe('yes');
    expect(accepted(yesNo, { answer: 'No' }).answer).toBe('no');
    expect(accepted(yesNo, { approved: true }).answer).toBe('yes');
    expect(accepted(yesNo, { approved: false }).answer).toBe('no');
    expect(refused(yesNo, { requestId: 'req_1', answer: 'maybe' })).toBe('invalid_response');
    expect(refused(yesNo, { requestId: 'req_1' })).toBe('invalid_response');
    expect(refused(yesNo, { requestId: 'req_1', answer: '' })).toBe('invalid_response');
  });

  it('multiple choice needs one of the choices, whatever the surrounding whitespace and case, and records the choice as written', () => {
    expect(accepted(choice, { answer: 'green' }).answer).toBe('green');
    expect(accepted(choice, { answer: ' green\n' }).answer).toBe('green');
    expect(accepted(choice, { answer: 'Green' }).answer).toBe('green');
    expect(accepted(choice, { answer: ' RED ', by: 'ann' })).toEqual({ requestId: 'req_1', answer: 'red', by: 'ann' });
    const written: HumanRequest = { ...choice, choices: ['Full refund', 'partial '] };
    expect(accepted(written, { answer: 'full refund' }).answer).toBe('Full refund');
    expect(accepted(written, { answer: 'Partial' }).answer).toBe('partial ');
    expect(refused(choice, { requestId: 'req_1', answer: 'blue' })).toBe('invalid_response');
    expect(refused(choice, { requestId: 'req_1', answer: 'gre en' })).toBe('invalid_response');
    expect(refused(choice, { requestId: 'req_1' })).toBe('invalid_response');
  });

  it('multiple choice whose choices differ only in case takes the one written so, and refuses an answer that could be either', () => {
    const cased: HumanRequest = { ...choice, choices: ['A', 'a', 'b'] };
    expect(accepted(cased, { answer: 'A' }).answer).toBe('A');
    expect(accepted(cased, { answer: ' a ' }).answer).toBe('a');
    expect(accepted(cased, { answer: 'B' }).answer).toBe('b');
    const twins: HumanRequest = { ...choice, choices: ['Yes', 'YES'] };
    expect(validateResponse(twins, { requestId: 'req_1', answer: 'yes' })).toEqual({
      success: false,
      code: 'invalid_response',
      error: 'the answer "yes" matches more than one choice but for case: give one as written: Yes, YES',
    });
  });

  it('approval and interrupted requests need approved true or false', () => {
    for (const request of [approval, interrupted]) {
      expect(accepted(request, { approved: true })).toEqual({ requestId: 'req_1', approved: true });
      expect(accepted(request, { approved: false, comment: 'not now' })).toEqual({ requestId: 'req_1', approved: false, comment: 'not now' });
      expect(refused(request, { requestId: 'req_1', answer: 'yes' })).toBe('invalid_response');
    }
    // Each kind named with its article.
    expect(validateResponse(approval, { requestId: 'req_1', answer: 'yes' })).toMatchObject({ error: 'an approval request needs "approved": true or false' });
    expect(validateResponse(interrupted, { requestId: 'req_1', answer: 'yes' })).toMatchObject({ error: 'an interrupted request needs "approved": true or false' });
  });

  it('an escalation needs guidance, or approved false to stop', () => {
    expect(accepted(escalation, { answer: 'use add instead' }).answer).toBe('use add instead');
    expect(accepted(escalation, { approved: false }).approved).toBe(false);
    expect(refused(escalation, { requestId: 'req_1', approved: true })).toBe('invalid_response');
    expect(refused(escalation, { requestId: 'req_1', answer: ' ' })).toBe('invalid_response');
  });
});

describe('humanResponseInputSchema', () => {
  it('accepts a well-formed response and rejects unknown keys and empty ids', () => {
    expect(humanResponseInputSchema.safeParse({ requestId: 'r', answer: 'a', by: 'me' }).success).toBe(true);
    expect(humanResponseInputSchema.safeParse({ requestId: 'r', extra: 1 }).success).toBe(false);
    expect(humanResponseInputSchema.safeParse({ requestId: '' }).success).toBe(false);
    expect(humanResponseInputSchema.safeParse({ requestId: 'r', approved: 'yes' }).success).toBe(false);
  });
});
