/**
 * `npm start` and `npx switchyard serve` run serve under a shell that a SIGTERM to npm kills without
 * passing it on: serve, left behind, kept the port and its data directory's claim, so the next
 * start exited 2. A serve that npm started stops, as on SIGTERM, once the process that started it
 * is gone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, SOURCE_CLI, startCli } from './cliProcess.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-orphaned-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** As npm runs a script: `sh -c '<command>'`, the shell waiting for it (`; true` keeps it from exec'ing). */
const UNDER_A_SHELL: readonly string[] = ['sh', '-c', `echo "shell $$" >&2; ${SOURCE_CLI.map((part) => `'${part}'`).join(' ')} "$@"; true`, 'sh'];

describe('serve started by npm whose npm is gone', () => {
  it('stops by itself, as on SIGTERM, instead of running on orphaned', async () => {
    const serve = startCli(['serve', '--port', '0', '--no-demo', '--dir', join(dir, 'data')], {
      cwd: ROOT,
      command: UNDER_A_SHELL,
      env: { npm_command: 'run-script', SWITCHYARD_LOG_LEVEL: 'warn' },
      timeoutMs: 20_000,
    });
    try {
      await serve.waitFor(/press Ctrl\+C to stop/);
      const shell = Number(/shell (\d+)/.exec(serve.stderr())?.[1]);
      expect(shell).toBeGreaterThan(0);
      // What a SIGTERM to npm does to the shell under it: gone, its child left running.
      process.kill(shell, 'SIGKILL');
      await serve.exited(); // once serve too has exited and closed the output it shares
      // No signal was sent to it: "send the signal again" would name none.
      expect(serve.stderr()).toContain('switchyard: the process that started it (npm) exited: stopping: letting the work in progress finish (send SIGTERM or SIGINT to stop at once)');
    } finally {
      await serve.stop();
    }
  });
});
