/**
 * The file store's list rows carry the request a waiting thread waits for, read from its file for
 * the row (fileListing.ts) unless cached. Whatever the thread's history, that is the request a
 * full read of the thread gives; and a file that cannot be read as the index knows it gives a row
 * without one (to an instance that has not cached the thread).
 */
import { appendFile, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadEndedError } from '../../src/errors.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { pendingRequestSummary } from '../../src/store/pendingRequestSummary.js';
import { encodeThreadId, formatLine } from '../../src/store/threadFile.js';
import type { ThreadStore, ThreadSummary } from '../../src/store/threadStore.js';
import type { Json, NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { deriveState, statusOf } from '../../src/thread/state.js';
import { eventArbitrary } from '../thread/eventArbitrary.js';

const requestId = fc.constantFrom('req_a', 'req_b');
const callId = fc.constantFrom('call_1', 'call_2', 'call_3');

/** A human request of any kind, now and then with a question or arguments too long for a row. */
const requestArbitrary: fc.Arbitrary<NewEvent> = fc
  .record({
    requestId,
    kind: fc.constantFrom('input', 'approval', 'escalation', 'interrupted' as const),
    question: fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 490, maxLength: 520 })),
    callId: fc.option(callId, { nil: undefined }),
    tool: fc.option(fc.constantFrom('add', 'send_mail'), { nil: undefined }),
    args: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string({ maxLength: 300 }))) as fc.Arbitrary<Record<string, Json>>, { nil: undefined }),
  })
  .map(({ requestId: id, kind, question, callId: call, tool, args }): NewEvent => ({
    type: 'human_request',
    data: { requestId: id, kind, question, urgency: 'low', format: 'free_text', ...(call === undefined ? {} : { callId: call }), ...(tool === undefined ? {} : { tool }), ...(args === undefined ? {} : { args }) },
  }));

/** The outcome of a call (answers an interrupted-call request about it, recorded late). */
const outcomeArbitrary: fc.Arbitrary<NewEvent> = fc.tuple(callId, fc.boolean()).map(
  ([id, ok]): NewEvent => (ok ? { type: 'tool_result', data: { callId: id, tool: 'add', result: 3, durationMs: 0 } } : { type: 'error', data: { kind: 'tool_error', message: 'x', attempt: 1, callId: id } }),
);

const answerArbitrary: fc.Arbitrary<NewEvent> = fc.record({ requestId, approved: fc.option(fc.boolean(), { nil: undefined }) }).map(
  ({ requestId: id, approved }): NewEvent => ({ type: 'human_response', data: { requestId: id, answer: 'a', ...(approved === undefined ? {} : { approved }) } }),
);

/** Any event, requests, answers, outcomes and pauses more often than the rest. */
const historyEvent: fc.Arbitrary<NewEvent> = fc.oneof(
  { weight: 4, arbitrary: eventArbitrary },
  { weight: 3, arbitrary: requestArbitrary },
  { weight: 2, arbitrary: answerArbitrary },
  { weight: 2, arbitrary: outcomeArbitrary },
  { weight: 1, arbitrary: fc.constantFrom('pause', 'resume' as const).map((action): NewEvent => ({ type: 'control', data: { action } })) },
);

/** A history with seqs 1..n and times a second apart, cut into the batches written together. */
const historyArbitrary: fc.Arbitrary<ThreadEvent[][]> = fc
  .array(fc.array(historyEvent, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 })
  .map((batches) => {
    let seq = 0;
    return batches.map((batch) => batch.map((event) => ({ ...event, seq: ++seq, at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString() }) as ThreadEvent));
  });

describe('the file store listing the request a thread waits for', () => {
  let dir: string;
  let writer: ThreadStore;
  let reader: ThreadStore;
  let threads = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-listing-pending-'));
    writer = await createFileStore({ dir, fsync: false });
    // Another instance: it reads every file (nothing of these threads in its cache).
    reader = await createFileStore({ dir, fsync: false, cacheSize: 0 });
  });

  afterAll(async () => {
    await writer.close();
    await reader.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes the history as batches (stopping at the first the store refuses: a thread takes nothing after its end); answers what was stored. */
  async function write(batches: readonly ThreadEvent[][]): Promise<{ id: string; agent: string; events: readonly ThreadEvent[] }> {
    const id = `t-${++threads}`;
    const agent = `agent-${threads}`;
    await writer.create({ id, agent, events: batches[0]! });
    for (const batch of batches.slice(1)) {
      const refused = await writer.append(id, batch[0]!.seq - 1, batch).then(
        () => false,
        (error: unknown) => {
          if (error instanceof ThreadEndedError) return true;
          throw error;
        },
      );
      if (refused) break;
    }
    return { id, agent, events: (await writer.get(id))!.events };
  }

  /** The thread's row in each kind of listing (latest and walked) of each instance. */
  async function rowsOf(id: string, agent: string, stores = [writer, reader]): Promise<ThreadSummary[]> {
    const rows: ThreadSummary[] = [];
    for (const store of stores) {
      for (const query of [{ agent }, { agent, after: '' }]) {
        const listed = await store.list(query);
        expect(listed.map((s) => s.id)).toEqual([id]);
        rows.push(listed[0]!);
      }
    }
    return rows;
  }

  /**
   * The writer keeps the thread it wrote cached, and takes a file of the size it wrote as what it
   * wrote (see `sameStamp`): its rows agree with its own reads of the thread.
   */
  async function expectWriterAsItReads(id: string, agent: string): Promise<void> {
    const events = (await writer.get(id))!.events;
    const expected = pendingRequestSummary(events, deriveState(events));
    for (const row of await rowsOf(id, agent, [writer])) expect(row.pending).toEqual(expected);
  }

  it('is the pending request a full read of the thread gives, whatever its history', async () => {
    let waiting = 0;
    await fc.assert(
      fc.asyncProperty(historyArbitrary, async (batches) => {
        const { id, agent, events } = await write(batches);
        const state = deriveState(events);
        const expected = pendingRequestSummary(events, state);
        if (expected !== undefined) waiting++;
        for (const row of await rowsOf(id, agent)) {
          expect(row).toMatchObject({ status: statusOf(state), version: state.version });
          if (expected === undefined) expect(row).not.toHaveProperty('pending');
          else expect(row.pending).toEqual(expected);
        }
      }),
      { numRuns: 150 },
    );
    // The histories do make threads wait (the property is not about rows without a request only).
    expect(waiting).toBeGreaterThan(30);
  });

  it('lists a thread whose file no longer reads as the index knows it (same size) without a request', async () => {
    await fc.assert(
      fc.asyncProperty(historyArbitrary, fc.nat(), async (batches, seed) => {
        const { id, agent, events } = await write(batches);
        const state = deriveState(events);
        fc.pre(pendingRequestSummary(events, state) !== undefined);
        const file = join(dir, `${encodeThreadId(id)!}.jsonl`);
        const { size } = await stat(file);
        // Zeros from a point on, as a crash can leave a file (its size kept): the lines from there are gone.
        const cut = seed % size;
        const handle = await open(file, 'r+');
        try {
          await handle.write(Buffer.alloc(size - cut), 0, size - cut, cut);
        } finally {
          await handle.close();
        }
        for (const row of await rowsOf(id, agent, [reader])) {
          expect(row).toMatchObject({ status: statusOf(state), version: state.version });
          expect(row).not.toHaveProperty('pending');
        }
        await expectWriterAsItReads(id, agent);
      }),
      { numRuns: 40 },
    );
  });

  it('lists a thread whose request no longer validates (same size) without it, while a read of the thread reports the file corrupt', async () => {
    const { id, agent } = await write([[{ seq: 1, at: '2025-01-01T00:00:01.000Z', type: 'human_request', data: { requestId: 'req_a', kind: 'input', question: 'which one?', urgency: 'low', format: 'free_text' } }]]);
    expect((await rowsOf(id, agent)).map((row) => row.pending?.requestId)).toEqual(['req_a', 'req_a', 'req_a', 'req_a']);
    const file = join(dir, `${encodeThreadId(id)!}.jsonl`);
    const bytes = await readFile(file);
    const at = bytes.indexOf('"kind":"input"');
    expect(at).toBeGreaterThan(0);
    bytes.write('"kind":"inpux"', at);
    await writeFile(file, bytes);
    for (const row of await rowsOf(id, agent, [reader])) {
      expect(row).toMatchObject({ status: 'awaiting_human', version: 1 });
      expect(row).not.toHaveProperty('pending');
    }
    await expect(reader.get(id)).rejects.toThrow(/corrupt/);
    await expectWriterAsItReads(id, agent);
  });

  it('follows the file of a waiting thread that moved on behind the store (a line no record tells of, then removed)', async () => {
    const request: ThreadEvent = { seq: 1, at: '2025-01-01T00:00:01.000Z', type: 'human_request', data: { requestId: 'req_a', kind: 'input', question: 'which one?', urgency: 'low', format: 'free_text' } };
    const { id, agent } = await write([[request]]);
    expect((await rowsOf(id, agent)).map((row) => row.pending?.requestId)).toEqual(['req_a', 'req_a', 'req_a', 'req_a']);
    const file = join(dir, `${encodeThreadId(id)!}.jsonl`);
    // Another process wrote the answer and died before logging it.
    const answer: ThreadEvent = { seq: 2, at: '2025-01-01T00:00:02.000Z', type: 'human_response', data: { requestId: 'req_a', answer: 'that one' } };
    await appendFile(file, formatLine(2, [answer]));
    for (const row of await rowsOf(id, agent)) {
      expect(row).toMatchObject({ status: 'running', version: 2 });
      expect(row).not.toHaveProperty('pending');
    }
    const again: ThreadEvent = { ...request, seq: 3, at: '2025-01-01T00:00:03.000Z', data: { ...request.data, requestId: 'req_b' } } as ThreadEvent;
    await appendFile(file, formatLine(3, [again]));
    for (const row of await rowsOf(id, agent)) expect(row).toMatchObject({ status: 'awaiting_human', version: 3, pending: { requestId: 'req_b', at: again.at } });
    await rm(file);
    for (const store of [writer, reader]) {
      expect(await store.list({ agent })).toEqual([]);
      expect(await store.list({ agent, after: '' })).toEqual([]);
    }
  });
});
