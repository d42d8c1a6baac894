/**
 * `switchyard worker --health-port`: the probes an orchestrator asks a worker (a Docker
 * healthcheck, a Kubernetes liveness and readiness probe), as `serve` answers `/health` and `/ready`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { uniqueToken } from '../bus/waiting.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { runInProcess, type InProcessCommand } from './runInProcess.js';

const servers: NatsServerHandle[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
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
    if ('ended' in run) expect(run.ended.stderr).toMatch(/--health-port/);
  });
});
