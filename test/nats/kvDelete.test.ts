import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { NotFoundError, VersionConflictError } from '../../src/errors.js';
import { openBuckets } from '../../src/nats/kvBuckets.js';
import { IndexWriter } from '../../src/nats/kvIndex.js';
import { threadKey } from '../../src/nats/kvKeys.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ListOptions, ThreadStore } from '../../src/store/threadStore.js';
import { foldStatus } from '../../src/store/statusSince.js';
import { walk } from '../store/paging.conformance.js';
import { at, finalEvent, humanRequestEvent, inputEvent } from '../store/fixtures/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

// ThreadStore.delete in the NATS KV store, beyond the conformance suite: what is left in the
// buckets, two processes racing, a store opened again, and a deleter killed half-way.

let server: NatsServerHandle;
let nc: NatsConnection;
let other: NatsConnection;
let buckets = 0;
const freshBucket = (): string => `deleted_${process.pid}_${++buckets}`;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  other = await connect({ servers: server.url });
});

afterAll(async () => {
  await Promise.all([nc?.close(), other?.close()]);
  await server?.stop();
});

function remove(store: ThreadStore, id: string, expectedVersion: number): Promise<boolean> {
  return store.delete!(id, expectedVersion);
}

/** The ids of every page of a walk. */
async function walkIds(store: ThreadStore, options: Omit<ListOptions, 'after'>): Promise<string[]> {
  return (await walk(store, options)).flat().map((s) => s.id);
}

/** The message count of each subject of a stream that holds any. */
async function subjectsOf(stream: string): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: '>' });
  return info.state.subjects ?? {};
}

/** The index stream's entries: their sequences, and the ids they name. */
async function indexEntries(bucket: string): Promise<Array<{ seq: number; id: string }>> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(`${bucket}_index`);
  const entries: Array<{ seq: number; id: string }> = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(`${bucket}_index`, { seq }).catch(() => null);
    if (message !== null) entries.push({ seq, id: message.json<{ i: string }>().i });
  }
  return entries;
}

/** The ids the index stream's entries name. */
async function indexedIds(bucket: string): Promise<string[]> {
  return (await indexEntries(bucket)).map((entry) => entry.id);
}

/** Waits until the summaries bucket holds the thread's summary at `version` (written in the background). */
async function summaryWritten(bucket: string, id: string, version: number): Promise<void> {
  const summaries = await new Kvm(nc).open(`${bucket}_summaries`);
  await expect.poll(async () => (await summaries.get(threadKey(id)))?.json<{ version: number }>().version, { timeout: 5_000 }).toBe(version);
}

describe('NATS KV store delete', () => {
  it('leaves nothing of a large thread: no value, history, purge marker, summary or index entry', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket, history: 4 });
    const big = { text: 'x'.repeat(200_000) };
    await store.create({ id: 'big:1', agent: 'triage', events: [inputEvent(1, at(1), big)] });
    await store.append('big:1', 1, [humanRequestEvent(2, at(2))]);
    await store.create({ id: 'kept', agent: 'triage', events: [inputEvent(1, at(3))] });
    await summaryWritten(bucket, 'big:1', 2);
    const key = threadKey('big:1');
    expect((await subjectsOf(`KV_${bucket}`))[`$KV.${bucket}.${key}`]).toBe(2);
    expect(await indexedIds(bucket)).toContain('big:1');

    expect(await remove(store, 'big:1', 2)).toBe(true);

    const kv = await new Kvm(nc).open(bucket);
    expect(await kv.get(key)).toBeNull();
    // The value, both revisions kept by history 4, and the purge marker are gone.
    expect((await subjectsOf(`KV_${bucket}`))[`$KV.${bucket}.${key}`]).toBeUndefined();
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    expect(keys).toEqual(['kept']);
    expect(Object.keys(await subjectsOf(`KV_${bucket}_summaries`)).filter((s) => s.endsWith(`.${key}`))).toEqual([]);
    expect(await indexedIds(bucket)).not.toContain('big:1');
    expect(await indexedIds(bucket)).toContain('kept');
    await store.close();
  });

  it('lets exactly one of a delete and an append from another process win, and never leaves half a thread', async () => {
    const bucket = freshBucket();
    const a = await createNatsKvStore({ nc, bucket });
    const b = await createNatsKvStore({ nc: other, bucket });
    const outcomes = { deleted: 0, appended: 0 };
    for (let i = 0; i < 12; i++) {
      const id = `race-${i}`;
      await a.create({ id, agent: 'racer', events: [inputEvent(1, at(i))] });
      // Both know revision 1: each goes straight to its compare-and-set.
      await b.get(id);
      const append = (): Promise<unknown> => b.append(id, 1, [finalEvent(2, at(i + 1))]);
      let deleted: PromiseSettledResult<boolean>;
      let appended: PromiseSettledResult<unknown>;
      let read: PromiseSettledResult<unknown>;
      if (i % 3 === 0) {
        // Together: either may reach the server first.
        [deleted, appended, read] = await Promise.allSettled([remove(a, id, 1), append(), b.get(id)]);
      } else if (i % 3 === 1) {
        // The delete first: b appends at the revision it knew, and its compare-and-set refuses it.
        [deleted] = await Promise.allSettled([remove(a, id, 1)]);
        [appended, read] = await Promise.allSettled([append(), b.get(id)]);
      } else {
        // The append first: a deletes at the revision it knew, and its compare-and-set refuses it.
        [appended] = await Promise.allSettled([append()]);
        [deleted, read] = await Promise.allSettled([remove(a, id, 1), b.get(id)]);
      }
      // A reader in the middle sees the thread or nothing, never an error.
      expect(read.status).toBe('fulfilled');
      if (deleted.status === 'fulfilled') {
        expect(deleted.value).toBe(true);
        expect(appended.status).toBe('rejected');
        expect((appended as PromiseRejectedResult).reason).toBeInstanceOf(NotFoundError);
        outcomes.deleted++;
        for (const store of [a, b]) expect(await store.get(id)).toBeUndefined();
      } else {
        expect(deleted.reason).toBeInstanceOf(VersionConflictError);
        expect(deleted.reason).toMatchObject({ threadId: id, expectedVersion: 1, actualVersion: 2 });
        expect(appended.status).toBe('fulfilled');
        outcomes.appended++;
        for (const store of [a, b]) expect((await store.get(id))?.events.map((e) => e.seq)).toEqual([1, 2]);
      }
    }
    expect(outcomes.deleted + outcomes.appended).toBe(12);
    expect(Math.min(outcomes.deleted, outcomes.appended)).toBeGreaterThanOrEqual(4);
    const raced = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    const alive = new Set<string>();
    for (const id of raced) if ((await a.get(id)) !== undefined) alive.add(id);
    expect(alive.size).toBe(outcomes.appended);
    const gone = raced.filter((id) => !alive.has(id));
    // Nothing of a deleted thread is left: no value, no purge marker, no summary, and (once the
    // status entries the losing appends published are taken back) no index entry.
    const kv = await new Kvm(nc).open(bucket);
    for (const id of gone) expect(await kv.get(id)).toBeNull();
    const summaryKeys = Object.keys(await subjectsOf(`KV_${bucket}_summaries`)).map((s) => s.slice(`$KV.${bucket}_summaries.`.length));
    expect(summaryKeys.filter((key) => gone.includes(key))).toEqual([]);
    await expect.poll(async () => (await indexedIds(bucket)).filter((id) => gone.includes(id)), { timeout: 5_000 }).toEqual([]);
    for (const store of [a, b]) {
      for (const id of raced) expect((await store.get(id)) !== undefined).toBe(alive.has(id));
      // Every listing agrees with the reads: the appended threads are done, the deleted ones nowhere.
      expect((await store.list({ limit: 100 })).map((s) => s.id).sort()).toEqual([...alive].sort());
      expect((await store.list({ status: 'done' })).map((s) => s.id).sort()).toEqual([...alive].sort());
      expect(await store.list({ status: 'running' })).toEqual([]);
      expect((await walkIds(store, { limit: 5 })).sort()).toEqual([...alive].sort());
      expect((await walkIds(store, { status: ['running', 'done'], limit: 5 })).sort()).toEqual([...alive].sort());
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('stays deleted in a store opened again on the same buckets, and a thread created again under its id is listed once', async () => {
    const bucket = freshBucket();
    const first = await createNatsKvStore({ nc, bucket });
    await first.create({ id: 'gone', agent: 'triage', events: [inputEvent(1, at(1)), finalEvent(2, at(2))] });
    await first.create({ id: 'again', agent: 'triage', events: [inputEvent(1, at(3)), finalEvent(2, at(4))] });
    await first.create({ id: 'stays', agent: 'triage', events: [inputEvent(1, at(5)), humanRequestEvent(2, at(6))] });
    await Promise.all([summaryWritten(bucket, 'gone', 2), summaryWritten(bucket, 'again', 2)]);
    expect(await remove(first, 'gone', 2)).toBe(true);
    expect(await remove(first, 'again', 2)).toBe(true);
    // The same thread again, within JetStream's duplicate window: its index entries are new ones.
    await first.create({ id: 'again', agent: 'triage', events: [inputEvent(1, at(3)), finalEvent(2, at(4))] });
    await first.close();

    const reopened = await createNatsKvStore({ nc: other, bucket });
    expect(await reopened.get('gone')).toBeUndefined();
    expect((await reopened.get('again'))?.events).toHaveLength(2);
    expect((await reopened.list()).map((s) => s.id).sort()).toEqual(['again', 'stays']);
    expect((await reopened.list({ status: 'done' })).map((s) => s.id)).toEqual(['again']);
    expect((await walkIds(reopened, { limit: 1 })).sort()).toEqual(['again', 'stays']);
    expect(await walkIds(reopened, { status: 'done', limit: 1 })).toEqual(['again']);
    expect((await walkIds(reopened, { agent: 'triage', status: ['done', 'awaiting_human'], limit: 1 })).sort()).toEqual(['again', 'stays']);
    expect(await remove(reopened, 'gone', 2)).toBe(false);
    await reopened.close();
  });

  it('never lists a thread whose deleter died after removing it and before its summary and index entries', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    // A large thread's revision is checked without reading its value: that check must see the delete too.
    await store.create({ id: 'small', agent: 'triage', events: [inputEvent(1, at(1)), finalEvent(2, at(2))] });
    await store.create({ id: 'large', agent: 'triage', events: [inputEvent(1, at(3), { text: 'y'.repeat(60_000) }), finalEvent(2, at(4))] });
    await store.create({ id: 'alive', agent: 'triage', events: [inputEvent(1, at(5)), finalEvent(2, at(6))] });
    await Promise.all(['small', 'large', 'alive'].map((id) => summaryWritten(bucket, id, 2)));
    await store.close();
    // What a store killed right after the purge that commits a delete leaves behind.
    const kv = await new Kvm(nc).open(bucket);
    for (const id of ['small', 'large']) await kv.purge(id, { previousSeq: (await kv.get(id))!.revision });
    expect(await indexedIds(bucket)).toEqual(expect.arrayContaining(['small', 'large']));

    const reopened = await createNatsKvStore({ nc: other, bucket });
    expect(await reopened.get('large')).toBeUndefined();
    expect((await reopened.list()).map((s) => s.id)).toEqual(['alive']);
    expect((await reopened.list({ status: 'done' })).map((s) => s.id)).toEqual(['alive']);
    expect(await walkIds(reopened, { limit: 1 })).toEqual(['alive']);
    expect(await walkIds(reopened, { status: 'done', limit: 1 })).toEqual(['alive']);
    expect(await walkIds(reopened, { agent: 'triage', status: ['done'], limit: 5 })).toEqual(['alive']);
    // Their thread keys hold purge markers newer than them: the listings removed the entries.
    await expect.poll(() => indexedIds(bucket), { timeout: 5_000 }).toEqual(['alive', 'alive']);
    expect(await remove(reopened, 'small', 2)).toBe(false);
    await reopened.close();
  });

  it('a summary of the deleted thread written late does not hide the thread created again under its id', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    await store.create({ id: 'late', agent: 'triage', events: [inputEvent(1, at(1)), finalEvent(2, at(2))] });
    await summaryWritten(bucket, 'late', 2);
    const summaries = await new Kvm(nc).open(`${bucket}_summaries`);
    const old = (await summaries.get('late'))!.string();
    expect(await remove(store, 'late', 2)).toBe(true);
    await store.create({ id: 'late', agent: 'triage', events: [inputEvent(1, at(7))] });
    await summaryWritten(bucket, 'late', 1);
    // Another process's summary of the deleted thread, coalesced and sent after the delete.
    await summaries.put('late', old);
    await store.close();

    const reopened = await createNatsKvStore({ nc: other, bucket });
    expect(await reopened.list({ status: 'done' })).toEqual([]);
    expect(await walkIds(reopened, { status: 'done', limit: 1 })).toEqual([]);
    expect(await walkIds(reopened, { limit: 1 })).toEqual(['late']);
    expect(await walkIds(reopened, { status: 'running', limit: 1 })).toEqual(['late']);
    // The listings above repaired the summary; the entries are still there for the next walk.
    expect(await walkIds(reopened, { status: 'running', limit: 1 })).toEqual(['late']);
    expect((await reopened.list()).map((s) => [s.id, s.status, s.version])).toEqual([['late', 'running', 1]]);
    await reopened.close();
  });

  it('a walk by status while another process deletes returns each remaining thread once and none deleted before it got there', async () => {
    const bucket = freshBucket();
    const walker = await createNatsKvStore({ nc, bucket });
    const deleter = await createNatsKvStore({ nc: other, bucket });
    const ids = Array.from({ length: 12 }, (_, i) => `w-${String(i).padStart(2, '0')}`);
    for (const [i, id] of ids.entries()) await walker.create({ id, agent: 'triage', events: [inputEvent(1, at(i)), humanRequestEvent(2, at(i))] });
    const deleted = new Set<string>();
    const deletedUnseen = new Set<string>();
    const seen: string[] = [];
    for (let after = '', pages = 0; pages < 20; pages++) {
      const page = await walker.list({ status: 'awaiting_human', limit: 3, after });
      seen.push(...page.map((s) => s.id));
      if (page.length < 3) break;
      after = page.at(-1)!.cursor!;
      // Between pages, the other process deletes one thread not reached yet and one already returned.
      const ahead = ids.find((id) => !seen.includes(id) && !deleted.has(id));
      const behind = ids.find((id) => seen.includes(id) && !deleted.has(id));
      for (const id of [ahead, behind]) {
        if (id === undefined) continue;
        expect(await remove(deleter, id, 2)).toBe(true);
        deleted.add(id);
        if (!seen.includes(id)) deletedUnseen.add(id);
      }
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(deletedUnseen.size).toBeGreaterThan(0);
    for (const id of deletedUnseen) expect(seen).not.toContain(id);
    for (const id of ids) if (!deleted.has(id)) expect(seen).toContain(id);
    expect((await walker.list({ status: 'awaiting_human', limit: 100 })).map((s) => s.id).sort()).toEqual(ids.filter((id) => !deleted.has(id)));
    await Promise.all([walker.close(), deleter.close()]);
  });
});

describe('NATS KV delete by a process that did not create the thread', () => {
  it('leaves no index entry for good: listings remove the ones it did not know of', async () => {
    const bucket = freshBucket();
    const creator = await createNatsKvStore({ nc, bucket });
    const deleter = await createNatsKvStore({ nc: other, bucket });
    const ids = Array.from({ length: 6 }, (_, i) => `t${i}`);
    for (const [i, id] of ids.entries()) await creator.create({ id, agent: 'triage', events: [inputEvent(1, at(i))] });
    // The creator's summaries are written in the background: let them land before another writer's.
    await Promise.all(ids.map((id) => summaryWritten(bucket, id, 1)));
    // Another process ends them: it knows their done entries, not their creation and running ones.
    for (const [i, id] of ids.entries()) await deleter.append(id, 1, [finalEvent(2, at(i + 1))]);
    await Promise.all(ids.map((id) => summaryWritten(bucket, id, 2)));
    for (const id of ids) expect(await remove(deleter, id, 2)).toBe(true);
    await creator.close();
    // Listings by processes that know nothing of the threads, an hour on (no create can still be in flight).
    const later = await createNatsKvStore({ nc, bucket, clock: { ...systemClock, now: () => Date.now() + 3_600_000 } });
    expect(await walkIds(later, { limit: 2 })).toEqual([]);
    expect(await walkIds(later, { status: ['running', 'done'], limit: 2 })).toEqual([]);
    expect(await later.list({ status: 'done' })).toEqual([]);
    await expect.poll(() => indexedIds(bucket), { timeout: 5_000 }).toEqual([]);
    await Promise.all([deleter.close(), later.close()]);
  });

  it('a thread created again under its id and moved on by another process is walked once', async () => {
    const bucket = freshBucket();
    const first = await createNatsKvStore({ nc, bucket });
    const mover = await createNatsKvStore({ nc: other, bucket });
    await first.create({ id: 'x', agent: 'triage', events: [inputEvent(1, at(1))] });
    // Summaries are written in the background, each process its own: one landing after another's
    // newer one sets the summary back (until a listing repairs it), so each writer waits for the last.
    await summaryWritten(bucket, 'x', 1);
    await mover.append('x', 1, [finalEvent(2, at(2))]);
    await summaryWritten(bucket, 'x', 2);
    expect(await remove(mover, 'x', 2)).toBe(true);
    await first.close();
    // The new thread's summary, written by the mover, names no creation entry (the mover knows none).
    const creator = await createNatsKvStore({ nc, bucket });
    await creator.create({ id: 'x', agent: 'triage', events: [inputEvent(1, at(5))] });
    await summaryWritten(bucket, 'x', 1);
    await mover.append('x', 1, [humanRequestEvent(2, at(6))]);
    await summaryWritten(bucket, 'x', 2);
    expect(await walkIds(creator, { limit: 1 })).toEqual(['x']);
    expect(await walkIds(mover, { limit: 1 })).toEqual(['x']);
    await Promise.all([creator.close(), mover.close()]);
  });
});

describe('NATS KV delete after a lost acknowledgement', () => {
  it('does not delete the thread created again under its id, at the same version, after its own purge went unanswered', async () => {
    const bucket = freshBucket();
    const maker = await createNatsKvStore({ nc: other, bucket });
    await maker.create({ id: 'twice', agent: 'triage', events: [inputEvent(1, at(1)), finalEvent(2, at(2))] });
    const kvm = new Kvm(nc);
    const threads = await kvm.open(bucket);
    let lost = false;
    // The first purge is done, but its answer is lost; meanwhile another process creates the thread again.
    const purge = async (key: string, opts?: Parameters<typeof threads.purge>[1]): Promise<void> => {
      await threads.purge(key, opts);
      if (lost) return;
      lost = true;
      await maker.create({ id: 'twice', agent: 'triage', events: [inputEvent(1, at(7)), finalEvent(2, at(8))] });
      throw new Error('purge unanswered', { cause: new errors.TimeoutError() });
    };
    const proxied = new Proxy(threads, { get: (target, name, receiver) => (name === 'purge' ? purge : Reflect.get(target, name, receiver)) });
    const deleter = await createNatsKvStore({ nc, bucket, buckets: { threads: proxied, summaries: await kvm.open(`${bucket}_summaries`) } });
    expect(await remove(deleter, 'twice', 2)).toBe(true);
    expect(lost).toBe(true);
    expect((await maker.get('twice'))?.events.map((event) => event.at)).toEqual([at(7), at(8)]);
    await Promise.all([maker.close(), deleter.close()]);
  });
});

describe('NATS KV index entries taken back', () => {
  it('a writer that lost its compare-and-set takes back its own entries only, never the winner\'s for the same thread', async () => {
    const bucket = freshBucket();
    await createNatsKvStore({ nc, bucket }).then((store) => store.close());
    // Two processes creating the same thread: the loser's entries reach the index first.
    const loser = new IndexWriter(await openBuckets({ nc, bucket }));
    const winner = new IndexWriter(await openBuckets({ nc: other, bucket }));
    const thread = { id: 'both', agent: 'triage', events: [inputEvent(1, at(1))] };
    const known = { thread, ...foldStatus(thread.events), createdAt: at(1) };
    const lost = loser.created(known);
    await loser.settled('both');
    const lostSeqs = (await indexEntries(bucket)).map((entry) => entry.seq);
    expect(lostSeqs).toHaveLength(2);
    winner.created(known).confirm();
    await winner.settled('both');
    // The winner knows its own entries (none was dropped as a repeat of the loser's)...
    const wonSeqs = [winner.creationOf('both'), winner.entryOf('both', known.since)];
    expect(wonSeqs).toEqual([expect.any(Number), expect.any(Number)]);
    lost.retract();
    await expect.poll(async () => (await indexEntries(bucket)).filter((entry) => lostSeqs.includes(entry.seq)), { timeout: 5_000 }).toEqual([]);
    // ...and they stay when the loser takes its own back.
    expect(await indexEntries(bucket)).toEqual(wonSeqs.map((seq) => ({ seq, id: 'both' })));
  });

  it('remembers an entry\'s sequence (for summaries and deletes) only once its write is confirmed', async () => {
    const bucket = freshBucket();
    await createNatsKvStore({ nc, bucket }).then((store) => store.close());
    const writer = new IndexWriter(await openBuckets({ nc, bucket }));
    const thread = { id: 'pending', agent: 'triage', events: [inputEvent(1, at(1))] };
    const known = { thread, ...foldStatus(thread.events), createdAt: at(1) };
    const published = writer.created(known);
    await writer.settled('pending');
    // Published and answered, but its write may still lose: a summary written now must not name it.
    expect([writer.creationOf('pending'), writer.entryOf('pending', known.since)]).toEqual([undefined, undefined]);
    published.confirm();
    const seqs = (await indexEntries(bucket)).map((entry) => entry.seq);
    expect([writer.creationOf('pending'), writer.entryOf('pending', known.since)]).toEqual(seqs);
  });
});
