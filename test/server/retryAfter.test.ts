/**
 * Every 503 says when to try again (`Retry-After`, in seconds): a load balancer or a client then
 * waits that long instead of guessing. An unavailable store's 503 asks for a few seconds (NATS
 * reconnecting, a directory made writable again); a stopping server's, for its drain time, after
 * which it is gone (and another process, or its restart, serves).
 */
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../src/errors.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createHarness } from './harness.js';

const LAUNCH = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'echo', input: 'x' }) };

/** The Retry-After of a 503, as a number of seconds (a failed expectation when missing or not one). */
async function retryAfterOf(response: Response | Promise<Response>): Promise<number> {
  const res = await response;
  expect(res.status).toBe(503);
  const value = res.headers.get('retry-after') ?? 'no Retry-After header';
  expect(value).toMatch(/^\d+$/);
  return Number(value);
}

describe('Retry-After on the 503 of an unavailable store', () => {
  it('is between 1 and 5 seconds on a read, a launch and /ready', async () => {
    const { runtime } = createHarness();
    const unavailable = (): Promise<never> => Promise.reject(new SystemError('NATS is unreachable: connection disconnected'));
    const down: Runtime = { ...runtime, get: unavailable, launch: unavailable, ready: unavailable };
    const app = createHttpApp(down, { token: '' });
    for (const answer of [app.request('/threads/t1'), app.request('/threads', LAUNCH), app.request('/ready')]) {
      const seconds = await retryAfterOf(answer);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(5);
    }
    await runtime.close();
  });

  it('is not sent with other answers (a 404, a 200)', async () => {
    const { runtime } = createHarness();
    const app = createHttpApp(runtime, { token: '' });
    const missing = await app.request('/threads/nope');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('retry-after')).toBeNull();
    const ready = await app.request('/ready');
    expect(ready.status).toBe(200);
    expect(ready.headers.get('retry-after')).toBeNull();
    await runtime.close();
  });
});

describe('Retry-After on the 503 of a stopping server', () => {
  it('is its drain time, rounded up to whole seconds, on refused work and on /ready', async () => {
    const { runtime } = createHarness();
    const app = createHttpApp(runtime, { token: '', signal: AbortSignal.abort(), drainMs: 2_500 });
    expect(await retryAfterOf(app.request('/threads', LAUNCH))).toBe(3);
    expect(await retryAfterOf(app.request('/ready'))).toBe(3);
    await runtime.close();
  });

  it('is the default drain time (10 s) when none is given', async () => {
    const { runtime } = createHarness();
    const app = createHttpApp(runtime, { token: '', signal: AbortSignal.abort() });
    expect(await retryAfterOf(app.request('/threads', LAUNCH))).toBe(10);
    await runtime.close();
  });
});
