/**
 * The file store's index keeps a row's `wakeAt` and `failure`, so listing sleeping, backing-off,
 * failed and cancelled threads (an inbox of retries, retention's walk of what ended) opens no
 * thread file; an index written by the build before (test/fixtures/upgrade/index-520836a: its
 * snapshot, and its commit log), which has neither, still loads without a rebuild and lists them
 * right, reading each such thread once.
 */
import { cp, mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../../src/store/threadStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { at, controlEvent, errorEvent, inputEvent } from './fixtures/events.js';

/** Thread files opened (`openSync` of a `.jsonl`) since the count was last reset. */
const opened = vi.hoisted(() => ({ files: [] as string[] }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    if (String(args[0]).endsWith('.jsonl')) opened.files.push(String(args[0]));
    return actual.openSync(...args);
  }) as typeof actual.openSync;
  return { ...actual, openSync, default: { ...actual, openSync } };
});

const FIXTURES = new URL('../fixtures/upgrade/index-520836a/', import.meta.url);

const nap: ThreadEvent = { seq: 2, at: at(2), type: 'custom', data: { step: 'nap', phase: 'before_decision', output: null, until: Date.parse(at(3600)) } };
const failed: ThreadEvent = { seq: 2, at: at(2), type: 'failed', data: { reason: `step fetch: ${'x'.repeat(300)}` } };
const cancel: ThreadEvent = { seq: 2, at: at(2), type: 'control', data: { action: 'cancel', reason: 'no longer needed', by: 'bo' } };

/** What each row of the fixture's threads says beyond id, agent and times. */
const EXPECTED: Record<string, Partial<ThreadSummary>> = {
  'x-nap': { status: 'sleeping', wakeAt: at(3600) },
  'x-retry': { status: 'backing_off', wakeAt: at(62) },
  'x-failed': { status: 'failed', failure: { kind: 'failed', message: `step fetch: ${'x'.repeat(188)}…` } },
  'x-cancelled': { status: 'cancelled', failure: { kind: 'cancelled', message: 'no longer needed', by: 'bo' } },
  'x-quiet': { status: 'cancelled' },
  'x-running': { status: 'running' },
};

/** The rows listed by `options`, what they say beyond id, agent and times, by id. */
async function rowsOf(store: ThreadStore, options: ListOptions): Promise<Record<string, Partial<ThreadSummary>>> {
  const rows = await store.list(options);
  return Object.fromEntries(rows.map(({ id, status, wakeAt, failure }) => [id, { status, ...(wakeAt === undefined ? {} : { wakeAt }), ...(failure === undefined ? {} : { failure }) }]));
}

/** Every way of listing the threads: most recent, a walk, and retention's walk of what ended. */
const LISTINGS: ListOptions[] = [{}, { after: '' }, { status: ['failed', 'cancelled', 'done'], after: '', updatedBefore: at(100) }, { status: ['sleeping', 'backing_off'] }];

describe('the file store index keeps wakeAt and failure', () => {
  let dir: string;
  const stores: ThreadStore[] = [];
  let rebuilt: string[];

  async function openStore(): Promise<ThreadStore> {
    const store = await createFileStore({ dir, fsync: false, onIndexRebuilt: (reason) => rebuilt.push(reason) });
    stores.push(store);
    return store;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-indexsummaries-'));
    rebuilt = [];
    opened.files = [];
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function seed(store: ThreadStore): Promise<void> {
    await store.create({ id: 'x-nap', agent: 'triage', events: [inputEvent(1), nap] });
    await store.create({ id: 'x-retry', agent: 'triage', events: [inputEvent(1), errorEvent(2)] });
    await store.create({ id: 'x-failed', agent: 'triage', events: [inputEvent(1), failed] });
    await store.create({ id: 'x-cancelled', agent: 'triage', events: [inputEvent(1), cancel] });
    await store.create({ id: 'x-quiet', agent: 'triage', events: [inputEvent(1), controlEvent(2, 'cancel')] });
    await store.create({ id: 'x-running', agent: 'triage', events: [inputEvent(1)] });
  }

  /** Checks every listing against {@link EXPECTED}; answers the thread files they opened. */
  async function listAll(store: ThreadStore): Promise<string[]> {
    opened.files = [];
    for (const options of LISTINGS) {
      const rows = await rowsOf(store, options);
      const ids = Object.keys(rows);
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) expect(rows[id], `${id} in ${JSON.stringify(options)}`).toEqual(EXPECTED[id]);
    }
    return opened.files.splice(0);
  }

  it('lists sleeping, backing-off, failed and cancelled rows without opening a thread file, from the snapshot or from the log', async () => {
    const writer = await openStore();
    await seed(writer);
    // Another process's store (nothing cached) learns the threads from the commit log.
    const reader = await openStore();
    expect(await listAll(reader)).toEqual([]);
    await Promise.all(stores.splice(0).map((store) => store.close()));
    // And from the snapshot the close saved.
    expect(await listAll(await openStore())).toEqual([]);
    expect(rebuilt).toEqual([]);
  });

  it('keeps them as the thread moves on: a nap that ends drops wakeAt, a cancel brings failure', async () => {
    const writer = await openStore();
    await seed(writer);
    await writer.append('x-nap', 2, [{ ...cancel, seq: 3, at: at(5), data: { action: 'cancel', by: 'cy' } }]);
    const reader = await openStore();
    opened.files = [];
    const [row] = await reader.list({ status: 'cancelled', limit: 1 });
    expect(row).toMatchObject({ id: 'x-nap', failure: { kind: 'cancelled', by: 'cy' } });
    expect(row).not.toHaveProperty('wakeAt');
    expect(opened.files).toEqual([]);
  });

  describe.each(['snapshot', 'log'])('an index the build before wrote (its %s)', (kind) => {
    it('loads without a rebuild and lists wakeAt and failure right, reading each such thread once', async () => {
      await cp(new URL(`${kind}/`, FIXTURES), dir, { recursive: true });
      await mkdir(join(dir, '.locks'), { recursive: true }); // git keeps no empty directory
      // The copy moved the directory's mtime: set back, as the directory the fixture was taken from had it.
      await utimes(dir, new Date(Date.UTC(2020, 0, 1)), new Date(Date.UTC(2020, 0, 1)));
      const store = await openStore();
      expect(rebuilt).toEqual([]);
      const firstReads = await listAll(store);
      // Read once, the entries are refreshed: no listing reads them again, nor after a restart.
      expect(await listAll(store)).toEqual([]);
      expect(new Set(firstReads.map((file) => file.split('/').pop()))).toEqual(new Set(['x-nap.jsonl', 'x-retry.jsonl', 'x-failed.jsonl', 'x-cancelled.jsonl', 'x-quiet.jsonl']));
      await Promise.all(stores.splice(0).map((s) => s.close()));
      expect(await listAll(await openStore())).toEqual([]);
      expect(rebuilt).toEqual([]);
    });
  });
});
