/**
 * A closing HTTP server: requests that would start work once it is stopping are refused with 503
 * (and the connection closed) instead of launching threads the process will not run, and a client
 * that never finishes its request cannot hold the close past its drain deadline.
 */
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpApp, startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
beforeEach(() => {
  h = createHarness();
});
afterEach(async () => {
  await h.runtime.close();
});

const BODY = JSON.stringify({ agent: 'echo', input: 'slow', threadId: 'slow1' });

/** A raw client: sends the launch's headers and the first `sent` bytes of its body, then waits. */
async function slowLaunch(server: HttpServer, sent: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const socket = connect(server.port, server.host);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  socket.on('data', (chunk) => (received += String(chunk)));
  socket.on('error', () => {}); // a reset connection is an answer too
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.write(`POST /threads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n`);
  socket.write(BODY.slice(0, sent));
  return { socket, answer };
}

/** Resolves once `check` holds (polled). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** What settles first: the promise, or `'still waiting'` after a bound that only a hang reaches. */
function bounded<T>(promise: Promise<T>, ms = 8000): Promise<T | 'still waiting'> {
  return Promise.race([promise, new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), ms).unref())]);
}

describe('a closing HTTP server', () => {
  it('refuses a launch whose body arrives after the close began: 503 "the server is shutting down", Connection: close, no thread', async () => {
    const server = await startHttpServer(h.runtime, { port: 0, token: '' });
    const { socket, answer } = await slowLaunch(server, 10);
    // The request is in flight (its handler reads the body) when the server starts to close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = server.close();
    socket.end(BODY.slice(10));
    const text = await bounded(answer);
    expect(text).toMatch(/^HTTP\/1\.1 503 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    // Its drain time (the default 10 s): by then this server is gone.
    expect(text).toMatch(/\r\nretry-after: 10\r\n/i);
    expect(text).toContain('{"error":"the server is shutting down","code":"unavailable"}');
    expect(await bounded(closed)).toBeUndefined();
    expect(await h.runtime.get('slow1')).toBeUndefined();
  });

  it('resolves its close at the drain deadline although a client never finishes its request, and drops that client', async () => {
    const server = await startHttpServer(h.runtime, { port: 0, token: '', drainMs: 100 });
    const { answer } = await slowLaunch(server, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await bounded(server.close())).toBeUndefined();
    const text = await bounded(answer);
    expect(text).not.toMatch(/^HTTP\/1\.1 20/);
    expect(await h.runtime.get('slow1')).toBeUndefined();
  });

  it('says once that it dropped the requests still in flight at the deadline, and logs no error for them', async () => {
    const lines: { level: number; msg: string; path?: string; requests?: number; drainMs?: number }[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const server = await startHttpServer(h.runtime, { port: 0, token: '', drainMs: 100, logger });
    const { answer } = await slowLaunch(server, 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await bounded(server.close());
    await bounded(answer);
    // The dropped request's handler ends after its connection: its access line says it has.
    expect(await bounded(until(() => lines.some((line) => line.msg === 'http request' && line.path === '/threads')))).toBeUndefined();
    expect(lines.filter((line) => line.level >= 40).map(({ level, msg, requests, drainMs }) => ({ level, msg, requests, drainMs }))).toEqual([
      { level: 40, msg: 'dropping the HTTP requests still in flight at the drain deadline', requests: 1, drainMs: 100 },
    ]);
  });

  it('once stopping, answers 503 to every request that would start work and still answers reads', async () => {
    const app = createHttpApp(h.runtime, { token: '', hookSecret: 'hook-secret', signal: AbortSignal.abort() });
    const json = { 'content-type': 'application/json' };
    for (const [path, body] of [
      ['/threads', { agent: 'echo', input: 'x' }],
      ['/threads/t1/respond', { requestId: 'r1', answer: 'yes' }],
      ['/threads/t1/resume', {}],
      ['/hooks/echo', { any: 'body' }],
    ] as const) {
      const res = await app.request(path, { method: 'POST', headers: json, body: JSON.stringify(body) });
      expect({ path, status: res.status, connection: res.headers.get('connection') }).toEqual({ path, status: 503, connection: 'close' });
      expect(await res.json()).toEqual({ error: 'the server is shutting down', code: 'unavailable' });
    }
    expect((await app.request('/threads')).status).toBe(200);
    expect((await app.request('/health')).status).toBe(200);
    expect(await h.runtime.list({ limit: 10 })).toEqual([]);
  });

  it('answers a wait in flight when the runtime closes under it: 503 "the runtime is closed", with Retry-After', async () => {
    const app = createHttpApp(h.runtime, { token: '' });
    // The model never answers: the thread keeps moving.
    const { id } = await h.runtime.launch('calculator', { hang: true });
    const answer = Promise.resolve(app.request(`/threads/${id}/wait?timeoutMs=300000`));
    await until(() => h.runtime.watchedThreads().includes(id));
    await h.runtime.close();
    const res = await bounded(answer);
    expect(res === 'still waiting' ? res : res.status).toBe(503);
    if (res === 'still waiting') return;
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toEqual({ error: 'the server is shutting down: the runtime is closed', code: 'unavailable' });
  });

  it("ends an event stream open when the runtime closes under an app without a shutdown signal as a shutdown, not a failure (review)", async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const app = createHttpApp(h.runtime, { token: '', logger });
    const { id } = await h.runtime.launch('calculator', { hang: true });
    const res = await app.request(`/threads/${id}/events`);
    await until(() => h.runtime.watchedThreads().includes(id));
    await h.runtime.close();
    const text = await res.text();
    expect(text).toContain('event: error');
    expect(text).toContain('the server is shutting down; reconnect with Last-Event-ID');
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });

  it("ends an event stream open when the server stops (its signal aborted) with event: error saying so, as the README promises, not a bare end (qa26-embed D4)", async () => {
    const stopping = new AbortController();
    const app = createHttpApp(h.runtime, { token: '', signal: stopping.signal });
    const { id } = await h.runtime.launch('calculator', { hang: true });
    const res = await app.request(`/threads/${id}/events`);
    await until(() => h.runtime.watchedThreads().includes(id));
    stopping.abort();
    const text = await bounded(res.text());
    expect(text).toContain('event: input');
    expect(text).toContain('event: error');
    expect(text).toContain('the server is shutting down; reconnect with Last-Event-ID');
  });

  it('is not ready once stopping, so a load balancer stops sending it requests', async () => {
    const stopping = new AbortController();
    const app = createHttpApp(h.runtime, { token: '', signal: stopping.signal });
    expect((await app.request('/ready')).status).toBe(200);
    stopping.abort();
    const res = await app.request('/ready');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'the server is shutting down', code: 'unavailable' });
  });
});
