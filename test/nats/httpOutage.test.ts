/**
 * The HTTP API of a NATS deployment while its nats-server is gone: a request answers 503 with
 * `Retry-After` at once, not after nats.js's request timeouts and the store's read retries (about
 * 20 s, longer than a load balancer or a client waits), and the same request is served again once
 * the connection is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually, startNode, uniqueToken } from './natsTestKit.js';

/**
 * A bound on the answer's arrival that only a request waiting for NATS reaches (today about 20 s),
 * generous for a loaded machine: a behaviour bound, not a measure of speed.
 */
const PROMPTLY_MS = 5_000;

let server: NatsServerHandle;
let node: NatsNode;
let http: HttpServer;

beforeAll(async () => {
  server = await startNatsServer();
  // An API process (`serve --no-worker`): the jobs are left to workers, which this test has none of.
  node = await startNode(server.url, { agents: [calculator], model: createDemoModel(), prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}`, worker: false });
  http = await startHttpServer(node.runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await node?.close({ drainMs: 500 });
  await server?.stop();
});

/** The request's answer, or a rejection (`TimeoutError`) once {@link PROMPTLY_MS} passed without one. */
function ask(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${http.url}${path}`, { ...init, signal: AbortSignal.timeout(PROMPTLY_MS) });
}

async function expectPromptUnavailable(path: string, init?: RequestInit): Promise<void> {
  const res = await ask(path, init);
  expect(res.status, `${init?.method ?? 'GET'} ${path}`).toBe(503);
  expect(await res.json()).toEqual({ error: expect.stringMatching(/^the store is unavailable: /), code: 'unavailable' });
  const retryAfter = res.headers.get('retry-after') ?? 'no Retry-After header';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(5);
}

describe('the HTTP API on NATS while the nats-server is down', () => {
  it('answers 503 with Retry-After promptly (reads, listings and launches), and serves the thread again once NATS is back', async () => {
    const launched = await ask('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is 6 * 7' }) });
    expect(launched.status).toBe(201);
    const { id } = (await launched.json()) as { id: string };
    expect((await ask(`/threads/${id}`)).status).toBe(200);

    // A crash: the JetStream data stays for the restart.
    await server.kill();
    await expectPromptUnavailable(`/threads/${id}`);
    await expectPromptUnavailable('/threads');
    await expectPromptUnavailable('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is 1 + 1' }) });
    // Still down: still prompt (the first failures changed nothing).
    await expectPromptUnavailable(`/threads/${id}`);

    await server.restart();
    const back = await eventually(
      async () => {
        const res = await fetch(`${http.url}/threads/${id}`);
        return res.status === 200 ? ((await res.json()) as { id: string }) : undefined;
      },
      20_000,
      'the thread to be served again once NATS is back',
      100,
    );
    expect(back.id).toBe(id);
  }, 90_000);
});
