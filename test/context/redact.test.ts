import { describe, expect, it } from 'vitest';
import { isSecretKey, mayHoldSecret, REDACTED, redactJson } from '../../src/context/redact.js';
import type { Json } from '../../src/thread/events.js';

describe('secret keys', () => {
  it('redacts thread data under secret names only, so arguments tools run with keep their fields', () => {
    expect(redactJson({ token: 't-1', api_key: 'k', clientSecret: 's', maxTokens: 100, tokenizer: 'cl100k', nested: [{ password: 'p' }] })).toEqual({
      token: REDACTED,
      api_key: REDACTED,
      clientSecret: REDACTED,
      maxTokens: 100,
      tokenizer: 'cl100k',
      nested: [{ password: REDACTED }],
    });
    expect([isSecretKey('refresh_token'), isSecretKey('maxTokens')]).toEqual([true, false]);
  });

  it('hides more in what is only shown: any key with a secret word in it', () => {
    expect(['sessionCookie', 'x-api-key', 'maxTokens', 'credentials', 'agent'].map(mayHoldSecret)).toEqual([true, true, true, true, false]);
    // Everything thread data redacts is hidden from summaries too.
    for (const key of ['token', 'api_key', 'apikey', 'password', 'secret', 'access_token', 'client_secret', 'private_key', 'authorization']) {
      expect([key, isSecretKey(key), mayHoldSecret(key)]).toEqual([key, true, true]);
    }
  });

  it('copies only what it redacts: a clean value comes back as it is, unchanged parts are shared, key order kept', () => {
    const clean = { a: 1, list: [1, 'two', { b: null }], nested: { c: 'text' } };
    expect(redactJson(clean)).toBe(clean);
    const dirty = { first: { keep: true }, token: 'abc', list: ['x', 'sk-abcdefghijklmnopqrstuv'], last: [1] };
    const redacted = redactJson(dirty, []) as typeof dirty;
    expect(redacted).toEqual({ first: { keep: true }, token: REDACTED, list: ['x', REDACTED], last: [1] });
    expect(Object.keys(redacted)).toEqual(['first', 'token', 'list', 'last']);
    expect(redacted.first).toBe(dirty.first);
    expect(redacted.last).toBe(dirty.last);
    expect(dirty.token).toBe('abc');
    expect(redactJson(['a', 'my-secret-value', 'b'], ['my-secret-value'])).toEqual(['a', REDACTED, 'b']);
  });

  it('keeps a "__proto__" key of parsed JSON as a key of the copy, never as its prototype', () => {
    // JSON.parse makes "__proto__" an own key; a copy by assignment would make it the prototype,
    // so the log would lose it while code reading the copy still saw its fields.
    for (const text of ['{"token":"abc","__proto__":{"to":"attacker@example.com"}}', '{"__proto__":{"to":"x"},"a":[{"token":"t","__proto__":{"b":1}}]}']) {
      const value = JSON.parse(text) as Record<string, Json>;
      const redacted = redactJson(value) as Record<string, Json>;
      expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
      expect(Object.hasOwn(redacted, '__proto__')).toBe(true);
      expect((redacted as { to?: unknown }).to).toBeUndefined();
      expect(JSON.parse(JSON.stringify(redacted))).toEqual(JSON.parse(text.replaceAll('"abc"', `"${REDACTED}"`).replaceAll('"t"', `"${REDACTED}"`)));
    }
  });
});
