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
});
