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
