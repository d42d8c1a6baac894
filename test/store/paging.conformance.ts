import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../../src/store/threadStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import type { ThreadStatus } from '../../src/thread/state.js';
import { at, controlEvent, finalEvent, humanRequestEvent, humanResponseEvent, inputEvent } from './fixtures/events.js';

/** A thread the tests move between statuses, and what it should be now. */
interface Tracked {
  readonly id: string;
  version: number;
  status: ThreadStatus;
  /** Set while awaiting a human. */
  requestId: string | undefined;
}

/** Every page of a walk with these filters, each page's summaries in order. */
export async function walk(store: ThreadStore, options: Omit<ListOptions, 'after'>, between?: (page: number) => Promise<void>): Promise<ThreadSummary[][]> {
  const pages: ThreadSummary[][] = [];
  let after = '';
  for (;;) {
    const page = await store.list({ ...options, after });
    pages.push(page);
    const limit = options.limit ?? 100;
    if (page.length < limit || pages.length > 1000) return pages;
    after = page.at(-1)!.cursor!;
    expect(typeof after).toBe('string');
    await between?.(pages.length);
  }
}

function countIds(pages: readonly ThreadSummary[][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const summary of pages.flat()) counts.set(summary.id, (counts.get(summary.id) ?? 0) + 1);
  return counts;
}

/**
 * Paged listings (`after`), run by every store as part of the ThreadStore conformance suite.
 * `store()` is the fresh store of the current test.
 */
export function runPagingConformance(store: () => ThreadStore): void {
  let made = 0;

  async function make(agent: string, time = at(1000 + made)): Promise<Tracked> {
    const id = `pg-${agent}-${String(made++).padStart(3, '0')}`;
    await store().create({ id, agent, events: [inputEvent(1, time)] });
    return { id, version: 1, status: 'running', requestId: undefined };
  }

  /** Moves a thread on by one event: running -> awaiting_human -> running, ... or to `done`. */
  async function advance(thread: Tracked, to: 'awaiting_human' | 'running' | 'done' | 'paused'): Promise<void> {
    const seq = thread.version + 1;
    let event: ThreadEvent;
    if (to === 'awaiting_human') event = humanRequestEvent(seq, at(5000 + seq));
    else if (to === 'done') event = finalEvent(seq, at(5000 + seq));
    else if (to === 'paused') event = controlEvent(seq, 'pause', at(5000 + seq));
    else if (thread.status === 'paused') event = controlEvent(seq, 'resume', at(5000 + seq));
    else event = humanResponseEvent(seq, thread.requestId!, at(5000 + seq));
    await store().append(thread.id, thread.version, [event]);
    thread.version = seq;
    if (event.type === 'human_request') thread.requestId = `req_${seq}`;
    if (event.type === 'human_response') thread.requestId = undefined;
    // Resuming a paused thread brings back the request it was waiting on, if any.
    thread.status = to === 'running' && thread.requestId !== undefined ? 'awaiting_human' : to;
  }

  describe('paging (after)', () => {
    it('pages through every thread once, in pages of limit, each summary with a cursor', async () => {
      const pager: Tracked[] = [];
      // Pairs share a creation time: the order breaks ties.
      for (let i = 0; i < 23; i++) pager.push(await make('pager', at(1000 + Math.floor(i / 2))));
      for (let i = 0; i < 5; i++) await make('bystander');
      const pages = await walk(store(), { agent: 'pager', limit: 5 });
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
      expect([...countIds(pages).entries()].every(([, n]) => n === 1)).toBe(true);
      expect([...countIds(pages).keys()].sort()).toEqual(pager.map((t) => t.id).sort());
      // The same summaries as the unpaged list, plus a cursor.
      const plain = new Map((await store().list({ agent: 'pager', limit: Infinity })).map((s) => [s.id, s]));
      for (const summary of pages.flat()) {
        const { cursor, ...rest } = summary;
        expect(typeof cursor).toBe('string');
        expect(rest).toEqual(plain.get(summary.id));
      }
      // A stable order: a second walk meets the threads in the same sequence.
      expect((await walk(store(), { agent: 'pager', limit: 5 })).flat().map((s) => s.id)).toEqual(pages.flat().map((s) => s.id));
      expect((await walk(store(), { limit: 4 })).flat()).toHaveLength(28);
      expect(await store().list({ agent: 'nobody', after: '' })).toEqual([]);
    });

    it('returns every thread exactly once while threads change status', async () => {
      const threads: Tracked[] = [];
      for (let i = 0; i < 30; i++) threads.push(await make('mover'));
      const added: string[] = [];
      const pages = await walk(store(), { agent: 'mover', limit: 4 }, async (page) => {
        // Threads already listed and threads not listed yet move on; a new thread arrives.
        for (const thread of [threads[page]!, threads[29 - page]!, threads[(page * 7) % 30]!]) {
          await advance(thread, thread.status === 'running' ? 'awaiting_human' : thread.status === 'awaiting_human' ? 'done' : 'done');
        }
        added.push((await make('mover')).id);
      });
      const counts = countIds(pages);
      for (const thread of threads) expect(counts.get(thread.id), thread.id).toBe(1);
      for (const id of added) expect(counts.get(id) ?? 0).toBeLessThanOrEqual(1);
      expect(counts.size).toBeLessThanOrEqual(threads.length + added.length);
    });

    it('under a status filter, returns each thread that keeps the status exactly once and no other', async () => {
      const threads: Tracked[] = [];
      for (let i = 0; i < 24; i++) {
        const thread = await make('waiter');
        if (i % 6 !== 5) await advance(thread, 'awaiting_human');
        threads.push(thread);
      }
      const leaving = new Set<string>();
      const pages = await walk(store(), { agent: 'waiter', status: 'awaiting_human', limit: 3 }, async (page) => {
        // One listed and one not yet listed thread are answered; neither comes back to waiting.
        for (const thread of [threads[page - 1]!, threads[23 - page]!]) {
          if (thread.status !== 'awaiting_human') continue;
          await advance(thread, 'running');
          await advance(thread, 'done');
          leaving.add(thread.id);
        }
      });
      const counts = countIds(pages);
      for (const thread of threads) {
        if (thread.status === 'awaiting_human') expect(counts.get(thread.id), thread.id).toBe(1);
        else if (!leaving.has(thread.id)) expect(counts.has(thread.id), thread.id).toBe(false);
        else expect(counts.get(thread.id) ?? 0).toBeLessThanOrEqual(1);
      }
      for (const summary of pages.flat()) expect(summary.agent).toBe('waiter');
    });

    describe('updatedBefore', () => {
      const BOUND = at(3000);
      const TERMINAL = ['done', 'failed', 'cancelled'] as const;

      /** A thread created at `created` and, when `ended` is given, done then. */
      async function thread(id: string, agent: string, created: number, ended?: number): Promise<string> {
        await store().create({ id, agent, events: [inputEvent(1, at(created))] });
        if (ended !== undefined) await store().append(id, 1, [finalEvent(2, at(ended))]);
        return id;
      }

      const ids = (pages: readonly ThreadSummary[][]): string[] => pages.flat().map((s) => s.id);

      it('lists only the threads last updated strictly before the instant, each once, paged or not', async () => {
        // Made in the order of their times, as a store's clock would stamp them.
        const old: string[] = [];
        for (let i = 0; i < 7; i++) old.push(await thread(`ub-old-${i}`, 'aged', 100 + i, 200 + i));
        await thread('ub-other', 'bystander', 110, 210);
        const long: string[] = [];
        for (let i = 0; i < 3; i++) long.push(await thread(`ub-long-${i}`, 'aged', 400 + i));
        const idle = await thread('ub-idle', 'aged', 500);
        await thread('ub-edge', 'aged', 2990, 3000); // updated at the instant itself: not before it
        for (let i = 0; i < 3; i++) await store().append(long[i]!, 1, [finalEvent(2, at(4000 + i))]);
        for (let i = 0; i < 5; i++) await thread(`ub-new-${i}`, 'aged', 5000 + i, 5100 + i);

        const everyStatus = await walk(store(), { agent: 'aged', updatedBefore: BOUND, limit: 2 });
        expect(ids(everyStatus).sort()).toEqual([...old, idle].sort());
        for (const summary of everyStatus.flat()) expect(summary.updatedAt < BOUND).toBe(true);
        const ended = await walk(store(), { agent: 'aged', status: TERMINAL, updatedBefore: BOUND, limit: 3 });
        expect(ids(ended).sort()).toEqual([...old].sort());
        expect(ids(await walk(store(), { status: TERMINAL, updatedBefore: BOUND, limit: 100 })).sort()).toEqual([...old, 'ub-other'].sort());
        // Not paged: the same threads, most recently updated first.
        expect((await store().list({ agent: 'aged', updatedBefore: BOUND, limit: Infinity })).map((s) => s.id)).toEqual([idle, ...[...old].reverse()]);
        expect((await store().list({ agent: 'aged', status: 'done', updatedBefore: BOUND, limit: 2 })).map((s) => s.id)).toEqual(['ub-old-6', 'ub-old-5']);
        expect(await store().list({ agent: 'aged', updatedBefore: at(0), after: '' })).toEqual([]);
      });

      it('ends a walk at the threads made well after the instant: what follows them is not visited', async () => {
        const old: string[] = [];
        for (let i = 0; i < 5; i++) old.push(await thread(`us-old-${i}`, 'stopper', 100 + i, 200 + i));
        for (let i = 0; i < 6; i++) await thread(`us-new-${i}`, 'stopper', 5000 + i, 5100 + i);
        // Created after them, its events going back in time: last updated long before the instant.
        // A walk that went on past the new threads would list it; one that stopped does not.
        await store().create({ id: 'us-late', agent: 'stopper', events: [inputEvent(1, at(6000)), finalEvent(2, at(150))] });
        expect((await store().list({ agent: 'stopper', updatedBefore: BOUND })).map((s) => s.id)).toContain('us-late');

        for (const status of [undefined, TERMINAL]) {
          const pages = await walk(store(), { agent: 'stopper', status, updatedBefore: BOUND, limit: 2 });
          expect(ids(pages).sort()).toEqual(old);
          expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
        }
      });

      it('returns every thread that keeps matching exactly once while threads change status', async () => {
        const threads: Tracked[] = [];
        for (let i = 0; i < 20; i++) threads.push(await make('ubmover', at(100 + i)));
        const moved = new Set<string>();
        const pages = await walk(store(), { agent: 'ubmover', updatedBefore: BOUND, limit: 3 }, async (page) => {
          // One listed and one not yet listed thread move on now (after the instant): they stop matching.
          for (const thread of [threads[page - 1]!, threads[19 - page]!]) {
            if (thread.status !== 'running') continue;
            await advance(thread, 'awaiting_human');
            moved.add(thread.id);
          }
        });
        const counts = countIds(pages);
        for (const thread of threads) {
          if (moved.has(thread.id)) expect(counts.get(thread.id) ?? 0).toBeLessThanOrEqual(1);
          else expect(counts.get(thread.id), thread.id).toBe(1);
        }
      });

      it('refuses an instant it cannot read with InvalidInputError', async () => {
        await make('ubcheck');
        for (const updatedBefore of ['yesterday', '', 42 as unknown as string]) {
          await expect(store().list({ updatedBefore })).rejects.toBeInstanceOf(InvalidInputError);
          await expect(store().list({ updatedBefore, after: '' })).rejects.toBeInstanceOf(InvalidInputError);
        }
      });
    });

    it('refuses a cursor it did not write with InvalidInputError', async () => {
      await make('cursor');
      await expect(store().list({ after: 'not a cursor' })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store().list({ after: 42 as unknown as string })).rejects.toBeInstanceOf(InvalidInputError);
    });

    it('model-based: any interleaving of status changes, new threads and pages keeps walks exact', async () => {
      let run = 0;
      const command = fc.oneof(
        fc.record({ kind: fc.constant('page' as const) }),
        fc.record({ kind: fc.constant('create' as const) }),
        fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), to: fc.constantFrom('awaiting_human', 'running', 'done', 'paused') }),
      );
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.array(command, { maxLength: 20 }), async (initial, limit, commands) => {
          const agent = `prop${run++}`;
          const threads: Tracked[] = [];
          for (let i = 0; i < initial; i++) threads.push(await make(agent));
          const original = threads.map((t) => t.id);
          const seen = new Map<string, number>();
          let after = '';
          let done = false;
          const page = async (): Promise<void> => {
            const summaries = await store().list({ agent, after, limit });
            expect(summaries.every((s) => typeof s.cursor === 'string')).toBe(true);
            for (const s of summaries) seen.set(s.id, (seen.get(s.id) ?? 0) + 1);
            if (summaries.length < limit) done = true;
            else after = summaries.at(-1)!.cursor!;
          };
          for (const c of commands) {
            if (done) break;
            if (c.kind === 'page') await page();
            else if (c.kind === 'create') threads.push(await make(agent));
            else {
              const thread = threads[c.pick % threads.length]!;
              if (thread.status === 'done') continue;
              if (c.to === 'running' && thread.status === 'running') continue;
              if (c.to === 'awaiting_human' && thread.status !== 'running') continue;
              if (c.to === 'paused' && thread.status === 'paused') continue;
              await advance(thread, c.to);
            }
          }
          for (let more = 0; !done; more++) {
            expect(more, 'the walk ends').toBeLessThan(100);
            await page();
          }
          for (const id of original) expect(seen.get(id), id).toBe(1);
          for (const [, n] of seen) expect(n).toBe(1);
          const statuses = new Map((await store().list({ agent, limit: Infinity })).map((s) => [s.id, s.status]));
          for (const thread of threads) expect(statuses.get(thread.id), thread.id).toBe(thread.status);
        }),
        { numRuns: 15 },
      );
    });
  });
}
