/**
 * The server URL of the client commands (`--url`, SWITCHYARD_URL). The CLI authenticates with a
 * bearer token only: a URL with userinfo is a usage error that says to use --token (fetch refuses
 * such a URL before sending, which was reported as "cannot reach"), never printing the password.
 * A URL with a query or fragment is a usage error too: the API's paths would land inside it.
 * Whatever is printed of the URL is masked (QA25 D4).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UnreachableError } from '../../src/cli/client.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

/** Runs the CLI in-process; `env` is set in process.env too, where commander reads SWITCHYARD_URL. */
async function inProcess(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  return runCliHere(args, env);
}

describe('the client commands refuse a server URL they cannot use, as a usage error naming the setting', () => {
  it('a URL with a password: use --token, the password never printed', async () => {
    const fromFlag = await inProcess(['threads', '--url', 'http://cu:CLIURLPW-2222@127.0.0.1:1']);
    expect(fromFlag.code, fromFlag.stderr).toBe(2);
    expect(fromFlag.stderr).toMatch(/^error: --url http:\/\/cu:\*\*\*@127\.0\.0\.1:1 holds credentials \(user:password@\), which the CLI does not send: give the server's bearer token with --token or SWITCHYARD_TOKEN\n\(add --help for usage\)\n$/);
    const fromEnv = await inProcess(['show', 't1'], { SWITCHYARD_URL: 'http://cu:CLIURLPW-2222@127.0.0.1:1' });
    expect(fromEnv.code, fromEnv.stderr).toBe(2);
    expect(fromEnv.stderr).toMatch(/^error: SWITCHYARD_URL http:\/\/cu:\*\*\*@127\.0\.0\.1:1 holds credentials/);
    for (const { stdout, stderr } of [fromFlag, fromEnv]) expect(stdout + stderr).not.toContain('CLIURLPW');
  });

  it('a URL with a query or a fragment, its values never printed', async () => {
    const query = await inProcess(['threads', '--url', 'http://127.0.0.1:1/?token=CLIQTOK-2121']);
    expect(query.code, query.stderr).toBe(2);
    expect(query.stderr).toMatch(/^error: --url http:\/\/127\.0\.0\.1:1\/\?token=\*\*\* has a query or a fragment: give the server's base URL alone, such as http:\/\/127\.0\.0\.1:7878 \(a token goes in --token or SWITCHYARD_TOKEN\)\n\(add --help for usage\)\n$/);
    expect(query.stderr).not.toContain('CLIQTOK');
    const fragment = await inProcess(['show', 't1'], { SWITCHYARD_URL: 'http://127.0.0.1:1/#x' });
    expect(fragment.code, fragment.stderr).toBe(2);
    expect(fragment.stderr).toMatch(/^error: SWITCHYARD_URL http:\/\/127\.0\.0\.1:1\/ has a query or a fragment/);
  });

  it('a URL that is not http:// or https:// (a bare host:port), or not a URL, naming the setting', async () => {
    const bare = await inProcess(['threads', '--url', 'localhost:7878']);
    expect(bare.code, bare.stderr).toBe(2);
    expect(bare.stderr.split('\n')[0]).toBe('error: --url must be an http:// or https:// URL such as http://127.0.0.1:7878 (got "localhost:7878")');
    const junk = await inProcess(['threads'], { SWITCHYARD_URL: 'not a url:PW-JUNK-1@' });
    expect(junk.code, junk.stderr).toBe(2);
    expect(junk.stderr).toMatch(/^error: SWITCHYARD_URL must be an http:\/\/ or https:\/\/ URL/);
    expect(junk.stderr).not.toContain('PW-JUNK');
  });

  it('a plain base URL, with a path, is taken (and reported unreachable when nothing answers)', async () => {
    const result = await inProcess(['threads', '--url', 'http://127.0.0.1:1/switchyard/']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toBe('error: cannot reach switchyard at http://127.0.0.1:1/switchyard: is `switchyard serve` running?\n');
  });
});

describe('UnreachableError', () => {
  it('names the URL masked', () => {
    expect(new UnreachableError('http://cu:CLIURLPW-2020@127.0.0.1:1').message).toBe('cannot reach switchyard at http://cu:***@127.0.0.1:1: is `switchyard serve` running?');
  });
});
