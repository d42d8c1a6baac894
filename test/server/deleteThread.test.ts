/**
 * `DELETE /threads/:id`: 200 with what it deleted for a thread that ended, 404 for an unknown one, 409 for one that has
 * not ended (or whose pipeline has not) and when the store cannot delete; behind the bearer token
 * as every other mutating route; an event stream that follows the thread ends saying it was deleted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import type { Clock } from '../../src/clock.js';
import { UNKNOWN_TOOL_OUTCOME_WAIT_MS } from '../../src/runtime/watchThread.js';
import { handClock, threadOf } from '../support/agentHarness.js';
import { publishCallStarted } from '../support/heldTool.js';
import { call, openSse } from './harness.js';

const input = (parentId?: string): NewEvent => ({ type: 'input', data: { input: 'x', ...(parentId === undefined ? {} : { source: { kind: 'pipeline', parentId } }) } });
const DONE: NewEvent[] = [input(), { type: 'final', data: { output: 'ok' } }];

let runtime: Runtime | undefined;
let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  await runtime?.close();
  server = runtime = undefined;
});

async function serve(store: ThreadStore, token = '', clock?: Clock): Promise<string> {
  runtime = createRuntime({ agents: [calculator], store, model: scriptedModel([]), ...(clock === undefined ? {} : { clock }) });
  server = await startHttpServer(runtime, { port: 0, token });
  return server.url;
}

describe('DELETE /threads/:id', () => {
  it('deletes a thread that ended: 200 with what it deleted, then GET answers 404 and the listing leaves it out', async () => {
    const store = createMemoryStore();
    await store.create(threadOf('t1', 'calculator', DONE));
    await store.create(threadOf('t2', 'calculator', DONE));
    const base = await serve(store);

    expect(await call(base, 'DELETE', '/threads/t1')).toEqual(expect.objectContaining({ status: 200, body: { id: 't1', agent: 'calculator', status: 'done' } }));
    expect((await call(base, 'GET', '/threads/t1')).status).toBe(404);
    expect((await call(base, 'GET', '/threads')).body.threads.map((t: { id: string }) => t.id)).toEqual(['t2']);
  });

  it("names the call whose outcome its cancel left unrecorded: the thread deleted was its only record (the call may have taken effect)", async () => {
    const store = createMemoryStore();
    // Cancelled long ago while its call ran in another process that never recorded the outcome.
    await store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], Date.parse('2025-01-01T00:00:00.000Z')));
    const base = await serve(store);

    expect(await call(base, 'DELETE', '/threads/t1')).toEqual(
      expect.objectContaining({ status: 200, body: { id: 't1', agent: 'publisher', status: 'cancelled', unrecordedCall: { callId: 'c1', tool: 'publish', idempotencyKey: 't1:c1' } } }),
    );
    expect((await call(base, 'GET', '/threads/t1')).status).toBe(404);
  });

  it('answers 404 for an unknown thread, 400 for an id that is not one', async () => {
    const base = await serve(createMemoryStore());
    expect(await call(base, 'DELETE', '/threads/nope')).toMatchObject({ status: 404, body: { error: 'thread not found: nope' } });
    expect((await call(base, 'DELETE', `/threads/${encodeURIComponent('a b')}`)).status).toBe(400);
  });

  it('answers 409 for a thread that has not ended, and for an ended child whose pipeline has not, keeping both', async () => {
    const store = createMemoryStore();
    await store.create(threadOf('p1', 'pipe', [input()]));
    await store.create(threadOf('c1', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));
    const base = await serve(store);

    expect(await call(base, 'DELETE', '/threads/p1')).toEqual(expect.objectContaining({ status: 409, body: { error: 'thread p1 is running: it has not ended; cancel it first', code: 'conflict' } }));
    expect(await call(base, 'DELETE', '/threads/c1')).toEqual(
      expect.objectContaining({ status: 409, body: { error: 'thread c1 belongs to pipeline p1, which is running and may still need its result; delete it once p1 has ended', code: 'conflict' } }),
    );
    expect((await call(base, 'GET', '/threads/p1')).status).toBe(200);
    expect((await call(base, 'GET', '/threads/c1')).status).toBe(200);
  });

  it('answers 409 (not 500) when the store cannot delete threads', async () => {
    const inner = createMemoryStore();
    const { delete: _ignored, ...withoutDelete } = inner;
    await inner.create(threadOf('t1', 'calculator', DONE));
    const base = await serve(withoutDelete as ThreadStore);
    expect(await call(base, 'DELETE', '/threads/t1')).toEqual(expect.objectContaining({ status: 409, body: { error: 'thread t1 cannot be deleted: this store cannot delete threads', code: 'conflict' } }));
  });

  it('needs the bearer token when the server has one: 401 without it (the thread kept), 200 with it', async () => {
    const store = createMemoryStore();
    await store.create(threadOf('t1', 'calculator', DONE));
    const base = await serve(store, 's3cret');
    expect((await call(base, 'DELETE', '/threads/t1')).status).toBe(401);
    expect((await call(base, 'GET', '/threads/t1', undefined, { authorization: 'Bearer s3cret' })).status).toBe(200);
    expect((await fetch(`${base}/threads/t1`, { method: 'DELETE', headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await call(base, 'GET', '/threads/t1', undefined, { authorization: 'Bearer s3cret' })).status).toBe(404);
  });

  it("ends an event stream that follows the thread (past its cancel, for a call's outcome) with end { status: null, deleted: true }", async () => {
    const store = createMemoryStore();
    const started = Date.now();
    await store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], started));
    const clock = handClock(started);
    const base = await serve(store, '', clock);
    const sse = await openSse(`${base}/threads/t1/events`);
    try {
      const stored = await sse.until((f) => f.event === 'control');
      expect(stored.filter((f) => f.event !== undefined).map((f) => f.event)).toEqual(['input', 'decision', 'tool_call', 'control']);
      // The wait for the outcome runs out (an agent this server lacks: 2 minutes); the delete comes before the watch's timer runs.
      clock.at = started + UNKNOWN_TOOL_OUTCOME_WAIT_MS;

      expect((await fetch(`${base}/threads/t1`, { method: 'DELETE' })).status).toBe(200);

      const rest = (await sse.until((f) => f.event === 'end')).filter((f) => f.event !== undefined);
      expect(rest.map((f) => f.event)).toEqual(['end']);
      expect(JSON.parse(rest[0]!.data!)).toEqual({ status: null, deleted: true });
      expect(await sse.next()).toBeUndefined();
    } finally {
      sse.close();
    }
  });

  it('the end of a stream whose thread was deleted says so even when a thread is already launched again under its id', async () => {
    const inner = createMemoryStore();
    const started = Date.now();
    await inner.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], started));
    // Another process launches t1 again the moment it is gone (before this one reads it for the end).
    const store: ThreadStore = {
      ...inner,
      async delete(id, expectedVersion) {
        const deleted = await inner.delete!(id, expectedVersion);
        await inner.create(threadOf(id, 'calculator', DONE, started + 1));
        return deleted;
      },
    };
    const clock = handClock(started);
    const base = await serve(store, '', clock);
    const sse = await openSse(`${base}/threads/t1/events`);
    try {
      await sse.until((f) => f.event === 'control');
      clock.at = started + UNKNOWN_TOOL_OUTCOME_WAIT_MS;
      expect((await fetch(`${base}/threads/t1`, { method: 'DELETE' })).status).toBe(200);

      const rest = (await sse.until((f) => f.event === 'end')).filter((f) => f.event !== undefined);
      expect(rest.map((f) => f.event)).toEqual(['end']);
      expect(JSON.parse(rest[0]!.data!)).toEqual({ status: null, deleted: true });
    } finally {
      sse.close();
    }
  });
});
