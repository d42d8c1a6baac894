import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { checkRevisions, readMany } from '../../src/nats/kvReadMany.js';
import { runThreadStoreConformance } from '../store/threadStore.conformance.js';
import { walk } from '../store/paging.conformance.js';
import { at, humanRequestEvent, humanResponseEvent, inputEvent } from '../store/fixtures/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let background: NatsConnection;
let buckets = 0;
const freshBucket = (): string => `bg_${process.pid}_${++buckets}`;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  background = await connect({ servers: server.url });
});

afterAll(async () => {
  await background?.close();
  await nc?.close();
  await server?.stop();
});

// Every guarantee of the store (paging exactly once while statuses change included) holds when
// its background work goes over a second connection.
runThreadStoreConformance('nats kv, background connection', async () => {
  const store = await createNatsKvStore({ nc, background, bucket: freshBucket() });
  return { store, cleanup: () => store.close() };
});

describe('the NATS KV store with a background connection', () => {
  it('sends only thread reads and writes over nc; index, summaries and listings go over the background connection', async () => {
    const side = await connect({ servers: server.url });
    const store = await createNatsKvStore({ nc, background: side, bucket: freshBucket() });
    const before = { main: nc.stats().outMsgs, side: side.stats().outMsgs };
    await store.create({ id: 'bg-1', agent: 'a', events: [inputEvent(1, at(1)), humanRequestEvent(2, at(2))] });
    await store.get('bg-1');
    await store.append('bg-1', 2, [humanResponseEvent(3, 'req_2', at(3))]);
    const mainSent = nc.stats().outMsgs - before.main;
    // create (put), get (direct get), append (update, the thread's revision known from the get).
    expect(mainSent).toBe(3);
    const page = await store.list({ agent: 'a', after: '', limit: 10 });
    expect(page.map((s) => [s.id, s.status])).toEqual([['bg-1', 'running']]);
    // Index entries, the summary, the old entry's delete, the listing's consumer and reads.
    expect(side.stats().outMsgs - before.side).toBeGreaterThan(4);
    expect(nc.stats().outMsgs - before.main).toBe(mainSent);
    await store.close();
    await side.close();
  });

  it('keeps writing threads when the background connection is gone, and lists them again once the index is rebuilt', async () => {
    const bucket = freshBucket();
    const side = await connect({ servers: server.url });
    const store = await createNatsKvStore({ nc, background: side, bucket });
    await side.close();
    await store.create({ id: 'orphan', agent: 'a', events: [inputEvent(1, at(1))] });
    expect((await store.append('orphan', 1, [humanRequestEvent(2, at(2))])).events).toHaveLength(2);
    await store.close();
    // Its index entries were never written: deleting the marker makes the next store index it.
    await (await new Kvm(nc).open(`${bucket}_summaries`)).delete('m.index');
    const again = await createNatsKvStore({ nc, background, bucket });
    expect((await walk(again, { status: 'awaiting_human', limit: 5 })).flat().map((s) => s.id)).toEqual(['orphan']);
    await again.close();
  });

  it('pages through a summaries bucket that answers no direct gets (replicated, or opened by the caller)', async () => {
    const bucket = freshBucket();
    const kvm = new Kvm(nc);
    const threads = await kvm.create(bucket, { allow_direct: false });
    const summaries = await kvm.create(`${bucket}_summaries`, { allow_direct: false });
    const store = await createNatsKvStore({ nc, background, buckets: { threads, summaries } });
    for (let i = 0; i < 7; i++) await store.create({ id: `nd-${i}`, agent: 'a', events: [inputEvent(1, at(i)), humanRequestEvent(2, at(i))] });
    const pages = await walk(store, { status: 'awaiting_human', agent: 'a', limit: 3 });
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat().map((s) => s.id).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `nd-${i}`));
    await store.close();
  });
});

describe('readMany', () => {
  it('reads many keys at once, in order: values, missing keys and deleted ones', async () => {
    const bucket = freshBucket();
    const kv = await new Kvm(nc).create(bucket, { allow_direct: true });
    await kv.put('k1', 'one');
    await kv.put('k2', 'two');
    await kv.put('gone', 'x');
    await kv.delete('gone');
    const keys = ['k2', 'nope', 'k1', 'gone', 'k2'];
    const results = await readMany(background, keys, { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 5_000 });
    expect(results.map((r) => (r.kind === 'value' ? new TextDecoder().decode(r.value) : r.kind))).toEqual(['two', 'missing', 'one', 'missing', 'two']);
    expect(await readMany(background, [], { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 5_000 })).toEqual([]);
  });

  it("takes its replies under the connection's inbox prefix, where a restricted user may subscribe", async () => {
    const bucket = freshBucket();
    const kv = await new Kvm(nc).create(bucket, { allow_direct: true });
    await kv.put('k1', 'one');
    const prefixed = await connect({ servers: server.url, inboxPrefix: 'sy_replies' });
    const replies: string[] = [];
    const spy = nc.subscribe(`$JS.API.DIRECT.GET.KV_${bucket}.>`, { callback: (_e, msg) => void replies.push(msg.reply ?? '') });
    await nc.flush();
    const [result] = await readMany(prefixed, ['k1'], { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 5_000, inboxPrefix: 'sy_replies' });
    expect(result?.kind === 'value' ? new TextDecoder().decode(result.value) : result?.kind).toBe('one');
    // The reply can beat the spy's copy of the request: a round trip on nc delivers the copy first.
    await nc.flush();
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatch(/^sy_replies\./);
    spy.unsubscribe();
    await prefixed.close();
  });

  it('answers unknown for the keys nobody answered in time', async () => {
    const bucket = freshBucket();
    // No direct gets on this bucket: nobody answers them.
    await new Kvm(nc).create(bucket, { allow_direct: false });
    const results = await readMany(background, ['a', 'b'], { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 200 });
    expect(results).toEqual([{ kind: 'unknown' }, { kind: 'unknown' }]);
  });
});

describe('checkRevisions', () => {
  it.each([
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ])('tells keys still at a revision from keys written or deleted since (direct gets: %s, large values: %s)', async (direct, large) => {
    const bucket = freshBucket();
    const kv = await new Kvm(nc).create(bucket, { allow_direct: direct });
    const same = await kv.put('same', 'one');
    const moved = await kv.put('moved', 'one');
    const gone = await kv.put('gone', 'x');
    await kv.put('moved', 'two');
    await kv.delete('gone');
    const later = await kv.put('later', 'x');
    const keys = [
      { key: 'same', revision: same, large },
      { key: 'moved', revision: moved, large },
      { key: 'gone', revision: gone, large },
      { key: 'later', revision: later, large },
    ];
    const options = { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 5_000, direct };
    expect(await checkRevisions(background, keys, options)).toEqual(['current', 'moved', 'moved', 'current']);
    // A key never written has no message after any revision; its last message is none.
    expect(await checkRevisions(background, [{ key: 'never', revision: later, large }], options)).toEqual([large ? 'current' : 'moved']);
    expect(await checkRevisions(background, [], options)).toEqual([]);
  });

  it('answers unknown when nobody answers in time', async () => {
    const bucket = freshBucket();
    const kv = await new Kvm(nc).create(bucket, { allow_direct: false });
    const revision = await kv.put('k', 'v');
    // Direct gets asked of a bucket that answers none.
    const results = await checkRevisions(background, [{ key: 'k', revision }, { key: 'k', revision, large: true }], { stream: `KV_${bucket}`, prefix: `$KV.${bucket}.`, timeoutMs: 200, direct: true });
    expect(results).toEqual(['unknown', 'unknown']);
  });
});
