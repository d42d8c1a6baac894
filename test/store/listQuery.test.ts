import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { decodeCreatedCursor, encodeCreatedCursor } from '../../src/store/createdCursor.js';
import { matchesQuery, parseListOptions, type ListQuery } from '../../src/store/listQuery.js';
import type { ListOptions, ThreadSummary } from '../../src/store/threadStore.js';
import { isThreadStatus, THREAD_STATUSES } from '../../src/thread/state.js';
import { awkwardString } from './idArbitrary.js';

/** What `fn` returns, or the error it threw. */
function attempt<T>(fn: () => T): T | Error {
  try {
    return fn();
  } catch (error) {
    return error as Error;
  }
}

const summary = (agent: string, status: ThreadSummary['status']): ThreadSummary => ({
  id: 't',
  agent,
  status,
  version: 1,
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-01T00:00:00.000Z',
});

describe('parseListOptions', () => {
  // Options as a JSON body or a query string may bring them: right, wrong, or of another type.
  const anyValue = fc.oneof(fc.constant(undefined), fc.constant(null), fc.jsonValue({ maxDepth: 1 }), fc.constant({}), fc.constant(Number.NaN), fc.constant(Infinity));
  const options = fc.record(
    {
      agent: fc.oneof(awkwardString, anyValue),
      status: fc.oneof(fc.constantFrom(...THREAD_STATUSES), fc.subarray([...THREAD_STATUSES]), fc.array(fc.oneof(fc.constantFrom(...THREAD_STATUSES), anyValue), { maxLength: 3 }), anyValue),
      limit: fc.oneof(fc.integer({ min: -3, max: 500 }), fc.double(), anyValue),
      after: fc.oneof(fc.constant(''), awkwardString, anyValue),
    },
    { requiredKeys: [] },
  );

  it('refuses values with no string form (a JSON key "toString": null) with InvalidInputError, not a TypeError', () => {
    const noString = JSON.parse('{"toString":null}') as unknown;
    for (const raw of [{ agent: noString }, { after: noString }, { status: noString }, { status: [noString] }, { limit: noString }]) {
      expect(attempt(() => parseListOptions(raw as ListOptions))).toBeInstanceOf(InvalidInputError);
    }
  });

  it('turns any options into a checked query or an InvalidInputError, and the query filters without throwing', () => {
    fc.assert(
      fc.property(options, fc.constantFrom(...THREAD_STATUSES), (raw, status) => {
        const query = attempt(() => parseListOptions(raw as ListOptions));
        if (query instanceof Error) {
          expect(query).toBeInstanceOf(InvalidInputError);
          return;
        }
        const q: ListQuery = query;
        expect(q.agent === undefined || typeof q.agent === 'string').toBe(true);
        expect(q.after === undefined || typeof q.after === 'string').toBe(true);
        expect((q.limit === Infinity || Number.isInteger(q.limit)) && q.limit >= 0).toBe(true);
        if (q.statuses !== undefined) {
          expect(Array.isArray(q.statuses)).toBe(true);
          for (const s of q.statuses) expect(isThreadStatus(s)).toBe(true);
        }
        expect(typeof matchesQuery(summary(q.agent ?? 'a', status), q)).toBe('boolean');
      }),
      { numRuns: 500 },
    );
    for (const status of [5, null, {}, true]) expect(() => parseListOptions({ status } as unknown as ListOptions)).toThrow(InvalidInputError);
  });

  it('keeps what a caller asked for', () => {
    fc.assert(
      fc.property(fc.option(awkwardString, { nil: undefined }), fc.subarray([...THREAD_STATUSES], { minLength: 1 }), fc.nat(), (agent, statuses, limit) => {
        expect(parseListOptions({ agent, status: statuses, limit, after: '' })).toEqual({ agent, statuses, limit, after: '' });
        expect(parseListOptions({ status: statuses[0] }).statuses).toEqual([statuses[0]]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('created cursors', () => {
  it('round-trip any key, unicode and lone surrogates included', () => {
    fc.assert(
      fc.property(awkwardString, awkwardString, (createdAt, id) => {
        const cursor = encodeCreatedCursor({ createdAt, id });
        expect(cursor).toMatch(/^c\.[A-Za-z0-9_-]+$/);
        expect(decodeCreatedCursor(cursor)).toEqual({ createdAt, id });
      }),
      { numRuns: 300 },
    );
  });

  it('answer a tampered or foreign cursor with InvalidInputError or a key, never another error', () => {
    const tampered = fc.tuple(awkwardString, awkwardString, fc.nat(), fc.string({ maxLength: 2 })).map(([createdAt, id, at, text]) => {
      const cursor = encodeCreatedCursor({ createdAt, id });
      const cut = at % (cursor.length + 1);
      return cursor.slice(0, cut) + text + cursor.slice(cut + 1);
    });
    const foreign = fc.oneof(fc.string(), fc.string().map((s) => `c.${s}`), fc.jsonValue().map((v) => `c.${Buffer.from(JSON.stringify(v)).toString('base64url')}`));
    fc.assert(
      fc.property(fc.oneof(tampered, foreign), (cursor) => {
        const key = attempt(() => decodeCreatedCursor(cursor));
        if (key instanceof Error) expect(key).toBeInstanceOf(InvalidInputError);
        else if (key !== undefined) expect([typeof key.createdAt, typeof key.id]).toEqual(['string', 'string']);
        else expect(cursor).toBe('');
      }),
      { numRuns: 500 },
    );
  });
});
