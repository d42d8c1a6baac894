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

/** Writes (`writeSync`) to refuse with ENOSPC before the disk has room again. */
const full = vi.hoisted(() => ({ writes: 0 }));

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
});
