/**
 * `--nats-url` and NATS_URL take NATS server URLs (`nats://`, `tls://`, or a bare `host:port`),
 * comma-separated. Any other scheme (an `http://` copied from the HTTP API's address, say) is a
 * usage error naming the URL and the forms it may take, before anything connects: nats.js would
 * otherwise take the host and port of `http://...` and connect as if it said `nats://`.
 */
import { describe, expect, it } from 'vitest';
import { runCliHere as inProcess } from '../support/inProcessCli.js';
import { natsServerUrls } from '../../src/cli/natsUrl.js';


/** The one line refusing `http://127.0.0.1:4222`, naming the setting it came from. */
const wrong = (setting: string): RegExp =>
  new RegExp(`^error: ${setting} http://127\\.0\\.0\\.1:4222 is not a NATS server URL: give nats://host:port, tls://host:port or host:port \\(comma-separated for several\\)$`);

describe('a NATS URL of another scheme is a usage error', () => {
  it('for worker, from the flag and from NATS_URL', async () => {
    for (const [result, setting] of [
      [await inProcess(['worker', '--nats-url', 'http://127.0.0.1:4222']), '--nats-url'],
      [await inProcess(['worker'], { NATS_URL: 'http://127.0.0.1:4222' }), 'NATS_URL'],
    ] as const) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.split('\n')[0]).toMatch(wrong(setting));
    }
  });

  it('for serve, naming the one wrong URL of a list', async () => {
    const result = await inProcess(['serve', '--port', '0', '--nats-url', 'nats://127.0.0.1:1, http://127.0.0.1:4222']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(wrong('--nats-url'));
  });
});

describe('a NATS URL with a password written raw (# ? /) is refused without printing it (QA25 D2)', () => {
  it.each([['s3cr3tP4ssw0rd#9'], ['p?ss-qmark-plant'], ['pa/ss-SLASH-plant']])('password %s, naming the setting it came from', async (password) => {
    const url = `nats://opuser:${password}@127.0.0.1:47320`;
    const fromEnv = await inProcess(['worker'], { NATS_URL: url });
    expect(fromEnv.code, fromEnv.stderr).toBe(2);
    expect(fromEnv.stderr.split('\n')[0]).toMatch(/^error: NATS_URL nats:\/\/opuser:\*\*\*@127\.0\.0\.1:47320 is not a NATS server URL: /);
    const fromFlag = await inProcess(['serve', '--port', '0', '--nats-url', url]);
    expect(fromFlag.code, fromFlag.stderr).toBe(2);
    expect(fromFlag.stderr.split('\n')[0]).toMatch(/^error: --nats-url nats:\/\/opuser:\*\*\*@127\.0\.0\.1:47320 is not a NATS server URL: /);
    for (const { stderr, stdout } of [fromEnv, fromFlag]) {
      expect(stderr + stdout).not.toContain(password.slice(0, 4));
      // What to do about it.
      expect(stderr.split('\n')[0]).toMatch(/; a password or token holding , \/ \? # @ or a space must be percent-encoded \(%2C %2F %3F %23 %40 %20\)$/);
    }
  });

  it('names an entry of a list holding credentials by its place, never printing the part of a password before a comma', () => {
    expect(() => natsServerUrls('nats://opuser:pw1,rest-of-it@127.0.0.1:4222', 'NATS_URL')).toThrow(/^NATS_URL entry 1 of 2 is not a NATS server URL/);
    expect(() => natsServerUrls('nats://opuser:pw1,rest-of-it@127.0.0.1:4222', 'NATS_URL')).not.toThrow(/pw1|rest-of/);
  });
});

describe('natsServerUrls', () => {
  it('splits a list and keeps each URL as written', () => {
    expect(natsServerUrls('nats://a:4222, tls://b:4223,c:4224')).toEqual(['nats://a:4222', 'tls://b:4223', 'c:4224']);
    expect(natsServerUrls('nats://user:pa%40ss@127.0.0.1:4222')).toEqual(['nats://user:pa%40ss@127.0.0.1:4222']);
    expect(natsServerUrls('NATS://127.0.0.1')).toEqual(['NATS://127.0.0.1']);
  });

  it('refuses other schemes, empty entries and unparsable URLs, without echoing a password', () => {
    expect(() => natsServerUrls('ws://127.0.0.1:8080')).toThrow(/ws:\/\/127\.0\.0\.1:8080 is not a NATS server URL/);
    expect(() => natsServerUrls('https://u:secret@host:1')).toThrow(/https:\/\/u:\*\*\*@host:1 is not a NATS server URL/);
    expect(() => natsServerUrls('https://u:secret@host:1')).not.toThrow(/secret/);
    expect(() => natsServerUrls('nats://a:1,,nats://b:2')).toThrow(/an empty entry/);
    expect(() => natsServerUrls('nats://[bad')).toThrow(/is not a NATS server URL/);
  });
});
