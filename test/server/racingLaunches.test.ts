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
import { oneCreated, raceCreates } from '../support/racingCreates.js';
import { decide, echo, call } from './harness.js';

const RACERS = 8;
const SECRET = 'hook-secret-for-tests';

let runtime: Runtime | undefined;
let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  await runtime?.close();
  server = runtime = undefined;
});

async function serve(store: ThreadStore): Promise<string> {
  runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
  server = await startHttpServer(runtime, { port: 0, token: '', hookSecret: SECRET });
  return server.url;
}

/** Launches `threadId`, waits for it to end, then deletes it: the id is free again. */
async function launchedAndDeleted(base: string, threadId: string): Promise<void> {
  expect((await call(base, 'POST', '/threads', { agent: 'echo', input: 'first', threadId })).status).toBe(201);
  await runtime!.settled(threadId);
  expect((await fetch(`${base}/threads/${threadId}`, { method: 'DELETE' })).status).toBe(200);
}

const expected = [...Array<number>(RACERS - 1).fill(200), 201];

describe('racing launches of one thread id', () => {
  it('POST /threads with a threadId, right after its delete: one 201, the others 200 with the same thread', async () => {
    const store = createMemoryStore();
    const race = raceCreates(store, 'race-1', RACERS);
    const base = await serve(store);
    await launchedAndDeleted(base, 'race-1');
    race.arm();
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/threads', { agent: 'echo', input: 'again', threadId: 'race-1' })));
    expect(oneCreated(answers)).toEqual(expected);
    expect(answers.filter((a) => a.status === 201).map((a) => a.headers.get('location'))).toEqual(['/threads/race-1']);
  });

  it('POST /threads with an Idempotency-Key, right after its delete: one 201, the others 200 with the same thread', async () => {
    const store = createMemoryStore();
    const race = raceCreates(store, 'idem-race-1', RACERS);
    const base = await serve(store);
    await launchedAndDeleted(base, 'idem-race-1');
    race.arm();
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/threads', { agent: 'echo', input: 'again' }, { 'idempotency-key': 'idem-race-1' })));
    expect(oneCreated(answers)).toEqual(expected);
  });

  it('POST /hooks/:agent with one delivery id: one 201, the others 200 with the same thread', async () => {
    const threadId = hookThreadId('evt-race-1');
    const store = createMemoryStore();
    const race = raceCreates(store, threadId, RACERS);
    const base = await serve(store);
    race.arm();
    const raw = JSON.stringify('hello');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = { 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook(raw, SECRET, timestamp), 'X-Switchyard-Delivery': 'evt-race-1' };
    const answers = await Promise.all(Array.from({ length: RACERS }, () => call(base, 'POST', '/hooks/echo', raw, { 'content-type': 'application/json', ...headers })));
    expect(oneCreated(answers)).toEqual(expected);
  });
});
