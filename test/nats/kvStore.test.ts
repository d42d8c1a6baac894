import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError, SystemError, VersionConflictError } from '../../src/errors.js';
import { threadIdOfKey, threadKey } from '../../src/nats/kvKeys.js';
import { CorruptThreadError, createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { idArbitrary, loneSurrogate } from '../store/idArbitrary.js';
import { runDeleteConformance } from '../store/delete.conformance.js';
import { runThreadStoreConformance } from '../store/threadStore.conformance.js';
import { at, finalEvent, humanRequestEvent, inputEvent, newThread, prefetchEvent } from '../store/fixtures/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let buckets = 0;
/** A fresh bucket name per store, so tests sharing the server never see each other's threads. */
const freshBucket = (): string => `threads_${process.pid}_${++buckets}`;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function kvStore(): Promise<{ store: ThreadStore; cleanup: () => Promise<void> }> {
  const store = await createNatsKvStore({ nc, bucket: freshBucket() });
  return { store, cleanup: () => store.close() };
}

runThreadStoreConformance('nats kv', kvStore);
runDeleteConformance('nats kv', kvStore);

describe('createNatsKvStore', () => {
  it('is ready while its server answers, and says so promptly once the connection is down', async () => {
    const own = await startNatsServer();
    const conn = await connect({ servers: own.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const store = await createNatsKvStore({ nc: conn, bucket: freshBucket() });
    try {
      await expect(store.ready!()).resolves.toBeUndefined();
      await own.stop();
      // Bounded: a store that waited for the server instead would still be waiting.
      const outcome = await Promise.race([
        store.ready!().then(() => 'ready', (e: unknown) => e),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 8_000).unref()),
      ]);
      expect(outcome).toBeInstanceOf(SystemError);
      expect((outcome as SystemError).message).toMatch(/^NATS is unreachable: /);
    } finally {
      await store.close();
      await conn.close();
      await own.stop();
    }
  });

  it('keeps each thread as plain JSON under its id, readable by any NATS client', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    await store.create({ id: 't-plain', agent: 'triage', events: [inputEvent(1, at(1), 'hello')] });
    const kv = await new Kvm(nc).open(bucket);
    const entry = await kv.get('t-plain');
    expect(entry?.json()).toMatchObject({ agent: 'triage', events: [inputEvent(1, at(1), 'hello')] });
    // The summary is written without waiting for its ack: poll for it.
    const summaries = await new Kvm(nc).open(`${bucket}_summaries`);
    await expect
      .poll(async () => (await summaries.get('t-plain'))?.json(), { timeout: 5_000 })
      .toMatchObject({ id: 't-plain', agent: 'triage', status: 'running', version: 1, revision: entry?.revision });
    await store.close();
  });

  it('encodes ids with characters KV keys do not allow, injectively', () => {
    for (const id of ['th_1', 'parent--step', 'a:b', 'a.b', 'x=y', 'A=3Ab', 'é', '..', '=']) {
      const key = threadKey(id);
      expect(key).toMatch(/^[A-Za-z0-9_=-]+$/);
      expect(threadIdOfKey(key)).toBe(id);
    }
    expect(threadKey('a:b')).not.toBe(threadKey('a=3Ab'));
  });

  it('lets exactly one of two stores (two processes) win an append, and the loser reads the winner', async () => {
    const bucket = freshBucket();
    const other = await connect({ servers: server.url });
    const a = await createNatsKvStore({ nc, bucket });
    const b = await createNatsKvStore({ nc: other, bucket });
    await a.create(newThread('t-shared'));
    await b.get('t-shared');
    await a.append('t-shared', 1, [prefetchEvent(2, 'from-a')]);
    // b knew revision 1 from its read: its compare-and-set fails and it reports the real version.
    const conflict = await b.append('t-shared', 1, [prefetchEvent(2, 'from-b')]).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(VersionConflictError);
    expect((conflict as VersionConflictError).actualVersion).toBe(2);
    const after = await b.append('t-shared', 2, [finalEvent(3)]);
    expect(after.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await a.get('t-shared'))?.events[1]).toEqual(prefetchEvent(2, 'from-a'));
    expect((await a.list())[0]).toMatchObject({ id: 't-shared', status: 'done', version: 3 });
    await Promise.all([a.close(), b.close()]);
    await other.close();
  });

  it('repairs a summary that lags its thread (a writer died between the two writes)', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    await store.create({ id: 't-lag', agent: 'triage', events: [inputEvent(1, at(1))] });
    await store.append('t-lag', 1, [humanRequestEvent(2, at(2))]);
    await store.list();
    // Another client writes the thread and "dies" before writing its summary.
    const kv = await new Kvm(nc).open(bucket);
    const entry = await kv.get('t-lag');
    const value = entry!.json<{ agent: string; events: unknown[]; createdAt: string }>();
    await kv.update('t-lag', JSON.stringify({ ...value, events: [...value.events, finalEvent(3, at(3))] }), entry!.revision);
    const fresh = await createNatsKvStore({ nc, bucket });
    expect(await fresh.list()).toEqual([
      { id: 't-lag', agent: 'triage', status: 'done', version: 3, createdAt: at(1), updatedAt: at(3) },
    ]);
    const summaries = await new Kvm(nc).open(`${bucket}_summaries`);
    await expect.poll(async () => (await summaries.get('t-lag'))?.json<{ version: number }>().version).toBe(3);
    await Promise.all([store.close(), fresh.close()]);
  });

  it('refuses a corrupt value with a SystemError instead of returning garbage, and lists the rest', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    const kv = await new Kvm(nc).open(bucket);
    await kv.put('t-bad', 'not json');
    await expect(store.get('t-bad')).rejects.toBeInstanceOf(SystemError);
    await kv.put('t-bad2', JSON.stringify({ agent: 'x', events: [{ seq: 2, type: 'input', at: at(1), data: { input: 1 } }] }));
    await expect(store.get('t-bad2')).rejects.toBeInstanceOf(CorruptThreadError);
    // list leaves what is not a thread out instead of failing.
    await store.create(newThread('t-good'));
    expect((await store.list()).map((s) => s.id)).toEqual(['t-good']);
    await store.close();
  });

  it('creates its buckets with the asked replicas and history', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket, history: 3 });
    const status = await (await new Kvm(nc).open(bucket)).status();
    expect(status.history).toBe(3);
    expect(status.replicas).toBe(1);
    await store.close();
  });
});

describe('the NATS KV store index', () => {
  /** Every page of a walk with these filters. */
  async function walkAll(store: Awaited<ReturnType<typeof createNatsKvStore>>, options: { status?: 'awaiting_human' | 'running'; agent?: string; limit: number }): Promise<string[]> {
    const ids: string[] = [];
    for (let after = '', pages = 0; pages < 100; pages++) {
      const page = await store.list({ ...options, after });
      ids.push(...page.map((s) => s.id));
      if (page.length < options.limit) return ids;
      after = page.at(-1)!.cursor!;
    }
    throw new Error('the walk did not end');
  }

  it('indexes a bucket written before the index, once', async () => {
    const bucket = freshBucket();
    const kv = await new Kvm(nc).create(bucket);
    for (let i = 0; i < 7; i++) {
      const events = i % 2 === 0 ? [inputEvent(1, at(i)), humanRequestEvent(2, at(i + 10))] : [inputEvent(1, at(i))];
      await kv.put(`old-${i}`, JSON.stringify({ agent: 'legacy', events, createdAt: at(i) }));
    }
    const store = await createNatsKvStore({ nc, bucket });
    expect((await walkAll(store, { status: 'awaiting_human', limit: 2 })).sort()).toEqual(['old-0', 'old-2', 'old-4', 'old-6']);
    expect((await walkAll(store, { agent: 'legacy', limit: 3 })).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `old-${i}`));
    const marker = await (await new Kvm(nc).open(`${bucket}_summaries`)).get('m.index');
    expect(marker?.operation).toBe('PUT');
    await store.close();
  });

  it('builds the index again when its marker is deleted, without doubling entries', async () => {
    const bucket = freshBucket();
    const first = await createNatsKvStore({ nc, bucket });
    for (let i = 0; i < 5; i++) await first.create({ id: `r-${i}`, agent: 'again', events: [inputEvent(1, at(i)), humanRequestEvent(2, at(i))] });
    await first.close();
    await (await new Kvm(nc).open(`${bucket}_summaries`)).delete('m.index');
    const second = await createNatsKvStore({ nc, bucket });
    expect((await walkAll(second, { agent: 'again', limit: 2 })).sort()).toEqual(Array.from({ length: 5 }, (_, i) => `r-${i}`));
    expect((await walkAll(second, { status: 'awaiting_human', limit: 10 })).sort()).toEqual(Array.from({ length: 5 }, (_, i) => `r-${i}`));
    await second.close();
  });

  it('continues a walk from another store (another process), each thread once', async () => {
    const bucket = freshBucket();
    const a = await createNatsKvStore({ nc, bucket });
    for (let i = 0; i < 9; i++) await a.create({ id: `w-${i}`, agent: 'walker', events: [inputEvent(1, at(i)), humanRequestEvent(2, at(i))] });
    const first = await a.list({ status: 'awaiting_human', after: '', limit: 4 });
    const other = await connect({ servers: server.url });
    const b = await createNatsKvStore({ nc: other, bucket });
    const second = await b.list({ status: 'awaiting_human', after: first.at(-1)!.cursor!, limit: 4 });
    const third = await b.list({ status: 'awaiting_human', after: second.at(-1)!.cursor!, limit: 4 });
    expect([...first, ...second, ...third].map((s) => s.id).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `w-${i}`));
    await Promise.all([a.close(), b.close()]);
    await other.close();
  });

  it('skips and deletes an index entry its thread has left (a writer that died before deleting it)', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    await store.create({ id: 'mover', agent: 'a', events: [inputEvent(1)] });
    await store.create({ id: 'waiter', agent: 'a', events: [inputEvent(1), humanRequestEvent(2)] });
    // An entry saying 'mover' waits on a human since version 2, which it never did.
    const js = (await import('@nats-io/jetstream')).jetstream(nc);
    const stale = await js.publish(`$SWITCHYARD_INDEX.${bucket}.s.awaiting_human.a`, JSON.stringify({ i: 'mover', s: 2 }));
    await store.append('mover', 1, [finalEvent(2)]);
    expect(await walkAll(store, { status: 'awaiting_human', limit: 10 })).toEqual(['waiter']);
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    await expect.poll(() => jsm.streams.getMessage(`${bucket}_index`, { seq: stale.seq }).then((m) => (m === null ? 'deleted' : 'present'), () => 'deleted'), { timeout: 5_000 }).toBe('deleted');
    await store.close();
  });
});

describe('the NATS KV store index under updatedBefore', () => {
  it('reads no summary for an entry at or after the instant, and ends a walk at an entry that entered its status well after it', async () => {
    const bucket = freshBucket();
    const store = await createNatsKvStore({ nc, bucket });
    const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const subject = `$SWITCHYARD_INDEX.${bucket}.s.done.a`;
    // Entries saying 'old' is done since version 1, which it never was: a listing that reads one deletes it.
    const stale = (enteredAt: string): Promise<{ seq: number }> => js.publish(subject, JSON.stringify({ i: 'old', s: 1, c: at(10), a: enteredAt }));
    const present = (seq: number): Promise<boolean> => jsm.streams.getMessage(`${bucket}_index`, { seq }).then((m) => m !== null, () => false);

    await store.create({ id: 'old', agent: 'a', events: [inputEvent(1, at(10)), finalEvent(2, at(20))] });
    const near = await stale(at(3100)); // after the instant, within 10 minutes of it: left out unread
    // Created long before the instant, done well after it: its entry says so, and the walk ends there.
    await store.create({ id: 'long', agent: 'a', events: [inputEvent(1, at(30))] });
    await store.append('long', 1, [finalEvent(2, at(5000))]);
    const far = await stale(at(20)); // after the end of the walk: never reached

    const page = await store.list({ status: 'done', updatedBefore: at(3000), after: '', limit: 10 });
    expect(page.map((s) => s.id)).toEqual(['old']);
    expect([await present(near.seq), await present(far.seq)]).toEqual([true, true]);
    // A walk without the bound reads both, and deletes them.
    expect((await store.list({ status: 'done', after: '', limit: 10 })).map((s) => s.id)).toEqual(['old', 'long']);
    await expect.poll(async () => [await present(near.seq), await present(far.seq)], { timeout: 5_000 }).toEqual([false, false]);
    await store.close();
  });
});

/** Creates `id` (agent named after it, so a thread read under another id shows), or the error. */
async function createOrError(store: ThreadStore, id: string): Promise<unknown> {
  try {
    await store.create(newThread(id, `agent ${id}`));
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('the NATS KV store with awkward thread ids', () => {
  it('keeps every id it accepts apart, and refuses the others without losing its connection', async () => {
    const store = await createNatsKvStore({ nc, bucket: freshBucket() });
    const created = new Set<string>();
    // Ids next to each other in the ways a key encoding can confuse them.
    const neighbours = (id: string): string[] => [id.replace(/\p{Surrogate}/gu, '\uFFFD'), id.toUpperCase(), `${id}.`, id.replace(/[^A-Za-z0-9_-]/g, '_')];
    await fc.assert(
      fc.asyncProperty(fc.oneof(idArbitrary, loneSurrogate), async (id) => {
        const error = await createOrError(store, id);
        if (created.has(id)) expect(error).toBeInstanceOf(VersionConflictError);
        else if (error !== undefined) expect(error).toBeInstanceOf(InvalidInputError);
        else created.add(id);
        expect(nc.isClosed()).toBe(false);
        for (const other of [id, ...neighbours(id)]) {
          if (!created.has(other) && other !== id) {
            // Nothing was created under this id: reading it finds nothing (or a clear refusal).
            const read = await store.get(other).catch((e: unknown) => e);
            if (read !== undefined) expect(read).toBeInstanceOf(Error);
            continue;
          }
          if (created.has(other)) expect(await store.get(other)).toMatchObject({ id: other, agent: `agent ${other}` });
        }
      }),
      { numRuns: 40 },
    );
    const listed = (await store.list({ limit: Infinity })).map((s) => s.id);
    expect(listed.sort()).toEqual([...created].sort());
    const paged = (await store.list({ after: '', limit: 10_000 })).map((s) => s.id);
    expect(paged.sort()).toEqual([...created].sort());
    await store.close();
  });

  it('reads the thread of a lone surrogate id back under that id only', async () => {
    const store = await createNatsKvStore({ nc, bucket: freshBucket() });
    await store.create(newThread('\uD800', 'lone'));
    expect(await store.get('\uFFFD')).toBeUndefined();
    await store.create(newThread('\uFFFD', 'replacement'));
    expect((await store.get('\uD800'))?.agent).toBe('lone');
    expect((await store.get('\uFFFD'))?.agent).toBe('replacement');
    await store.close();
  });

  it('refuses an id too long for a key with InvalidInputError, and stays usable', async () => {
    const store = await createNatsKvStore({ nc, bucket: freshBucket() });
    await expect(store.create(newThread('é'.repeat(1400), 'long'))).rejects.toBeInstanceOf(InvalidInputError);
    expect(nc.isClosed()).toBe(false);
    await store.create(newThread('short', 'a'));
    expect((await store.get('short'))?.agent).toBe('a');
    // The longest key there is (2048 characters) works on every path: write, read, list, page.
    const longest = `${'é'.repeat(341)}ab`;
    await store.create(newThread(longest, 'longest'));
    await store.append(longest, 1, [prefetchEvent(2, 'p')]);
    expect((await store.get(longest))?.events).toHaveLength(2);
    expect((await store.list({ limit: Infinity })).map((s) => s.id).sort()).toEqual([longest, 'short'].sort());
    expect((await store.list({ after: '', status: 'running' })).map((s) => s.id).sort()).toEqual([longest, 'short'].sort());
    expect(nc.isClosed()).toBe(false);
    await store.close();
  });

  it('has no thread under an id no key can hold, as the other stores: get is undefined, append is NotFoundError', async () => {
    const store = await createNatsKvStore({ nc, bucket: freshBucket() });
    for (const id of ['', 'é'.repeat(1400)]) {
      expect(await store.get(id)).toBeUndefined();
      await expect(store.append(id, 1, [prefetchEvent(2, 'p')])).rejects.toBeInstanceOf(NotFoundError);
    }
    expect(nc.isClosed()).toBe(false);
    await store.close();
  });
});
