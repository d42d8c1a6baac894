/** `redactUrl`: a URL as it may be printed, its credentials masked. */
import { describe, expect, it } from 'vitest';
import { redactUrl, redactUrlList } from '../../src/context/redactUrl.js';

describe('redactUrl', () => {
  it('masks the password of the userinfo and keeps the user', () => {
    expect(redactUrl('nats://opuser:S3cretNatsPass@127.0.0.1:14261')).toBe('nats://opuser:***@127.0.0.1:14261');
    expect(redactUrl('https://u:p%40ss@example.com/v1')).toBe('https://u:***@example.com/v1');
  });

  it('masks a userinfo without a password whole: it is a token (nats://token@host)', () => {
    expect(redactUrl('nats://sometoken@127.0.0.1:4222')).toBe('nats://***@127.0.0.1:4222');
  });

  it('masks every query value, keeps the names, and drops the fragment', () => {
    expect(redactUrl('https://h:8443/v1?api-key=sk-QUERYKEY-666&api-version=2024&flag#sig=abc')).toBe('https://h:8443/v1?api-key=***&api-version=***&flag');
  });

  it('leaves a URL without credentials as it is, and masks what looks like userinfo in text that is not a URL', () => {
    expect(redactUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
    expect(redactUrl('http://localhost:11434/v1')).toBe('http://localhost:11434/v1');
    expect(redactUrl('opuser:pw@nats:4222')).toBe('opuser:***@nats:4222');
    expect(redactUrl('')).toBe('');
  });

  it('masks a password written raw with #, ? or / (the URL does not parse; QA25 D2)', () => {
    expect(redactUrl('nats://opuser:s3cr3tP4ssw0rd#9@127.0.0.1:47320')).toBe('nats://opuser:***@127.0.0.1:47320');
    expect(redactUrl('nats://opuser:p?ss-qmark-plant@127.0.0.1:47320')).toBe('nats://opuser:***@127.0.0.1:47320');
    expect(redactUrl('nats://opuser:pa/ss-SLASH-plant@127.0.0.1:47320')).toBe('nats://opuser:***@127.0.0.1:47320');
    expect(redactUrl('http://mu:BASE#PW-plant-6363@127.0.0.1:47311/v1')).toBe('http://mu:***@127.0.0.1:47311/v1');
    expect(redactUrl('nats://to/ken+b64==@127.0.0.1:4222')).toBe('nats://***@127.0.0.1:4222');
  });

  it('redacts each URL of a comma-separated list', () => {
    expect(redactUrlList('nats://a:pw1@n1:4222,nats://a:pw2@n2:4222')).toBe('nats://a:***@n1:4222,nats://a:***@n2:4222');
  });
});
