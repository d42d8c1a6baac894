/**
 * The file store's thread lock leases (a lock file kept a short while after a write, for the next
 * write, which then trusts what the store cached of the thread): a lease is continued only while
 * no other process can have judged its lock stale, by the wall clock those processes judge it by.
 * A process whose monotonic clock stood still while the wall clock moved on (a machine suspended
 * and resumed, sharing the data directory with another host) must not continue its lease.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLockOwner, type LockOwner } from '../../src/store/fileLock.js';
import { ThreadLocks, type ThreadLock } from '../../src/store/threadLocks.js';

let dir: string;
const owners: LockOwner[] = [];
const threadLocks: ThreadLocks[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-thread-locks-'));
});

afterEach(async () => {
  vi.useRealTimers();
  for (const locks of threadLocks.splice(0)) await locks.close();
  for (const owner of owners.splice(0)) owner.dispose();
  await rm(dir, { recursive: true, force: true });
});

function owner(): LockOwner {
  const created = createLockOwner(dir, { staleMs: 10_000, timeoutMs: 1_000 });
  owners.push(created);
  return created;
}

/** Leases of one store: idle ones are not swept while the test runs (it takes far less than a minute). */
function leases(): ThreadLocks {
  const created = new ThreadLocks(owner(), { idleMs: 60_000, maxHoldMs: 1_000, maxLeases: 16 });
  threadLocks.push(created);
  return created;
}

describe('a thread lock lease', () => {
  it('is continued by the next write soon after', async () => {
    const store = leases();
    await store.run('t', 't', () => Promise.resolve());
    const lock = await store.run('t', 't', (held) => Promise.resolve(held));
    expect(lock.continued).toBe(true);
  });

  it('is not continued once the wall clock moved past the stale time, though the monotonic clock did not', async () => {
    // Only Date is faked: performance.now() stands (nearly) still, as a suspended machine's does.
    vi.useFakeTimers({ toFake: ['Date'] });
    const first = leases();
    await first.run('t', 't', () => Promise.resolve());
    vi.setSystemTime(Date.now() + 60_000);
    // Meanwhile another host broke the lock as stale, wrote the thread and let go.
    const other = owner();
    const taken = await other.acquire('t');
    expect(taken.brokeStale).toBe(true);
    taken();

    let lock: ThreadLock | undefined;
    await first.run('t', 't', (held) => Promise.resolve((lock = held)));
    expect(lock).toEqual({ brokeStale: false, continued: false });
  });
});
