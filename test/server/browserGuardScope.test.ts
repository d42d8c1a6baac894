/**
 * Where the browser guard (Host names, Sec-Fetch-Site) applies, and where it must not (review of
 * the qa27 security change): a signed hook through a tunnel, a host app's SPA that sends the token,
 * a host app's own routes, and the Host names a server in a container is told to answer.
 */
import { request } from 'node:http';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp, startHttpServer, type HttpServer, type HttpServerOptions } from '../../src/server/httpServer.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { createHarness } from './harness.js';

const SECRET = 'hook-secret-for-tests';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function started(options: HttpServerOptions): Promise<HttpServer> {
  const { runtime } = createHarness();
  const server = await startHttpServer(runtime, { port: 0, token: '', ...options });
  cleanups.push(() => runtime.close(), () => server.close());
  return server;
}

/** A request with headers fetch does not let a caller set (`Host`); its status and parsed body. */
function raw(server: HttpServer, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: { error?: string; code?: string } }> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port: server.port, method, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as { error?: string; code?: string }) }));
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

function signed(delivery: string): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify({ op: 'add', a: 40, b: 2 });
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-switchyard-timestamp': timestamp, 'x-switchyard-signature': signWebhook(body, SECRET, timestamp), 'x-switchyard-delivery': delivery },
  };
}

describe('a tokenless loopback server with a hook secret, behind a tunnel that keeps the public Host', () => {
  it('takes a signed hook (the signature is its credential; a rebinding page cannot sign)', async () => {
    const server = await started({ hookSecret: SECRET });
    const hook = signed('tunnel-1');
    const taken = await raw(server, 'POST', '/hooks/calculator', { ...hook.headers, host: 'abc123.ngrok-free.app' }, hook.body);
    expect(taken.status).toBe(201);
  });

  it('still refuses that Host on the other routes, and an unsigned hook is refused 401', async () => {
    const server = await started({ hookSecret: SECRET });
    expect((await raw(server, 'GET', '/threads', { host: 'abc123.ngrok-free.app' })).status).toBe(403);
    const hook = signed('tunnel-2');
    const unsigned = await raw(server, 'POST', '/hooks/calculator', { ...hook.headers, 'x-switchyard-signature': 'sha256=00', host: 'abc123.ngrok-free.app' }, hook.body);
    expect(unsigned.status).toBe(401);
  });
});

describe('a page of another site that sends the bearer token (a host app with CORS of its own)', () => {
  it('is answered: a no-cors request, the one the guard stops, cannot carry an Authorization header', async () => {
    const server = await started({ token: 'tok-123456' });
    const listed = await raw(server, 'GET', '/threads', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors', authorization: 'Bearer tok-123456' });
    expect(listed.status).toBe(200);
    const launched = await raw(
      server,
      'POST',
      '/threads',
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', authorization: 'Bearer tok-123456', 'content-type': 'application/json' },
      JSON.stringify({ agent: 'calculator', input: { op: 'add', a: 1, b: 2 } }),
    );
    expect(launched.status).toBe(201);
  });

  it('without the header it is still refused 403 (a bodiless no-cors POST)', async () => {
    const server = await started({ token: 'tok-123456' });
    expect((await raw(server, 'POST', '/threads/x/cancel', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' })).status).toBe(403);
  });
});

describe('the app mounted at / of a host app with routes of its own', () => {
  it("leaves the host's own routes to the host (its CORS, its cross-site requests)", async () => {
    const { runtime } = createHarness();
    const served = createHttpApp(runtime, { token: '', loopbackHostsOnly: true });
    cleanups.push(() => runtime.close(), () => served.close());
    const host = new Hono();
    host.route('/', served);
    host.post('/api/own', (c) => c.json({ own: true }));
    const own = await host.request('http://app.example.com/api/own', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' } });
    expect(own.status).toBe(200);
    const ours = await host.request('http://app.example.com/threads/x/cancel', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' } });
    expect(ours.status).toBe(403);
  });
});

describe('allowedHosts (serve --allowed-hosts, SWITCHYARD_ALLOWED_HOSTS): the Host names a server answers', () => {
  it('turns the Host check on whatever the token and the address: the loopback and the names listed, a .domain with its subdomains', async () => {
    const server = await started({ token: 'tok-123456', allowedHosts: ['agents.example.com', '.corp.example'] });
    const auth = { authorization: 'Bearer tok-123456' };
    for (const host of ['agents.example.com', 'AGENTS.example.com:7878', 'corp.example', 'a.corp.example', `127.0.0.1:${server.port}`, 'localhost']) {
      expect((await raw(server, 'GET', '/threads', { ...auth, host })).status, host).toBe(200);
    }
    const refused = await raw(server, 'GET', '/threads', { ...auth, host: 'attacker.example' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toContain('SWITCHYARD_ALLOWED_HOSTS');
  });

  it('empty leaves the default: a server with a token answers any Host', async () => {
    const server = await started({ token: 'tok-123456', allowedHosts: [] });
    expect((await raw(server, 'GET', '/threads', { authorization: 'Bearer tok-123456', host: 'attacker.example' })).status).toBe(200);
  });
});
