/** `serve` with `SWITCHYARD_RETAIN_ENDED`: it says it prunes ended threads, and how often it looks. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveInProcess } from './runInProcess.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-retain-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('serve with SWITCHYARD_RETAIN_ENDED', () => {
  it('says that threads which ended are deleted that long after their last update, and how often it looks', async () => {
    const server = await serveInProcess(['--dir', join(dir, 'a')], { SWITCHYARD_RETAIN_ENDED: '30d' });
    try {
      expect(server.stdout()).toContain('retention: threads that ended are deleted 30d after their last update (looked for every hour, at most 1000 at a time)\n');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('says nothing of retention without it', async () => {
    const server = await serveInProcess(['--dir', join(dir, 'b')], {});
    try {
      expect(server.stdout()).not.toContain('retention');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
