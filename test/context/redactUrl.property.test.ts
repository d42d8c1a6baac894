/**
 * `redactUrl` masks a URL's userinfo whatever it holds: a password written raw with `#`, `?`, `/`,
 * `@`, `,` or a space (which no URL parser reads as a password) is masked as one of letters, from
 * the scheme's `//` to the last `@` before the host.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/context/redactUrl.js';

/** Printable ASCII, space included: what a generated or typed password may hold. */
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 40 });

const urlArb = fc.record({
  scheme: fc.constantFrom('nats', 'tls', 'http', 'https'),
  user: fc.option(fc.stringMatching(/^[a-z][a-z0-9_-]{0,9}$/), { nil: undefined }),
  password: printable,
  host: fc.constantFrom('127.0.0.1:4222', 'nats.internal', 'example.com:8443', '[::1]:9'),
  path: fc.constantFrom('', '/', '/v1', '/a/b'),
  query: fc.constantFrom<[string, string]>(['', ''], ['?x=1', '?x=***'], ['?api_key=k1&flag', '?api_key=***&flag']),
});

describe('redactUrl, property', () => {
  it('prints `scheme://user:***@host…` for any printable password between `//` and the last `@`', () => {
    fc.assert(
      fc.property(urlArb, ({ scheme, user, password, host, path, query: [query, masked] }) => {
        const userinfo = user === undefined ? password.replaceAll(':', '') || 'x' : `${user}:${password}`;
        const shown = redactUrl(`${scheme}://${userinfo}@${host}${path}${query}`);
        expect(shown).toBe(`${scheme}://${user === undefined ? '' : `${user}:`}***@${host}${path}${masked}`);
      }),
      { numRuns: 500 },
    );
  });
});
