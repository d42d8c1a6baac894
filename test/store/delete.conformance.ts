import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, VersionConflictError } from '../../src/errors.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { at, controlEvent, finalEvent, humanRequestEvent, inputEvent, newThread } from './fixtures/events.js';
import { walk } from './paging.conformance.js';
import type { ThreadStoreFactory } from './threadStore.conformance.js';

/** The rejection of a promise (failing the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (e: unknown) => e,
  );
}

/**
 * `ThreadStore.delete`, run against every store that can delete threads. Uses only the interface;
 * each test gets a fresh store from `factory`.
 */
export function runDeleteConformance(name: string, factory: ThreadStoreFactory): void {
  describe(`ThreadStore delete conformance: ${name}`, () => {
    let store: ThreadStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });

    afterEach(async () => {
      await cleanup();
    });

    function remove(id: string, expectedVersion: number): Promise<boolean> {
      if (store.delete === undefined) throw new Error(`the ${name} store has no delete`);
      return store.delete(id, expectedVersion);
    }

    async function seed(): Promise<void> {
      await store.create({ id: 'd-done', agent: 'triage', events: [inputEvent(1, at(10)), finalEvent(2, at(11))] });
      await store.create({ id: 'd-waiting', agent: 'triage', events: [inputEvent(1, at(12)), humanRequestEvent(2, at(13))] });
      await store.create({ id: 'd-cancelled', agent: 'writer', events: [inputEvent(1, at(14)), controlEvent(2, 'cancel', at(15))] });
    }

    it('deletes a thread: get answers undefined, listings and paged walks leave it out, the others stay', async () => {
      await seed();
      const kept = await store.get('d-waiting');
      expect(await remove('d-done', 2)).toBe(true);
      expect(await store.get('d-done')).toBeUndefined();
      expect((await store.list()).map((s) => s.id).sort()).toEqual(['d-cancelled', 'd-waiting']);
      expect(await store.list({ status: 'done' })).toEqual([]);
      expect((await store.list({ agent: 'triage' })).map((s) => s.id)).toEqual(['d-waiting']);
      const pages = await walk(store, { limit: 1 });
      expect(pages.flat().map((s) => s.id).sort()).toEqual(['d-cancelled', 'd-waiting']);
      expect(await walk(store, { status: ['done', 'cancelled'], limit: 1 }).then((p) => p.flat().map((s) => s.id))).toEqual(['d-cancelled']);
      expect(await store.get('d-waiting')).toEqual(kept);
    });

    it('answers false for a thread that does not exist, or was already deleted', async () => {
      await seed();
      expect(await remove('d-unknown', 1)).toBe(false);
      expect(await remove('d-done', 2)).toBe(true);
      expect(await remove('d-done', 2)).toBe(false);
      expect(await store.list()).toHaveLength(2);
    });

    it('deletes nothing when the thread moved past the expected version, and says so as a conflict', async () => {
      await seed();
      const error = await rejectionOf(remove('d-waiting', 1));
      expect(error).toBeInstanceOf(VersionConflictError);
      expect(error).toMatchObject({ threadId: 'd-waiting', expectedVersion: 1, actualVersion: 2 });
      expect(await store.get('d-waiting')).toMatchObject({ id: 'd-waiting', events: [{ seq: 1 }, { seq: 2 }] });
      expect((await store.list({ status: 'awaiting_human' })).map((s) => s.id)).toEqual(['d-waiting']);
    });

    it('refuses an append to a deleted thread as not found, and takes the id again as a new thread', async () => {
      await seed();
      expect(await remove('d-waiting', 2)).toBe(true);
      expect(await rejectionOf(store.append('d-waiting', 2, [finalEvent(3)]))).toBeInstanceOf(NotFoundError);
      const again = { id: 'd-waiting', agent: 'writer', events: [inputEvent(1, at(50))] };
      expect(await store.create(again)).toEqual(again);
      expect(await store.get('d-waiting')).toEqual(again);
      await store.append('d-waiting', 1, [finalEvent(2, at(51))]);
      expect((await store.list({ agent: 'writer', status: 'done' })).map((s) => [s.id, s.createdAt, s.version])).toEqual([['d-waiting', at(50), 2]]);
      expect(await store.list({ agent: 'triage', status: 'awaiting_human' })).toEqual([]);
    });

    it('a paged walk over threads deleted while it runs returns each remaining thread exactly once', async () => {
      for (let i = 0; i < 12; i++) await store.create(newThread(`d-${String(i).padStart(2, '0')}`, 'triage', at(100 + i)));
      const deleted = new Set<string>();
      const pages = await walk(store, { limit: 3 }, async (page) => {
        // Delete one thread already returned and one not yet reached, between pages.
        for (const id of [`d-${String(page * 3 - 1).padStart(2, '0')}`, `d-${String(page * 3 + 2).padStart(2, '0')}`]) {
          if (deleted.has(id) || !(await remove(id, 1))) continue;
          deleted.add(id);
        }
      });
      const seen = pages.flat().map((s) => s.id);
      expect(new Set(seen).size).toBe(seen.length);
      const remaining = (await store.list({ limit: 100 })).map((s) => s.id);
      for (const id of remaining) expect(seen).toContain(id);
      expect(remaining).toHaveLength(12 - deleted.size);
      for (const id of deleted) expect(remaining).not.toContain(id);
    });

    it('agrees with a model of creates, ends and deletes in any order (property)', async () => {
      type Op = { kind: 'create' | 'end' | 'delete'; n: number };
      const op = fc.record({ kind: fc.constantFrom<Op['kind']>('create', 'end', 'delete'), n: fc.integer({ min: 0, max: 4 }) });
      let round = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 14 }), async (ops) => {
          const prefix = `p${round++}-`;
          const model = new Map<string, number>();
          for (const { kind, n } of ops) {
            const id = `${prefix}${n}`;
            const version = model.get(id);
            if (kind === 'create' && version === undefined) {
              await store.create({ id, agent: 'prop', events: [inputEvent(1, at(200 + n))] });
              model.set(id, 1);
            } else if (kind === 'end' && version === 1) {
              await store.append(id, 1, [finalEvent(2, at(300 + n))]);
              model.set(id, 2);
            } else if (kind === 'delete') {
              expect(await remove(id, version ?? 1)).toBe(version !== undefined);
              model.delete(id);
            }
          }
          const listed = (await store.list({ limit: 100 })).filter((s) => s.id.startsWith(prefix));
          expect(new Map(listed.map((s) => [s.id, s.version]))).toEqual(model);
          const walked = (await walk(store, { agent: 'prop', limit: 2 })).flat().filter((s) => s.id.startsWith(prefix));
          expect(walked.map((s) => s.id).sort()).toEqual([...model.keys()].sort());
          for (const [id, version] of model) expect((await store.get(id))?.events).toHaveLength(version);
        }),
        { numRuns: 25 },
      );
    });
  });
}
