import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidInputError, ThreadEndedError, VersionConflictError } from '../../src/errors.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { INDEX_DIR } from '../../src/store/fileStoreConfig.js';
import { encodeThreadId } from '../../src/store/threadFile.js';
import type { Thread } from '../../src/thread/events.js';
import { deriveState } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from './idArbitrary.js';
import { batchesArbitrary } from './threadArbitrary.js';

const root = mkdtempSync(join(tmpdir(), 'switchyard-restart-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

describe('the file store across a restart', () => {
  it('gives back every thread, summary and page it had, and none it deleted, whatever the ids, agents and event times', async () => {
    const threads = fc.array(fc.tuple(fc.oneof(idArbitrary, fc.constantFrom('a', 'A', '\uD800')), awkwardString, batchesArbitrary, fc.boolean()), { minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(threads, async (specs) => {
        const dir = join(root, String(++dirs));
        const store = await createFileStore({ dir, fsync: false });
        const kept = new Map<string, Thread>();
        const deleted = new Set<string>();
        for (const [id, agent, batches, deleteIt] of specs) {
          const created = await store.create({ id, agent, events: batches[0]! }).catch((error: unknown) => error);
          if (encodeThreadId(id) === undefined) expect(created).toBeInstanceOf(InvalidInputError);
          else if (kept.has(id)) expect(created).toBeInstanceOf(VersionConflictError);
          if (created instanceof Error) continue;
          let thread = created as Thread;
          for (const batch of batches.slice(1)) {
            const appended = await store.append(id, thread.events.length, batch).catch((error: unknown) => error);
            if (appended instanceof ThreadEndedError) {
              // A thread takes no event after its end (the first batch, created, may hold some: an old log).
              expect(deriveState([...thread.events, ...batch.slice(0, -1)]).terminal).not.toBeNull();
              break;
            }
            if (appended instanceof Error) throw appended;
            thread = appended as Thread;
          }
          kept.set(id, thread);
          deleted.delete(id);
          if (deleteIt) {
            // Deleted once it is written (and its id free for a thread of a later spec).
            expect(await store.delete!(id, thread.events.length)).toBe(true);
            kept.delete(id);
            deleted.add(id);
          }
        }
        const listed = await store.list({ limit: Infinity });
        const paged = await store.list({ after: '', limit: Infinity });
        expect(listed.map((s) => s.id).sort()).toEqual([...kept.keys()].sort());
        await store.close();
        const again = await createFileStore({ dir, fsync: false });
        expect(await again.list({ limit: Infinity })).toEqual(listed);
        expect(await again.list({ after: '', limit: Infinity })).toEqual(paged);
        for (const [id, thread] of kept) expect(await again.get(id)).toEqual(thread);
        for (const id of deleted) expect(await again.get(id)).toBeUndefined();
        await again.close();
      }),
      { numRuns: 15 },
    );
  });

  it('holds every id the runtime accepts, up to 128 upper-case letters and colons, and finds it again from its file alone', async () => {
    const ids = ['A'.repeat(128), ':'.repeat(128), 'a:'.repeat(64), `${'Z'.repeat(100)}:step-2`];
    const dir = join(root, String(++dirs));
    const store = await createFileStore({ dir, fsync: false });
    const at = '2026-01-01T00:00:00.000Z';
    for (const id of ids) {
      await store.create({ id, agent: 'calculator', events: [{ seq: 1, at, type: 'input', data: { input: id.length } }] });
      await store.append(id, 1, [{ seq: 2, at, type: 'control', data: { action: 'pause' } }]);
    }
    expect((await store.list({ limit: Infinity })).map((s) => s.id).sort()).toEqual([...ids].sort());
    await store.close();
    // Without its index the store reads the thread files, naming each thread by its file name.
    rmSync(join(dir, INDEX_DIR), { recursive: true, force: true });
    const again = await createFileStore({ dir, fsync: false });
    expect((await again.list({ limit: Infinity })).map((s) => [s.id, s.status])).toEqual(expect.arrayContaining(ids.map((id) => [id, 'paused'])));
    for (const id of ids) expect((await again.get(id))?.events.map((e) => e.type)).toEqual(['input', 'control']);
    await again.close();
  });
});
