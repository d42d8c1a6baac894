/**
 * What a browser can make of the API from a page of another site (qa27 security D3, D4):
 * - DNS rebinding: a page on attacker.example whose name is pointed at 127.0.0.1 is same-origin
 *   with a server listening there, so the server itself must refuse a Host that names no loopback
 *   host, when no token guards it (the default `switchyard serve`);
 * - cross-site requests: a page may send a POST without a body or a preflight (`fetch(url,
 *   { method: 'POST', mode: 'no-cors' })`), which the control routes take; browsers say where it
 *   comes from in `Sec-Fetch-Site`.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { call, createHarness } from './harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function started(token = ''): Promise<{ server: HttpServer; runtime: ReturnType<typeof createHarness>['runtime'] }> {
  const { runtime } = createHarness();
  const server = await startHttpServer(runtime, { port: 0, token });
  cleanups.push(() => runtime.close(), () => server.close());
  return { server, runtime };
}

/** A request with headers fetch does not let a caller set (`Host`); its status and parsed body. */
function raw(server: HttpServer, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: { error?: string; code?: string } }> {
  return new Promise((resolve, reject) => {
    const sent = request({ host: '127.0.0.1', port: server.port, method, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as { error?: string; code?: string }) }));
    });
    sent.on('error', reject);
    sent.end();
  });
}

describe('a server on 127.0.0.1 without a token: the Host a request names (DNS rebinding)', () => {
  it('refuses one that names no loopback host, 403 forbidden, saying why and what to do', async () => {
    const { server } = await started();
    const refused = await raw(server, 'GET', '/threads', { host: `attacker.example:${server.port}` });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('forbidden');
    expect(refused.body.error).toContain('attacker.example');
    expect(refused.body.error).toContain('SWITCHYARD_TOKEN');
  });

  it('answers the loopback names: localhost, 127.0.0.1 (any 127.x), [::1], a *.localhost name', async () => {
    const { server } = await started();
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `127.1.2.3:${server.port}`, `[::1]:${server.port}`, 'app.localhost', 'LOCALHOST']) {
      expect((await raw(server, 'GET', '/threads', { host })).status, host).toBe(200);
    }
  });

  it('with a token, any Host is answered (a page cannot know the token)', async () => {
    const { server } = await started('tok-123456');
    expect((await raw(server, 'GET', '/threads', { host: 'agents.example.com', authorization: 'Bearer tok-123456' })).status).toBe(200);
  });
});

describe('a request a browser sends from a page of another site', () => {
  it('is refused 403 (a bodiless POST cancelling a thread whose id is known), and changes nothing', async () => {
    const { server, runtime } = await started();
    const thread = await runtime.launch('calculator', { ask: 'which unit?' }, { threadId: 'known-1' });
    await runtime.settled(thread.id);
    for (const site of ['cross-site', 'same-site']) {
      const refused = await raw(server, 'POST', '/threads/known-1/cancel', { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors', origin: 'https://evil.example' });
      expect(refused.status, site).toBe(403);
      expect(refused.body.code).toBe('forbidden');
    }
    expect((await runtime.get('known-1'))!.status).toBe('awaiting_human');
  });

  it('is answered from its own page (same-origin), from no browser, and when the user follows a link (a navigation)', async () => {
    const { server } = await started();
    expect((await raw(server, 'GET', '/threads', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' })).status).toBe(200);
    expect((await raw(server, 'GET', '/threads', { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' })).status).toBe(200);
    expect((await raw(server, 'GET', '/threads', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' })).status).toBe(200);
    expect((await call(server.url, 'GET', '/threads')).status).toBe(200);
  });
});
