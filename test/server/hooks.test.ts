import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServerOptions } from '../../src/server/httpServer.js';
import { hookThreadId } from '../../src/server/hooks.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { call, createHarness, type JsonResponse } from './harness.js';

// Factor 11 beyond NATS: a signed inbound webhook launches a thread, once per delivery.
const SECRET = 'hook-secret-for-tests';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: HttpServerOptions = {}): Promise<{ url: string; runtime: ReturnType<typeof createHarness>['runtime'] }> {
  const { runtime } = createHarness();
  const started = await startHttpServer(runtime, { port: 0, token: '', hookSecret: SECRET, ...options });
  cleanups.push(async () => {
    await started.close();
    await runtime.close();
  });
  return { url: started.url, runtime };
}

/** POSTs a hook delivery signed with `secret` (the body is sent as given when it is a string). */
function deliver(
  base: string,
  agent: string,
  body: unknown,
  options: { delivery?: string; secret?: string; timestamp?: number; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'X-Switchyard-Timestamp': timestamp,
    'X-Switchyard-Signature': signWebhook(raw, options.secret ?? SECRET, timestamp),
    ...(options.delivery === undefined ? {} : { 'X-Switchyard-Delivery': options.delivery }),
    ...options.headers,
  };
  return call(base, 'POST', `/hooks/${agent}`, raw, headers);
}

describe('POST /hooks/:agent', () => {
  it('launches a thread from a signed delivery, and the same delivery again answers with that thread', async () => {
    const { url, runtime } = await server();
    const first = await deliver(url, 'calculator', { op: 'add', a: 2, b: 3 }, { delivery: 'evt_123' });
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe(`/threads/${hookThreadId('evt_123')}`);
    const thread = first.body as ThreadView;
    expect(thread.id).toBe('hook-evt_123');
    expect(thread.events[0]).toMatchObject({ type: 'input', data: { input: { op: 'add', a: 2, b: 3 }, source: { kind: 'webhook', triggerId: 'evt_123' } } });
    expect(await runtime.settled(thread.id)).toMatchObject({ status: 'done', output: 'result 5' });

    const again = await deliver(url, 'calculator', { op: 'add', a: 2, b: 3 }, { delivery: 'evt_123' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: 'hook-evt_123', status: 'done' });
    expect(await runtime.list({ limit: 10 })).toHaveLength(1);
  });

  it('maps a delivery id that is not a plain token to a stable thread id', async () => {
    const { url } = await server();
    const odd = 'urn:uuid:1 / with spaces';
    const first = await deliver(url, 'echo', { hello: 'world' }, { delivery: odd });
    const again = await deliver(url, 'echo', { hello: 'world' }, { delivery: odd });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(first.body.id).toMatch(/^hook-[0-9a-f]{40}$/);
    expect(again.body.id).toBe(first.body.id);
  });

  it('refuses a delivery id reused with another body or another agent (409)', async () => {
    const { url } = await server();
    expect((await deliver(url, 'echo', { n: 1, m: [1, 2] }, { delivery: 'evt_9' })).status).toBe(201);
    // The same body serialized with its keys in another order is the same delivery (as a relaunch of POST /threads).
    expect((await deliver(url, 'echo', { m: [1, 2], n: 1 }, { delivery: 'evt_9' })).status).toBe(200);
    const otherBody = await deliver(url, 'echo', { n: 2, m: [1, 2] }, { delivery: 'evt_9' });
    expect(otherBody.status).toBe(409);
    expect(otherBody.body.error).toMatch(/delivery evt_9 already launched thread hook-evt_9 \(echo\) with another body/);
    expect(otherBody.body.code).toBe('thread_exists_other_input');
    const otherAgent = await deliver(url, 'calculator', { n: 1, m: [1, 2] }, { delivery: 'evt_9' });
    expect(otherAgent.status).toBe(409);
    expect(otherAgent.body.error).toMatch(/another agent/);
    expect(otherAgent.body.code).toBe('thread_exists_other_agent');
  });

  it('answers 401 to a delivery without a valid, fresh signature', async () => {
    const { url, runtime } = await server();
    const wrongSecret = await deliver(url, 'echo', { n: 1 }, { delivery: 'd1', secret: 'not-the-secret' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error).toMatch(/X-Switchyard-Signature must be sha256=HMAC/);
    const stale = await deliver(url, 'echo', { n: 1 }, { delivery: 'd1', timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    const unsigned = await call(url, 'POST', '/hooks/echo', { n: 1 }, { 'X-Switchyard-Delivery': 'd1' });
    expect(unsigned.status).toBe(401);
    // The signature covers the body: a changed body does not pass.
    const timestamp = String(Math.floor(Date.now() / 1000));
    const tampered = await call(url, 'POST', '/hooks/echo', '{"n":2}', {
      'X-Switchyard-Timestamp': timestamp,
      'X-Switchyard-Signature': signWebhook('{"n":1}', SECRET, timestamp),
      'X-Switchyard-Delivery': 'd1',
    });
    expect(tampered.status).toBe(401);
    expect(await runtime.list({ limit: 10 })).toEqual([]);
  });

  it('answers 400, 404, 413 and 415 with what was wrong', async () => {
    const { url } = await server({ maxBodyBytes: 1024 });
    const noDelivery = await deliver(url, 'echo', { n: 1 });
    expect(noDelivery.status).toBe(400);
    expect(noDelivery.body.error).toMatch(/X-Switchyard-Delivery header/);
    const notJson = await deliver(url, 'echo', '{"n":', { delivery: 'd2' });
    expect(notJson).toMatchObject({ status: 400, body: { error: 'the hook body is not valid JSON' } });
    const unknown = await deliver(url, 'nosuch', { n: 1 }, { delivery: 'd3' });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'unknown agent "nosuch" (known: calculator, echo)' } });
    const tooBig = await deliver(url, 'echo', { text: 'x'.repeat(2_000) }, { delivery: 'd4' });
    expect(tooBig.status).toBe(413);
    const text = await deliver(url, 'echo', { n: 1 }, { delivery: 'd5', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(text.body.error).toMatch(/Content-Type: application\/json/);
  });

  it('refuses a query parameter (400, the route takes none) once the delivery is signed, and launches nothing', async () => {
    const { url, runtime } = await server();
    const raw = JSON.stringify({ n: 1 });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = { 'content-type': 'application/json', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook(raw, SECRET, timestamp), 'X-Switchyard-Delivery': 'dq' };
    const refused = await call(url, 'POST', '/hooks/echo?source=github', raw, headers);
    expect(refused).toMatchObject({ status: 400, body: { error: 'unknown query parameter: source', code: 'bad_request', issues: ['source: POST /hooks/:agent takes no query parameter'] } });
    expect(await runtime.list({ limit: 10 })).toHaveLength(0);
    // A bad signature is answered first (401), as the bearer check is on the other routes; hooks off, 404.
    expect((await call(url, 'POST', '/hooks/echo?source=github', raw, { ...headers, 'X-Switchyard-Signature': 'sha256=00' })).status).toBe(401);
    const off = await server({ hookSecret: '' });
    expect((await call(off.url, 'POST', '/hooks/echo?source=github', raw, headers)).status).toBe(404);
  });

  it('is off (404) without a hook secret, and needs no bearer token when on', async () => {
    const off = await server({ hookSecret: '' });
    const refused = await deliver(off.url, 'echo', { n: 1 }, { delivery: 'd1' });
    expect(refused.status).toBe(404);
    expect(refused.body.error).toMatch(/inbound hooks are off/);

    const guarded = await server({ token: 'bearer-token' });
    expect((await deliver(guarded.url, 'echo', { n: 1 }, { delivery: 'd1' })).status).toBe(201);
    expect((await call(guarded.url, 'GET', '/threads/hook-d1')).status).toBe(401);
    expect((await call(guarded.url, 'GET', '/threads/hook-d1', undefined, { authorization: 'Bearer bearer-token' })).status).toBe(200);
  });
  it('refuses a body that is JSON but no value a thread holds with one readable issue naming the rules (finite numbers, 256 levels), not a dump of the validator\'s', async () => {
    const { url } = await server();
    // 1e400 parses to Infinity; 300 levels of arrays pass the 256 a thread holds.
    for (const [delivery, raw] of [['inf', '{"n":1e400}'], ['deep', `${'['.repeat(300)}${']'.repeat(300)}`]] as const) {
      const refused = await deliver(url, 'echo', raw, { delivery });
      expect(refused.status).toBe(400);
      expect(refused.body.issues).toEqual([expect.stringMatching(/^\(root\): must be a JSON value \(finite numbers, .*at most 256 levels deep\)$/)]);
      expect((await call(url, 'GET', `/threads/${hookThreadId(delivery)}`)).status).toBe(404);
    }
  });

  it('verifies the signature over the raw bytes as sent: a body with a byte order mark, signed as sent, is taken', async () => {
    const { url } = await server();
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"n":1}')]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.`).update(raw).digest('hex')}`;
    const response = await fetch(`${url}/hooks/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signature, 'X-Switchyard-Delivery': 'bom' },
      body: raw,
    });
    expect({ status: response.status, body: (await response.json()) as unknown }).toMatchObject({ status: 201, body: { id: hookThreadId('bom'), events: [{ type: 'input', data: { input: { n: 1 } } }] } });
  });

  // In review: a sender that signs its JSON text while its transport writes a byte order mark
  // first (a file saved as UTF-8 with BOM, posted as is) was taken before the signature covered
  // the bytes sent; the mark is no content, so such a signature still verifies.
  it('takes a body with a byte order mark signed over the text without it', async () => {
    const { url } = await server();
    const text = '{"n":2}';
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`${url}/hooks/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook(text, SECRET, timestamp), 'X-Switchyard-Delivery': 'bom-text' },
      body: raw,
    });
    expect({ status: response.status, body: (await response.json()) as unknown }).toMatchObject({ status: 201, body: { id: hookThreadId('bom-text'), events: [{ type: 'input', data: { input: { n: 2 } } }] } });
    // A signature over anything else still is none.
    const forged = await fetch(`${url}/hooks/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook('{"n":3}', SECRET, timestamp), 'X-Switchyard-Delivery': 'bom-forged' },
      body: raw,
    });
    expect(forged.status).toBe(401);
  });

  it('refuses a compressed body (415) as every JSON body is, even signed as sent', async () => {
    const { url } = await server();
    const raw = gzipSync(Buffer.from('{"n":1}'));
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.`).update(raw).digest('hex')}`;
    const response = await fetch(`${url}/hooks/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signature, 'X-Switchyard-Delivery': 'zipped' },
      body: raw,
    });
    expect({ status: response.status, body: (await response.json()) as unknown }).toEqual({ status: 415, body: { error: 'the body must be sent without Content-Encoding (got gzip)', code: 'unsupported_media_type' } });
  });
});
