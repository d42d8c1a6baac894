// Every id the runtime allows (THREAD_ID_PATTERN, and the child ids pipelines derive from them) is
// stored by the file store under a file name that fits the file system's 255-byte limit.
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childThreadId } from '../../src/pipeline/pipelineDefinition.js';
import { THREAD_ID_PATTERN } from '../../src/runtime/launching.js';
import { createFileStore, type FileStoreOptions } from '../../src/store/fileStore.js';
import { decodeThreadId, encodeThreadId, formatLine } from '../../src/store/threadFile.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { at, humanRequestEvent, inputEvent, newThread, prefetchEvent } from './fixtures/events.js';

/** The file name encoding of the store before long upper-case ids fitted (kept to write old directories). */
function legacyEncodeThreadId(id: string): string | undefined {
  if (/^[a-z0-9_-]{1,200}$/.test(id)) return id;
  if (id.length === 0 || /\p{Surrogate}/u.test(id)) return undefined;
  let out = '';
  for (const char of id) {
    if (/^[a-z0-9_-]$/.test(char)) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).padStart(2, '0')}`;
    if (out.length > 200) return undefined;
  }
  return out;
}

/** Ids of the runtime's pattern, many of them long and upper-case (3 bytes each once escaped). */
const patternId: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(THREAD_ID_PATTERN),
  fc.tuple(fc.constantFrom('Q', ':', 'A', 'Z'), fc.integer({ min: 60, max: 128 })).map(([char, n]) => char.repeat(n)),
  fc.array(fc.constantFrom('Q', ':', 'q', '-', 'X', '9'), { minLength: 60, maxLength: 128 }).map((chars) => chars.join('')),
);

/** Those ids and the child ids a pipeline derives from them (for steps, and later visits). */
const storedId: fc.Arbitrary<string> = fc.oneof(
  patternId,
  fc.tuple(patternId, fc.stringMatching(/^[a-z0-9_]{1,30}$/), fc.integer({ min: 1, max: 5 })).map(([parent, step, visit]) => childThreadId(parent, step, visit)),
);

describe('file names of the ids the runtime allows', () => {
  it('every id of the pattern and every derived child id has a stem that fits a file name, made of safe lower-case characters', () => {
    fc.assert(
      fc.property(storedId, (id) => {
        const stem = encodeThreadId(id);
        expect(stem).toBeDefined();
        // 200 leaves room in a 255-byte name for `.jsonl` and the lock and temp suffixes.
        expect(Buffer.byteLength(stem!)).toBeLessThanOrEqual(200);
        expect(stem).toMatch(/^[a-z0-9_%~-]+$/);
        // Every stem reads back by itself (a long one is packed, `~...`, not cut).
        expect(decodeThreadId(stem!)).toBe(id);
      }),
      { numRuns: 500 },
    );
  });

  it('distinct ids get distinct stems, also on a case-insensitive file system', () => {
    fc.assert(
      fc.property(storedId, storedId, (a, b) => {
        fc.pre(a !== b);
        expect(encodeThreadId(a)!.toLowerCase()).not.toBe(encodeThreadId(b)!.toLowerCase());
      }),
      { numRuns: 500 },
    );
    // Ids that differ only near their ends, and only in case.
    const base = 'Q'.repeat(127);
    const stems = [`${base}Q`, `${base}q`, `${base}R`, `q${base}`, `Q${'Q'.repeat(126)}:`].map((id) => encodeThreadId(id)!.toLowerCase());
    expect(new Set(stems).size).toBe(stems.length);
  });

  it('keeps the readable stems of the ids it stored before (short lower-case ids are their own names)', () => {
    fc.assert(
      fc.property(storedId, (id) => {
        const legacy = legacyEncodeThreadId(id);
        if (legacy !== undefined) expect(encodeThreadId(id)).toBe(legacy);
      }),
      { numRuns: 300 },
    );
    expect(encodeThreadId('run-1--ask')).toBe('run-1--ask');
  });
});

describe('the file store with long upper-case ids', () => {
  let dir: string;
  const open: ThreadStore[] = [];
  let rebuilt: string[];

  async function openStore(options: FileStoreOptions = {}): Promise<ThreadStore> {
    const store = await createFileStore({ dir, fsync: false, onIndexRebuilt: (reason) => rebuilt.push(reason), ...options });
    open.push(store);
    return store;
  }

  async function closeAll(): Promise<void> {
    await Promise.all(open.splice(0).map((store) => store.close()));
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-idnames-'));
    rebuilt = [];
  });

  afterEach(async () => {
    await closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  const ids = [
    'Q'.repeat(67),
    'Q'.repeat(128),
    ':'.repeat(128),
    `${'Ab'.repeat(63)}:Z`,
    childThreadId('Q'.repeat(65), 'review'),
    childThreadId('Q'.repeat(128), 'review', 3),
    'short-one',
  ];

  it('stores, lists, appends to and reads back each of them, across restarts, with the index and without it', async () => {
    const store = await openStore();
    for (const [i, id] of ids.entries()) {
      await store.create(newThread(id, i % 2 === 0 ? 'even' : 'odd', at(i)));
      await store.append(id, 1, [humanRequestEvent(2, at(100 + i))]);
    }
    const expected = await Promise.all(ids.map(async (id) => (await store.get(id))!));
    for (const [i, id] of ids.entries()) expect(expected[i]).toMatchObject({ id, events: [{ seq: 1 }, { seq: 2 }] });
    const awaiting = async (s: ThreadStore): Promise<string[]> => (await s.list({ status: 'awaiting_human', limit: Infinity })).map((t) => t.id).sort();
    expect(await awaiting(store)).toEqual([...ids].sort());
    for (const name of await readdir(dir)) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);

    const check = async (s: ThreadStore): Promise<void> => {
      for (const [i, id] of ids.entries()) expect(await s.get(id)).toEqual(expected[i]);
      expect(await awaiting(s)).toEqual([...ids].sort());
    };
    await closeAll();
    // With the index (log), then without (rebuilt from the files), then from the snapshot the rebuild saved.
    await check(await openStore());
    await closeAll();
    expect(rebuilt).toEqual([]);
    await rm(join(dir, '.index'), { recursive: true });
    const again = await openStore();
    expect(rebuilt).toEqual(['missing']);
    await check(again);
    await closeAll();
    const third = await openStore();
    expect(rebuilt).toEqual(['missing']);
    await check(third);
    // Still writable after all that: a response moves each on.
    for (const id of ids) await third.append(id, 2, [prefetchEvent(3, 'answer')]);
    for (const id of ids) expect((await third.get(id))?.events).toHaveLength(3);
    await expect(third.create(newThread(ids[0]!, 'even'))).rejects.toThrow(/version/i);
  });

  it('reads a directory its earlier versions wrote (file names in the old encoding, no index)', async () => {
    const old = ['t1', 'Ticket:42', 'Q'.repeat(66), 'é-ß', 'a.b c'];
    for (const [i, id] of old.entries()) {
      const stem = legacyEncodeThreadId(id)!;
      const text = formatLine(1, [inputEvent(1, at(i))], { id, agent: 'old', at: at(i) }) + formatLine(2, [humanRequestEvent(2, at(50 + i))]);
      await writeFile(join(dir, `${stem}.jsonl`), text);
    }
    await mkdir(join(dir, 'not-a-thread'));
    const store = await openStore();
    for (const [i, id] of old.entries()) expect(await store.get(id)).toMatchObject({ id, agent: 'old', events: [{ seq: 1, at: at(i) }, { seq: 2 }] });
    expect((await store.list({ status: 'awaiting_human', limit: Infinity })).map((t) => t.id).sort()).toEqual([...old].sort());
    await store.append('Ticket:42', 2, [prefetchEvent(3, 'more')]);
    await closeAll();
    const again = await openStore();
    expect((await again.get('Ticket:42'))?.events).toHaveLength(3);
    expect((await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort()).toEqual(old.map((id) => `${legacyEncodeThreadId(id)!}.jsonl`).sort());
  });
});
