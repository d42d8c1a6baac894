/**
 * A signed hook request seen once (a proxy's log, a mirror) replayed under other delivery ids:
 * the signature covers the timestamp and the body, not `X-Switchyard-Delivery`, which names the
 * thread, so each replay launched a thread of its own while the timestamp was fresh (qa27
 * security D2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/server/httpServer.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { call, createHarness } from './harness.js';

const SECRET = 'hook-secret-for-tests';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('POST /hooks/:agent: a signature used again under another delivery id', () => {
  // Refused 409, not 401: a sender reads 401 as bad credentials (a wrong secret) and rotates or
  // alerts; 409 names the delivery that used the signature first.
  it('is refused 409 as a replay naming the first delivery, and launches nothing; the same delivery again is still its retry (200)', async () => {
    const { runtime } = createHarness();
    const server = await startHttpServer(runtime, { port: 0, token: '', hookSecret: SECRET });
    cleanups.push(() => runtime.close(), () => server.close());
    const body = JSON.stringify({ op: 'add', a: 40, b: 2 });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signed = { 'content-type': 'application/json', 'X-Switchyard-Timestamp': timestamp, 'X-Switchyard-Signature': signWebhook(body, SECRET, timestamp) };
    expect((await call(server.url, 'POST', '/hooks/calculator', body, { ...signed, 'X-Switchyard-Delivery': 'orig-1' })).status).toBe(201);
    const replayed = await call(server.url, 'POST', '/hooks/calculator', body, { ...signed, 'X-Switchyard-Delivery': 'replay-1' });
    expect(replayed.status).toBe(409);
    expect(replayed.body.code).toBe('conflict');
    expect(replayed.body.error).toMatch(/replay/);
    expect(replayed.body.error).toContain('orig-1');
    expect((await call(server.url, 'POST', '/hooks/calculator', body, { ...signed, 'X-Switchyard-Delivery': 'orig-1' })).status).toBe(200);
    expect((await runtime.list({ limit: 10 })).map((t) => t.id)).toEqual(['hook-orig-1']);
  });
});
