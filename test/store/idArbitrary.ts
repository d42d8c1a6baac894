/** fast-check arbitraries of awkward strings: thread ids, agent names and times read back from storage. */
import fc from 'fast-check';

/** Characters that name nothing special in JSON or UTF-8 but do in subjects, keys and file names. */
const AWKWARD = ['.', '*', '>', ' ', '=', '%', ':', '/', '\\', '~', '\t', '\n', '"', 'A', 'a', '0', '_', '-', '..', 'é', 'ß', '😀', '\u0000', '\u2028', '\uFFFD'];

/** Any UTF-16 code unit, lone surrogates included (`fc.string`'s units never make one). */
export const codeUnit: fc.Arbitrary<string> = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

/** A lone (unpaired) surrogate. */
export const loneSurrogate: fc.Arbitrary<string> = fc.integer({ min: 0xd800, max: 0xdfff }).map((n) => String.fromCharCode(n));

/** One piece of an id: mostly characters that need escaping somewhere. */
const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...AWKWARD) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: codeUnit },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/) },
);

/** A non-empty string of awkward pieces: unicode, dots, spaces, `*`, `>`, escapes, lone surrogates. */
export const awkwardString: fc.Arbitrary<string> = fc.array(piece, { minLength: 1, maxLength: 12 }).map((pieces) => pieces.join(''));

/** A well-formed (no lone surrogate) awkward string. */
export const wellFormedString: fc.Arbitrary<string> = awkwardString.map((text) => text.replace(/\p{Surrogate}/gu, '\uFFFD'));

/** Ids of every kind, from plain to awkward to long. */
export const idArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,20}$/) },
  { weight: 4, arbitrary: awkwardString },
  { weight: 1, arbitrary: fc.tuple(awkwardString, fc.integer({ min: 10, max: 400 })).map(([text, n]) => text.repeat(n).slice(0, 4 * n)) },
);
