/** fast-check arbitraries of NATS subjects: concrete ones, patterns over a tiny alphabet, and junk. */
import fc from 'fast-check';

/** Characters a token may hold, odd ones included (NATS forbids only whitespace and `.`). */
const tokenChar = fc.constantFrom(...'abcXYZ019_-:$#*>é漢😀'.split(/(?:)/u));

/** A token of a concrete subject: not empty, not a wildcard. */
export const tokenArbitrary: fc.Arbitrary<string> = fc
  .string({ unit: tokenChar, minLength: 1, maxLength: 8 })
  .filter((t) => t !== '*' && t !== '>');

/** A concrete subject: 1 to 6 tokens, now and then one long token (past the control line of a server). */
export const subjectArbitrary: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.array(tokenArbitrary, { minLength: 1, maxLength: 6 }).map((tokens) => tokens.join('.')), weight: 4 },
  fc.tuple(tokenArbitrary, fc.integer({ min: 400, max: 5_000 })).map(([t, n]) => `reply.${t.repeat(Math.ceil(n / t.length))}`),
);

/** Strings that may or may not be subjects: valid ones, wildcards, empty tokens, whitespace, anything. */
export const subjectLikeArbitrary: fc.Arbitrary<string> = fc.oneof(
  subjectArbitrary,
  fc.constantFrom('', '.', 'a.', '.a', 'a..b', 'a.*', 'a.>', '>', '*', 'a b', 'a\tb', 'a\nb', 'a.\u00a0', 'a.>.b'),
  fc.string({ maxLength: 20 }),
  fc.array(fc.oneof(tokenArbitrary, fc.constantFrom('*', '>', '', ' ')), { minLength: 1, maxLength: 5 }).map((t) => t.join('.')),
);

/** A token over a tiny alphabet, so patterns and subjects match often. */
const smallToken = fc.constantFrom('a', 'b', 'c');
/** A concrete subject of 1 to 4 small tokens. */
export const smallSubject: fc.Arbitrary<string[]> = fc.array(smallToken, { minLength: 1, maxLength: 4 });
/** A pattern of 1 to 4 small tokens or `*`, maybe ending in `>`. */
export const smallPattern: fc.Arbitrary<string[]> = fc
  .tuple(fc.array(fc.oneof(smallToken, fc.constant('*')), { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([tokens, tail]) => (tail || tokens.length === 0 ? [...tokens, '>'] : tokens));
