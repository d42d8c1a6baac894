import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBusError } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { isValidPattern, isValidSubject, patternsOverlap, subjectMatches } from '../../src/bus/subject.js';
import { smallPattern, smallSubject, subjectLikeArbitrary } from './subjectArbitrary.js';

/** NATS matching, spelled out token by token: `*` takes one token, a final `>` one or more. */
function matchesRef(pattern: readonly string[], subject: readonly string[]): boolean {
  if (pattern.length === 0) return subject.length === 0;
  const [head, ...rest] = pattern;
  if (head === '>') return subject.length >= 1;
  if (subject.length === 0) return false;
  return (head === '*' || head === subject[0]) && matchesRef(rest, subject.slice(1));
}

/** Every subject over the patterns' alphabet (plus a token neither names) of 1 to 5 tokens. */
const ALL_SUBJECTS: string[][] = (() => {
  const out: string[][] = [];
  const grow = (prefix: string[]): void => {
    if (prefix.length > 0) out.push(prefix);
    if (prefix.length < 5) for (const t of ['a', 'b', 'c', 'z']) grow([...prefix, t]);
  };
  grow([]);
  return out;
})();

/** Two patterns overlap when some subject matches both (patterns here have at most 5 tokens). */
const overlapRef = (a: readonly string[], b: readonly string[]): boolean => ALL_SUBJECTS.some((s) => matchesRef(a, s) && matchesRef(b, s));

describe('subjects and patterns (property)', () => {
  it('subjectMatches agrees with the token-by-token reference', () => {
    fc.assert(
      fc.property(smallPattern, smallSubject, (pattern, subject) => {
        expect(isValidPattern(pattern.join('.'))).toBe(true);
        expect(subjectMatches(pattern.join('.'), subject.join('.'))).toBe(matchesRef(pattern, subject));
      }),
      { numRuns: 300, seed: 31 },
    );
  });

  it('patternsOverlap holds exactly when some subject matches both patterns', () => {
    fc.assert(
      fc.property(smallPattern, smallPattern, (a, b) => {
        const overlap = patternsOverlap(a.join('.'), b.join('.'));
        expect(overlap).toBe(overlapRef(a, b));
        expect(patternsOverlap(b.join('.'), a.join('.'))).toBe(overlap);
      }),
      { numRuns: 300, seed: 32 },
    );
  });

  it('validity: any string is judged without a throw; a valid subject has non-empty tokens without wildcards or whitespace', () => {
    fc.assert(
      fc.property(fc.oneof(subjectLikeArbitrary, fc.string({ unit: 'grapheme', maxLength: 30 })), (s) => {
        const tokens = s.split('.');
        const expected = s.length > 0 && !/\s/.test(s) && tokens.every((t) => t !== '' && t !== '*' && t !== '>');
        expect(isValidSubject(s)).toBe(expected);
        // A valid subject matches itself and every pattern made of it with a token turned into `*`
        // or its tail into `>`, unless a token of it holds a wildcard character.
        if (expected && !/[*>]/.test(s)) {
          expect(isValidPattern(s)).toBe(true);
          expect(subjectMatches(s, s)).toBe(true);
          const i = s.length % tokens.length;
          expect(subjectMatches(tokens.map((t, j) => (j === i ? '*' : t)).join('.'), s)).toBe(true);
          expect(subjectMatches([...tokens.slice(0, i), '>'].join('.'), s)).toBe(i < tokens.length);
        }
      }),
      { numRuns: 300, seed: 33 },
    );
  });

  it('the in-process bus delivers a message to exactly the subscriptions whose pattern matches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(smallPattern, { minLength: 1, maxLength: 5, selector: (p) => p.join('.') }), smallSubject, async (patterns, subject) => {
        const bus = createMemoryBus();
        try {
          const got: string[] = [];
          for (const p of patterns) bus.subscribe(p.join('.'), () => void got.push(p.join('.')));
          await bus.publish(subject.join('.'), 'x');
          await bus.flush();
          const expected = patterns.filter((p) => matchesRef(p, subject)).map((p) => p.join('.'));
          expect(got.sort()).toEqual(expected.sort());
        } finally {
          await bus.close();
        }
      }),
      { numRuns: 150, seed: 34 },
    );
  });

  it('the in-process bus refuses a job queue whose subjects overlap another queue, and only then', async () => {
    await fc.assert(
      fc.asyncProperty(smallPattern, smallPattern, async (a, b) => {
        const bus = createMemoryBus();
        try {
          await bus.jobQueue('first', { subjects: [a.join('.')] });
          const second = bus.jobQueue('second', { subjects: [b.join('.')] }).then(
            () => 'created',
            (error: unknown) => (isBusError(error, 'invalid_subject') ? 'refused' : error),
          );
          expect(await second).toBe(overlapRef(a, b) ? 'refused' : 'created');
        } finally {
          await bus.close();
        }
      }),
      { numRuns: 100, seed: 35 },
    );
  });
});
