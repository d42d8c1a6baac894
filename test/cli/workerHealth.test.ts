/**
 * `switchyard worker --health-port`: the probes an orchestrator asks a worker (a Docker
 * healthcheck, a Kubernetes liveness and readiness probe), as `serve` answers `/health` and `/ready`.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { uniqueToken } from '../bus/waiting.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { startWorkerHealth } from '../../src/cli/workerHealth.js';
import { silentLogger } from '../../src/logger.js';
import { runInProcess, type InProcessCommand } from './runInProcess.js';

const servers: NatsServerHandle[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  vi.unstubAllEnvs();
});

async function startedWorker(args: readonly string[], env: Record<string, string>): Promise<InProcessCommand> {
  const run = await runInProcess(['worker', ...args], { SWITCHYARD_PREFIX: `wh${uniqueToken()}`, ...env });
  if ('ended' in run) throw new Error(`worker exited with ${run.ended.code}\nstdout: ${run.ended.stdout}\nstderr: ${run.ended.stderr}`);
  return run.started;
}

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

describe('worker health and readiness probes', () => {
  it('answers /health and /ready on the port it prints; /ready is 503 while NATS is gone; it stops with the worker', async () => {
    const nats = await startNatsServer();
    servers.push(nats);
    const worker = await startedWorker(['--health-port', '0'], { NATS_URL: nats.url });
    let stopped = false;
    try {
      const base = /^health: (http:\/\/127\.0\.0\.1:\d+) /m.exec(worker.stdout())?.[1];
      expect(base, worker.stdout()).toBeDefined();
      expect(await get(`${base}/health`)).toEqual({ status: 200, body: { ok: true } });
      expect(await get(`${base}/ready`)).toEqual({ status: 200, body: { ok: true } });
      expect((await get(`${base}/threads`)).status).toBe(404);

      await nats.stop();
      await vi.waitFor(async () => {
        const ready = await get(`${base}/ready`);
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({ code: 'unavailable', error: expect.stringMatching(/^the store is unavailable: /) });
      }, 10_000);
      // Liveness: a worker waiting for its NATS to come back is alive (restarting it would not help).
      expect(await get(`${base}/health`)).toEqual({ status: 200, body: { ok: true } });

      expect(await worker.stop()).toBe(0);
      stopped = true;
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } finally {
      if (!stopped) await worker.stop();
    }
  });

  it('refuses a port that is not one (exit 2, naming the option)', async () => {
    const run = await runInProcess(['worker', '--health-port', 'http'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect('ended' in run && run.ended.code).toBe(2);
    if ('ended' in run) expect(run.ended.stderr).toMatch(/--health-port <port>' argument 'http' is invalid\. must be a port number from 0 to 65535/);
  });

  it('refuses --health-port given empty (a script\'s unset variable), naming it', async () => {
    const run = await runInProcess(['worker', '--health-port', ''], { NATS_URL: 'nats://127.0.0.1:1' });
    expect('ended' in run && run.ended.code).toBe(2);
    if ('ended' in run) expect(run.ended.stderr).toMatch(/--health-port is empty: leave it out for no probes/);
  });

  it('refuses a port that is taken (exit 2, naming the option and the address), before it joins NATS', async () => {
    const holder = await listening();
    try {
      const port = (holder.address() as { port: number }).port;
      const run = await runInProcess(['worker', '--health-port', String(port)], { NATS_URL: 'nats://127.0.0.1:1' });
      expect('ended' in run && run.ended.code).toBe(2);
      if ('ended' in run) expect(run.ended.stderr).toContain(`--health-port: cannot listen on 127.0.0.1:${port}: `);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('serves no probes when SWITCHYARD_HEALTH_PORT is empty (compose passes X: ${X:-})', async () => {
    const nats = await startNatsServer();
    servers.push(nats);
    vi.stubEnv('SWITCHYARD_HEALTH_PORT', '');
    const worker = await startedWorker([], { NATS_URL: nats.url });
    try {
      expect(worker.stdout()).not.toMatch(/^health: /m);
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });

  it('listens on 127.0.0.1 when SWITCHYARD_HEALTH_HOST is empty, not on every interface', async () => {
    const nats = await startNatsServer();
    servers.push(nats);
    vi.stubEnv('SWITCHYARD_HEALTH_HOST', '');
    const worker = await startedWorker(['--health-port', '0'], { NATS_URL: nats.url });
    try {
      const base = /^health: (\S+) /m.exec(worker.stdout())?.[1];
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await get(`${base}/health`)).toEqual({ status: 200, body: { ok: true } });
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });
});

describe('startWorkerHealth', () => {
  it('answers /ready 503 once the worker is stopping, /health still 200', async () => {
    const health = await startWorkerHealth({ host: '127.0.0.1', port: 0, ready: () => Promise.resolve(), logger: silentLogger() });
    try {
      expect(await get(`${health.url}/ready`)).toEqual({ status: 200, body: { ok: true } });
      health.stopping();
      const ready = await fetch(`${health.url}/ready`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await ready.json()).toMatchObject({ code: 'unavailable', error: 'the worker is stopping' });
      expect(await get(`${health.url}/health`)).toEqual({ status: 200, body: { ok: true } });
    } finally {
      await health.close();
    }
  });

  it('answers another method 405 naming the methods it serves, GET and HEAD', async () => {
    const health = await startWorkerHealth({ host: '127.0.0.1', port: 0, ready: () => Promise.resolve(), logger: silentLogger() });
    try {
      expect((await fetch(`${health.url}/health`, { method: 'HEAD' })).status).toBe(200);
      const refused = await fetch(`${health.url}/health`, { method: 'POST' });
      expect(refused.status).toBe(405);
      expect(refused.headers.get('allow')).toBe('GET, HEAD');
      expect(await refused.json()).toMatchObject({ error: 'method POST is not allowed on /health (allowed: GET, HEAD)' });
    } finally {
      await health.close();
    }
  });
});

/** A TCP server holding a free port of 127.0.0.1. */
function listening(): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
