// How the HTTP API answers what it does not serve: a wrong method, an unknown path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, type HttpApp } from '../../src/server/httpServer.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
let app: HttpApp;

beforeAll(() => {
  h = createHarness();
  app = createHttpApp(h.runtime, { token: '' });
});

afterAll(async () => {
  await app.close();
  await h.runtime.close();
});

async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await app.request(path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

describe('a method a known path does not take', () => {
  it('answers 405 with an Allow header and a JSON error', async () => {
    const put = await send('PUT', '/threads', { agent: 'echo', input: 1 });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    expect(put.body).toMatchObject({ error: 'method PUT is not allowed on /threads (allowed: GET, HEAD, POST)' });

    const respond = await send('GET', '/threads/th_1/respond');
    expect(respond.status).toBe(405);
    expect(respond.headers.get('allow')).toBe('POST');

    const thread = await send('PATCH', '/threads/th_1');
    expect(thread.status).toBe(405);
    expect(thread.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD']);
  });

  it("answers a browser's CORS preflight (OPTIONS) with 405 and no CORS headers, as the README says", async () => {
    const preflight = await send('OPTIONS', '/threads', undefined, { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' });
    expect(preflight.status).toBe(405);
    expect(preflight.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    expect([...preflight.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });

  it('asks for the token first, when there is one (401, not 405)', async () => {
    const guarded = createHttpApp(h.runtime, { token: 'sekrit' });
    try {
      expect((await guarded.request('/threads', { method: 'PUT' })).status).toBe(401);
      const allowed = await guarded.request('/threads', { method: 'PUT', headers: { authorization: 'Bearer sekrit' } });
      expect(allowed.status).toBe(405);
      expect(allowed.headers.get('allow')).toBe('GET, HEAD, POST');
    } finally {
      await guarded.close();
    }
  });

  it('leaves 404 to unknown paths and to what a route does not find', async () => {
    expect(await send('GET', '/nope')).toMatchObject({ status: 404, body: { error: 'no route GET /nope' } });
    expect(await send('PUT', '/threads/th_1/nothing')).toMatchObject({ status: 404, body: { error: 'no route PUT /threads/th_1/nothing' } });
    const missing = await send('GET', '/threads/th_missing');
    expect(missing).toMatchObject({ status: 404, body: { error: 'thread not found: th_missing' } });
    expect(missing.headers.get('allow')).toBeNull();
    expect((await send('DELETE', '/threads/th_missing')).status).toBe(404);
  });
});

describe('the code of an error body', () => {
  it('names the kind of a bad request, a missing thread or route, a wrong method, a body too large or of another type', async () => {
    expect((await send('POST', '/threads', { agent: 'echo' })).body).toMatchObject({ code: 'bad_request', issues: expect.any(Array) });
    expect((await send('GET', '/threads/th_missing')).body).toEqual({ error: 'thread not found: th_missing', code: 'not_found' });
    expect((await send('POST', '/threads', { agent: 'nope', input: 1 })).body).toMatchObject({ code: 'not_found' });
    expect((await send('GET', '/nope')).body).toEqual({ error: 'no route GET /nope', code: 'not_found' });
    expect((await send('PUT', '/threads')).body).toMatchObject({ code: 'method_not_allowed' });
    const text = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ code: 'unsupported_media_type' });
    const small = createHttpApp(h.runtime, { token: '', maxBodyBytes: 10 });
    try {
      const large = await small.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'echo', input: 'x'.repeat(100) }) });
      expect(large.status).toBe(413);
      expect(await large.json()).toEqual({ error: 'the request body is larger than 10 bytes', code: 'payload_too_large' });
    } finally {
      await small.close();
    }
  });

  it('says unauthorized for a missing or wrong token, bad_request for a malformed Authorization header', async () => {
    const guarded = createHttpApp(h.runtime, { token: 'sekrit' });
    try {
      const missing = await guarded.request('/threads');
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual({ error: 'unauthorized: send Authorization: Bearer <token>', code: 'unauthorized' });
      expect(await (await guarded.request('/threads', { headers: { authorization: 'Bearer wrong' } })).json()).toMatchObject({ code: 'unauthorized' });
      const malformed = await guarded.request('/threads', { headers: { authorization: 'Basic abc' } });
      expect(await malformed.json()).toMatchObject({ code: 'bad_request' });
    } finally {
      await guarded.close();
    }
  });

  it('names the kind of a conflict: another launch under the id, a request answered or not open, a thread that ended', async () => {
    expect((await send('POST', '/threads', { agent: 'echo', input: 'one', threadId: 'codes-1' })).status).toBe(201);
    expect((await send('POST', '/threads', { agent: 'echo', input: 'two', threadId: 'codes-1' })).body).toMatchObject({ code: 'thread_exists_other_input' });
    expect((await send('POST', '/threads', { agent: 'calculator', input: 'one', threadId: 'codes-1' })).body).toMatchObject({ code: 'thread_exists_other_agent' });

    const asked = await send('POST', '/threads', { agent: 'calculator', input: { ask: 'colour?' } });
    const waiting = await h.runtime.settled(asked.body.id as string);
    const requestId = waiting.pendingRequest!.requestId;
    const stale = await send('POST', `/threads/${waiting.id}/respond`, { requestId: 'req_1_deadbeef', answer: 'red' });
    expect(stale).toMatchObject({ status: 409, body: { error: 'request req_1_deadbeef is not the open request of this thread', code: 'not_open_request' } });
    expect((await send('POST', `/threads/${waiting.id}/respond`, { requestId, answer: 'blue' })).status).toBe(200);
    await h.runtime.settled(waiting.id);
    // The answer sent again after a lost reply: it landed.
    const again = await send('POST', `/threads/${waiting.id}/respond`, { requestId, answer: 'blue' });
    expect(again).toMatchObject({ status: 409, body: { code: 'already_answered' } });
    expect(again.body.error).toMatch(new RegExp(`^thread ${waiting.id} is done; request ${requestId} was already answered`));
    expect((await send('POST', `/threads/${waiting.id}/cancel`)).body).toMatchObject({ error: `thread ${waiting.id} is done; it cannot be cancelled`, code: 'thread_ended' });
    // A conflict with no name of its own.
    const running = await send('POST', '/threads', { agent: 'calculator', input: { hang: true } });
    expect((await send('DELETE', `/threads/${running.body.id}`)).body).toMatchObject({ code: 'conflict' });
    await send('POST', `/threads/${running.body.id}/cancel`);
  });

  it('says unavailable for a server that is shutting down', async () => {
    const stopping = new AbortController();
    const closing = createHttpApp(h.runtime, { token: '', signal: stopping.signal });
    stopping.abort();
    try {
      const refused = await closing.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'echo', input: 1 }) });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ code: 'unavailable' });
      expect(await (await closing.request('/ready')).json()).toMatchObject({ code: 'unavailable' });
    } finally {
      await closing.close();
    }
  });
});

describe('an unknown query parameter', () => {
  it('is refused with 400 naming it and the parameters the route takes, not ignored (a typo answered as if absent)', async () => {
    const typo = await send('GET', '/threads?stauts=done&limit=3');
    expect(typo).toMatchObject({ status: 400, body: { error: 'unknown query parameter: stauts', code: 'bad_request', issues: ['stauts: GET /threads takes agent, status, limit, after, updatedBefore'] } });
    // Refused before the thread is looked up (400, not 404), each naming what its route takes.
    const wait = await send('GET', '/threads/th_missing/wait?timeout=5');
    expect(wait).toMatchObject({ status: 400, body: { error: 'unknown query parameter: timeout', code: 'bad_request', issues: ['timeout: GET /threads/:id/wait takes timeoutMs'] } });
    const events = await send('GET', '/threads/th_missing/events?after=1&from=2&since=3');
    expect(events).toMatchObject({ status: 400, body: { error: 'unknown query parameters: from, since', code: 'bad_request' } });
    expect(events.body.issues).toEqual(['from: GET /threads/:id/events takes after', 'since: GET /threads/:id/events takes after']);
  });

  it('is refused on a route that takes none, with 400 saying so, before anything is read or done', async () => {
    const routes: [method: string, path: string, route: string, body?: unknown][] = [
      ['GET', '/agents?x=1', 'GET /agents'],
      ['GET', '/threads/th_missing?x=1', 'GET /threads/:id'],
      ['POST', '/threads?x=1', 'POST /threads', { agent: 'echo', input: 1, threadId: 'th_queried' }],
      ['POST', '/threads/th_missing/respond?x=1', 'POST /threads/:id/respond', { requestId: 'req_1', answer: 'x' }],
      ['POST', '/threads/th_missing/pause?x=1', 'POST /threads/:id/pause'],
      ['POST', '/threads/th_missing/resume?x=1', 'POST /threads/:id/resume'],
      ['POST', '/threads/th_missing/cancel?x=1', 'POST /threads/:id/cancel'],
      ['DELETE', '/threads/th_missing?x=1', 'DELETE /threads/:id'],
    ];
    for (const [method, path, route, body] of routes) {
      const refused = await send(method, path, body);
      expect(refused, path).toEqual({ status: 400, headers: expect.anything(), body: { error: 'unknown query parameter: x', code: 'bad_request', issues: [`x: ${route} takes no query parameter`] } });
    }
    // The launch was refused, not made with the parameter ignored.
    expect((await send('GET', '/threads/th_queried')).status).toBe(404);
  });

  it('leaves the parameters a route takes as they were, empty ones included', async () => {
    expect((await send('GET', '/threads?agent=echo&status=done,awaiting_human&limit=2')).status).toBe(200);
    expect((await send('GET', '/threads?agent=&status=&limit=&after=')).status).toBe(200);
    expect((await send('GET', '/threads/th_missing/wait?timeoutMs=1')).status).toBe(404);
    expect((await send('GET', '/threads/th_missing/events?after=0')).status).toBe(404);
    // A route that takes none answers as before without one (an empty query is none).
    expect((await send('GET', '/threads/th_missing')).status).toBe(404);
    expect((await send('GET', '/threads/th_missing?')).status).toBe(404);
    expect((await send('GET', '/agents')).status).toBe(200);
    expect((await send('POST', '/threads/th_missing/cancel')).status).toBe(404);
    expect((await send('DELETE', '/threads/th_missing')).status).toBe(404);
  });

  it("tells a ?token= (a browser EventSource's way) that the token goes in the Authorization header", async () => {
    const open = await send('GET', '/threads/th_missing/events?token=sekrit');
    expect(open).toMatchObject({ status: 400, body: { error: 'unknown query parameter: token', code: 'bad_request' } });
    expect(open.body.issues[0]).toMatch(/^token: the server takes no token in the query: send the header Authorization: Bearer <token>/);
    // With a token set, the bearer check answers first, as for any request without the header.
    const guarded = createHttpApp(h.runtime, { token: 'sekrit' });
    try {
      const refused = await guarded.request('/threads/th_missing/events?token=sekrit');
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ error: 'unauthorized: send Authorization: Bearer <token>', code: 'unauthorized' });
    } finally {
      await guarded.close();
    }
  });
});
