import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError, SystemError, VersionConflictError } from '../../src/errors.js';
import { createFileStore, type FileStoreOptions } from '../../src/store/fileStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { versionOf, type Thread } from '../../src/thread/events.js';
import { at, finalEvent, humanRequestEvent, inputEvent, newThread, prefetchEvent } from './fixtures/events.js';
import { raceRounds } from './fixtures/raceRounds.js';
import { runDeleteConformance } from './delete.conformance.js';
import { runThreadStoreConformance } from './threadStore.conformance.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'switchyard-filestore-'));
}

async function fileStore(options: FileStoreOptions = {}): Promise<{ store: ThreadStore; cleanup(): Promise<void> }> {
  const dir = await tempDir();
  const store = await createFileStore({ dir, ...options });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runThreadStoreConformance('file', () => fileStore());
runDeleteConformance('file', () => fileStore());

// The same behaviour with every read going to the disk (no cache) and no fsync.
runThreadStoreConformance('file (no cache)', () => fileStore({ cacheSize: 0, fsync: false }));
runDeleteConformance('file (no cache)', () => fileStore({ cacheSize: 0, fsync: false }));

describe('a fenced file store (its directory is another process\'s now)', () => {
  it('refuses every call and, closed, writes nothing into the directory: no index snapshot, no deletion of a lock', async () => {
    const dir = await tempDir();
    const fence = new AbortController();
    const store = await createFileStore({ dir, fence: fence.signal });
    try {
      await store.create(newThread('t1'));
      const listing = async (): Promise<string[]> => {
        const names = await readdir(dir, { recursive: true });
        return Promise.all(names.sort().map(async (name) => `${name} ${(await stat(join(dir, name))).mtimeMs}`));
      };
      fence.abort();
      // Listed once fenced: until then the store may still release its lease on t1's lock file (50 ms
      // after the write), which a loaded machine's slow listing can let happen between the two.
      const before = await listing();
      await expect(store.append('t1', 1, [finalEvent(2)])).rejects.toThrow(SystemError);
      await expect(store.get('t1')).rejects.toThrow(/is closed/);
      await store.close();
      await store.close();
      expect(await listing()).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a file store fenced while it keeps a thread\'s lock file after a write (a lease)', () => {
  it('does not delete that lock file when the lease would have ended: the directory is another process\'s', async () => {
    const dir = await tempDir();
    const fence = new AbortController();
    const store = await createFileStore({ dir, fence: fence.signal });
    try {
      await store.create(newThread('t1'));
      fence.abort();
      const locks = await readdir(join(dir, '.locks'));
      expect(locks).toContain('t1.lock');
      // Past the lease's idle time (50 ms) several times over: an unfenced store releases it by then.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await readdir(join(dir, '.locks'))).toEqual(locks);
      await store.close();
      expect(await readdir(join(dir, '.locks'))).toEqual(locks);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('createFileStore', () => {
  it('is ready while its directories are writable, and names the directory and the cause once one is gone', async () => {
    const dir = await tempDir();
    const store = await createFileStore({ dir });
    try {
      await expect(store.ready!()).resolves.toBeUndefined();
      await rm(join(dir, '.locks'), { recursive: true, force: true });
      const error: unknown = await store.ready!().then(() => 'ready', (e: unknown) => e);
      expect(error).toBeInstanceOf(SystemError);
      expect((error as SystemError).message).toBe(`the data directory ${join(dir, '.locks')} is not writable`);
      expect(((error as SystemError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  let dir: string;
  const open: ThreadStore[] = [];

  async function openStore(options: FileStoreOptions = {}): Promise<ThreadStore> {
    const store = await createFileStore({ dir, ...options });
    open.push(store);
    return store;
  }

  function fileOf(id: string): string {
    return join(dir, `${id}.jsonl`);
  }

  async function linesOf(id: string): Promise<string[]> {
    const text = await readFile(fileOf(id), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    return text.slice(0, -1).split('\n');
  }

  beforeEach(async () => {
    dir = await tempDir();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  describe('on disk', () => {
    it('writes one JSON line per committed batch, the first naming the thread', async () => {
      const store = await openStore();
      await store.create({ id: 't1', agent: 'triage', events: [inputEvent(1)] });
      await store.append('t1', 1, [prefetchEvent(2, 'a'), prefetchEvent(3, 'b')]);
      const lines = (await linesOf('t1')).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toEqual({ v: 1, id: 't1', agent: 'triage', at: expect.any(String), events: [inputEvent(1)] });
      expect(lines[1]).toEqual({ v: 3, events: [prefetchEvent(2, 'a'), prefetchEvent(3, 'b')] });
      // no lock is left behind
      await store.close();
      expect((await readdir(dir)).sort()).toEqual(['.index', '.locks', 't1.jsonl']);
      expect((await readdir(join(dir, '.locks'))).filter((name) => name.endsWith('.lock'))).toEqual([]);
    });

    it('deletes a thread by removing its file, then logging a tombstone of it', async () => {
      const store = await openStore();
      await store.create(newThread('t1', 'triage', at(1)));
      await store.append('t1', 1, [finalEvent(2, at(2))]);
      await store.create(newThread('t2'));
      expect(await store.delete!('t1', 2)).toBe(true);
      expect((await readdir(dir)).filter((name) => !name.startsWith('.'))).toEqual(['t2.jsonl']);
      const segments = (await readdir(join(dir, '.index'))).filter((name) => name.startsWith('log.'));
      const records = (await Promise.all(segments.map((name) => readFile(join(dir, '.index', name), 'utf8')))).join('').split('\n');
      const last = records.filter((line) => line.startsWith('{"i":"t1"')).at(-1)!;
      expect(last.endsWith('\t')).toBe(true);
      expect(JSON.parse(last.slice(0, -1))).toEqual({ i: 't1', a: 'triage', s: 'done', v: 2, c: at(1), u: at(2), o: 0, z: expect.any(Number), d: 1, m: expect.any(Number) });
    });

    it('escapes ids into safe file names and lists them back by id', async () => {
      const store = await openStore();
      const ids = ['../escape', 'a/b', 'Upper', 'upper', 'x:y.z', 'ünï', '.'];
      for (const id of ids) await store.create(newThread(id));
      const names = (await readdir(dir)).filter((name) => !name.startsWith('.'));
      expect(names).toHaveLength(ids.length);
      for (const name of names) expect(name).toMatch(/^[a-z0-9_%-]+\.jsonl$/);
      expect((await store.list()).map((s) => s.id).sort()).toEqual([...ids].sort());
      for (const id of ids) expect((await store.get(id))?.id).toBe(id);
    });

    it('refuses ids it cannot store', async () => {
      const store = await openStore();
      await expect(store.create(newThread('x'.repeat(300)))).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.create(newThread('bad\uD800'))).rejects.toBeInstanceOf(InvalidInputError);
      expect(await store.get('bad\uD800')).toBeUndefined();
      expect((await readdir(dir)).filter((name) => !name.startsWith('.'))).toEqual([]);
    });
  });

  describe('durability', () => {
    it('sees everything after a restart', async () => {
      const first = await openStore();
      const threads: Thread[] = [];
      for (let i = 0; i < 20; i++) {
        const id = `t${i}`;
        await first.create(newThread(id, i % 2 === 0 ? 'even' : 'odd', at(i)));
        threads.push(await first.append(id, 1, [prefetchEvent(2, 'p', at(100 + i)), humanRequestEvent(3, at(200 + i))]));
      }
      await first.append('t0', 3, [finalEvent(4, at(500))]);
      const listed = await first.list();
      await first.close();

      const second = await openStore();
      expect(await second.list()).toEqual(listed);
      // The waiting threads' pending requests too (read from their files: the index holds none).
      expect(listed.filter((s) => s.pending !== undefined)).toHaveLength(19);
      expect((await second.list({ status: 'awaiting_human', after: '', limit: 1 }))[0]?.pending).toEqual({ requestId: 'req_3', kind: 'input', question: 'which one?', urgency: 'medium', format: 'free_text', at: at(201) });
      for (const thread of threads.slice(1)) expect(await second.get(thread.id)).toEqual(thread);
      expect(versionOf((await second.get('t0'))!)).toBe(4);
      expect((await second.list({ status: 'done' })).map((s) => s.id)).toEqual(['t0']);
      // and keeps appending where the first left off
      await second.append('t1', 3, [finalEvent(4)]);
      await expect(second.append('t1', 3, [finalEvent(4)])).rejects.toBeInstanceOf(VersionConflictError);
    });

    it('ignores a torn last line and truncates it before the next append', async () => {
      const first = await openStore();
      await first.create(newThread('t1'));
      const committed = await first.append('t1', 1, [prefetchEvent(2, 'a')]);
      await first.close();
      // A writer that died halfway through its line.
      await appendFile(fileOf('t1'), '{"v":3,"events":[{"seq":3,"at":"2024-01-01T00:0');

      const second = await openStore();
      expect(await second.get('t1')).toEqual(committed);
      expect((await second.list())[0]).toMatchObject({ id: 't1', version: 2 });
      const after = await second.append('t1', 2, [prefetchEvent(3, 'b')]);
      expect(after.events.map((e) => e.seq)).toEqual([1, 2, 3]);
      const lines = await linesOf('t1');
      expect(lines).toHaveLength(3);
      for (const line of lines) JSON.parse(line);

      const third = await openStore();
      expect(await third.get('t1')).toEqual(after);
    });

    it('notices a torn tail that appears under a live, caching store', async () => {
      const store = await openStore();
      await store.create(newThread('t1'));
      await store.append('t1', 1, [prefetchEvent(2, 'a')]);
      await appendFile(fileOf('t1'), 'garbage that is not json\n');
      expect(versionOf((await store.get('t1'))!)).toBe(2);
      await store.append('t1', 2, [prefetchEvent(3, 'b')]);
      const lines = await linesOf('t1');
      expect(lines.map((line) => (JSON.parse(line) as { v: number }).v)).toEqual([1, 2, 3]);
    });

    it('treats a file whose header was torn as a thread that was never created', async () => {
      await writeFile(fileOf('t1'), '{"v":1,"id":"t1","agent":"tri');
      const store = await openStore();
      expect(await store.get('t1')).toBeUndefined();
      expect(await store.list()).toEqual([]);
      const created = await store.create(newThread('t1'));
      expect(await store.get('t1')).toEqual(created);
      expect(await linesOf('t1')).toHaveLength(1);
    });

    it('skips a corrupt thread in list, reports it once, and refuses to read it', async () => {
      const seen: Array<{ id: string; error: Error }> = [];
      const writer = await openStore();
      await writer.create(newThread('good'));
      await writer.create(newThread('bad'));
      await writer.append('bad', 1, [prefetchEvent(2, 'a')]);
      await writer.create(newThread('bad-event'));
      const [header, second] = await linesOf('bad');
      await writeFile(fileOf('bad'), `${header}\nnot json at all\n${second}\n`);
      // valid JSON, but an event that fails the schema
      await appendFile(fileOf('bad-event'), '{"v":2,"events":[{"seq":2,"at":"x","type":"nope","data":{}}]}\n');

      const store = await openStore({ onCorrupt: (id, error) => seen.push({ id, error }) });
      expect((await store.list()).map((s) => s.id)).toEqual(['good']);
      expect(seen.map((s) => s.id).sort()).toEqual(['bad', 'bad-event']);
      expect(seen[0]?.error).toBeInstanceOf(SystemError);
      await store.list();
      expect(seen).toHaveLength(2);
      await expect(store.get('bad')).rejects.toBeInstanceOf(SystemError);
      await expect(store.append('bad', 2, [prefetchEvent(3, 'b')])).rejects.toBeInstanceOf(SystemError);
      await expect(store.create(newThread('bad'))).rejects.toBeInstanceOf(SystemError);
    });
  });

  describe('group commit', () => {
    it('lets the event loop turn during a burst of writes, even without fsync', async () => {
      const store = await openStore({ fsync: false });
      let finished = 0;
      let finishedWhenTimerRan = -1;
      setTimeout(() => (finishedWhenTimerRan = finished), 0);
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          await store.create(newThread(`burst-${i}`));
          for (let v = 1; v < 5; v++) await store.append(`burst-${i}`, v, [prefetchEvent(v + 1, 'x')]);
          finished++;
        }),
      );
      expect(finishedWhenTimerRan).toBeGreaterThanOrEqual(0);
      expect(finishedWhenTimerRan).toBeLessThan(200);
    });

    it('commits concurrent appends of many threads, each durable in the log before it resolves', async () => {
      const store = await openStore();
      const ids = Array.from({ length: 30 }, (_, i) => `gc-${i}`);
      await Promise.all(ids.map((id) => store.create(newThread(id))));
      await Promise.all(ids.map((id) => store.append(id, 1, [prefetchEvent(2, id)])));
      // Every resolved append has its record in the log (what a machine crash would replay).
      const log = (await readdir(join(dir, '.index'))).filter((name) => name.startsWith('log.'));
      const records = (await Promise.all(log.map((name) => readFile(join(dir, '.index', name), 'utf8')))).join('');
      for (const id of ids) expect(records).toContain(`{"i":"${id}","a":"triage","s":"running","v":2,`);
    });
  });

  describe('several stores on one directory', () => {
    it('lets exactly one of two store instances win each version', async () => {
      const a = await openStore();
      const b = await openStore();
      await a.create(newThread('t1'));
      for (let v = 1; v <= 25; v++) {
        const results = await Promise.allSettled([
          a.append('t1', v, [prefetchEvent(v + 1, `a:${v}`)]),
          b.append('t1', v, [prefetchEvent(v + 1, `b:${v}`)]),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const loser = results.find((r) => r.status === 'rejected');
        expect(loser?.reason).toBeInstanceOf(VersionConflictError);
      }
      expect(await a.get('t1')).toEqual(await b.get('t1'));
      expect(versionOf((await b.get('t1'))!)).toBe(26);
    });

    it('keeps versions contiguous when instances race round after round', async () => {
      const stores = [await openStore(), await openStore(), await openStore()];
      await stores[0]!.create(newThread('t1'));
      const rounds = 30;
      const wins = await Promise.all(stores.map((store, i) => raceRounds(store, 't1', rounds, `s${i}`)));
      expectEachVersionWonOnce(wins, rounds);
      const thread = await stores[1]!.get('t1');
      expectEventsMatchWinners(thread!, wins.map((w, i) => ({ name: `s${i}`, wins: w })));
    });

    it('sees threads and appends written by another instance, in get and list', async () => {
      const reader = await openStore();
      const writer = await openStore();
      expect(await reader.list()).toEqual([]);
      await writer.create(newThread('t1', 'triage', at(1)));
      expect((await reader.list()).map((s) => s.id)).toEqual(['t1']);
      expect(await reader.get('t1')).toEqual(await writer.get('t1'));
      await writer.append('t1', 1, [humanRequestEvent(2, at(5))]);
      expect((await reader.list())[0]).toMatchObject({ id: 't1', status: 'awaiting_human', version: 2, updatedAt: at(5) });
      // The pending request comes with the entry another instance logged.
      expect((await reader.list({ status: 'awaiting_human' }))[0]?.pending).toEqual({ requestId: 'req_2', kind: 'input', question: 'which one?', urgency: 'medium', format: 'free_text', at: at(5) });
      expect(versionOf((await reader.get('t1'))!)).toBe(2);
      // the reader's cached copy does not make it append on stale ground
      await expect(reader.append('t1', 1, [prefetchEvent(2, 'x')])).rejects.toBeInstanceOf(VersionConflictError);
      await reader.append('t1', 2, [finalEvent(3, at(9))]);
      expect((await writer.list())[0]).toMatchObject({ status: 'done', version: 3 });
      expect((await writer.list())[0]).not.toHaveProperty('pending');
      // a thread file removed behind the store's back drops out of list
      await rm(fileOf('t1'));
      expect(await writer.list()).toEqual([]);
      expect(await writer.get('t1')).toBeUndefined();
    });

    it('sees a thread another instance deleted as gone, and a thread of its id created again as new', async () => {
      const a = await openStore();
      const b = await openStore();
      const first = { id: 't1', agent: 'triage', events: [inputEvent(1, at(1))] };
      await a.create(first);
      await a.create(newThread('t2', 'triage', at(2)));
      // b knows t1: in its index, its cache and its open files.
      expect(await b.get('t1')).toEqual(first);
      expect((await b.list()).map((s) => s.id)).toEqual(['t2', 't1']);
      expect(await a.delete!('t1', 1)).toBe(true);
      expect(await b.get('t1')).toBeUndefined();
      await expect(b.append('t1', 1, [prefetchEvent(2, 'late')])).rejects.toBeInstanceOf(NotFoundError);
      await expect(b.delete!('t1', 1)).resolves.toBe(false);
      // b has not read a's tombstone yet when it creates t1 again, the same as before.
      await b.create(first);
      for (const store of [a, b]) {
        expect((await store.list()).map((s) => s.id), 'latest').toEqual(['t2', 't1']);
        expect((await store.list({ after: '' })).map((s) => s.id), 'paged').toEqual(['t1', 't2']);
        expect(await store.get('t1')).toEqual(first);
      }
    });

    it('races a real second process: each version is won exactly once', async () => {
      const rounds = 60;
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(here, 'fixtures', 'raceWorker.ts'),
          dir,
          't1',
          String(rounds),
          'child',
        ],
        { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
      await new Promise<void>((resolveReady, rejectReady) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('ready\n')) resolveReady();
        });
        void exited.then((code) => rejectReady(new Error(`worker exited early (${code}): ${stderr}`)));
      });
      const store = await openStore();
      // Rounds run in time slots, so both processes try each version at the same moment. A slot
      // outlasts a commit (a flush of the log) and the winner's hold on the thread's lock after
      // it: otherwise the winner of one round would win every round after it.
      const schedule = { startAt: Date.now() + 50, slotMs: 80 };
      await store.create({ id: 't1', agent: 'race', events: [inputEvent(1, at(1), schedule)] });
      const parentWins = await raceRounds(store, 't1', rounds, 'parent', schedule);
      
      expect(await exited, stderr).toBe(0);
      const childWins = (JSON.parse(stdout.split('\n').find((line) => line.startsWith('{'))!) as { wins: number[] }).wins;
      expectEachVersionWonOnce([parentWins, childWins], rounds);
      // Both processes really raced: each won some rounds.
      expect(parentWins.length).toBeGreaterThan(0);
      expect(childWins.length).toBeGreaterThan(0);
      const thread = await store.get('t1');
      expectEventsMatchWinners(thread!, [
        { name: 'parent', wins: parentWins },
        { name: 'child', wins: childWins },
      ]);
      expect((await linesOf('t1')).length).toBe(rounds + 1);
    });

    it('a store that cached a thread it wrote reads the one another store deleted and created again in its place, same size, same inode', async () => {
      const a = await openStore({ fsync: false });
      const b = await openStore({ fsync: false });
      const thread = (text: string): Thread => ({ id: 'x', agent: 'triage', events: [inputEvent(1, at(1), { text }), finalEvent(2, at(2))] });
      let reused = 0;
      for (let round = 0; round < 4; round++) {
        if (round > 0) expect(await b.delete!('x', 2)).toBe(true);
        await b.create(thread('old!'));
        const { ino } = await stat(fileOf('x'));
        // b keeps x cached, and closes its descriptor of x (it keeps the 256 files it wrote last open).
        for (let i = 0; i < 260; i++) await b.create(newThread(`filler-${round}-${i}`));
        expect(await a.delete!('x', 2)).toBe(true);
        await a.create(thread('new!'));
        if ((await stat(fileOf('x'))).ino === ino) reused++;
        expect(await b.get('x'), `round ${round}`).toEqual(thread('new!'));
      }
      // The file system handed the new file the inode just freed at least once (ext4 and tmpfs do).
      expect(reused).toBeGreaterThan(0);
    });

    it.skipIf(process.platform !== 'linux')('a store lets go of the file of a thread another store deleted once it reads the tombstone: no descriptor keeps it on the disk', async () => {
      const a = await openStore();
      const b = await openStore();
      await b.create(newThread('kept-open'));
      await b.append('kept-open', 1, [finalEvent(2)]);
      expect(await a.delete!('kept-open', 2)).toBe(true);
      await b.list();
      const held: string[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
        if (target.startsWith(fileOf('kept-open'))) held.push(target);
      }
      expect(held).toEqual([]);
    });
  });

  describe('locks', () => {
    async function deadPid(): Promise<number> {
      const child = spawn(process.execPath, ['-e', '']);
      await new Promise((resolveExit) => child.on('exit', resolveExit));
      return child.pid!;
    }

    async function lockHeldBy(name: string, pid: number): Promise<string> {
      await mkdir(join(dir, '.locks'), { recursive: true });
      const lock = join(dir, '.locks', `${name}.lock`);
      await writeFile(lock, JSON.stringify({ pid, host: hostname(), token: 'someone-else' }));
      return lock;
    }

    async function lockFiles(): Promise<string[]> {
      return (await readdir(join(dir, '.locks'))).filter((name) => name.endsWith('.lock'));
    }

    /** A thread created by a store that is closed again (so it holds no lock of it). */
    async function created(id: string): Promise<void> {
      const setup = await openStore();
      await setup.create(newThread(id));
      await setup.close();
    }

    it('keeps a thread\'s lock a moment after a write, for its next write, then lets it go', async () => {
      const store = await openStore();
      await store.create(newThread('t1'));
      await store.append('t1', 1, [prefetchEvent(2, 'a')]);
      expect(await lockFiles()).toEqual(['t1.lock']);
      await expect.poll(() => lockFiles(), { timeout: 5_000, interval: 10 }).toEqual([]);
    });

    it('breaks a lock left by a dead process at once', async () => {
      await created('t1');
      await lockHeldBy('t1', await deadPid());
      const store = await openStore({ staleLockMs: 60_000, lockTimeoutMs: 5000 });
      await store.append('t1', 1, [prefetchEvent(2, 'a')]);
      await store.close();
      expect(await lockFiles()).toEqual([]);
    });

    it('breaks a lock left by an earlier process that had this pid', async () => {
      await created('t1');
      await lockHeldBy('t1', process.pid);
      const store = await openStore({ staleLockMs: 60_000, lockTimeoutMs: 5000 });
      await store.append('t1', 1, [prefetchEvent(2, 'a')]);
      await store.close();
      expect(await lockFiles()).toEqual([]);
    });

    it('waits for a live lock, gives up with SystemError, and breaks it once stale', async () => {
      await created('t1');
      // held by a live process: the test runner's parent
      await lockHeldBy('t1', process.ppid);
      const store = await openStore({ staleLockMs: 60_000, lockTimeoutMs: 50 });
      await expect(store.append('t1', 1, [prefetchEvent(2, 'a')])).rejects.toBeInstanceOf(SystemError);
      expect(versionOf((await store.get('t1'))!)).toBe(1);
      expect(await lockFiles()).toEqual(['t1.lock']);
      // a store that considers a lock stale after 100 ms waits that long, then breaks it
      const patient = await openStore({ staleLockMs: 100, lockTimeoutMs: 5000 });
      await patient.append('t1', 1, [prefetchEvent(2, 'a')]);
      expect(versionOf((await store.get('t1'))!)).toBe(2);
      await patient.close();
      expect(await lockFiles()).toEqual([]);
    });

    it('removes owner files of dead processes when a store opens', async () => {
      await mkdir(join(dir, '.locks'), { recursive: true });
      const dead = join(dir, '.locks', 'owner.deadbeef');
      const live = join(dir, '.locks', 'owner.cafe');
      await writeFile(dead, JSON.stringify({ pid: await deadPid(), host: hostname(), token: 'deadbeef' }));
      await writeFile(live, JSON.stringify({ pid: process.ppid, host: hostname(), token: 'cafe' }));
      await openStore();
      const names = await readdir(join(dir, '.locks'));
      expect(names).toContain('owner.cafe');
      expect(names).not.toContain('owner.deadbeef');
    });
  });
});

function expectEachVersionWonOnce(wins: readonly number[][], rounds: number): void {
  const all = wins.flat().sort((x, y) => x - y);
  expect(all).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
}

function expectEventsMatchWinners(thread: Thread, writers: ReadonlyArray<{ name: string; wins: readonly number[] }>): void {
  const rounds = writers.reduce((n, w) => n + w.wins.length, 0);
  expect(thread.events.map((e) => e.seq)).toEqual(Array.from({ length: rounds + 1 }, (_, i) => i + 1));
  for (const { name, wins } of writers) {
    for (const v of wins) {
      expect(thread.events[v]).toMatchObject({ seq: v + 1, type: 'prefetch', data: { name: `${name}:${v}` } });
    }
  }
}
