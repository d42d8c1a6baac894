/**
 * Where `GET /threads/:id/events` resumes (QA22 http #1, #4): a `Last-Event-ID` (what a reconnecting
 * EventSource sends: the last id it received) wins over `?after=` (which it repeats from its URL);
 * ids name the thread's incarnation (`<incarnation>:<seq>`), so an id of a thread deleted since and
 * launched again under its id replays the new thread from its start; a position past the thread's
 * last event is refused (409), so the client fetches the thread again rather than waiting for ever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { incarnationOf } from '../../src/thread/incarnation.js';
import { call, createHarness, launchAndWait, openSse, type Harness, type SseFrame } from './harness.js';

let h: Harness;
let server: HttpServer;
let base: string;

beforeAll(async () => {
  h = createHarness();
  server = await startHttpServer(h.runtime, { port: 0, token: '' });
  base = server.url;
});

afterAll(async () => {
  await server.close();
  await h.runtime.close();
});

/** The ids of a stream's events (not its `end`), read to its end. */
async function idsOf(path: string, headers: Record<string, string> = {}): Promise<string[]> {
  const sse = await openSse(`${base}${path}`, headers);
  expect(sse.status).toBe(200);
  const frames = await sse.until((f) => f.event === 'end');
  expect(frames.at(-1)?.event).toBe('end');
  return frames.filter((f: SseFrame) => f.id !== undefined).map((f) => f.id!);
}

/** The stream id of `thread`'s event `seq`. */
const idOf = (thread: ThreadView, seq: number): string => `${incarnationOf(thread.createdAt!)}:${seq}`;
const idsFrom = (thread: ThreadView, after: number): string[] => thread.events.filter((e) => e.seq > after).map((e) => idOf(thread, e.seq));

describe('GET /threads/:id/events: resuming', () => {
  it('names each event <incarnation>:<seq>, the incarnation of the thread\'s creation (as deliveries do)', async () => {
    const done = await launchAndWait(base, 'calculator', { op: 'add', a: 1, b: 2 });
    expect(await idsOf(`/threads/${done.id}/events`)).toEqual(idsFrom(done, 0));
  });

  it('a Last-Event-ID wins over ?after= (an EventSource opened with ?after= sends both when it reconnects), a bare seq too', async () => {
    const done = await launchAndWait(base, 'calculator', { op: 'add', a: 2, b: 2 });
    expect(await idsOf(`/threads/${done.id}/events?after=2`, { 'last-event-id': idOf(done, 4) })).toEqual(idsFrom(done, 4));
    expect(await idsOf(`/threads/${done.id}/events?after=2`, { 'last-event-id': '5' })).toEqual(idsFrom(done, 5));
    expect(await idsOf(`/threads/${done.id}/events?after=4`, { 'last-event-id': '2' })).toEqual(idsFrom(done, 2));
    // An EventSource reconnecting after the end of an ended thread is told to stop, whatever its URL says.
    const rest = await fetch(`${base}/threads/${done.id}/events?after=2`, { headers: { 'last-event-id': idOf(done, done.version) } });
    expect(rest.status).toBe(204);
    // ?after= alone still starts there.
    expect(await idsOf(`/threads/${done.id}/events?after=3`)).toEqual(idsFrom(done, 3));
  });

  it('a Last-Event-ID of a thread deleted since and launched again under its id replays the new thread from its start', async () => {
    const first = (await call<ThreadView>(base, 'POST', '/threads', { agent: 'calculator', input: { op: 'add', a: 3, b: 4 }, threadId: 'reused-1' })).body;
    const old = (await call<ThreadView>(base, 'GET', `/threads/${first.id}/wait`)).body;
    expect(old.status).toBe('done');
    const oldId = idOf(old, old.version - 1);
    expect((await call(base, 'DELETE', '/threads/reused-1')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 5)); // another creation instant
    expect((await call(base, 'POST', '/threads', { agent: 'calculator', input: { ask: 'second life?' }, threadId: 'reused-1' })).status).toBe(201);
    const again = (await call<ThreadView>(base, 'GET', '/threads/reused-1/wait')).body;
    expect(again.status).toBe('awaiting_human');
    expect(incarnationOf(again.createdAt!)).not.toBe(incarnationOf(old.createdAt!));

    const sse = await openSse(`${base}/threads/reused-1/events`, { 'last-event-id': oldId });
    expect(sse.status).toBe(200);
    const frames = await sse.until((f) => f.event === 'human_request');
    sse.close();
    expect(frames.filter((f) => f.id !== undefined).map((f) => f.id)).toEqual(idsFrom(again, 0));
  });

  it('refuses a position past the thread\'s last event with 409 (the client fetches it again) instead of waiting for ever', async () => {
    const waiting = await launchAndWait(base, 'calculator', { ask: 'anyone?' });
    const done = await launchAndWait(base, 'calculator', { op: 'add', a: 5, b: 5 });
    for (const [thread, headers, query] of [
      [waiting, { 'last-event-id': idOf(waiting, waiting.version + 1) }, ''],
      [waiting, { 'last-event-id': '999' }, ''],
      [waiting, {}, '?after=999'],
      [done, { 'last-event-id': idOf(done, done.version + 1) }, ''],
      [done, {}, `?after=${done.version + 1}`],
    ] as const) {
      const answer = await call(base, 'GET', `/threads/${thread.id}/events${query}`, undefined, headers);
      expect(answer.status).toBe(409);
      expect(answer.body.error).toContain(`past the last event of thread ${thread.id} (seq ${thread.version})`);
    }
  });

  it('answers 400 for a Last-Event-ID that is no id of the stream', async () => {
    for (const bad of ['abc', 'x:', ':3', 'AB:3', 'ab:-3', 'ab:3:4']) {
      const answer = await call(base, 'GET', '/threads/th_missing/events', undefined, { 'last-event-id': bad });
      expect(answer.status).toBe(400);
      expect(answer.body.issues[0]).toContain('Last-Event-ID');
    }
  });
});
