import { describe, expect, it } from 'vitest';
import { isSecretKey, mayHoldSecret, REDACTED, redactJson } from '../../src/context/redact.js';

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
});
