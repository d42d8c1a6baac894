import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnreadableThreadError } from '../../src/errors.js';
import { createFileStore, type FileStoreOptions } from '../../src/store/fileStore.js';
import { CorruptThreadFileError } from '../../src/store/threadFiles.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { at, finalEvent, newThread, prefetchEvent } from './fixtures/events.js';

/**
 * Thread files changed behind the store's back while no store had them open: cut back behind
 * lines the store committed (a partial restore, an interrupted copy), or an entry named like a
 * thread file that cannot be read as one.
 */
describe('the file store, with thread files changed while it was closed', () => {
  let dir: string;
  const open: ThreadStore[] = [];
  let corrupt: Array<{ id: string; error: Error }>;
  let rebuilt: string[];

  async function openStore(options: FileStoreOptions = {}): Promise<ThreadStore> {
    const store = await createFileStore({
      dir,
      fsync: false,
      onCorrupt: (id, error) => corrupt.push({ id, error }),
      onIndexRebuilt: (reason) => rebuilt.push(reason),
      ...options,
    });
    open.push(store);
    return store;
  }

  function fileOf(id: string): string {
    return join(dir, `${id}.jsonl`);
  }

  /** Leaves only the first `lines` lines of a thread file, and `extra` after them. */
  async function cutBack(id: string, lines: number, extra = ''): Promise<void> {
    const kept = (await readFile(fileOf(id), 'utf8')).split('\n').slice(0, lines);
    await writeFile(fileOf(id), `${kept.join('\n')}\n${extra}`);
  }

  /** A store that wrote `ended` (version 3, done) and `other` (running), then closed. */
  async function seed(): Promise<void> {
    const store = await openStore();
    await store.create(newThread('ended'));
    await store.append('ended', 1, [prefetchEvent(2, 'a')]);
    await store.append('ended', 2, [finalEvent(3)]);
    await store.create(newThread('other', 'triage', at(2)));
    await store.close();
  }

  /** Adds a thread file no store wrote, so the next open finds the index stale and rebuilds it. */
  async function addFileBehindIndex(): Promise<void> {
    await writeFile(fileOf('zz'), '');
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cutback-'));
    corrupt = [];
    rebuilt = [];
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a thread whose file lost committed lines as corrupt, naming the file, instead of rewinding it', async () => {
    await seed();
    await cutBack('ended', 1);
    const store = await openStore();
    expect(rebuilt).toEqual([]);

    const read = await store.get('ended').catch((error: unknown) => error);
    expect(read).toBeInstanceOf(CorruptThreadFileError);
    expect((read as CorruptThreadFileError).file).toBe(fileOf('ended'));
    expect((read as Error).message).toMatch(/version 3/);
    await expect(store.append('ended', 1, [prefetchEvent(2, 'again')])).rejects.toBeInstanceOf(UnreadableThreadError);
    await expect(store.delete!('ended', 1)).rejects.toBeInstanceOf(UnreadableThreadError);

    expect((await store.list()).map((s) => s.id)).toEqual(['other']);
    expect((await store.list({ status: 'running' })).map((s) => s.id)).toEqual(['other']);
    expect((await store.list({ after: '' })).map((s) => s.id)).toEqual(['other']);
    expect(corrupt.map((c) => c.id)).toEqual(['ended']);
    expect((corrupt[0]!.error as CorruptThreadFileError).file).toBe(fileOf('ended'));
    // The file is not changed by any of it.
    expect((await readFile(fileOf('ended'), 'utf8')).split('\n')).toHaveLength(2);
  });

  it('keeps what it knows was committed across a rebuild of the index: the cut-back thread stays corrupt, not running', async () => {
    await seed();
    await cutBack('ended', 1);
    await addFileBehindIndex();
    const store = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toContain('ended');
    expect((await store.list({ status: 'running' })).map((s) => s.id)).toEqual(['other']);
    expect((await store.list()).map((s) => s.id)).toEqual(['other']);
    await expect(store.get('ended')).rejects.toBeInstanceOf(CorruptThreadFileError);
    await store.close();

    // The rebuilt index was saved with what it knew: the next start still refuses the thread.
    await addFileBehindIndex();
    await writeFile(fileOf('zz2'), '');
    const again = await openStore();
    expect(rebuilt).toEqual(['stale', 'stale']);
    await expect(again.get('ended')).rejects.toBeInstanceOf(CorruptThreadFileError);
    expect((await again.list({ status: 'running' })).map((s) => s.id)).toEqual(['other']);
  });

  it('names each thread whose file was deleted by hand (id, agent, status) when the index is rebuilt, and how many more past a bound', async () => {
    await seed();
    await rm(fileOf('ended'));
    const store = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toEqual(['ended']);
    expect(corrupt[0]!.error.message).toMatch(/ended\.jsonl is gone/);
    expect(corrupt[0]!.error.message).toContain('agent triage, done');
    expect(await store.get('ended')).toBeUndefined();
    expect((await store.list()).map((s) => s.id)).toEqual(['other']);
    await store.close();

    // Many: the first twenty are named, the last of them says how many more.
    const many = await openStore();
    for (let i = 0; i < 25; i++) await many.create(newThread(`gone${String(i).padStart(2, '0')}`, 'triage', at(10 + i)));
    await many.close();
    for (let i = 0; i < 25; i++) await rm(fileOf(`gone${String(i).padStart(2, '0')}`));
    corrupt = [];
    rebuilt = [];
    await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt).toHaveLength(20);
    expect(corrupt.at(-1)!.error.message).toContain('5 more threads');
  });

  it('sets a corrupt thread aside as the README says (moved out while closed: named gone, listed nowhere) and takes it back repaired', async () => {
    await seed();
    const whole = await readFile(fileOf('ended'), 'utf8');
    await cutBack('ended', 1);
    const found = await openStore();
    await expect(found.get('ended')).rejects.toBeInstanceOf(CorruptThreadFileError);
    await found.close();

    const aside = await mkdtemp(join(tmpdir(), 'switchyard-aside-'));
    await rename(fileOf('ended'), join(aside, 'ended.jsonl'));
    corrupt = [];
    const without = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toEqual(['ended']);
    expect(corrupt[0]!.error.message).toMatch(/ended\.jsonl is gone/);
    expect(await without.get('ended')).toBeUndefined();
    expect((await without.list()).map((s) => s.id)).toEqual(['other']);
    await without.close();

    // Repaired (here: its lost lines written back) and moved back while no store has the directory.
    await writeFile(join(aside, 'ended.jsonl'), whole);
    await rename(join(aside, 'ended.jsonl'), fileOf('ended'));
    await rm(aside, { recursive: true, force: true });
    corrupt = [];
    rebuilt = [];
    const back = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt).toEqual([]);
    expect((await back.get('ended'))!.events).toHaveLength(3);
    expect((await back.list({ status: 'done' })).map((s) => s.id)).toEqual(['ended']);
  });

  it('tells a file cut back into the middle of a committed line from a torn, unacknowledged write', async () => {
    await seed();
    // Half of the second line is left: it looks like a torn tail, but that line was committed.
    const second = (await readFile(fileOf('ended'), 'utf8')).split('\n')[1]!;
    await cutBack('ended', 1, second.slice(0, 20));
    await addFileBehindIndex();
    const store = await openStore();
    expect(corrupt.map((c) => c.id)).toContain('ended');
    await expect(store.get('ended')).rejects.toBeInstanceOf(CorruptThreadFileError);
    expect((await store.list({ status: 'running' })).map((s) => s.id)).toEqual(['other']);
  });

  it('fills a limited listing with other threads when the most recent one is cut back', async () => {
    await seed();
    const writer = await openStore();
    await writer.create(newThread('oldest', 'triage', at(0)));
    await writer.close();
    await cutBack('ended', 1);
    const store = await openStore();
    for (let round = 0; round < 2; round++) {
      expect((await store.list({ limit: 2 })).map((s) => s.id), `round ${round}`).toEqual(['other', 'oldest']);
      expect((await store.list({ limit: 1 })).map((s) => s.id), `round ${round}`).toEqual(['other']);
    }
    expect(corrupt.map((c) => c.id)).toEqual(['ended']);
  });

  it('takes a shorter file of a thread another store deleted and created again, alike, for the new thread, not a cut-back one', async () => {
    const a = await openStore();
    const b = await openStore();
    await a.create(newThread('t1'));
    await a.append('t1', 1, [prefetchEvent(2, 'a')]);
    await a.append('t1', 2, [prefetchEvent(3, 'b')]);
    // b's index has t1 at version 3.
    expect((await b.list()).map((s) => [s.id, s.version])).toEqual([['t1', 3]]);
    expect(await a.delete!('t1', 3)).toBe(true);
    // The same creation time and agent: only the log tells the two threads apart.
    const again = await a.create(newThread('t1'));
    expect(await b.get('t1')).toEqual(again);
    expect((await b.append('t1', 1, [prefetchEvent(2, 'new')])).events).toHaveLength(2);
    expect(corrupt).toEqual([]);
  });

  it('reads the file again once it is restored whole', async () => {
    await seed();
    const whole = await readFile(fileOf('ended'), 'utf8');
    await cutBack('ended', 1);
    const store = await openStore();
    await expect(store.get('ended')).rejects.toBeInstanceOf(CorruptThreadFileError);
    expect((await store.list()).map((s) => s.id)).toEqual(['other']);
    await writeFile(fileOf('ended'), whole);
    expect((await store.get('ended'))?.events.map((e) => e.type)).toEqual(['input', 'prefetch', 'final']);
    expect((await store.list()).map((s) => [s.id, s.status])).toEqual([
      ['ended', 'done'],
      ['other', 'running'],
    ]);
  });

  it('skips an entry named like a thread file that is a directory, naming it and the cause, and serves the rest', async () => {
    await seed();
    await mkdir(fileOf('subdir'));
    const store = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toEqual(['subdir']);
    expect(corrupt[0]!.error.message).toContain(fileOf('subdir'));
    expect(corrupt[0]!.error.message).toMatch(/directory/);
    expect((await store.list()).map((s) => s.id).sort()).toEqual(['ended', 'other']);
    await expect(store.get('subdir')).rejects.toBeInstanceOf(UnreadableThreadError);
    await expect(store.append('subdir', 1, [prefetchEvent(2, 'a')])).rejects.toBeInstanceOf(UnreadableThreadError);
    expect((await store.get('ended'))?.events).toHaveLength(3);
  });

  it.skipIf(process.platform === 'win32')('skips a named pipe named like a thread file without opening it (that would wait for a writer)', async () => {
    await seed();
    execFileSync('mkfifo', [fileOf('pipe')]);
    const store = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toEqual(['pipe']);
    expect(corrupt[0]!.error.message).toContain(fileOf('pipe'));
    expect((await store.list()).map((s) => s.id).sort()).toEqual(['ended', 'other']);
    await expect(store.get('pipe')).rejects.toBeInstanceOf(UnreadableThreadError);
  });

  it('skips a symbolic link that loops, naming it and the cause, and serves the rest', async () => {
    await seed();
    await symlink('loop.jsonl', fileOf('loop'));
    const store = await openStore();
    expect(rebuilt).toEqual(['stale']);
    expect(corrupt.map((c) => c.id)).toEqual(['loop']);
    expect(corrupt[0]!.error.message).toContain(fileOf('loop'));
    expect(corrupt[0]!.error.message).toContain('ELOOP');
    expect((await store.list()).map((s) => s.id).sort()).toEqual(['ended', 'other']);
  });
});
