import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, VersionConflictError } from '../../src/errors.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { idArbitrary, loneSurrogate } from '../store/idArbitrary.js';
import { newThread, prefetchEvent } from '../store/fixtures/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let buckets = 0;
const freshBucket = (): string => `ids_${process.pid}_${++buckets}`;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
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
});
