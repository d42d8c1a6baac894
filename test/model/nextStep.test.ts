import { describe, expect, it } from 'vitest';
import { parseNextStep } from '../../src/model/nextStep.js';

const base = { usage: { prompt: 1, completion: 1 }, model: 'm' };

describe('parseNextStep: tool call arguments', () => {
  it.each([
    ['a json fence', '```json\n{"amount": 5}\n```'],
    ['a bare fence', '```\n{"amount": 5}\n```'],
    ['a fence on one line, with spaces outside it', '  ```JSON {"amount": 5} ```  '],
  ])('strips %s around the arguments, as it does around a text answer', (_name, raw) => {
    expect(parseNextStep({ ...base, toolCall: { name: 'charge', arguments: raw } })).toEqual({ success: true, data: { intent: 'charge', args: { amount: 5 } } });
  });

  it('quotes the arguments received, bounded, when they are not JSON', () => {
    const parsed = parseNextStep({ ...base, toolCall: { name: 'charge', arguments: `{"amount": 5, "note": "${'x'.repeat(500)}` } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error).toContain('arguments of charge are not valid JSON: "{\\"amount\\": 5, \\"note\\": \\"xxx');
    expect(parsed.error.length).toBeLessThan(300);
  });
});
