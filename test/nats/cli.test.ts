/**
 * `switchyard worker` and `switchyard serve --nats-url` as a user runs them: separate processes on
 * one nats-server, the HTTP API in one, the jobs in the other.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { eventually } from '../bus/waiting.js';
import { call } from '../server/harness.js';
import { signedWith, startReceiver } from '../server/receiver.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { plainClient, uniqueToken, within, type PlainClient } from './natsTestKit.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const prefix = `sy${uniqueToken()}`;
const payloadOf = (r: { body: string }): { id: string; threadId: string } => JSON.parse(r.body) as { id: string; threadId: string };

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn' };
  for (const name of ['SWITCHYARD_MODEL_API_KEY', 'OPENAI_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'SWITCHYARD_URL', 'SWITCHYARD_TOKEN', 'NATS_URL', 'npm_command']) {
    delete env[name];
  }
  return env;
}

/** A long-running CLI process and what it printed. */
function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...childEnv(), ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
      return within(
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = (): void => {
            const match = stdout.match(pattern);
            if (match) resolve(match);
          };
          child.stdout.on('data', check);
          child.once('exit', () => reject(new Error(`exited before printing ${pattern}; stderr: ${stderr}`)));
          check();
        }),
        30_000,
        `${args[0]} to print ${pattern}; stderr: ${stderr}`,
      );
    },
    async stop(): Promise<number | null> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return within(exited, 15_000, `${args[0]} to exit`);
    },
  };
}

/** Runs a client command to its end. */
function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchyard ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let server: NatsServerHandle;
let client: PlainClient;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
  dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-nats-'));
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('switchyard worker and serve --nats-url', () => {
  it('serves HTTP in one process while a worker process runs the threads, and both stop cleanly', async () => {
    // A bucket of their own choosing (say, the one an earlier version used with this prefix).
    const bucket = `${prefix}_chosen`;
    const worker = startCli(['worker', '--nats-url', server.url, '--prefix', prefix, '--bucket', bucket]);
    const api = startCli(['serve', '--port', '0', '--dir', dir, '--no-demo', '--no-worker', '--nats-url', server.url, '--prefix', prefix, '--bucket', bucket]);
    try {
      await worker.waitFor(/taking jobs for: calculator, deploybot, triage, bugfix/);
      const [, url] = await api.waitFor(/listening on (http:\/\/\S+)/);
      // A later line of the start-up: wait for it rather than assume it arrived with the first.
      await api.waitFor(/jobs are left to `switchyard worker` processes/);
      expect(api.stdout()).toContain(`KV bucket ${bucket},`);

      // The CLI launches over HTTP and follows the thread (SSE) while the worker runs it.
      const launched = await run(['launch', 'calculator', 'multiply 6 by 7', '--url', url!]);
      expect(launched.stderr).toBe('');
      expect(launched.stdout).toMatch(/done: 6 \* 7 = 42/);
      expect(launched.stdout).toMatch(/thread th_\S+ is done/);

      // A plain NATS client triggers the same fleet.
      const { subject, messages } = client.inbox<TriggerResult>();
      await client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 2 by 21', replyTo: subject }, { msgId: 'cli-1' });
      expect((await messages.until(1, 15_000))[0]).toMatchObject({ threadId: 'trg-cli-1', status: 'done', output: '2 * 21 = 42' });
      const shown = await run(['show', 'trg-cli-1', '--url', url!, '--json']);
      expect(JSON.parse(shown.stdout)).toMatchObject({ id: 'trg-cli-1', status: 'done' });
      // Both processes kept the threads in that bucket, not in the prefix's default one.
      const jsm = await jetstreamManager(client.nc);
      expect((await jsm.streams.info(`KV_${bucket}`)).state.messages).toBeGreaterThanOrEqual(2);
      await expect(jsm.streams.info(`KV_${prefix}_threads`)).rejects.toThrow();
    } finally {
      expect(await worker.stop()).toBe(0);
      expect(await api.stop()).toBe(0);
    }
  });

  it('sends each webhook once from a fleet of API processes, with the same delivery id wherever it is sent from', async () => {
    const hooks = `sy${uniqueToken()}`;
    const receiver = await startReceiver(204);
    const env = { SWITCHYARD_WEBHOOK_URL: receiver.url, SWITCHYARD_WEBHOOK_SECRET: 'fleet-secret' };
    const common = ['--nats-url', server.url, '--prefix', hooks];
    const worker = startCli(['worker', ...common]);
    const apis = [0, 1].map((n) => startCli(['serve', '--port', '0', '--dir', join(dir, `api${n}`), '--no-demo', '--no-worker', ...common], env));
    try {
      await worker.waitFor(/taking jobs for/);
      for (const api of apis) await api.waitFor(/jobs are left to `switchyard worker` processes/);
      const finished = (threadId: string) => receiver.received.filter((r) => r.headers['x-switchyard-event'] === 'thread.finished' && payloadOf(r).threadId === threadId);
      // One thread after the other: the second's webhook arrives after any repeat of the first's.
      for (const id of ['w1', 'w2']) {
        const { subject, messages } = client.inbox<TriggerResult>();
        await client.trigger(`${hooks}.trigger.calculator`, { input: 'multiply 3 by 3', replyTo: subject }, { msgId: id });
        expect((await messages.until(1, 15_000))[0]).toMatchObject({ threadId: `trg-${id}`, status: 'done' });
        await eventually(async () => (finished(`trg-${id}`).length > 0 ? true : undefined), 15_000, `the webhook of trg-${id}`);
      }
      const threads = await Promise.all(['trg-w1', 'trg-w2'].map((id) => client.request<{ ok: boolean; thread: { events: { seq: number; at: string }[] } }>(`${hooks}.thread.${id}.get`, {})));
      for (const [i, id] of ['trg-w1', 'trg-w2'].entries()) {
        const sent = finished(id);
        expect(sent, `the webhooks of ${id}`).toHaveLength(1);
        expect(signedWith(sent[0]!, 'fleet-secret')).toBe(true);
        // Named after the event that caused it, so a repeat (a retry, another sender) is dropped by id.
        const { events } = threads[i]!.thread;
        const delivery = `${incarnateId(id, events[0]!.at)}:${events.at(-1)!.seq}`;
        expect(sent[0]!.headers['x-switchyard-delivery']).toBe(delivery);
        expect(payloadOf(sent[0]!)).toMatchObject({ id: delivery, status: 'done', output: '3 * 3 = 9' });
      }
    } finally {
      expect(await worker.stop()).toBe(0);
      for (const api of apis) expect(await api.stop()).toBe(0);
      await receiver.close();
    }
  });

  it("runs the README's NATS commands as written: each worker line starts taking jobs", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const lines = [...readme.matchAll(/^NATS_URL=\S+ npx switchyard (worker(?: [^#\n]*)?)/gm)].map((m) => m[1]!.trim());
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const worker = startCli(line.split(/\s+/), { NATS_URL: server.url, SWITCHYARD_PREFIX: `${prefix}readme` });
      try {
        await worker.waitFor(/taking jobs for: /);
      } finally {
        await worker.stop();
      }
    }
  });

  it('refuses a callbackUrl where this process takes jobs without a webhook secret, and accepts it where the workers call back', async () => {
    const own = `sy${uniqueToken()}`;
    const common = ['--nats-url', server.url, '--prefix', own];
    const origin = await startReceiver(200);
    // This process runs threads too: the callbacks of those it runs could not be signed.
    const taking = startCli(['serve', '--port', '0', '--dir', join(dir, 'taking'), '--no-demo', ...common], { SWITCHYARD_WEBHOOK_SECRET: '' });
    try {
      const [, takingUrl] = await taking.waitFor(/listening on (http:\/\/\S+)/);
      const refused = await call(takingUrl!, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 3', callbackUrl: origin.url });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/SWITCHYARD_WEBHOOK_SECRET/);
    } finally {
      // Stopped before the next part, so no job of it runs here.
      expect(await taking.stop()).toBe(0);
    }

    // An API process that takes no jobs cannot know the workers' secret: it accepts, and the worker calls back.
    const worker = startCli(['worker', ...common], { SWITCHYARD_WEBHOOK_SECRET: 'worker-secret' });
    const api = startCli(['serve', '--port', '0', '--dir', join(dir, 'api-only'), '--no-demo', '--no-worker', ...common], { SWITCHYARD_WEBHOOK_SECRET: '' });
    try {
      await worker.waitFor(/taking jobs for/);
      const [, apiUrl] = await api.waitFor(/listening on (http:\/\/\S+)/);
      const launched = await call<{ id: string }>(apiUrl!, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 3', callbackUrl: origin.url });
      expect(launched.status).toBe(201);
      const [finished] = await origin.waitFor(1, 15_000);
      expect(signedWith(finished!, 'worker-secret')).toBe(true);
      expect(payloadOf(finished!).threadId).toBe(launched.body.id);
    } finally {
      expect(await api.stop()).toBe(0);
      expect(await worker.stop()).toBe(0);
      await origin.close();
    }
  });

  it('a worker restarted on a new webhook secret, the old one in SWITCHYARD_WEBHOOK_SECRET_PREVIOUS, calls back a thread sealed under the old one, signed with the new', async () => {
    const own = `sy${uniqueToken()}`;
    const common = ['--nats-url', server.url, '--prefix', own];
    const origin = await startReceiver(200);
    const before = startCli(['worker', ...common], { SWITCHYARD_WEBHOOK_SECRET: 'rotation-OLD' });
    // Seals the callbackUrl's token under the old secret, as the workers had it at the launch.
    const api = startCli(['serve', '--port', '0', '--dir', join(dir, 'rotation-api'), '--no-demo', '--no-worker', ...common], { SWITCHYARD_WEBHOOK_SECRET: 'rotation-OLD' });
    let after: ReturnType<typeof startCli> | undefined;
    try {
      await before.waitFor(/taking jobs for/);
      const [, apiUrl] = await api.waitFor(/listening on (http:\/\/\S+)/);
      const launched = await call<{ id: string }>(apiUrl!, 'POST', '/threads', { agent: 'calculator', input: 'what is (3 + 4) / 2', callbackUrl: `${origin.url}?token=qtok-NATS-ROTATE` });
      expect(launched.status).toBe(201);
      const [asked] = await origin.waitFor(1, 15_000);
      expect(signedWith(asked!, 'rotation-OLD')).toBe(true);
      expect(await before.stop()).toBe(0);

      after = startCli(['worker', ...common], { SWITCHYARD_WEBHOOK_SECRET: 'rotation-NEW', SWITCHYARD_WEBHOOK_SECRET_PREVIOUS: 'rotation-OLD' });
      await after.waitFor(/press Ctrl\+C to stop/);
      expect(after.stdout()).toMatch(/sealed under 1 previous webhook secret \(SWITCHYARD_WEBHOOK_SECRET_PREVIOUS\)/);
      const request = (JSON.parse(asked!.body) as { pendingRequest: { requestId: string } }).pendingRequest;
      expect((await call(apiUrl!, 'POST', `/threads/${launched.body.id}/respond`, { requestId: request.requestId, approved: true })).status).toBe(200);
      const [, finished] = await origin.waitFor(2, 15_000);
      expect(JSON.parse(finished!.body)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done' });
      expect(finished!.path).toBe('/hook?token=qtok-NATS-ROTATE');
      expect(signedWith(finished!, 'rotation-NEW')).toBe(true);
      expect(after.stdout()).not.toContain('rotation-');
    } finally {
      expect(await api.stop()).toBe(0);
      if (after !== undefined) expect(await after.stop()).toBe(0);
      await before.stop();
      await origin.close();
    }
  });

  it('refuses an unknown agent for --agents as a usage error', async () => {
    const result = await run(['worker', '--nats-url', server.url, '--agents', 'calculator,nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown agent or pipeline nope; the bundled ones are calculator, deploybot, triage, bugfix/);
  });

  it('refuses to start a worker on a prefix whose queues another --bucket uses, as a configuration error', async () => {
    const own = `sy${uniqueToken()}`;
    const theirs = `${own}_theirs`;
    // The deployment's processes set up the queues with their bucket.
    const api = startCli(['serve', '--port', '0', '--dir', join(dir, 'bound'), '--no-demo', '--no-worker', '--nats-url', server.url, '--prefix', own, '--bucket', theirs]);
    try {
      await api.waitFor(/listening on /);
      // The default bucket (<prefix>_threads) is another one.
      const result = await run(['worker', '--nats-url', server.url, '--prefix', own]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${own}_calculator`);
      expect(result.stderr).toContain(theirs);
      expect(result.stderr).toContain(`${own}_threads`);
      expect(result.stderr).toMatch(/--bucket/);
      expect(result.stdout).not.toMatch(/taking jobs for/);
    } finally {
      expect(await api.stop()).toBe(0);
    }
  }, 60_000);

  it('fails with a clear message when NATS is not there', async () => {
    const result = await run(['worker', '--nats-url', 'nats://127.0.0.1:1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
