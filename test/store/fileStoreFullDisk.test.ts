/**
 * The file store on a full disk (ENOSPC), injected into the writes of thread files: a create the
 * disk refuses leaves nothing behind, so the next start finds its index current.
 */
import * as fs from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SystemError } from '../../src/errors.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { newThread } from './fixtures/events.js';

/**
 * Writes (`writeSync`) to refuse with ENOSPC before the disk has room again; the bytes `statfs`
 * says are free to this user (`undefined`: what the disk says).
 */
const full = vi.hoisted(() => ({ writes: 0, bytesFree: undefined as number | undefined, statfsFails: false }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const statfs = (async (...args: Parameters<typeof actual.statfs>) => {
    if (full.statfsFails) throw Object.assign(new Error('EIO: i/o error, statfs'), { code: 'EIO', errno: -5, syscall: 'statfs' });
    const stats = await actual.statfs(...args);
    if (full.bytesFree === undefined) return stats;
    return Object.assign(Object.create(Object.getPrototypeOf(stats) as object) as typeof stats, stats, { bsize: 4096, bavail: Math.floor(full.bytesFree / 4096) });
  }) as typeof actual.statfs;
  return { ...actual, statfs, default: { ...actual, statfs } };
});

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((...args: Parameters<typeof actual.writeSync>) => {
    if (full.writes > 0) {
      full.writes--;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    }
    return actual.writeSync(...args);
  }) as typeof actual.writeSync;
  return { ...actual, writeSync, default: { ...actual, writeSync } };
});

describe('the file store on a full disk', () => {
  let dir: string;
  const open: ThreadStore[] = [];
  let rebuilt: string[];

  async function openStore(): Promise<ThreadStore> {
    const store = await createFileStore({ dir, fsync: false, onIndexRebuilt: (reason) => rebuilt.push(reason) });
    open.push(store);
    return store;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-fulldisk-'));
    rebuilt = [];
    full.writes = 0;
    full.bytesFree = undefined;
    full.statfsFails = false;
  });

  afterEach(async () => {
    full.writes = 0;
    await Promise.all(open.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('removes the thread file of a create the disk refused: no empty file, and no rebuild of the index at the next start', async () => {
    const store = await openStore();
    await store.create(newThread('kept'));
    full.writes = 1;
    const refused = await store.create(newThread('refused')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SystemError);
    expect(String((refused as Error).cause)).toContain('ENOSPC');
    expect((await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort()).toEqual(['kept.jsonl']);
    expect(await store.get('refused')).toBeUndefined();
    await store.close();

    await openStore();
    expect(rebuilt).toEqual([]);
    expect(fs.existsSync(join(dir, 'refused.jsonl'))).toBe(false);
  });

  it('creates the thread once the disk has room again', async () => {
    const store = await openStore();
    full.writes = 1;
    await expect(store.create(newThread('later'))).rejects.toThrow(SystemError);
    expect((await store.create(newThread('later'))).id).toBe('later');
    expect((await store.list()).map((s) => s.id)).toEqual(['later']);
  });

  it('is not ready while its disk is full (a probe takes it out of rotation), and ready once it has room again', async () => {
    const store = await openStore();
    await expect(store.ready!()).resolves.toBeUndefined();
    full.bytesFree = 4096;
    const refused = await store.ready!().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SystemError);
    expect((refused as Error).message).toBe(`the disk of the data directory ${dir} is full (4096 bytes free)`);
    full.bytesFree = 64 * 1024 * 1024;
    await expect(store.ready!()).resolves.toBeUndefined();
  });

  it('is not ready, with a SystemError naming the data directory, when statfs fails (review28 item 13)', async () => {
    const store = await openStore();
    full.statfsFails = true;
    const refused = await store.ready!().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SystemError);
    expect((refused as Error).message).toBe(`cannot read the free space of the data directory ${dir}`);
    expect(String((refused as Error).cause)).toContain('EIO');
  });
});
