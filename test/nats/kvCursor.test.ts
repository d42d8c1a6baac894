import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { decodeCursor } from '../../src/nats/kvPaging.js';

describe('decodeCursor (KV listing pages)', () => {
  it('reads back the cursor of any stream sequence', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (seq) => {
        expect(decodeCursor(`n.${seq}`)).toBe(seq);
      }),
      { numRuns: 200 },
    );
    expect(decodeCursor('')).toBe(0);
  });

  it('refuses any cursor it did not write, instead of starting a page somewhere else', () => {
    const numberish = fc.oneof(
      fc.constantFrom('', ' 5', '5 ', '0x10', '0b11', '0o7', '1e3', '-0', '+5', '05', '5.0', '.5', 'Infinity', '9007199254740993', '١٢'),
      fc.string({ maxLength: 6 }),
      fc.double().map(String),
    );
    const cursor = fc.oneof(numberish.map((text) => `n.${text}`), fc.string(), numberish);
    fc.assert(
      fc.property(cursor, (text) => {
        let seq: number;
        try {
          seq = decodeCursor(text);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          return;
        }
        expect(text === '' ? 0 : `n.${seq}`).toBe(text === '' ? seq : text);
      }),
      { numRuns: 500 },
    );
  });
});
