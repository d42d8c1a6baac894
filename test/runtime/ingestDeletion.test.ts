/**
 * `runtime.ingestDeletion`: another process deleted a thread this one follows. Here the other
 * process is the test, deleting and creating threads in the store beneath the runtime and telling
 * it with `ingestDeletion` and `ingest`, as the NATS surface does when its notices and events arrive.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { appendEvents } from '../../src/store/appendEvents.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import { createClock, flush, T0, threadOf } from '../support/agentHarness.js';
import { publishCallStarted } from '../support/heldTool.js';

const ID = 'th-1';
const cancel: NewEvent = { type: 'control', data: { action: 'cancel', by: 'qa' } };
const result: NewEvent = { type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } };
/** A thread cancelled while its publish call ran in another process: followers wait for the call's outcome. */
const CANCELLED_DURING_CALL: NewEvent[] = [...publishCallStarted(ID), cancel];

/** Everything the watch yields until it ends, after `first` (already taken). */
async function rest(watch: AsyncIterator<ThreadEvent>, first: ThreadEvent[]): Promise<ThreadEvent[]> {
  const seen = [...first];
  for (let next = await watch.next(); next.done !== true; next = await watch.next()) seen.push(next.value);
  return seen;
}


/** A runtime that knows no agent (it moves nothing, it only follows) over a store holding the thread cancelled during its call, followed by a watch (its first event taken) and a settled. */
async function followedThread() {
  const clock = createClock();
  const store = createMemoryStore({ clock });
  const runtime = createRuntime({ agents: [], store, model: scriptedModel([]), clock });
  const deleted = await store.create(threadOf(ID, 'publisher', CANCELLED_DURING_CALL));
  const oldWatch = runtime.watch(ID)[Symbol.asyncIterator]();
  const oldFirst = await oldWatch.next();
  const oldSettled = runtime.settled(ID).then(
    (view) => view,
    (error: unknown) => error,
  );
  await flush();
  return { clock, store, runtime, deleted, oldWatch, oldFirst, oldSettled };
}

describe('runtime.ingestDeletion', () => {
  it("ends the deleted incarnation's followers, not those of the thread launched again under its id before the notice came", async () => {
    const { clock, store, runtime, deleted, oldWatch, oldFirst, oldSettled } = await followedThread();

    // Another process deletes it and launches it again (cancelled too, during its own call) before
    // this one reads the store.
    expect(await store.delete!(ID, deleted.events.length)).toBe(true);
    const relaunched = await store.create(threadOf(ID, 'publisher', CANCELLED_DURING_CALL, T0 + 60_000));
    const newWatch = runtime.watch(ID)[Symbol.asyncIterator]();
    const newFirst = await newWatch.next();
    const newSettled = runtime.settled(ID);
    await flush();

    await runtime.ingestDeletion({ threadId: ID, agent: 'publisher', incarnation: incarnationKeyOf(deleted) });
    await runtime.ingest(ID);
    await appendEvents({ store, clock }, relaunched, [result]);
    await runtime.ingest(ID);

    const at = (ms: number): string => new Date(ms).toISOString();
    const seqsAt = (events: ThreadEvent[]): [number, string][] => events.map((e) => [e.seq, e.at]);
    // The deleted one's: its own four events, none of the new thread's.
    expect(seqsAt(await rest(oldWatch, oldFirst.done === true ? [] : [oldFirst.value]))).toEqual([1, 2, 3, 4].map((seq) => [seq, at(T0)]));
    expect(await oldSettled).toBeInstanceOf(NotFoundError);
    // The new one's: all of it, through its outcome.
    const newEvents = await rest(newWatch, newFirst.done === true ? [] : [newFirst.value]);
    expect(newEvents.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(newEvents.slice(0, 4).every((e) => e.at === at(T0 + 60_000))).toBe(true);
    expect(await newSettled).toMatchObject({ id: ID, status: 'cancelled', createdAt: at(T0 + 60_000), version: 5 });
    await runtime.close();
  });

  it('the deleted incarnation\'s followers end too when the thread launched again is read before the notice comes, or without one', async () => {
    const { store, runtime, deleted, oldWatch, oldFirst, oldSettled } = await followedThread();

    // Deleted and launched again elsewhere, its call's outcome recorded there: longer than the deleted one.
    expect(await store.delete!(ID, deleted.events.length)).toBe(true);
    await store.create(threadOf(ID, 'publisher', [...CANCELLED_DURING_CALL, result], T0 + 60_000));
    await runtime.ingest(ID);

    const seen = await rest(oldWatch, oldFirst.done === true ? [] : [oldFirst.value]);
    expect(seen.map((e) => [e.seq, e.at])).toEqual([1, 2, 3, 4].map((seq) => [seq, new Date(T0).toISOString()]));
    expect(await oldSettled).toBeInstanceOf(NotFoundError);
    await runtime.close();
  });
});
