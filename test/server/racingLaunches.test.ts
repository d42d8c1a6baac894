/**
 * Launches of one thread id that race: the launch whose create won in the store answers 201, every
 * other 200 with that thread (README's HTTP table), even when each of them read the id as free
 * before it tried to create it (as after a DELETE of the id). A client that takes 201 as "my
 * request created it" (and sends the confirmation, or bills) does it once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { hookThreadId } from '../../src/server/hooks.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { calculator } from '../../agents/calculator/index.js';
import { deferred } from '../bus/waiting.js';
import { decide, echo, call, type JsonResponse } from './harness.js';

const RACERS = 8;
const SECRET = 'hook-secret-for-tests';

let runtime: Runtime | undefined;
let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  await runtime?.close();
  server = runtime = undefined;
});

/**
 * `inner` whose creates of `threadId`, once armed, wait until `RACERS` of them have come: every
 * racing launch has read the id as free by then, and the store's create (atomic) picks the winner.
 */
function racingCreates(inner: ThreadStore, threadId: string): { store: ThreadStore; arm(): void } {
  let armed = false;
  let waiting = 0;
  const all = deferred<void>();
  const store: ThreadStore = Object.assign(Object.create(inner) as ThreadStore, {
    async create(thread: Parameters<ThreadStore['create']>[0]) {
      if (armed && thread.id === threadId) {
        waiting++;
        if (waiting === RACERS) all.resolve();
        await all.promise;
      }
      return inner.create(thread);
    },
  });
  return { store, arm: () => (armed = true) };
}

async function serve(store: ThreadStore): Promise<string> {
  runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
  server = await startHttpServer(runtime, { port: 0, token: '', hookSecret: SECRET });
  return server.url;
}

/** Launches `threadId`, waits for it to end, then deletes it: the id is free again. */
async function launchedAndDeleted(base: string, threadId: string): Promise<void> {
  expect((await call(base, 'POST', '/threads', { agent: 'echo', input: 'first', threadId })).status).toBe(201);
  await runtime!.settled(threadId);
  expect((await fetch(`${base}/threads/${threadId}`, { method: 'DELETE' })).status).toBe(204);
}

/** The statuses, and that every answer is the one thread (created once). */
function oneCreated(answers: readonly JsonResponse[]): number[] {
  const createdAt = new Set(answers.map((a) => (a.body as { createdAt: string }).createdAt));
  expect(createdAt.size).toBe(1);
  return answers.map((a) => a.status).sort((a, b) => a - b);
}

const expected = [...Array<number>(RACERS - 1).fill(200), 201];

describe('racing launches of one thread id', () => {
  it('POST /threads with a threadId, right after its delete: one 201, the others 200 with the same thread', async () => {
    const race = racingCreates(createMemoryStore(), 'race-1');
    const base = await serve(race.store);
    await launchedAndDeleted(base, 'race-1');
    race.arm();
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/threads', { agent: 'echo', input: 'again', threadId: 'race-1' })));
    expect(oneCreated(answers)).toEqual(expected);
    expect(answers.filter((a) => a.status === 201).map((a) => a.headers.get('location'))).toEqual(['/threads/race-1']);
  });

  it('POST /threads with an Idempotency-Key, right after its delete: one 201, the others 200 with the same thread', async () => {
    const race = racingCreates(createMemoryStore(), 'idem-race-1');
    const base = await serve(race.store);
    await launchedAndDeleted(base, 'idem-race-1');
    race.arm();
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/threads', { agent: 'echo', input: 'again' }, { 'idempotency-key': 'idem-race-1' })));
    expect(oneCreated(answers)).toEqual(expected);
  });

  it('POST /hooks/:agent with one delivery id: one 201, the others 200 with the same thread', async () => {
    const threadId = hookThreadId('evt-race-1');
    const race = racingCreates(createMemoryStore(), threadId);
    const base = await serve(race.store);
    race.arm();
    const raw = JSON.stringify('hello');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = { 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook(raw, SECRET, timestamp), 'X-Switchyard-Delivery': 'evt-race-1' };
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/hooks/echo', raw, { 'content-type': 'application/json', ...headers })));
    expect(oneCreated(answers)).toEqual(expected);
  });
});
