import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipText } from '../src/errors.js';

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
