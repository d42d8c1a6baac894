/** How the bus reads credentials from server URLs, which nats.js itself never sends. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { hasAuth, splitServerCredentials } from '../../src/nats/natsAuth.js';

describe('splitServerCredentials', () => {
  it('turns user:password@ into user and pass, token@ into a token, and strips them from the URLs', () => {
    expect(splitServerCredentials('nats://opuser:S3cret@127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'], auth: { user: 'opuser', pass: 'S3cret' } });
    expect(splitServerCredentials(['nats://tok@n1:4222', 'nats://tok@n2:4222'])).toEqual({ servers: ['nats://n1:4222', 'nats://n2:4222'], auth: { token: 'tok' } });
  });

  it('decodes percent-encoding, and takes the last @ as the end of the userinfo', () => {
    expect(splitServerCredentials('nats://a%40b:p%3Aw@host:4222').auth).toEqual({ user: 'a@b', pass: 'p:w' });
    expect(splitServerCredentials('u:p@ss@host:4222')).toEqual({ servers: ['host:4222'], auth: { user: 'u', pass: 'p@ss' } });
  });

  it('leaves URLs without credentials as they are', () => {
    expect(splitServerCredentials(['nats://127.0.0.1:4222', 'host:4222'])).toEqual({ servers: ['nats://127.0.0.1:4222', 'host:4222'], auth: undefined });
  });

  it('refuses URLs that carry different credentials, without naming them', () => {
    const split = (): unknown => splitServerCredentials(['nats://a:pw1@n1:4222', 'nats://a:pw2@n2:4222']);
    expect(split).toThrow(ConfigError);
    expect(split).toThrow(/different credentials/);
    expect(split).not.toThrow(/pw1|pw2/);
  });
});

describe('hasAuth', () => {
  it('is whether connect options already say how to authenticate', () => {
    expect(hasAuth(undefined)).toBe(false);
    expect(hasAuth({})).toBe(false);
    expect(hasAuth({ token: 't' })).toBe(true);
    expect(hasAuth({ user: 'u', pass: 'p' })).toBe(true);
  });
});
