/**
 * Settings `serve` (and the client commands) once took although they are wrong: each is one line
 * naming the setting, and exit 2, before anything starts. In this process (settings.test.ts runs
 * the others in child processes).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliProcess.js';
import { runInProcess } from './runInProcess.js';

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ as a user's project is; no config there: the bundled agents.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-bad-settings-'));
  // A project of its own without a demo thread.
  const src = JSON.stringify(join(ROOT, 'src/index.ts'));
  await writeFile(join(dir, 'nodemo.config.mts'), `import { agent, defineConfig } from ${src};\nexport default defineConfig({ agents: [agent({ name: 'alpha', description: 'alpha', prompt: 'You help.', tools: [] })] });\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `serve` on a data directory of its own (`name`), on a free port. */
const serveArgs = (name: string, ...args: string[]): string[] => ['serve', '--port', '0', '--no-demo', '--dir', join(dir, name), ...args];

/** Runs `args` with `env`; fails the test (after stopping it) if it started instead of exiting 2 with one line matching `message`. */
async function expectRefused(args: string[], env: Record<string, string>, message: RegExp): Promise<void> {
  const run = await runInProcess(args, env, dir);
  if ('started' in run) {
    await run.started.stop();
    throw new Error(`started instead of refusing the setting; stdout: ${run.started.stdout()}\nstderr: ${run.started.stderr()}`);
  }
  const { code, stdout, stderr } = run.ended;
  expect(stderr.split('\n')[0]).toMatch(message);
  expect(code, stderr).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('a blank secret is refused as a blank token is', () => {
  // QA (qa25-ops D4): a secret read from a file that came out as spaces or a newline turned hooks
  // on with that blank secret (anyone could sign a launch), and signed webhooks with it.
  it('--hook-secret', async () => {
    await expectRefused(serveArgs('h1', '--hook-secret', '  '), {}, /^error: --hook-secret is blank \(only whitespace\): /);
  });

  it('SWITCHYARD_HOOK_SECRET', async () => {
    // Commander reads the option's variable from process.env, not from the environment given here.
    process.env.SWITCHYARD_HOOK_SECRET = ' \n';
    try {
      await expectRefused(serveArgs('h2'), {}, /^error: SWITCHYARD_HOOK_SECRET is blank \(only whitespace\): /);
    } finally {
      delete process.env.SWITCHYARD_HOOK_SECRET;
    }
  });

  it('SWITCHYARD_WEBHOOK_SECRET', async () => {
    await expectRefused(serveArgs('h3'), { SWITCHYARD_WEBHOOK_URL: 'http://127.0.0.1:9/hook', SWITCHYARD_WEBHOOK_SECRET: '  ' }, /^error: SWITCHYARD_WEBHOOK_SECRET is blank \(only whitespace\): /);
  });
});

describe('settings that only NATS used, or that were read loosely, are checked at start', () => {
  // QA (qa25-ops D10): each of these started serve (or reached for the server) instead.
  it('--prefix with a space, without NATS (as --bucket is)', async () => {
    await expectRefused(serveArgs('p1', '--prefix', 'a b'), {}, /^error: --prefix: NATS subject prefix "a b" must be dot-separated tokens without wildcards or spaces$/);
  });

  it('--prefix given empty (an unset variable in a script): not the default prefix, another deployment\'s queues', async () => {
    // QA (qa26-triggers D8): `--prefix "$PREFIX"` with PREFIX unset joined the default `switchyard.>`.
    await expectRefused(serveArgs('p1e', '--prefix', ''), {}, /^error: --prefix is empty: leave it out for the default \(switchyard\), or name the deployment's prefix$/);
  });

  it('SWITCHYARD_PREFIX with a space, without NATS', async () => {
    await expectRefused(serveArgs('p2'), { SWITCHYARD_PREFIX: 'a b' }, /^error: SWITCHYARD_PREFIX: NATS subject prefix "a b" must be /);
  });

  it('SWITCHYARD_INSPECT_HEARTBEAT_MS that is no number, without NATS', async () => {
    await expectRefused(serveArgs('p3'), { SWITCHYARD_INSPECT_HEARTBEAT_MS: 'abc' }, /^error: SWITCHYARD_INSPECT_HEARTBEAT_MS must be a whole number of milliseconds/);
  });

  it('SWITCHYARD_WEBHOOK_URL with a stray comma (as the _PREVIOUS lists are)', async () => {
    await expectRefused(serveArgs('p4'), { SWITCHYARD_WEBHOOK_URL: 'http://127.0.0.1:9/h,', SWITCHYARD_WEBHOOK_SECRET: 's' }, /^error: SWITCHYARD_WEBHOOK_URL: item 2 of 2 is empty: separate the URLs with single commas, none at either end$/);
  });

  it('--demo with a config that names no demo thread', async () => {
    await expectRefused(serveArgs('p5', '--demo', '--config', join(dir, 'nodemo.config.mts')).filter((arg) => arg !== '--no-demo'), {}, /^error: --demo: the config names no demo thread \(add demo: \{ agent, input \} to it\)$/);
  });

  it('SWITCHYARD_URL that is not http(s), for a client command (as --url notaurl is)', async () => {
    // Commander reads the option's variable from process.env, not from the environment given here.
    process.env.SWITCHYARD_URL = 'ftp://x';
    try {
      const run = await runInProcess(['threads'], {}, dir);
      expect('ended' in run && run.ended).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/^error: SWITCHYARD_URL must be an http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:7878 \(got "ftp:\/\/x"\)\n/) });
    } finally {
      delete process.env.SWITCHYARD_URL;
    }
  });
});
