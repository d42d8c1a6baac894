/**
 * Settings `serve` (and the client commands) once took although they are wrong: each is one line
 * naming the setting, and exit 2, before anything starts. In this process (settings.test.ts runs
 * the others in child processes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliProcess.js';
import { runInProcess } from './runInProcess.js';

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ as a user's project is; no config there: the bundled agents.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-bad-settings-'));
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
