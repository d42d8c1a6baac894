/**
 * The CLI's output piped into a reader that stops reading (`switchyard watch <id> | head -3`): the
 * command ends quietly, as `git log | head` does, instead of dying on an unhandled EPIPE with a
 * stack trace (QA19 pipelines #10).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, ROOT, SOURCE_CLI } from './cliProcess.js';

/** Runs the CLI with its stdout's reading end closed before it writes; resolves with its exit and stderr. */
function withClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = SOURCE_CLI;
    const child = spawn(command!, [...prefix, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the CLI did not end within 30 s; stderr: ${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('output piped into a reader that stopped reading', () => {
  it('ends the command quietly, exit 0, no stack trace', async () => {
    for (const args of [['--version'], ['--help']]) {
      const { code, stderr } = await withClosedStdout(args);
      expect(stderr).toBe('');
      expect(code).toBe(0);
    }
  });
});

describe('serve whose output has nowhere to go', () => {
  it('stops as on a signal: its work finished, exit 0, no stack trace (review)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-epipe-'));
    try {
      const { code, stderr } = await withClosedStdout(['serve', '--port', '0', '--no-demo', '--dir', join(dir, 'data')]);
      expect(stderr).not.toMatch(/EPIPE|Unhandled/);
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
