import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FailureTable } from '../../src/store/failureTable.js';
import type { FailureSummary } from '../../src/store/threadStore.js';
import { awkwardString } from './idArbitrary.js';

const failureArbitrary: fc.Arbitrary<FailureSummary> = fc.record(
  {
    kind: fc.constantFrom('failed' as const, 'stopped' as const, 'cancelled' as const),
    message: fc.oneof(awkwardString, awkwardString.map((text) => `${text}…`), fc.constantFrom('', '…', '=', '+', '-', '12:x')),
    by: fc.oneof(awkwardString, fc.constantFrom('', '3:ab', '-', '=x')),
  },
  { requiredKeys: ['kind'] },
);

describe('FailureTable', () => {
  it('gives back every failure as it was added, whatever its text', () => {
    fc.assert(
      fc.property(fc.array(failureArbitrary, { maxLength: 20 }), (failures) => {
        const table = new FailureTable();
        const codes = failures.map((failure) => table.add(failure));
        failures.forEach((failure, at) => expect(table.get(codes[at]!)).toEqual(failure));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a failure once for all the threads that hold it, and forgets it when the last lets go', () => {
    const table = new FailureTable();
    const storm = { kind: 'failed' as const, message: 'model endpoint refused: 429 Too Many Requests' };
    const a = table.add(storm);
    const bytes = table.bytes;
    expect(table.add({ ...storm })).toBe(a);
    expect(table.bytes).toBe(bytes);
    table.release(a);
    expect(table.get(a)).toEqual(storm);
    table.release(a);
    expect(table.get(a)).toBeUndefined();
    expect(table.bytes).toBe(0);
    expect(table.get(0)).toBeUndefined();
  });

  it('refuses a new failure past its bytes, but not one it holds; a cut message (ending in …) costs one byte a character', () => {
    const cut = (n: number): FailureSummary => ({ kind: 'failed', message: `step ${n}: ${'x'.repeat(190)}…` });
    const table = new FailureTable(3 * (200 + 64) + 100);
    const codes = [1, 2, 3].map((n) => table.add(cut(n)));
    expect(codes).not.toContain(0);
    expect(table.accepts(cut(4))).toBe(false);
    expect(table.add(cut(4))).toBe(0);
    expect(table.accepts(cut(1))).toBe(true);
    expect(table.add(cut(1))).toBe(codes[0]);
    table.release(codes[1]!);
    expect(table.add(cut(4))).not.toBe(0);
  });
});
