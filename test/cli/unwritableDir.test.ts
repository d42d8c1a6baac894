/**
 * An embedded `serve` whose data directory it may not write (the project image's root-owned
 * `/project`, run as `USER node`): one line naming the directory and the cause, and the exit code
 * of a `--dir` it cannot use (2, as for a directory another serve holds).
 */
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, SOURCE_CLI } from './cliProcess.js';

/** Root writes anywhere: as root, the command runs as nobody (setpriv, util-linux), as the image runs as `node`. */
const AS_ANOTHER_USER: readonly string[] = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...SOURCE_CLI] : SOURCE_CLI;

let parent: string;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'switchyard-unwritable-'));
  // Others may enter it and read it, not write in it.
  await chmod(parent, 0o555);
});
afterAll(async () => {
  await chmod(parent, 0o755);
  await rm(parent, { recursive: true, force: true });
});

describe('serve with a data directory it cannot write', () => {
  it('exits 2 with one line naming the directory and that permission was denied', async () => {
    const dir = join(parent, '.switchyard');
    const result = await runCli(['serve', '--port', '0', '--no-demo', '--dir', dir], { cwd: ROOT, command: AS_ANOTHER_USER });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`error: cannot write the data directory ${dir}: permission denied (EACCES); pass --dir a directory this user can write`);
  });

  // Empty: the store cannot make its index and locks there. Used before: it could, and only new thread files fail.
  it.each([['empty', false], ['used before', true]])('exits 2 naming its threads directory when only that is not writable (%s: a restore made by root)', async (_, used) => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-unwritable-threads-'));
    const threads = join(dir, 'threads');
    try {
      await mkdir(threads);
      if (used) for (const sub of ['.index', '.locks']) await mkdir(join(threads, sub));
      // The serve's user owns the data directory and what is in its threads directory, not that directory itself.
      if (process.getuid?.() === 0) {
        await chown(dir, 65534, 65534);
        if (used) for (const sub of ['.index', '.locks']) await chown(join(threads, sub), 65534, 65534);
      }
      await chmod(threads, 0o555);
      const result = await runCli(['serve', '--port', '0', '--no-demo', '--dir', dir], { cwd: ROOT, command: AS_ANOTHER_USER });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^error: cannot write the data directory ${threads}(/\\.index|/\\.locks)?: permission denied \\(EACCES\\); pass --dir a directory this user can write$`));
    } finally {
      await chmod(threads, 0o755);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
