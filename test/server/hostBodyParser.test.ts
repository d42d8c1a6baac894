// The HTTP app behind a host's Node server whose body parser (express.json(), say) read the request
// before handing it on: the body the client sent never reaches switchyard. The 400 says so rather
// than only `a JSON body is required`, which the client, who sent one, cannot act on (qa26-embed D3),
// and on a signed hook rather than `bad or stale signature`.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp, type HttpOptions } from '../../src/server/httpServer.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { createHarness } from './harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function drained(req: IncomingMessage): Promise<void> {
  for await (const chunk of req) void chunk;
}

/** A Node server that reads every body itself (as a host's body parser does), then hands the request to switchyard. */
async function hostReadingBodies(options: HttpOptions = {}): Promise<string> {
  const h = createHarness();
  const app = createHttpApp(h.runtime, { token: '', ...options });
  const listener = getRequestListener(app.fetch);
  const server: Server = createServer((req, res) => void drained(req).then(() => listener(req, res)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => h.runtime.close(), () => app.close(), () => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a body read by the host before switchyard', () => {
  it('is refused naming the bytes announced and the likely cause, not only "a JSON body is required"', async () => {
    const base = await hostReadingBodies();
    const raw = JSON.stringify({ agent: 'echo', input: 'hi' });
    const res = await fetch(`${base}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    const body = (await res.json()) as { error: string; code: string };
    expect(res.status).toBe(400);
    expect(body.code).toBe('bad_request');
    expect(body.error).toContain(`Content-Length said ${raw.length} bytes and none arrived`);
    expect(body.error).toContain('body parser');
  });

  it('still says only that a body is required when none was sent', async () => {
    const base = await hostReadingBodies();
    const res = await fetch(`${base}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ error: 'a JSON body is required', code: 'bad_request' });
  });

  it('is refused so on a signed hook too, not as a bad signature (the signature covers the bytes that never arrived)', async () => {
    const secret = 'hook-secret-of-the-host';
    const base = await hostReadingBodies({ hookSecret: secret });
    const raw = JSON.stringify({ n: 1 });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${base}/hooks/echo`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-Switchyard-Timestamp': timestamp,
        'X-Switchyard-Signature': signWebhook(raw, secret, timestamp),
        'X-Switchyard-Delivery': 'read-by-the-host',
      },
      body: raw,
    });
    const body = (await res.json()) as { error: string; code: string };
    expect([res.status, body.code]).toEqual([400, 'bad_request']);
    expect(body.error).toContain(`Content-Length said ${raw.length} bytes and none arrived`);
    expect(body.error).toContain('body parser');
  });
});
