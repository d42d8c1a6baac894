import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { creationSubject, indexSubjects, parseIndexEntry, statusSubject, threadIdOfKey, threadKey } from '../../src/nats/kvKeys.js';
import { THREAD_ID_PATTERN } from '../../src/runtime/runtime.js';
import { THREAD_STATUSES } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from '../store/idArbitrary.js';

/** The longest key `threadKey` documents: far inside a NATS server's 4 KiB control line. */
const MAX_KEY = 2048;

/** What a KV key allows, with no `.` (one subject token) and no wildcard. */
const KEY_TOKEN = /^[A-Za-z0-9_=-]+$/;

/** The key of `id`, or the error `threadKey` threw. */
function keyOrError(id: string): string | Error {
  try {
    return threadKey(id);
  } catch (error) {
    return error as Error;
  }
}

/** Strings that look like keys: plain characters and `=XX` escapes (either case), now and then something else. */
const keyLike = fc
  .array(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,3}$/),
      fc.stringMatching(/^=[0-9A-Fa-f]{2}$/),
      fc.constantFrom('=C3=A9', '=ED=A0=80', '=ED=B0=80', '=F0=9F=98=80', '=EF=BF=BD', '=C0=80', '=E0=80=80', '=41', '=', '.', '*', ' ', 'é'),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('threadKey', () => {
  it('maps every id to one KV key token and back, or refuses it with a clear error', () => {
    fc.assert(
      fc.property(idArbitrary, (id) => {
        const key = keyOrError(id);
        if (key instanceof Error) {
          expect(key).toBeInstanceOf(InvalidInputError);
          // Refused only when no key of the allowed length could hold the id.
          expect(id.length === 0 || id.length > MAX_KEY / 9).toBe(true);
          return;
        }
        expect(key).toMatch(KEY_TOKEN);
        expect(key.length).toBeLessThanOrEqual(MAX_KEY);
        expect(threadIdOfKey(key)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('has a key that reads back for every id the runtime accepts, however many characters escape', () => {
    // The surfaces' one limit (THREAD_ID_PATTERN): at most 128 characters, at most 384 once escaped.
    const accepted = fc.oneof(
      fc.stringMatching(THREAD_ID_PATTERN),
      fc.integer({ min: 1, max: 128 }).chain((length) => fc.array(fc.constantFrom('A', ':', 'z', '9', '_', '-'), { minLength: length, maxLength: length }).map((chars) => chars.join(''))),
    );
    fc.assert(
      fc.property(accepted, (id) => {
        const key = threadKey(id);
        expect(key).toMatch(KEY_TOKEN);
        expect(key.length).toBeLessThanOrEqual(3 * 128);
        expect(threadIdOfKey(key)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('gives distinct ids distinct keys, lone surrogates included', () => {
    fc.assert(
      fc.property(awkwardString, awkwardString, (a, b) => {
        fc.pre(a !== b);
        expect(threadKey(a)).not.toBe(threadKey(b));
      }),
      { numRuns: 300 },
    );
    // U+FFFD is what a UTF-8 encoder makes of a lone surrogate.
    expect(threadKey('\uD800')).not.toBe(threadKey('\uFFFD'));
    expect(threadKey('a\uDFFFb')).not.toBe(threadKey('a\uFFFDb'));
  });

  it('refuses the empty id and ids too long for a key, instead of writing a subject the server rejects', () => {
    expect(() => threadKey('')).toThrow(InvalidInputError);
    expect(threadKey('a'.repeat(MAX_KEY))).toBe('a'.repeat(MAX_KEY));
    expect(() => threadKey('a'.repeat(MAX_KEY + 1))).toThrow(InvalidInputError);
    expect(() => threadKey('é'.repeat(1000))).toThrow(/too long/);
    expect(threadKey(`${'é'.repeat(341)}ab`)).toHaveLength(MAX_KEY);
  });
});

describe('threadIdOfKey', () => {
  it('reads back only keys threadKey writes: a foreign key names no thread', () => {
    fc.assert(
      fc.property(fc.oneof(keyLike, fc.string(), fc.string({ unit: 'binary' })), (key) => {
        const id = threadIdOfKey(key);
        if (id !== undefined) expect(threadKey(id)).toBe(key);
      }),
      { numRuns: 500 },
    );
    // An escaped letter, lower-case hex, an overlong encoding, a surrogate pair spelled as two.
    for (const key of ['=41', 'a=3a', '=C0=80', '=ED=A0=80=ED=B0=80', '', 'a'.repeat(MAX_KEY + 1)]) expect(threadIdOfKey(key)).toBeUndefined();
  });
});

describe('index subjects and entries', () => {
  const index = indexSubjects('threads');

  it('spell every agent as one token, so a subject has a fixed number of tokens', () => {
    fc.assert(
      fc.property(awkwardString, fc.constantFrom(...THREAD_STATUSES), (agent, status) => {
        const creation = creationSubject(index, agent).slice(index.prefix.length).split('.');
        const inStatus = statusSubject(index, status, agent).slice(index.prefix.length).split('.');
        expect(creation).toEqual(['c', threadKey(agent)]);
        expect(inStatus).toEqual(['s', status, threadKey(agent)]);
      }),
      { numRuns: 200 },
    );
  });

  it('reads back what the index writer publishes', () => {
    fc.assert(
      fc.property(awkwardString, awkwardString, fc.constantFrom(...THREAD_STATUSES), fc.nat(), (agent, id, status, since) => {
        const creation = creationSubject(index, agent).slice(index.prefix.length);
        const inStatus = statusSubject(index, status, agent).slice(index.prefix.length);
        expect(parseIndexEntry(creation, JSON.parse(JSON.stringify({ i: id })))).toEqual({ kind: 'creation', id });
        expect(parseIndexEntry(inStatus, JSON.parse(JSON.stringify({ i: id, s: since })))).toEqual({ kind: 'status', status, id, since });
        const stamped = { i: id, s: since, c: '2024-01-01T00:00:00.000Z', a: '2024-01-02T00:00:00.000Z' };
        expect(parseIndexEntry(inStatus, stamped)).toEqual({ kind: 'status', status, id, since, createdAt: stamped.c, enteredAt: stamped.a });
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on a foreign message, and accepts only ids a listing can look up', () => {
    const key = fc.oneof(fc.constantFrom('c.a', 's.running.a', 's.done', 'c', 'x.y', ''), fc.string());
    const payload = fc.oneof(
      fc.jsonValue(),
      fc.record({ i: fc.oneof(idArbitrary, fc.constant('é'.repeat(2000)), fc.jsonValue()), s: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()) }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(key, payload, (k, body) => {
        const entry = parseIndexEntry(k, body);
        if (entry === undefined) return;
        const found = keyOrError(entry.id);
        expect(typeof found === 'string' && found.length <= MAX_KEY).toBe(true);
        if (entry.kind === 'status') expect(Number.isSafeInteger(entry.since) && entry.since >= 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
