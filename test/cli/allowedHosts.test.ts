/**
 * `serve --allowed-hosts` / SWITCHYARD_ALLOWED_HOSTS: the Host check against DNS rebinding, on for
 * the docker-compose server (--host 0.0.0.0, no token by default), which could not turn it on.
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess, serveInProcess } from './runInProcess.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-allowed-hosts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function statusFor(url: string, host: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sent = request({ host: hostname, port, path: '/threads', headers: { host, authorization: 'Bearer tok-123456' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    sent.on('error', reject);
    sent.end();
  });
}

describe('serve --allowed-hosts', () => {
  it('answers the names listed (and the loopback) and refuses another Host, with a token too', async () => {
    const serve = await serveInProcess(['--token', 'tok-123456', '--dir', join(dir, 'flag'), '--allowed-hosts', 'agents.example.com'], {});
    try {
      expect(await statusFor(serve.url, 'agents.example.com')).toBe(200);
      expect(await statusFor(serve.url, '127.0.0.1')).toBe(200);
      expect(await statusFor(serve.url, 'attacker.example')).toBe(403);
    } finally {
      await serve.stop();
    }
  });

  it('reads SWITCHYARD_ALLOWED_HOSTS (comma-separated)', async () => {
    // Commander reads the option's variable from process.env, not from the environment given here.
    process.env.SWITCHYARD_ALLOWED_HOSTS = 'a.example, b.example';
    try {
      const serve = await serveInProcess(['--token', 'tok-123456', '--dir', join(dir, 'env')], {});
      try {
        expect(await statusFor(serve.url, 'b.example')).toBe(200);
        expect(await statusFor(serve.url, 'attacker.example')).toBe(403);
      } finally {
        await serve.stop();
      }
    } finally {
      delete process.env.SWITCHYARD_ALLOWED_HOSTS;
    }
  });

  it('refuses a name with a scheme or a port (exit 2, naming the setting)', async () => {
    const run = await runInProcess(['serve', '--port', '0', '--no-demo', '--dir', join(dir, 'bad'), '--allowed-hosts', 'agents.example.com:7878'], {});
    if ('started' in run) {
      await run.started.stop();
      throw new Error('started with a bad --allowed-hosts');
    }
    expect(run.ended.code).toBe(2);
    expect(run.ended.stderr).toMatch(/^error: --allowed-hosts: "agents\.example\.com:7878" is not a host name/);
  });
});
