/**
 * A held file lock's refresh (a lease): it keeps the lock fresh while it is its owner's, and once
 * the lock was broken as stale (its holder froze for longer than the stale time) and taken by
 * another owner, it says so and leaves that owner's lock alone.
 */
import { linkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLockOwner, heldLocks, type LockOwner } from '../../src/store/fileLock.js';
import { unreapedProcess } from '../support/unreapedProcess.js';

let dir: string;
const owners: LockOwner[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-lock-'));
});

afterEach(async () => {
  vi.useRealTimers();
  for (const owner of owners.splice(0)) owner.dispose();
  await rm(dir, { recursive: true, force: true });
});

function owner(): LockOwner {
  const created = createLockOwner(dir, { staleMs: 30_000, timeoutMs: 0 });
  owners.push(created);
  return created;
}

describe('a held lock refreshed', () => {
  it('is marked taken now while it is its owner\'s', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const held = owner().tryAcquire('serve');
    expect(held).toBeDefined();
    vi.setSystemTime(Date.now() + 20_000);
    expect(held!.refresh()).toBe(true);
    expect(Math.round(statSync(join(dir, 'serve.lock')).mtimeMs)).toBe(Date.now());
  });

  it('answers false and touches nothing once another owner took it over as stale', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = owner().tryAcquire('serve');
    expect(first).toBeDefined();
    vi.setSystemTime(Date.now() + 60_000); // the first froze past the stale time
    const second = owner().tryAcquire('serve');
    expect(second?.brokeStale).toBe(true);
    const lockFile = join(dir, 'serve.lock');
    const before = statSync(lockFile);
    const content = readFileSync(lockFile, 'utf8');
    vi.setSystemTime(Date.now() + 5_000);

    expect(first!.refresh()).toBe(false);

    const after = statSync(lockFile);
    expect([after.ino, after.mtimeMs, after.ctimeMs]).toEqual([before.ino, before.mtimeMs, before.ctimeMs]);
    expect(readFileSync(lockFile, 'utf8')).toBe(content);
    expect(second!.refresh()).toBe(true);
  });

  it('answers false once its lock was broken and is held by no one', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = owner().tryAcquire('serve');
    vi.setSystemTime(Date.now() + 60_000);
    const second = owner().tryAcquire('serve');
    second!();
    expect(first!.refresh()).toBe(false);
  });
});

describe.runIf(process.platform === 'linux')('a lock whose owner on this host was killed but not reaped yet (a zombie)', () => {
  it('is dead: broken at once, not waited out for the stale time', async () => {
    const holder = await unreapedProcess();
    try {
      const ownerFile = join(dir, 'owner.zombie');
      writeFileSync(ownerFile, JSON.stringify({ pid: holder.pid, host: hostname(), token: 'zombie' }));
      linkSync(ownerFile, join(dir, 't.lock'));
      expect(heldLocks(dir)).toEqual([{ name: 't', dead: false }]); // running: held
      await holder.killToZombie();
      expect(heldLocks(dir)).toEqual([{ name: 't', dead: true }]);
      expect(owner().tryAcquire('t')?.brokeStale).toBe(true);
    } finally {
      holder.dispose();
    }
  });
});
