import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipText, describeValue, unknownAgentMessage } from '../src/errors.js';

describe('clipText', () => {
  it('keeps text within the bound as it is, and cuts longer text to the bound, marking the cut', () => {
    expect(clipText('abc', 3)).toBe('abc');
    expect(clipText('abcd', 3)).toBe('abc…');
  });

  it('never leaves half a surrogate pair at the cut', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 1, max: 40 }), (text, max) => {
        const clipped = clipText(text, max);
        expect(clipped.length).toBeLessThanOrEqual(max + 1);
        // A lone high surrogate would make the text invalid UTF-16 (and break JSON readers).
        expect(clipped).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      }),
    );
    expect(clipText('ab😀', 3)).toBe('ab…');
  });
});

describe('describeValue', () => {
  it('shows a number as it is and any other value with its type, so "5" is not read as 5', () => {
    expect(describeValue(5)).toBe('5');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue('5')).toBe('"5", a string');
    expect(describeValue(true)).toBe('true, a boolean');
    expect(describeValue(12n)).toBe('12n, a BigInt');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({ a: 1 })).toBe('a plain object');
    expect(describeValue(Object.create(null))).toBe('a plain object');
    expect(describeValue(new Map())).toBe('an instance of Map');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(Symbol('s'))).toBe('a symbol');
  });

  it('cuts a long string short', () => {
    expect(describeValue('x'.repeat(500)).length).toBeLessThan(80);
  });
});

describe('unknownAgentMessage (qa26-scale D6: a typo among 40 agents)', () => {
  const known = ['agent00', 'agent03', 'agent13', 'billing', 'pipe4'];

  it('suggests the one known name within two edits of a typo', () => {
    expect(unknownAgentMessage('agnet03', known)).toBe('unknown agent "agnet03" (did you mean agent03? known: agent00, agent03, agent13, billing, pipe4)');
    expect(unknownAgentMessage('biling', known)).toBe('unknown agent "biling" (did you mean billing? known: agent00, agent03, agent13, billing, pipe4)');
  });

  it('suggests nothing when no name is close, or when two are as close', () => {
    expect(unknownAgentMessage('nobody', known)).toBe('unknown agent "nobody" (known: agent00, agent03, agent13, billing, pipe4)');
    expect(unknownAgentMessage('agent23', known)).toBe('unknown agent "agent23" (known: agent00, agent03, agent13, billing, pipe4)');
    expect(unknownAgentMessage('x', [])).toBe('unknown agent "x" (known: none)');
    expect(unknownAgentMessage('agent03'.repeat(100_000), ['agent03'])).toMatch(/^unknown agent "(agent03)+" \(known: agent03\)$/);
  });
});
