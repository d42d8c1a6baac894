/**
 * A serve that npm started stops once npm is gone (see orphanedServe.test.ts), unless
 * `SWITCHYARD_WATCH_NPM=0`: an npm script that backgrounds serve on purpose
 * (`nohup switchyard serve &`) leaves it orphaned by design.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchNpmParent } from '../../src/cli/parentWatch.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Watches under `env` a process whose parent at its start was another than its parent now (adopted:
 * the parent is gone), and says whether onGone ran.
 */
function goneAfterParentLeaves(env: NodeJS.ProcessEnv): boolean {
  let gone = false;
  const stop = watchNpmParent(env, process.ppid + 1, () => (gone = true), 1_000);
  vi.advanceTimersByTime(5_000);
  stop();
  return gone;
}

describe('watchNpmParent', () => {
  it('calls onGone once the parent of a process npm started changes', () => {
    expect(goneAfterParentLeaves({ npm_command: 'run-script' })).toBe(true);
  });

  it('watches nothing for a process npm did not start', () => {
    expect(goneAfterParentLeaves({})).toBe(false);
  });

  it('watches nothing with SWITCHYARD_WATCH_NPM=0 (a script that backgrounds serve on purpose)', () => {
    expect(goneAfterParentLeaves({ npm_command: 'run-script', SWITCHYARD_WATCH_NPM: '0' })).toBe(false);
  });
});
