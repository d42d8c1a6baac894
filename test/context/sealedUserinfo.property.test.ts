/** `sealUserinfo` / `openUserinfo`: a URL's credentials sealed for the thread, and opened to be sent. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasSealedUserinfo, openUserinfo, sealUserinfo } from '../../src/context/sealedUserinfo.js';

const secretArb = fc.string({ minLength: 1, maxLength: 64 });
const textArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const urlArb = fc
  .record({
    scheme: fc.constantFrom('http', 'https'),
    host: fc.constantFrom('example.com', '127.0.0.1:8080', 'hooks.internal', '[::1]:9'),
    path: fc.constantFrom('/', '/hook', '/a/b%20c', '/cb'),
    query: fc.constantFrom('', '?x=1', '?token=abc&y'),
    user: textArb,
    password: fc.option(textArb, { nil: undefined }),
  })
  .map(({ scheme, host, path, query, user, password }) => {
    const url = new URL(`${scheme}://${host}${path}${query}`);
    url.username = encodeURIComponent(user);
    if (password !== undefined) url.password = encodeURIComponent(password);
    return { href: url.href, user, password };
  });

/** The token of a sealed URL with one bit of its bytes flipped. */
function tampered(sealed: string, at: number, bit: number): string {
  const url = new URL(sealed);
  const [prefix, version, token] = url.username.split('.') as [string, string, string];
  const bytes = Buffer.from(token, 'base64url');
  bytes[at % bytes.length]! ^= 1 << bit;
  url.username = `${prefix}.${version}.${bytes.toString('base64url')}`;
  return url.href;
}

describe('sealed userinfo', () => {
  it('round-trips: the sealed URL holds neither the user nor the password, names the same receiver, and opens to the URL given', () => {
    fc.assert(
      fc.property(urlArb, secretArb, ({ href, user, password }, secret) => {
        const sealed = sealUserinfo(href, secret);
        const url = new URL(sealed);
        const given = new URL(href);
        expect(hasSealedUserinfo(sealed)).toBe(true);
        expect(url.password).toBe('');
        expect(`${url.origin}${url.pathname}${url.search}`).toBe(`${given.origin}${given.pathname}${given.search}`);
        if (password !== undefined && password.length >= 8) expect(sealed).not.toContain(encodeURIComponent(password));
        if (user.length >= 8) expect(sealed).not.toContain(encodeURIComponent(user));
        expect(openUserinfo(sealed, secret)).toEqual({ success: true, data: href });
        // Sealed twice, two tokens (a fresh nonce each time).
        expect(sealUserinfo(href, secret)).not.toBe(sealed);
      }),
    );
  });

  it('does not open once tampered with, under another secret, or moved to another receiver', () => {
    fc.assert(
      fc.property(urlArb, secretArb, secretArb, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ href }, secret, other, at, bit) => {
        const sealed = sealUserinfo(href, secret);
        expect(openUserinfo(tampered(sealed, at, bit), secret).success).toBe(false);
        if (other !== secret) expect(openUserinfo(sealed, other).success).toBe(false);
        const moved = new URL(sealed);
        moved.pathname = `${moved.pathname}x`;
        expect(openUserinfo(moved.href, secret).success).toBe(false);
      }),
    );
  });

  it('leaves a URL without userinfo as it is, and opens a URL without a sealed token to itself', () => {
    expect(sealUserinfo('https://example.com/hook?x=1', 's')).toBe('https://example.com/hook?x=1');
    expect(hasSealedUserinfo('https://user:pw@example.com/hook')).toBe(false);
    expect(openUserinfo('https://user:pw@example.com/hook', 's')).toEqual({ success: true, data: 'https://user:pw@example.com/hook' });
    const failed = openUserinfo('https://sealed.v1.AAAA@example.com/hook', 's');
    expect(failed.success).toBe(false);
    expect(JSON.stringify(failed)).not.toContain('AAAA');
  });
});
