import { describe, expect, it } from 'vitest';
import { sameJson, type Json } from '../../src/thread/events.js';

describe('sameJson', () => {
  it('compares objects by their keys in any order, arrays in order, numbers by value', () => {
    expect(sameJson({ a: 1, b: [1, { c: null, d: 'x' }] }, { b: [1, { d: 'x', c: null }], a: 1 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson(0, -0)).toBe(true);
    expect(sameJson('1', 1)).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    // A key the other lacks, though both have as many keys.
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    // A key named like an Object.prototype member is a key like any other.
    expect(sameJson(JSON.parse('{"__proto__": 1}') as Json, {})).toBe(false);
    expect(sameJson({ toString: 1 } as Json, { valueOf: 1 } as Json)).toBe(false);
  });
});
