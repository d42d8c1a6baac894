/**
 * `sealUrl` / `openUrl`: a URL's credentials (its userinfo, the values of its secret-named query
 * parameters) sealed for the thread, and opened to be sent as the URL given.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSecretParam } from '../../src/context/redact.js';
import { hasCredentials, hasSealedCredentials, maskedCredentials, openUrl, sealUrl } from '../../src/context/sealedUrl.js';

const secretArb = fc.string({ minLength: 1, maxLength: 64 });
const textArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const SEALED_VALUE = /^sealed\.v1\.[A-Za-z0-9_-]+$/;

const baseArb = fc.record({
  scheme: fc.constantFrom('http', 'https'),
  host: fc.constantFrom('example.com', '127.0.0.1:8080', 'hooks.internal', '[::1]:9'),
  path: fc.constantFrom('/', '/hook', '/a/b%20c', '/cb'),
});

const userinfoUrlArb = fc
  .record({
    base: baseArb,
    // Queries without a secret-named parameter: the userinfo alone is sealed.
    query: fc.constantFrom('', '?x=1', '?y&page=2'),
    user: textArb,
    password: fc.option(textArb, { nil: undefined }),
  })
  .map(({ base: { scheme, host, path }, query, user, password }) => {
    const url = new URL(`${scheme}://${host}${path}${query}`);
    url.username = encodeURIComponent(user);
    if (password !== undefined) url.password = encodeURIComponent(password);
    return { href: url.href, user, password };
  });

/** Names a receiver authenticates by (sealed), as written in a URL; `%74oken` is `token` encoded. */
const SECRET_NAMES = ['token', 'api_key', 'apiKey', 'access_token', 'sig', 'signature', 'key', 'code', 'X-Api-Key', 'hook_secret', 'password', 'auth', '%74oken'];
/** Names that hold no secret (kept as they are). */
const OTHER_NAMES = ['b', 'page', 'format', 'id', 'x%20y', 'keyword', 'signal', 'design', 'a+b', ''];

/** Ways a client writes a value: percent-encoded, form-encoded (`+` for a space), or mostly raw. */
const encodings: readonly ((value: string) => string)[] = [
  encodeURIComponent,
  (value) => encodeURIComponent(value).replace(/%20/g, '+'),
  (value) => value.replace(/&/g, '%26').replace(/#/g, '%23'),
];

const paramArb = fc.record({
  secret: fc.boolean(),
  name: fc.nat(),
  value: fc.option(fc.string({ unit: 'grapheme', maxLength: 24 }), { nil: undefined }),
  encoding: fc.nat({ max: encodings.length - 1 }),
});

type Param = { readonly name: string; readonly secret: boolean; readonly value: string | undefined };

/** A URL with userinfo (sometimes) and a query mixing secret-named and other parameters, as `new URL` writes it. */
const queryUrlArb = fc
  .record({
    base: baseArb,
    user: fc.option(fc.tuple(textArb, textArb), { nil: undefined }),
    params: fc.array(paramArb, { maxLength: 7 }),
    fragment: fc.constantFrom('', '#top'),
  })
  .map(({ base: { scheme, host, path }, user, params, fragment }) => {
    const written: Param[] = params.map(({ secret, name, value, encoding }) => {
      const names = secret ? SECRET_NAMES : OTHER_NAMES;
      return { name: names[name % names.length]!, secret, value: value === undefined ? undefined : encodings[encoding]!(value) };
    });
    const query = written.map(({ name, value }) => (value === undefined ? name : `${name}=${value}`)).join('&');
    const url = new URL(`${scheme}://${host}${path}${written.length === 0 ? '' : `?${query}`}${fragment}`);
    if (user !== undefined) {
      url.username = encodeURIComponent(user[0]);
      url.password = encodeURIComponent(user[1]);
    }
    return { href: url.href, params: written, user };
  });

/** The pairs of a URL's query, as written (`new URL` keeps the names of the lists above as they are). */
function pairsOf(href: string): string[] {
  const search = new URL(href).search;
  return search === '' ? [] : search.slice(1).split('&');
}

/** Whether a parameter holds a value to seal. */
const sealable = (param: Param): boolean => param.secret && param.value !== undefined && param.value !== '';

/** A sealed URL with one bit flipped in the bytes of its `index`-th sealed query value. */
function tamperedQuery(sealed: string, index: number, at: number, bit: number): string {
  const [base, query] = splitQuery(sealed);
  const pairs = query.split('&');
  const sealedAt = pairs.flatMap((pair, i) => (SEALED_VALUE.test(pair.slice(pair.indexOf('=') + 1)) ? [i] : []));
  const i = sealedAt[index % sealedAt.length]!;
  const eq = pairs[i]!.indexOf('=');
  const token = pairs[i]!.slice(eq + 1 + 'sealed.v1.'.length);
  const bytes = Buffer.from(token, 'base64url');
  bytes[at % bytes.length]! ^= 1 << bit;
  pairs[i] = `${pairs[i]!.slice(0, eq)}=sealed.v1.${bytes.toString('base64url')}`;
  return `${base}?${pairs.join('&')}`;
}

function splitQuery(href: string): [string, string] {
  const question = href.indexOf('?');
  const hash = href.indexOf('#');
  return [href.slice(0, question), href.slice(question + 1, hash === -1 ? undefined : hash)];
}

/** A sealed URL with its userinfo token's bytes flipped at one bit. */
function tamperedUserinfo(sealed: string, at: number, bit: number): string {
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
      fc.property(userinfoUrlArb, secretArb, ({ href, user, password }, secret) => {
        const sealed = sealUrl(href, secret);
        const url = new URL(sealed);
        const given = new URL(href);
        expect(hasSealedCredentials(sealed)).toBe(true);
        expect(hasCredentials(sealed)).toBe(false);
        expect(url.password).toBe('');
        expect(`${url.origin}${url.pathname}${url.search}`).toBe(`${given.origin}${given.pathname}${given.search}`);
        if (password !== undefined && password.length >= 8) expect(sealed).not.toContain(encodeURIComponent(password));
        if (user.length >= 8) expect(sealed).not.toContain(encodeURIComponent(user));
        expect(openUrl(sealed, secret)).toEqual({ success: true, data: href });
        // Sealed twice, two tokens (a fresh nonce each time).
        expect(sealUrl(href, secret)).not.toBe(sealed);
      }),
    );
  });

  it('does not open once tampered with, under another secret, or moved to another receiver', () => {
    fc.assert(
      fc.property(userinfoUrlArb, secretArb, secretArb, fc.nat(), fc.integer({ min: 0, max: 7 }), ({ href }, secret, other, at, bit) => {
        const sealed = sealUrl(href, secret);
        expect(openUrl(tamperedUserinfo(sealed, at, bit), secret).success).toBe(false);
        if (other !== secret) expect(openUrl(sealed, other).success).toBe(false);
        const moved = new URL(sealed);
        moved.pathname = `${moved.pathname}x`;
        expect(openUrl(moved.href, secret).success).toBe(false);
      }),
    );
  });

  it('leaves a URL without credentials as it is, and opens a URL without a sealed token to itself', () => {
    expect(sealUrl('https://example.com/hook?x=1', 's')).toBe('https://example.com/hook?x=1');
    expect(hasSealedCredentials('https://user:pw@example.com/hook')).toBe(false);
    expect(openUrl('https://user:pw@example.com/hook', 's')).toEqual({ success: true, data: 'https://user:pw@example.com/hook' });
    const failed = openUrl('https://sealed.v1.AAAA@example.com/hook', 's');
    expect(failed.success).toBe(false);
    expect(JSON.stringify(failed)).not.toContain('AAAA');
  });
});

describe('sealed query values', () => {
  it('round-trip: each secret-named value is a sealed token, every other pair is kept byte for byte in its place, and the URL opens to the URL given', () => {
    fc.assert(
      fc.property(queryUrlArb, secretArb, ({ href, params, user }, secret) => {
        const sealed = sealUrl(href, secret);
        const given = pairsOf(href);
        const kept = pairsOf(sealed);
        expect(kept).toHaveLength(given.length);
        params.forEach((param, i) => {
          if (sealable(param)) expect(kept[i]).toMatch(new RegExp(`^${param.name.replace(/[+]/g, '\\+')}=sealed\\.v1\\.[A-Za-z0-9_-]+$`));
          else expect(kept[i]).toBe(given[i]);
          // (A value that is also elsewhere in the URL, say in another parameter, is not looked for.)
          if (sealable(param) && param.value!.length >= 8 && href.split(param.value!).length === 2) expect(sealed).not.toContain(param.value);
        });
        expect(new URL(sealed).hash).toBe(new URL(href).hash);
        const anySealed = params.some(sealable) || user !== undefined;
        expect(hasSealedCredentials(sealed)).toBe(anySealed);
        expect(hasCredentials(href)).toBe(anySealed);
        expect(hasCredentials(sealed)).toBe(false);
        expect(openUrl(sealed, secret)).toEqual({ success: true, data: href });
        if (anySealed) expect(sealUrl(href, secret)).not.toBe(sealed);
        else expect(sealed).toBe(href);
      }),
    );
  });

  it('do not open once tampered with, under another secret, moved to another receiver, or swapped between parameters', () => {
    const withSecretArb = queryUrlArb.filter(({ params }) => params.some(sealable));
    fc.assert(
      fc.property(withSecretArb, secretArb, secretArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), ({ href }, secret, other, index, at, bit) => {
        const sealed = sealUrl(href, secret);
        const tampered = openUrl(tamperedQuery(sealed, index, at, bit), secret);
        expect(tampered.success).toBe(false);
        expect(JSON.stringify(tampered)).not.toContain('sealed.v1.');
        if (other !== secret) expect(openUrl(sealed, other).success).toBe(false);
        const moved = new URL(sealed);
        moved.pathname = `${moved.pathname}x`;
        expect(openUrl(moved.href, secret).success).toBe(false);
        // A sealed value put under another parameter does not open there.
        const [base, query] = splitQuery(sealed);
        const pairs = query.split('&');
        const first = pairs.findIndex((pair) => SEALED_VALUE.test(pair.slice(pair.indexOf('=') + 1)));
        const value = pairs[first]!.slice(pairs[first]!.indexOf('=') + 1);
        expect(openUrl(`${base}?${[...pairs, `token=${value}`].join('&')}`, secret).success).toBe(false);
      }),
    );
  });

  it('seal exactly what a receiver would read as a secret’s name (the broad rule, and names that are secrets in URLs)', () => {
    for (const name of ['token', 'api_key', 'apiKey', 'api-key', 'X-Api-Key', 'access_token', 'hook_token', 'client_secret', 'password', 'sig', 'signature', 'SIG', 'key', 'code', 'auth', 'X-Amz-Signature', 'X-Goog-Signature', 'x-goog-signature', 'hook_sig', 'request-sig', 'jwt', 'JWT', 'id_jwt']) {
      expect({ name, secret: isSecretParam(name) }).toEqual({ name, secret: true });
    }
    // Names made of words one of which is such a name (QA: these were kept in clear).
    for (const name of ['access_key', 'AccessKey', 'access-key', 'accesskey', 'keyId', 'hmac_key', 'signing_key', 'auth_code', 'passphrase', 'x-auth', 'webhook_key', 'master_key', 'license_key', 'shared_key', 'authkey', 'x-hmac', 'hookSig']) {
      expect({ name, secret: isSecretParam(name) }).toEqual({ name, secret: true });
    }
    for (const name of ['b', 'page', 'format', 'id', 'keyword', 'keys', 'signal', 'design', 'codec', 'author', 'q', '', 'consignature', 'X-Amz-SignedHeaders', 'X-Amz-Date', 'X-Goog-Algorithm', 'sigma', 'jwts_enabled', 'Authority', 'passport', 'keyboard_layout', 'zip_code_area']) {
      expect({ name, secret: isSecretParam(name) }).toEqual({ name, secret: false });
    }
    // A name is read as a receiver reads it: percent- and form-decoded.
    expect(sealUrl('https://h/p?%74oken=abc', 's')).toMatch(/^https:\/\/h\/p\?%74oken=sealed\.v1\./);
    expect(sealUrl('https://h/p?api+key=abc&api%5Fkey=def', 's')).toMatch(/^https:\/\/h\/p\?api\+key=sealed\.v1\.[A-Za-z0-9_-]+&api%5Fkey=sealed\.v1\.[A-Za-z0-9_-]+$/);
    expect(sealUrl('https://h/p?zip+code=abc', 's')).toBe('https://h/p?zip+code=abc');
    // An empty value, or a name alone, holds nothing to seal.
    expect(sealUrl('https://h/p?token=&token&b=1', 's')).toBe('https://h/p?token=&token&b=1');
    expect(hasCredentials('https://h/p?token=&token&b=1')).toBe(false);
  });

  it('seal any name that ends in a signature or a JWT after a dash or an underscore, in any case (X-Amz-Signature, X-Goog-Signature, hook_sig, id_jwt)', () => {
    const prefixArb = fc.stringMatching(/^[A-Za-z0-9]{1,12}([-_][A-Za-z0-9]{1,12}){0,2}$/);
    const caseArb = fc.constantFrom((t: string) => t, (t: string) => t.toUpperCase(), (t: string) => t[0]!.toUpperCase() + t.slice(1));
    fc.assert(
      fc.property(prefixArb, fc.constantFrom('-', '_'), fc.constantFrom('sig', 'signature', 'jwt'), caseArb, (prefix, separator, word, cased) => {
        expect(isSecretParam(`${prefix}${separator}${cased(word)}`)).toBe(true);
      }),
    );
  });

  it('are masked where a URL recorded in clear is shown; sealed ones hold nothing and are shown as they are', () => {
    expect(maskedCredentials('https://h/p?b=1&token=abc&api_key=&flag&sig=x%3Dy#f')).toBe('https://h/p?b=1&token=***&api_key=&flag&sig=***#f');
    expect(maskedCredentials('https://user:pw@h/p?token=abc')).toBe('https://user:***@h/p?token=***');
    expect(maskedCredentials('https://tok@h/p')).toBe('https://***@h/p');
    const sealed = sealUrl('https://user:pw@h/p?b=1&token=abc', 's');
    expect(maskedCredentials(sealed)).toBe(sealed);
    expect(maskedCredentials('https://h/p?b=1')).toBe('https://h/p?b=1');
    expect(maskedCredentials('my.subject')).toBe('my.subject');
  });
});
