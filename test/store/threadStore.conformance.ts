import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidStateError, NotFoundError, VersionConflictError } from '../../src/errors.js';
import type { ThreadStore, ThreadSummary } from '../../src/store/threadStore.js';
import { versionOf, type Json, type Thread, type ThreadEvent } from '../../src/thread/events.js';
import { deriveState, statusOf, unrecordedCall, type ThreadStatus } from '../../src/thread/state.js';
import { eventArbitrary, stamp } from '../thread/eventArbitrary.js';
import {
  at,
  controlEvent,
  errorEvent,
  finalEvent,
  humanRequestEvent,
  humanResponseEvent,
  inputEvent,
  newThread,
  prefetchEvent,
} from './fixtures/events.js';
import { runPagingConformance } from './paging.conformance.js';

/** A fresh, empty store for one test, and how to dispose of it. */
export type ThreadStoreFactory = () => Promise<{ store: ThreadStore; cleanup(): Promise<void> }>;

/**
 * The behaviour every {@link ThreadStore} must have, run against each implementation (memory, file,
 * NATS KV). Uses only the interface; each test gets a fresh store from `factory`.
 */
export function runThreadStoreConformance(name: string, factory: ThreadStoreFactory): void {
  describe(`ThreadStore conformance: ${name}`, () => {
    let store: ThreadStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });

    afterEach(async () => {
      await cleanup();
    });

    async function conflictOf(promise: Promise<unknown>): Promise<VersionConflictError> {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(VersionConflictError);
      return error as VersionConflictError;
    }

    describe('create and get', () => {
      it('returns what was created, deeply equal', async () => {
        const thread = { id: 't-1', agent: 'triage', events: [inputEvent(1), prefetchEvent(2, 'docs')] };
        expect(await store.create(thread)).toEqual(thread);
        expect(await store.get('t-1')).toEqual(thread);
      });

      it('answers undefined for an unknown id', async () => {
        await store.create(newThread('t-1'));
        expect(await store.get('t-2')).toBeUndefined();
      });

      it('creates a thread without events at version 0', async () => {
        await store.create({ id: 't-empty', agent: 'triage', events: [] });
        expect(await store.get('t-empty')).toEqual({ id: 't-empty', agent: 'triage', events: [] });
        const appended = await store.append('t-empty', 0, [inputEvent(1)]);
        expect(appended.events).toEqual([inputEvent(1)]);
      });

      it('refuses to create an existing id with VersionConflictError (expected 0) and keeps the thread', async () => {
        const first = { id: 't-1', agent: 'triage', events: [inputEvent(1), prefetchEvent(2, 'a')] };
        await store.create(first);
        const conflict = await conflictOf(store.create({ id: 't-1', agent: 'other', events: [inputEvent(1, at(99))] }));
        expect(conflict.threadId).toBe('t-1');
        expect(conflict.expectedVersion).toBe(0);
        expect(conflict.actualVersion).toBe(2);
        expect(await store.get('t-1')).toEqual(first);
      });

      it('rejects a thread whose seqs are not 1..n, storing nothing', async () => {
        await expect(store.create({ id: 't-bad', agent: 'triage', events: [inputEvent(2)] })).rejects.toBeInstanceOf(
          InvalidInputError,
        );
        expect(await store.get('t-bad')).toBeUndefined();
      });

      it('keeps ids distinct that differ only in case or punctuation', async () => {
        const ids = ['Case', 'case', 'a.b', 'a_b', 'a-b', 'x=y'];
        for (const id of ids) await store.create(newThread(id, `agent-${id}`));
        for (const id of ids) expect((await store.get(id))?.agent).toBe(`agent-${id}`);
      });
    });

    describe('append', () => {
      it('appends at the current version and returns the new thread', async () => {
        await store.create(newThread('t-1'));
        const after = await store.append('t-1', 1, [prefetchEvent(2, 'a'), prefetchEvent(3, 'b')]);
        expect(after.events.map((e) => e.seq)).toEqual([1, 2, 3]);
        expect(await store.get('t-1')).toEqual(after);
        const again = await store.append('t-1', 3, [finalEvent(4)]);
        expect(versionOf(again)).toBe(4);
        expect(await store.get('t-1')).toEqual(again);
      });

      it('hands an appended thread over with the state it folded attached, so deriving it folds nothing again', async () => {
        await store.create(newThread('t-1'));
        const after = await store.append('t-1', 1, [prefetchEvent(2, 'a'), humanRequestEvent(3)]);
        // The store's own fold rides on the events array (state.ts withState): the runtime derives
        // the state of every append several times (routing, settling, listeners).
        expect(Object.getOwnPropertySymbols(after.events).map((s) => s.description)).toContain('switchyard.derivedState');
        expect(deriveState(after.events)).toEqual(deriveState([...after.events]));
        expect(deriveState(after.events).pendingRequest).not.toBeNull();
      });

      it('rejects a stale expected version with VersionConflictError and writes nothing', async () => {
        await store.create(newThread('t-1'));
        await store.append('t-1', 1, [prefetchEvent(2, 'a')]);
        const before = await store.get('t-1');
        const conflict = await conflictOf(store.append('t-1', 1, [prefetchEvent(2, 'b')]));
        expect(conflict.threadId).toBe('t-1');
        expect(conflict.expectedVersion).toBe(1);
        expect(conflict.actualVersion).toBe(2);
        // an expected version from the future conflicts too
        await conflictOf(store.append('t-1', 5, [prefetchEvent(6, 'c')]));
        expect(await store.get('t-1')).toEqual(before);
      });

      it('rejects an append to an unknown thread with NotFoundError', async () => {
        await expect(store.append('nope', 0, [inputEvent(1)])).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.get('nope')).toBeUndefined();
      });

      it('rejects events whose seqs do not continue the thread with InvalidInputError, writing nothing', async () => {
        await store.create(newThread('t-1'));
        const before = await store.get('t-1');
        await expect(store.append('t-1', 1, [prefetchEvent(3, 'gap')])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(store.append('t-1', 1, [prefetchEvent(1, 'overlap')])).rejects.toBeInstanceOf(InvalidInputError);
        await expect(
          store.append('t-1', 1, [prefetchEvent(2, 'ok'), prefetchEvent(4, 'gap')]),
        ).rejects.toBeInstanceOf(InvalidInputError);
        expect(await store.get('t-1')).toEqual(before);
        // the thread still takes a valid append afterwards
        await store.append('t-1', 1, [prefetchEvent(2, 'ok')]);
      });

      it('rejects events that fail the event schema with InvalidInputError', async () => {
        await store.create(newThread('t-1'));
        const bogus = { seq: 2, at: at(2), type: 'no_such_type', data: {} } as unknown as ThreadEvent;
        await expect(store.append('t-1', 1, [bogus])).rejects.toBeInstanceOf(InvalidInputError);
        expect(versionOf((await store.get('t-1'))!)).toBe(1);
      });

      it('treats an empty append as a version check', async () => {
        const created = await store.create(newThread('t-1'));
        expect(await store.append('t-1', 1, [])).toEqual(created);
        await conflictOf(store.append('t-1', 0, []));
      });

      it('lets exactly one of many concurrent appends at the same version win', async () => {
        await store.create(newThread('t-race'));
        const contenders = 12;
        const results = await Promise.allSettled(
          Array.from({ length: contenders }, (_, i) => store.append('t-race', 1, [prefetchEvent(2, `writer-${i}`)])),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
        }
        const stored = await store.get('t-race');
        expect(stored?.events).toEqual([inputEvent(1), prefetchEvent(2, `writer-${winners[0]}`)]);
      });

      it('appends to different threads concurrently', async () => {
        const ids = Array.from({ length: 10 }, (_, i) => `t-par-${i}`);
        await Promise.all(ids.map((id) => store.create(newThread(id))));
        await Promise.all(ids.map((id) => store.append(id, 1, [prefetchEvent(2, id)])));
        for (const id of ids) expect((await store.get(id))?.events[1]).toEqual(prefetchEvent(2, id));
      });
    });

    describe('after a thread ended', () => {
      const T = '2025-01-01T00:00:00.000Z';
      const decision = (seq: number): ThreadEvent => ({
        seq,
        at: T,
        type: 'decision',
        data: { callId: 'call_1', step: 1, intent: 'publish', args: {}, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
      });
      const toolCall = (seq: number): ThreadEvent => ({ seq, at: T, type: 'tool_call', data: { callId: 'call_1', tool: 'publish', args: {}, idempotencyKey: 't:call_1', attempt: 1 } });
      const toolResult = (seq: number): ThreadEvent => ({ seq, at: T, type: 'tool_result', data: { callId: 'call_1', tool: 'publish', result: 'ok', durationMs: 0 } });
      const failedEvent = (seq: number): ThreadEvent => ({ seq, at: T, type: 'failed', data: { reason: 'boom' } });

      /** The refusal of an append to an ended thread: a conflict that names the thread and how it ended. */
      async function endedRefusal(promise: Promise<unknown>, id: string, status: string): Promise<void> {
        const error = await promise.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidStateError);
        expect((error as InvalidStateError).message).toContain(`thread ${id} already ended (${status})`);
        expect((error as InvalidStateError).status).toBe(status);
      }

      it.each([
        ['done', finalEvent(2)],
        ['failed', failedEvent(2)],
        ['cancelled', controlEvent(2, 'cancel')],
      ] as const)('refuses any event after the thread ended %s, naming it, and writes nothing', async (status, end) => {
        await store.create(newThread('t-end'));
        const ended = await store.append('t-end', 1, [end]);
        for (const late of [controlEvent(3, 'cancel'), controlEvent(3, 'pause'), controlEvent(3, 'resume'), finalEvent(3), prefetchEvent(3, 'late')]) {
          await endedRefusal(store.append('t-end', 2, [late]), 't-end', status);
        }
        expect(await store.get('t-end')).toEqual(ended);
        expect((await store.list({ agent: 'triage' })).find((s) => s.id === 't-end')).toMatchObject({ status, version: 2 });
        // A conflict on the version is still told as one.
        await conflictOf(store.append('t-end', 1, [controlEvent(2, 'cancel')]));
      });

      it('refuses a batch in which anything follows the event that ends the thread', async () => {
        await store.create(newThread('t-batch'));
        await endedRefusal(store.append('t-batch', 1, [prefetchEvent(2, 'a'), finalEvent(3), controlEvent(4, 'cancel')]), 't-batch', 'done');
        expect(await store.get('t-batch')).toEqual(newThread('t-batch'));
        // The same batch without the event after the final lands.
        await store.append('t-batch', 1, [prefetchEvent(2, 'a'), finalEvent(3)]);
      });

      it('takes the outcome of the call a cancel found running, once, then nothing more', async () => {
        await store.create({ id: 't-call', agent: 'triage', events: [inputEvent(1), decision(2), toolCall(3)] });
        await store.append('t-call', 3, [controlEvent(4, 'cancel')]);
        const recorded = await store.append('t-call', 4, [toolResult(5)]);
        expect(recorded.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
        expect(statusOf(deriveState(recorded.events))).toBe('cancelled');
        await endedRefusal(store.append('t-call', 5, [toolResult(6)]), 't-call', 'cancelled');
        await endedRefusal(store.append('t-call', 5, [controlEvent(6, 'cancel')]), 't-call', 'cancelled');
        expect(await store.get('t-call')).toEqual(recorded);
      });

      it('still reads, lists and keeps a log written before this rule with events after its end', async () => {
        const old = { id: 't-old', agent: 'triage', events: [inputEvent(1), finalEvent(2), controlEvent(3, 'cancel'), controlEvent(4, 'resume')] };
        expect(await store.create(old)).toEqual(old);
        expect(await store.get('t-old')).toEqual(old);
        expect(statusOf(deriveState((await store.get('t-old'))!.events))).toBe('done');
        expect((await store.list({ agent: 'triage' })).find((s) => s.id === 't-old')).toMatchObject({ status: 'done', version: 4 });
        await endedRefusal(store.append('t-old', 4, [controlEvent(5, 'cancel')]), 't-old', 'done');
        expect(await store.get('t-old')).toEqual(old);
      });

      it('for any thread that ended, refuses any further append and leaves the stored log unchanged', async () => {
        let run = 0;
        const input: ThreadEvent = inputEvent(1, T);
        // A valid log up to the event that ends it (one added when the events never end it).
        const ended = fc
          .tuple(fc.array(eventArbitrary, { maxLength: 12 }), fc.constantFrom<ThreadEvent['type']>('final', 'failed', 'control'))
          .map(([list, ending]) => {
            const all = stamp([input, ...list], T);
            const cut = all.findIndex((_, i) => deriveState(all.slice(0, i + 1)).terminal !== null);
            if (cut !== -1) return all.slice(0, cut + 1);
            const end = ending === 'final' ? finalEvent(all.length + 1, T) : ending === 'failed' ? failedEvent(all.length + 1) : controlEvent(all.length + 1, 'cancel', T);
            return [...all, end];
          });
        await fc.assert(
          fc.asyncProperty(ended, fc.array(eventArbitrary, { minLength: 1, maxLength: 3 }), async (events, more) => {
            const id = `ended-${run++}`;
            const created = await store.create({ id, agent: 'ended', events });
            const status = deriveState(events).terminal!;
            const batch = stamp(more, T).map((e) => ({ ...e, seq: e.seq + events.length }));
            const open = unrecordedCall(events);
            const outcome = (e: ThreadEvent): boolean => {
              if (open === undefined) return false;
              if (e.type === 'tool_result') return e.data.callId === open.callId;
              // An error names its call, or (a timeout of a tool that is not idempotent) only its tool.
              return e.type === 'error' && (e.data.callId === undefined ? e.data.tool === open.tool : e.data.callId === open.callId);
            };
            if (batch.length === 1 && outcome(batch[0]!)) {
              // The one event that may follow an end: the outcome of the call a cancel found running.
              expect((await store.append(id, events.length, batch)).events).toEqual([...events, ...batch]);
              return;
            }
            await endedRefusal(store.append(id, events.length, batch), id, status);
            expect(await store.get(id)).toEqual(created);
          }),
          { numRuns: 30 },
        );
      });
    });

    describe('list', () => {
      /** One thread per status, updated at distinct times (t-done most recently). */
      async function seedStatuses(): Promise<Record<string, ThreadStatus>> {
        const threads: Array<{ thread: Thread; status: ThreadStatus }> = [
          { thread: { id: 't-running', agent: 'triage', events: [inputEvent(1, at(10))] }, status: 'running' },
          {
            thread: { id: 't-awaiting', agent: 'triage', events: [inputEvent(1, at(11)), humanRequestEvent(2, at(12))] },
            status: 'awaiting_human',
          },
          {
            thread: { id: 't-paused', agent: 'writer', events: [inputEvent(1, at(13)), controlEvent(2, 'pause', at(14))] },
            status: 'paused',
          },
          {
            thread: { id: 't-backoff', agent: 'writer', events: [inputEvent(1, at(15)), errorEvent(2, at(16))] },
            status: 'backing_off',
          },
          {
            thread: { id: 't-cancelled', agent: 'writer', events: [inputEvent(1, at(17)), controlEvent(2, 'cancel', at(18))] },
            status: 'cancelled',
          },
          {
            thread: { id: 't-done', agent: 'triage', events: [inputEvent(1, at(19)), finalEvent(2, at(20))] },
            status: 'done',
          },
        ];
        for (const { thread } of threads) await store.create(thread);
        return Object.fromEntries(threads.map(({ thread, status }) => [thread.id, status]));
      }

      it('summarizes each thread with its derived status, version and times', async () => {
        const statuses = await seedStatuses();
        const summaries = await store.list();
        expect(summaries).toHaveLength(6);
        for (const summary of summaries) expect(summary.status).toBe(statuses[summary.id]);
        expect(summaries.find((s) => s.id === 't-awaiting')).toEqual({
          id: 't-awaiting',
          agent: 'triage',
          status: 'awaiting_human',
          version: 2,
          createdAt: at(11),
          updatedAt: at(12),
          pending: { requestId: 'req_2', kind: 'input', question: 'which one?', urgency: 'medium', format: 'free_text', at: at(12) },
        });
        // Only a thread waiting for a human carries a pending request.
        expect(summaries.filter((s) => s.pending !== undefined).map((s) => s.id)).toEqual(['t-awaiting']);
      });

      it('orders by updatedAt, most recent first', async () => {
        await seedStatuses();
        expect((await store.list()).map((s) => s.id)).toEqual([
          't-done',
          't-cancelled',
          't-backoff',
          't-paused',
          't-awaiting',
          't-running',
        ]);
        // an append moves a thread to the front
        await store.append('t-running', 1, [finalEvent(2, at(30))]);
        const first = (await store.list())[0];
        expect(first).toMatchObject({ id: 't-running', status: 'done', version: 2, createdAt: at(10), updatedAt: at(30) });
      });

      it('filters by agent, by status and by several statuses', async () => {
        await seedStatuses();
        expect((await store.list({ agent: 'writer' })).map((s) => s.id)).toEqual(['t-cancelled', 't-backoff', 't-paused']);
        expect((await store.list({ status: 'awaiting_human' })).map((s) => s.id)).toEqual(['t-awaiting']);
        expect((await store.list({ status: ['done', 'running'] })).map((s) => s.id)).toEqual(['t-done', 't-running']);
        expect((await store.list({ agent: 'triage', status: 'paused' })).map((s) => s.id)).toEqual([]);
        expect(await store.list({ agent: 'nobody' })).toEqual([]);
      });

      it('lists nothing for an agent no thread can have (empty, or too long for any key), paged or not', async () => {
        await seedStatuses();
        for (const agent of ['', 'é'.repeat(1400)]) {
          expect(await store.list({ agent })).toEqual([]);
          expect(await store.list({ agent, status: 'awaiting_human' })).toEqual([]);
          expect(await store.list({ agent, after: '' })).toEqual([]);
          expect(await store.list({ agent, status: ['done', 'running'], after: '' })).toEqual([]);
        }
      });

      it('keeps statuses current as threads advance', async () => {
        await store.create({ id: 't-1', agent: 'triage', events: [inputEvent(1)] });
        expect((await store.list({ status: 'running' })).map((s) => s.id)).toEqual(['t-1']);
        await store.append('t-1', 1, [humanRequestEvent(2)]);
        expect((await store.list({ status: 'awaiting_human' })).map((s) => s.id)).toEqual(['t-1']);
        expect(await store.list({ status: 'running' })).toEqual([]);
        await store.append('t-1', 2, [finalEvent(3)]);
        expect(await store.list({ status: 'awaiting_human' })).toEqual([]);
        expect((await store.list({ status: 'done' }))[0]).toMatchObject({ id: 't-1', version: 3 });
      });

      it('applies the limit after filtering and ordering, 100 by default', async () => {
        await seedStatuses();
        expect((await store.list({ limit: 2 })).map((s) => s.id)).toEqual(['t-done', 't-cancelled']);
        expect((await store.list({ agent: 'triage', limit: 1 })).map((s) => s.id)).toEqual(['t-done']);
        expect(await store.list({ limit: 0 })).toEqual([]);
        const more = Array.from({ length: 100 }, (_, i) => newThread(`bulk-${i}`, 'bulk', at(100 + i)));
        await Promise.all(more.map((t) => store.create(t)));
        const page = await store.list();
        expect(page).toHaveLength(100);
        expect(page[0]?.id).toBe('bulk-99');
        expect(await store.list({ limit: 1000 })).toHaveLength(106);
      });

      it('returns an empty list from an empty store', async () => {
        expect(await store.list()).toEqual([]);
      });

      /** The summary of `id` in a listing, in a walk, and in a listing by status. */
      async function summariesOf(id: string, status: ThreadStatus): Promise<ThreadSummary[]> {
        const listed = (await store.list()).find((s) => s.id === id);
        const walked = (await store.list({ after: '' })).find((s) => s.id === id);
        const byStatus = (await store.list({ status, after: '' })).find((s) => s.id === id);
        const latestByStatus = (await store.list({ status })).find((s) => s.id === id);
        return [listed, walked, byStatus, latestByStatus].map((summary) => {
          expect(summary).toBeDefined();
          return summary!;
        });
      }

      it('carries wakeAt (ISO time) while a thread sleeps or backs off: when it moves again on its own; none otherwise', async () => {
        const nap: ThreadEvent = { seq: 2, at: at(2), type: 'custom', data: { step: 'nap', phase: 'before_decision', output: null, until: Date.parse(at(3600)) } };
        await store.create({ id: 't-nap', agent: 'triage', events: [inputEvent(1), nap] });
        await store.create({ id: 't-retry', agent: 'triage', events: [inputEvent(1), errorEvent(2)] });
        for (const summary of await summariesOf('t-nap', 'sleeping')) expect(summary.wakeAt).toBe(at(3600));
        for (const summary of await summariesOf('t-retry', 'backing_off')) expect(summary.wakeAt).toBe(at(62));
        // Paused, it moves only when resumed; running, it has no deadline.
        await store.append('t-nap', 2, [controlEvent(3, 'pause')]);
        for (const summary of await summariesOf('t-nap', 'paused')) expect(summary).not.toHaveProperty('wakeAt');
        const retried: ThreadEvent = { seq: 3, at: at(62), type: 'decision', data: { callId: 'call_3', step: 2, intent: 'add', args: {}, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } };
        await store.append('t-retry', 2, [retried]);
        for (const summary of await summariesOf('t-retry', 'running')) expect(summary).not.toHaveProperty('wakeAt');
      });

      it('carries why a failed or cancelled thread ended (failure: kind, message cut to 200 characters, who cancelled); none otherwise', async () => {
        const boom: ThreadEvent = { seq: 2, at: at(2), type: 'failed', data: { reason: `step fetch: ${'x'.repeat(300)}` } };
        await store.create({ id: 't-failed', agent: 'triage', events: [inputEvent(1), boom] });
        const escalation: ThreadEvent = {
          seq: 2,
          at: at(2),
          type: 'human_request',
          data: { requestId: 'req_2', kind: 'escalation', question: 'it keeps failing', urgency: 'high', format: 'yes_no' },
        };
        const stop: ThreadEvent = { seq: 3, at: at(3), type: 'human_response', data: { requestId: 'req_2', approved: false, by: 'ana', comment: 'wrong order' } };
        await store.create({ id: 't-stopped', agent: 'triage', events: [inputEvent(1), escalation, stop] });
        const cancel: ThreadEvent = { seq: 2, at: at(2), type: 'control', data: { action: 'cancel', reason: 'no longer needed', by: 'bo' } };
        await store.create({ id: 't-cancelled', agent: 'triage', events: [inputEvent(1), cancel] });
        await store.create({ id: 't-quiet', agent: 'triage', events: [inputEvent(1), controlEvent(2, 'cancel')] });
        await store.create({ id: 't-done', agent: 'triage', events: [inputEvent(1), finalEvent(2)] });
        for (const summary of await summariesOf('t-failed', 'failed')) {
          expect(summary.failure).toEqual({ kind: 'failed', message: `step fetch: ${'x'.repeat(188)}…` });
        }
        for (const summary of await summariesOf('t-stopped', 'failed')) {
          expect(summary.failure).toEqual({ kind: 'stopped', message: 'a human (ana) stopped the agent after an escalation: wrong order' });
        }
        for (const summary of await summariesOf('t-cancelled', 'cancelled')) {
          expect(summary.failure).toEqual({ kind: 'cancelled', message: 'no longer needed', by: 'bo' });
        }
        // Who cancelled is cut as the message is (the event takes any length from a caller of the API).
        const longBy: ThreadEvent = { seq: 2, at: at(2), type: 'control', data: { action: 'cancel', by: `ops:${'y'.repeat(300)}` } };
        await store.create({ id: 't-long-by', agent: 'triage', events: [inputEvent(1), longBy] });
        for (const summary of await summariesOf('t-long-by', 'cancelled')) expect(summary.failure).toEqual({ kind: 'cancelled', by: `ops:${'y'.repeat(196)}…` });
        // A cancel that said neither why nor who leaves nothing to say; a thread that ended well neither.
        for (const summary of await summariesOf('t-quiet', 'cancelled')) expect(summary).not.toHaveProperty('failure');
        for (const summary of await summariesOf('t-done', 'done')) expect(summary).not.toHaveProperty('failure');
        // Nor does one that has not ended, failed as its last steps did.
        await store.create({ id: 't-retry', agent: 'triage', events: [inputEvent(1), errorEvent(2)] });
        for (const summary of await summariesOf('t-retry', 'backing_off')) expect(summary).not.toHaveProperty('failure');
      });

      describe('the pending request of a waiting thread', () => {
        const decision = (seq: number, args: Record<string, Json>): ThreadEvent => ({
          seq,
          at: at(seq),
          type: 'decision',
          data: { callId: `call_${seq}`, step: 1, intent: 'send_mail', args, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
        });
        const approval = (seq: number, args: Record<string, Json>, question = 'send it?'): ThreadEvent => ({
          seq,
          at: at(seq),
          type: 'human_request',
          data: { requestId: `req_${seq}`, kind: 'approval', question, urgency: 'high', format: 'yes_no', callId: `call_${seq - 1}`, tool: 'send_mail', args },
        });
        it('is on the summary while the thread waits (its tool and arguments for an approval), and gone once answered', async () => {
          await store.create({ id: 't-mail', agent: 'triage', events: [inputEvent(1), decision(2, { to: 'ana@example.com', subject: 'hi' })] });
          for (const summary of await summariesOf('t-mail', 'running')) expect(summary).not.toHaveProperty('pending');
          await store.append('t-mail', 2, [approval(3, { to: 'ana@example.com', subject: 'hi' })]);
          for (const summary of await summariesOf('t-mail', 'awaiting_human')) {
            expect(summary.pending).toEqual({ requestId: 'req_3', kind: 'approval', question: 'send it?', urgency: 'high', format: 'yes_no', tool: 'send_mail', args: { to: 'ana@example.com', subject: 'hi' }, at: at(3) });
          }
          await store.append('t-mail', 3, [humanResponseEvent(4, 'req_3')]);
          for (const summary of await summariesOf('t-mail', 'running')) expect(summary).not.toHaveProperty('pending');
        });

        it('cuts a long question and long arguments to 500 characters (the arguments then as the start of their JSON)', async () => {
          const args = { body: 'x'.repeat(600) };
          const question = `${'q'.repeat(600)}?`;
          await store.create({ id: 't-long', agent: 'triage', events: [inputEvent(1), decision(2, args), approval(3, args, question)] });
          for (const summary of await summariesOf('t-long', 'awaiting_human')) {
            expect(summary.pending).toMatchObject({ requestId: 'req_3', kind: 'approval', tool: 'send_mail' });
            expect(summary.pending!.question).toBe(`${'q'.repeat(500)}…`);
            expect(summary.pending!.args).toBe(`${JSON.stringify(args).slice(0, 500)}…`);
          }
        });

        it("carries what an inbox needs to answer a question: its urgency, format, choices and the context the model gave (cut to 500 characters)", async () => {
          const question: ThreadEvent = {
            seq: 2,
            at: at(2),
            type: 'human_request',
            data: { requestId: 'req_2', kind: 'input', question: 'Which amount?', context: `Order total $40. ${'c'.repeat(600)}`, urgency: 'high', format: 'multiple_choice', choices: ['full', 'partial'] },
          };
          await store.create({ id: 't-ask', agent: 'triage', events: [inputEvent(1), question] });
          for (const summary of await summariesOf('t-ask', 'awaiting_human')) {
            expect(summary.pending).toEqual({
              requestId: 'req_2',
              kind: 'input',
              question: 'Which amount?',
              context: `${`Order total $40. ${'c'.repeat(600)}`.slice(0, 500)}…`,
              urgency: 'high',
              format: 'multiple_choice',
              choices: ['full', 'partial'],
              at: at(2),
            });
          }
        });

        it('stays while the thread is paused with the request open, and goes when it is cancelled', async () => {
          await store.create({ id: 't-hold', agent: 'triage', events: [inputEvent(1), humanRequestEvent(2), controlEvent(3, 'pause')] });
          for (const summary of await summariesOf('t-hold', 'paused')) expect(summary.pending).toMatchObject({ requestId: 'req_2', kind: 'input', at: at(2) });
          await store.append('t-hold', 3, [controlEvent(4, 'cancel')]);
          for (const summary of await summariesOf('t-hold', 'cancelled')) expect(summary).not.toHaveProperty('pending');
        });
      });
    });

    describe('isolation', () => {
      it('is not changed by mutating what was passed in', async () => {
        const events = [inputEvent(1, at(1), { text: 'original', tags: ['a'] })];
        const thread = { id: 't-1', agent: 'triage', events };
        await store.create(thread);
        const added = [prefetchEvent(2, 'p')];
        await store.append('t-1', 1, added);
        (events[0]!.data as { input: { text: string; tags: string[] } }).input.text = 'changed';
        (events[0]!.data as { input: { text: string; tags: string[] } }).input.tags.push('b');
        events.push(prefetchEvent(2, 'sneaky'));
        (added[0]!.data as { name: string }).name = 'changed';
        expect(await store.get('t-1')).toEqual({
          id: 't-1',
          agent: 'triage',
          events: [inputEvent(1, at(1), { text: 'original', tags: ['a'] }), prefetchEvent(2, 'p')],
        });
      });

      it('is not changed by mutating what it returned (or refuses the mutation)', async () => {
        const original = { id: 't-1', agent: 'triage', events: [inputEvent(1, at(1), { text: 'original' })] };
        const returned = [await store.create(original), await store.get('t-1'), await store.append('t-1', 1, [])];
        for (const thread of returned) {
          const attempts = [
            () => (thread!.events as ThreadEvent[]).push(prefetchEvent(2, 'x')),
            () => ((thread!.events[0]!.data as { input: { text: string } }).input.text = 'changed'),
            () => ((thread as { agent: string }).agent = 'changed'),
            () => ((thread!.events[0] as { seq: number }).seq = 7),
          ];
          for (const attempt of attempts) {
            try {
              attempt();
            } catch {
              // frozen: refusing is fine
            }
          }
        }
        const [summary] = await store.list();
        try {
          (summary as { status: string }).status = 'done';
        } catch {
          // frozen
        }
        expect(await store.get('t-1')).toEqual(original);
        expect((await store.list())[0]?.status).toBe('running');
      });
    });

    runPagingConformance(() => store);

    describe('model-based', () => {
      it('any sequence of appends, some stale, leaves the thread equal to the successful ones', async () => {
        let run = 0;
        const command = fc.record({
          count: fc.integer({ min: 1, max: 3 }),
          stale: fc.boolean(),
          skew: fc.integer({ min: 1, max: 3 }),
          future: fc.boolean(),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(command, { maxLength: 12 }), async (commands) => {
            const id = `prop-${run++}`;
            const model: ThreadEvent[] = [inputEvent(1)];
            await store.create({ id, agent: 'prop', events: model });
            for (const [step, { count, stale, skew, future }] of commands.entries()) {
              const version = model.length;
              const expected = stale ? (future ? version + skew : Math.max(0, version - skew)) : version;
              const events = Array.from({ length: count }, (_, i) => prefetchEvent(expected + i + 1, `step-${step}-${i}`));
              if (expected === version) {
                const thread = await store.append(id, expected, events);
                model.push(...events);
                expect(thread.events).toEqual(model);
              } else {
                const conflict = await conflictOf(store.append(id, expected, events));
                expect(conflict.actualVersion).toBe(version);
              }
            }
            const stored = await store.get(id);
            expect(stored?.events).toEqual(model);
            expect(stored?.events.map((e) => e.seq)).toEqual(model.map((_, i) => i + 1));
            const summary = (await store.list({ agent: 'prop', limit: Infinity })).find((s) => s.id === id);
            expect(summary?.version).toBe(model.length);
          }),
          { numRuns: 40 },
        );
      });
    });
  });
}
