import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../../src/store/threadStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { deriveState, statusOf, type ThreadStatus } from '../../src/thread/state.js';
import { walk } from '../store/paging.conformance.js';
import { at, finalEvent, humanRequestEvent, humanResponseEvent, inputEvent } from '../store/fixtures/events.js';
import { useNatsTestBed } from './natsTestKit.js';

// A process killed right after it wrote a thread (QA 14, defect 2): the store writes the thread
// value on its connection, and the thread's new status entry, its summary and the removal of its
// old status entry on the background connection, the summary 50 ms later. A worker killed in
// between leaves the thread `done` while its summary still says `running` and its `running` entry
// is still in the index; the new `done` entry, published before the thread write, is there. A
// listing by status trusted that summary: the thread was listed as running (and as done) until a
// listing of every thread rebuilt the summaries.

const bed = useNatsTestBed();
let buckets = 0;
const freshBucket = (): string => `killed_${process.pid}_${++buckets}`;

/**
 * What a writer killed right after a thread write leaves: the thread with `added` appended, and
 * the index entry of its new status (published, as the store does, before the write), but neither
 * the summary of the new revision nor the removal of the old status entry.
 */
async function dieAfterThreadWrite(bucket: string, id: string, added: readonly ThreadEvent[]): Promise<void> {
  const kv = await new Kvm(bed.client.nc).open(bucket);
  const entry = await kv.get(id);
  const value = entry!.json<{ agent: string; events: ThreadEvent[]; createdAt: string }>();
  const events = [...value.events, ...added];
  const before = statusOf(deriveState(value.events));
  const status = statusOf(deriveState(events));
  expect(status).not.toBe(before);
  const since = added[0]!.seq;
  await jetstream(bed.client.nc).publish(`$SWITCHYARD_INDEX.${bucket}.s.${status}.${value.agent}`, JSON.stringify({ i: id, s: since }), { msgID: `s.${id}.${status}.${since}` });
  await kv.update(id, JSON.stringify({ ...value, events }), entry!.revision);
}

/**
 * A bucket of threads a worker wrote, then died after the last writes of some (`g1`..`g3` ended,
 * `h1` answered), read by a store of another process (a `serve`). Answers that store and every
 * thread's real status.
 */
async function afterKilledWorker(direct = true): Promise<{ bucket: string; store: ThreadStore; real: Map<string, ThreadStatus>; cleanup: () => Promise<void> }> {
  const bucket = freshBucket();
  /** Without direct gets: buckets the caller opened so (or replicated ones), as each process opens them. */
  const opened = async (on: NatsConnection) => {
    if (direct) return { bucket };
    const kvm = new Kvm(on);
    return { buckets: { threads: await kvm.create(bucket, { allow_direct: false }), summaries: await kvm.create(`${bucket}_summaries`, { allow_direct: false }) } };
  };
  const workerNc = await connect({ servers: bed.url });
  const workerBackground = await connect({ servers: bed.url });
  const worker = await createNatsKvStore({ nc: workerNc, background: workerBackground, ...(await opened(workerNc)) });
  for (const id of ['r1', 'g1', 'r2', 'g2']) await worker.create({ id, agent: 'payer', events: [inputEvent(1, at(1))] });
  // A large thread: a listing checks its revision without reading it.
  await worker.create({ id: 'g3', agent: 'payer', events: [inputEvent(1, at(1), { text: 'x'.repeat(40_000) })] });
  for (const id of ['w1', 'h1', 'w2']) await worker.create({ id, agent: 'payer', events: [inputEvent(1, at(1)), humanRequestEvent(2, at(2))] });
  // Every summary and index entry of those writes is on the server.
  await worker.close();
  await Promise.all([workerNc.close(), workerBackground.close()]);
  for (const id of ['g1', 'g2', 'g3']) await dieAfterThreadWrite(bucket, id, [finalEvent(2, at(5))]);
  await dieAfterThreadWrite(bucket, 'h1', [humanResponseEvent(3, 'req_2', at(6))]);

  const serveNc = await connect({ servers: bed.url });
  const store = await createNatsKvStore({ nc: serveNc, ...(await opened(serveNc)) });
  const real = new Map<string, ThreadStatus>();
  for (const id of ['r1', 'g1', 'r2', 'g2', 'g3', 'w1', 'h1', 'w2']) real.set(id, statusOf(deriveState((await store.get(id))!.events)));
  expect(Object.fromEntries(real)).toEqual({ r1: 'running', g1: 'done', r2: 'running', g2: 'done', g3: 'done', w1: 'awaiting_human', h1: 'running', w2: 'awaiting_human' });
  return {
    bucket,
    store,
    real,
    cleanup: async () => {
      await store.close();
      await serveNc.close();
    },
  };
}

/** The threads the index lists as running (its `s.running` entries), whether their threads are or not. */
async function runningEntries(bucket: string): Promise<string[]> {
  const jsm = await jetstreamManager(bed.client.nc);
  const ids: string[] = [];
  const { state } = await jsm.streams.info(`${bucket}_index`);
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(`${bucket}_index`, { seq }).catch(() => null);
    if (msg?.subject.includes('.s.running.') === true) ids.push(msg.json<{ i: string }>().i);
  }
  return ids.sort();
}

const pairs = (summaries: readonly ThreadSummary[]): string[] => summaries.map((s) => `${s.id}:${s.status}`).sort();
/** The threads of `statuses`, each once, under its real status. */
const expected = (real: Map<string, ThreadStatus>, statuses?: readonly ThreadStatus[]): string[] =>
  [...real].filter(([, status]) => statuses === undefined || statuses.includes(status)).map(([id, status]) => `${id}:${status}`).sort();

describe('listings of the NATS KV store after a writer was killed between a thread write and its summary', () => {
  it.each([
    ['', true],
    [' (buckets that answer no direct gets)', false],
  ])('lists a thread that ended under done only: not under running, and once under done%s', async (_what, direct) => {
    const { bucket, store, real, cleanup } = await afterKilledWorker(direct);
    expect(pairs(await store.list({ status: 'running' }))).toEqual(expected(real, ['running']));
    expect(pairs(await store.list({ status: 'done' }))).toEqual(expected(real, ['done']));
    // Asked again (what the first listings repaired, or left): the same.
    expect(pairs(await store.list({ status: 'running' }))).toEqual(expected(real, ['running']));
    expect(pairs(await store.list({ status: ['running', 'done', 'awaiting_human'] }))).toEqual(expected(real));
    // Repaired, not only hidden: the ended threads' summaries say done, their running entries are gone.
    const summaries = await new Kvm(bed.client.nc).open(`${bucket}_summaries`);
    await expect.poll(async () => Promise.all(['g1', 'g2', 'g3'].map(async (id) => (await summaries.get(id))?.json<{ status: string }>().status))).toEqual(['done', 'done', 'done']);
    await expect.poll(() => runningEntries(bucket)).toEqual(['h1', 'r1', 'r2']);
    await cleanup();
  });

  it("is repaired when a serve starts: the listing of its recovery (running, backing_off, sleeping) repairs the summaries it meets", async () => {
    const { bucket, store, real, cleanup } = await afterKilledWorker();
    // What runtime.recover() lists when `switchyard serve` starts.
    const moving = await store.list({ status: ['running', 'backing_off', 'sleeping'], limit: Number.MAX_SAFE_INTEGER });
    expect(pairs(moving)).toEqual(expected(real, ['running']));
    const summaries = await new Kvm(bed.client.nc).open(`${bucket}_summaries`);
    const statuses = async (): Promise<Record<string, string | undefined>> =>
      Object.fromEntries(await Promise.all(['g1', 'g2', 'g3', 'h1'].map(async (id) => [id, (await summaries.get(id))?.json<{ status: string }>().status])));
    await expect.poll(statuses).toEqual({ g1: 'done', g2: 'done', g3: 'done', h1: 'running' });
    await expect.poll(() => runningEntries(bucket)).toEqual(['h1', 'r1', 'r2']);
    await cleanup();
  });

  it.each<[string, Omit<ListOptions, 'after'>]>([
    ['one status', { status: 'running', limit: 2 }],
    ['several statuses', { status: ['running', 'done', 'awaiting_human'], limit: 2 }],
    ['every status', { limit: 3 }],
    ['one agent', { agent: 'payer', limit: 1 }],
  ])('pages over %s: every thread exactly once, under its real status', async (_what, options) => {
    const { store, real, cleanup } = await afterKilledWorker();
    const statuses = options.status === undefined ? undefined : typeof options.status === 'string' ? [options.status] : options.status;
    expect(pairs((await walk(store, options)).flat())).toEqual(expected(real, statuses));
    await cleanup();
  });
});
