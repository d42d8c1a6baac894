/**
 * A bad setting of `serve` or `worker` (a flag or an environment variable) is one line naming the
 * setting, and exit 2, before anything starts: an operator's typo stops the process (a restart
 * policy that retries exit 1 would restart it forever). And a bearer token read from a secret file
 * with its trailing newline is trimmed, by `serve` and by the client commands alike.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli, type CliResult } from './cliProcess.js';

/** Nothing listens there: a worker that got as far as connecting would exit 1, not 2. */
const NO_NATS = 'nats://127.0.0.1:1';
const LEVELS = 'trace, debug, info, warn, error, fatal or silent';
const TOKEN68 = 'has a character a bearer token cannot carry';
const ALLOWED = 'use letters, digits and - \\. _ ~ \\+ / \\(and = only at the end\\), as RFC 6750 allows';

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ as a user's project is; no config there: the bundled agents.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-settings-'));
  await writeFile(join(dir, 'a-file'), 'not a directory\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `serve` on a data directory of its own (`name`), on a free port. */
const serveArgs = (name: string, ...args: string[]): string[] => ['serve', '--port', '0', '--dir', join(dir, name), ...args];

/** Each bad setting: the command, its environment, and the one line it must print. */
const BAD: readonly (readonly [label: string, args: () => string[], env: Record<string, string>, message: RegExp])[] = [
  ['serve --log-level', () => serveArgs('d1', '--log-level', 'loud'), {}, new RegExp(`^error: --log-level must be one of ${LEVELS} \\(got "loud"\\)$`)],
  ['serve SWITCHYARD_LOG_LEVEL', () => serveArgs('d2'), { SWITCHYARD_LOG_LEVEL: 'verbose' }, new RegExp(`^error: SWITCHYARD_LOG_LEVEL must be one of ${LEVELS} \\(got "verbose"\\)$`)],
  ['worker --log-level', () => ['worker', '--nats-url', NO_NATS, '--log-level', 'loud'], {}, new RegExp(`^error: --log-level must be one of ${LEVELS} \\(got "loud"\\)$`)],
  ['worker SWITCHYARD_LOG_LEVEL', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_LOG_LEVEL: 'verbose' }, /^error: SWITCHYARD_LOG_LEVEL must be one of /],
  ['SWITCHYARD_WEBHOOK_URL', () => serveArgs('d3'), { SWITCHYARD_WEBHOOK_URL: 'ftp://x', SWITCHYARD_WEBHOOK_SECRET: 's' }, /^error: SWITCHYARD_WEBHOOK_URL\b/],
  ['SWITCHYARD_WEBHOOK_SECRET', () => serveArgs('d4'), { SWITCHYARD_WEBHOOK_URL: 'http://127.0.0.1:9/hook' }, /^error: SWITCHYARD_WEBHOOK_URL is set but SWITCHYARD_WEBHOOK_SECRET is not/],
  ['worker SWITCHYARD_BUCKET', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_BUCKET: 'bad/bucket' }, /^error: .*SWITCHYARD_BUCKET.*is invalid\. must be letters, digits, - and _$/],
  ['serve --bucket', () => serveArgs('d5', '--nats-url', NO_NATS, '--bucket', 'bad bucket'), {}, /^error: option '--bucket <name>' argument 'bad bucket' is invalid\. must be letters, digits, - and _$/],
  ['serve --host', () => serveArgs('d6', '--host', 'no-such-host.invalid'), {}, /^error: --host no-such-host\.invalid is not an address of this machine \(getaddrinfo ENOTFOUND/],
  ['serve --dir a file', () => ['serve', '--port', '0', '--dir', join(dir, 'a-file')], {}, /^error: --dir \S+a-file is a file, not a directory$/],
  ['serve SWITCHYARD_INSPECT_WS', () => serveArgs('d7'), { SWITCHYARD_INSPECT_WS: 'notaurl' }, /^error: SWITCHYARD_INSPECT_WS must be a ws:\/\/ or wss:\/\/ URL \(got "notaurl"\)$/],
  ['worker SWITCHYARD_INSPECT_WS', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_INSPECT_WS: 'http://127.0.0.1:1' }, /^error: SWITCHYARD_INSPECT_WS must be a ws:\/\/ or wss:\/\/ URL/],
  ['serve SWITCHYARD_RETAIN_ENDED', () => serveArgs('d9'), { SWITCHYARD_RETAIN_ENDED: '30 days' }, /^error: SWITCHYARD_RETAIN_ENDED must be a duration of at least 1m such as 30d or 12h \(got "30 days"\)$/],
  // So long it is no number (Infinity): refused before serve listens, not by its retention after.
  ['serve SWITCHYARD_RETAIN_ENDED too long', () => serveArgs('d13'), { SWITCHYARD_RETAIN_ENDED: `${'9'.repeat(400)}d` }, /^error: SWITCHYARD_RETAIN_ENDED must be a duration of at most 36500d \(100 years\) \(got "9+d"\)$/],
  // The secrets a rotation keeps (their values are never printed: SECRET-VALUE below).
  ['serve SWITCHYARD_WEBHOOK_SECRET_PREVIOUS with an empty item', () => serveArgs('d10'), { SWITCHYARD_WEBHOOK_SECRET: 'new-SECRET-VALUE', SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: 'old-SECRET-VALUE,' }, /^error: SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: item 2 of 2 is empty/],
  ['worker SWITCHYARD_WEBHOOK_SECRET_PREVIOUS holding the current secret', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_WEBHOOK_SECRET: 'new-SECRET-VALUE', SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: 'old-SECRET-VALUE, new-SECRET-VALUE' }, /^error: SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: item 2 of 2 is the current secret/],
  ['worker SWITCHYARD_WEBHOOK_SECRET_PREVIOUS without SWITCHYARD_WEBHOOK_SECRET', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: 'old-SECRET-VALUE' }, /^error: SWITCHYARD_WEBHOOK_SECRET_PREVIOUS is set but SWITCHYARD_WEBHOOK_SECRET is not/],
  ['serve SWITCHYARD_HOOK_SECRET_PREVIOUS holding --hook-secret', () => serveArgs('d11', '--hook-secret', 'hook-SECRET-VALUE'), { SWITCHYARD_HOOK_SECRET_PREVIOUS: 'hook-SECRET-VALUE' }, /^error: SWITCHYARD_HOOK_SECRET_PREVIOUS: item 1 of 1 is the current secret/],
  ['serve SWITCHYARD_HOOK_SECRET_PREVIOUS without a hook secret', () => serveArgs('d12'), { SWITCHYARD_HOOK_SECRET_PREVIOUS: 'a-SECRET-VALUE,,b-SECRET-VALUE' }, /^error: SWITCHYARD_HOOK_SECRET_PREVIOUS is set but the hook secret is not/],
  ['serve SWITCHYARD_SEAL_SECRET_PREVIOUS without SWITCHYARD_SEAL_SECRET', () => serveArgs('d14'), { SWITCHYARD_SEAL_SECRET_PREVIOUS: 'old-SECRET-VALUE' }, /^error: SWITCHYARD_SEAL_SECRET_PREVIOUS is set but SWITCHYARD_SEAL_SECRET is not/],
  ['worker SWITCHYARD_SEAL_SECRET_PREVIOUS with an empty item', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_SEAL_SECRET: 'seal-SECRET-VALUE', SWITCHYARD_SEAL_SECRET_PREVIOUS: 'old-SECRET-VALUE,,x' }, /^error: SWITCHYARD_SEAL_SECRET_PREVIOUS: item 2 of 3 is empty/],
  ['serve SWITCHYARD_SEAL_SECRET blank', () => serveArgs('d15'), { SWITCHYARD_SEAL_SECRET: '  ' }, /^error: SWITCHYARD_SEAL_SECRET is blank/],
  // Receivers hold the webhook secret: what it sealed, they could open.
  ['worker SWITCHYARD_SEAL_SECRET that is the webhook secret', () => ['worker', '--nats-url', NO_NATS], { SWITCHYARD_SEAL_SECRET: 'one-SECRET-VALUE', SWITCHYARD_WEBHOOK_SECRET: 'one-SECRET-VALUE' }, /^error: SWITCHYARD_SEAL_SECRET must not be the webhook secret/],
  // Trimmed, it would be no token at all: a server open to anyone.
  ['serve SWITCHYARD_TOKEN blank', () => serveArgs('d8'), { SWITCHYARD_TOKEN: ' \n' }, /^error: SWITCHYARD_TOKEN is blank/],
  ['SWITCHYARD_TOKEN with a line break inside', () => ['threads'], { SWITCHYARD_TOKEN: 'tok\nen' }, /^error: SWITCHYARD_TOKEN holds a control character/],
  // No client could send it: hono's bearer check takes RFC 6750's token68 only (QA25 D9).
  ['serve SWITCHYARD_TOKEN outside token68', () => serveArgs('d13'), { SWITCHYARD_TOKEN: 'TOKEN-SECRET-VALUE$!' }, new RegExp(`^error: SWITCHYARD_TOKEN ${TOKEN68} \\(U\\+0024 at index 18\\): ${ALLOWED}$`)],
  ['serve --token with a space inside', () => serveArgs('d14', '--token', 'TOKEN SECRET-VALUE'), {}, new RegExp(`^error: --token ${TOKEN68} \\(U\\+0020 at index 5\\): ${ALLOWED}$`)],
  ['threads with such a token: a usage error, not a refusal by the server', () => ['threads', '--url', 'http://127.0.0.1:1'], { SWITCHYARD_TOKEN: 'TOKEN-SECRET-VALUE!' }, new RegExp(`^error: SWITCHYARD_TOKEN ${TOKEN68} \\(U\\+0021 at index 18\\)`)],
];

function expectOneLineExit2(label: string, result: CliResult, message: RegExp): void {
  expect(result.code, `${label}: ${result.stderr}`).toBe(2);
  expect(result.stdout, label).toBe('');
  expect(result.stderr.split('\n')[0], label).toMatch(message);
  expect(result.stderr, label).not.toMatch(/^\s+at /m);
  // The token's value is never echoed.
  expect(result.stderr, label).not.toContain('tok\nen');
  expect(result.stderr, label).not.toContain('SECRET-VALUE');
}

describe('a bad setting is one line naming it, and exit 2', () => {
  it.each(BAD.map((bad) => [bad[0], bad] as const))('%s', async (label, [, args, env, message]) => {
    expectOneLineExit2(label, await runCli(args(), { cwd: dir, env }), message);
  });
});

describe('SWITCHYARD_TOKEN', () => {
  it('is trimmed by serve and by the client commands: a secret file\'s trailing newline does not lock everyone out', async () => {
    const env = { SWITCHYARD_TOKEN: 'tok-HTTP-999\n' };
    const served = startCli(serveArgs('token'), { cwd: dir, env });
    try {
      const url = (await served.waitFor(/switchyard listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      await served.waitFor(/press Ctrl\+C to stop/);
      const threads = await runCli(['threads', '--url', url], { cwd: dir, env });
      expect(threads.stderr).toBe('');
      expect(threads.code).toBe(0);
      // What any HTTP client sends: the token, without the newline.
      const direct = await fetch(`${url}/threads`, { headers: { authorization: 'Bearer tok-HTTP-999' } });
      expect(direct.status).toBe(200);
      const wrong = await fetch(`${url}/threads`, { headers: { authorization: 'Bearer tok-HTTP-99' } });
      expect(wrong.status).toBe(401);
    } finally {
      await served.stop();
    }
  });
});
