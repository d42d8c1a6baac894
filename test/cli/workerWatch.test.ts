/**
 * `serve --no-worker` on NATS with no worker serving an agent (none running, workers on another
 * prefix, or started with `--agents` that leave it out): the API process says so, once per agent,
 * when a job of it has waited, and again when a worker for it appears.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { natsBackend } from '../../src/cli/backend.js';
import { joinNats } from '../../src/cli/joinNats.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { watchWorkers } from '../../src/cli/workerWatch.js';
import type { Logger } from '../../src/logger.js';
import { calculatorModel } from '../inspector/inspectorFixture.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { DEMO_INPUT } from '../../src/cli/bundled.js';
import { shellQuote } from '../../src/cli/format.js';
import { runCli } from '../../src/cli/program.js';
import { runInProcess, serveInProcess } from './runInProcess.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const join = (prefix: string, worker: boolean, logger: Logger) =>
  joinNats({ natsUrl: server.url, agents: [calculator], pipelines: [], prefix, worker, observe: !worker, model: calculatorModel(), logger, inspectHeartbeatMs: 200 });

const about = (lines: LogLine[], level: number, agent: string): LogLine[] => lines.filter((l) => l.level === level && l.agent === agent && /worker/.test(l.msg ?? ''));

describe('serve --no-worker hearing a worker of another project config', () => {
  it('warns once per worker, naming the agents and pipelines it serves that this server does not know (qa26 fleet D5)', async () => {
    const { logger, out } = capturingLogger('info');
    const api = await join('nwc', false, logger);
    const billing = agent({ name: 'billing', description: 'bills', prompt: 'p', tools: [] });
    const worker = await joinNats({ natsUrl: server.url, agents: [calculator, billing], pipelines: [], prefix: 'nwc', worker: true, observe: false, model: calculatorModel(), logger: capturingLogger('silent').logger, inspectHeartbeatMs: 100 });
    const watch = watchWorkers(api, { logger, waitMs: 300, checkMs: 100 });
    try {
      const other = (): LogLine[] => out.lines.filter((l) => l.level === 40 && /another project config/.test(l.msg ?? ''));
      await vi.waitFor(() => expect(other()).toHaveLength(1), { timeout: 10_000, interval: 50 });
      expect(other()[0]).toMatchObject({ worker: worker.surface.processId, unknown: ['billing'], prefix: 'nwc' });
      expect(other()[0]!.msg).toContain('billing');
      // Its heartbeats keep coming (every 100 ms): still one line.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(other()).toHaveLength(1);
    } finally {
      watch.close();
      await worker.close();
      await api.close();
    }
  }, 60_000);
});

describe('serve --no-worker hearing a worker of another config come back after missed heartbeats', () => {
  it('warns about it once per process, not each time its heartbeat returns (review of qa26 fleet D5)', async () => {
    const { logger, out } = capturingLogger('info');
    const api = await join('nwr', false, logger);
    const watch = watchWorkers(api, { logger, waitMs: 60_000, checkMs: 60_000 });
    const alive = (processId: string): void =>
      api.bus.nc.publish(
        `nwr.inspect.${processId}`,
        JSON.stringify({ type: '@switchyard.presence', processId, state: 'alive', intervalMs: 1, createdAt: String(Date.now()), worker: { agents: ['billing'], bucket: api.bucket } }),
      );
    const warned = (): unknown[] => out.lines.filter((l) => l.level === 40 && /another project config/.test(l.msg ?? '')).map((l) => l.worker);
    try {
      alive('w-1');
      await vi.waitFor(() => expect(warned()).toEqual(['w-1']), { timeout: 10_000, interval: 20 });
      // Three heartbeats (1 ms each) missed: asking whether a worker serves an agent drops it.
      const since = Date.now();
      await vi.waitFor(() => expect(Date.now() - since).toBeGreaterThan(5), { timeout: 1_000, interval: 5 });
      expect(watch.serves('billing')).toBe(false);
      // It comes back, then another process of that config is heard (in this order, one connection).
      alive('w-1');
      alive('w-2');
      await vi.waitFor(() => expect(warned()).toContain('w-2'), { timeout: 10_000, interval: 20 });
      expect(warned()).toEqual(['w-1', 'w-2']);
    } finally {
      watch.close();
      await api.close();
    }
  }, 60_000);
});

describe('serve --no-worker with no worker serving an agent', () => {
  it('warns once per agent while its jobs wait, names the fix, and says when a worker serves it again', async () => {
    const { logger, out } = capturingLogger('info');
    const api = await join('nw', false, logger);
    // A worker of the same project on another prefix (a typo) serves nothing of this deployment.
    const stray = await join('nw_other', true, capturingLogger('silent').logger);
    const watch = watchWorkers(api, { logger, waitMs: 300, checkMs: 100 });
    let worker: Awaited<ReturnType<typeof join>> | undefined;
    try {
      const first = await api.runtime.launch('calculator', 'add two numbers');
      const second = await api.runtime.launch('calculator', 'add them again');
      await vi.waitFor(() => expect(about(out.lines, 40, 'calculator')).toHaveLength(1), { timeout: 10_000, interval: 50 });
      const warn = about(out.lines, 40, 'calculator')[0]!;
      expect(warn.msg).toContain('switchyard worker');
      expect(warn.msg).toContain('--agents');
      expect(warn.msg).toContain('--prefix');
      expect(warn.msg).toContain('--bucket');
      expect(warn).toMatchObject({ prefix: 'nw', bucket: api.bucket });
      expect((await api.runtime.get(first.id))?.status).toBe('running');

      worker = await join('nw', true, capturingLogger('silent').logger);
      const settled = await Promise.all([first, second].map((t) => api.runtime.settled(t.id, { signal: AbortSignal.timeout(15_000) })));
      expect(settled.map((v) => v.status)).toEqual(['done', 'done']);
      await vi.waitFor(() => expect(about(out.lines, 30, 'calculator')).toHaveLength(1), { timeout: 10_000, interval: 50 });
      // One line for the episode, however many jobs waited and however many checks ran.
      expect(about(out.lines, 40, 'calculator')).toHaveLength(1);
    } finally {
      watch.close();
      await worker?.close();
      await stray.close();
      await api.close();
    }
  }, 60_000);

  it('is what serve --no-worker runs: a worker whose --agents leave an agent out does not count for it, and GET /agents says which agents a worker serves', async () => {
    const { logger, out } = capturingLogger('info');
    const idle = agent({ name: 'idle', description: 'does nothing', prompt: 'p', tools: [] });
    const project = { config: {}, agents: [calculator, idle], pipelines: [], path: null };
    const backend = await natsBackend({ project, model: calculatorModel(), logger, env: {}, natsUrl: server.url, prefix: 'nwb', worker: false, unservedWarnMs: 300 });
    const other = await joinNats({ natsUrl: server.url, agents: [calculator, idle], pipelines: [], prefix: 'nwb', worker: true, serve: ['idle'], observe: false, model: calculatorModel(), logger: capturingLogger('silent').logger, inspectHeartbeatMs: 200 });
    try {
      const launched = await backend.runtime.launch('calculator', 'add two numbers');
      await vi.waitFor(() => expect(about(out.lines, 40, 'calculator')).toHaveLength(1), { timeout: 10_000, interval: 50 });
      expect(about(out.lines, 40, 'calculator')[0]).toMatchObject({ prefix: 'nwb' });
      // The agent a worker serves has no job waiting, and is not warned about.
      expect(about(out.lines, 40, 'idle')).toEqual([]);
      expect((await backend.runtime.get(launched.id))?.status).toBe('running');

      // GET /agents says, per agent, whether a worker serves it.
      const http = await startHttpServer(backend.runtime, { port: 0, token: '', ...(backend.served ? { workerServes: (name: string) => backend.served!(name) } : {}) });
      try {
        const listed = (await (await fetch(`${http.url}/agents`)).json()) as { name: string; served?: boolean }[];
        expect(listed.map((a) => [a.name, a.served])).toEqual([
          ['calculator', false],
          ['idle', true],
        ]);
      } finally {
        await http.close();
      }
    } finally {
      await other.close();
      await backend.close();
    }
  }, 60_000);
});

describe('switchyard serve --no-worker', () => {
  it('answers GET /agents with served: false for each agent while no worker serves it', async () => {
    const served = await serveInProcess(['--no-worker', '--prefix', 'nwc'], { SWITCHYARD_LOG_LEVEL: 'silent', NATS_URL: server.url });
    try {
      const listed = (await (await fetch(`${served.url}/agents`)).json()) as { name: string; served?: boolean }[];
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.map((a) => a.served)).toEqual(listed.map(() => false));
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 60_000);
});

describe('switchyard serve --no-worker on an empty store with the demo model', () => {
  /** `serve --no-worker --port 0 <args>` on a bucket of its own (empty), started, and its threads. */
  async function serveDemo(prefix: string, ...args: string[]) {
    const run = await runInProcess(['serve', '--port', '0', '--no-worker', '--prefix', prefix, ...args], { SWITCHYARD_LOG_LEVEL: 'silent', NATS_URL: server.url });
    if ('ended' in run) throw new Error(`serve exited with ${run.ended.code}: ${run.ended.stderr}`);
    const url = /switchyard listening on (http:\/\/\S+)/.exec(run.started.stdout())![1]!;
    const { threads } = (await (await fetch(`${url}/threads`)).json()) as { threads: { id: string; agent: string; status: string }[] };
    return { run: run.started, url, threads };
  }

  it('launches no demo thread (it would wait for a worker nobody runs), and says in one line how to launch it', async () => {
    const { run, url, threads } = await serveDemo('nwd');
    try {
      expect(threads).toEqual([]);
      const lines = run.stdout().split('\n');
      expect(lines.filter((l) => l.startsWith('demo:'))).toEqual([
        `demo: not launched (--no-worker: the workers run the threads); launch it with: switchyard launch calculator ${shellQuote(DEMO_INPUT)} --url ${url}`,
      ]);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);

  it('with --demo launches it for the workers without waiting for one, and says how to watch it', async () => {
    const { run, threads } = await serveDemo('nwe', '--demo');
    try {
      expect(threads).toHaveLength(1);
      expect(threads[0]).toMatchObject({ agent: 'calculator', status: 'running' });
      const lines = run.stdout().split('\n');
      expect(lines.filter((l) => l.startsWith('demo:'))).toEqual([
        expect.stringMatching(new RegExp(`^demo: launched ${threads[0]!.id} \\(calculator\\); the workers run it: switchyard watch ${threads[0]!.id} --url \\S+$`)),
      ]);
    } finally {
      expect(await run.stop()).toBe(0);
    }
  }, 60_000);
});

describe('a CLI follow of a thread no worker serves', () => {
  it('says once on stderr (with --json too, stdout kept to the JSON) which agent no worker serves and how to start one, and follows on until a worker ends the thread', async () => {
    const served = await serveInProcess(['--no-worker', '--prefix', 'nwf'], { SWITCHYARD_LOG_LEVEL: 'silent', NATS_URL: server.url });
    let worker: Awaited<ReturnType<typeof join>> | undefined;
    try {
      const launch = (...flags: string[]) => {
        const run = { stdout: '', stderr: '', exited: Promise.resolve(0) };
        run.exited = runCli(['node', 'switchyard', 'launch', 'calculator', 'add two numbers', '--url', served.url, ...flags], {
          stdout: (text) => void (run.stdout += text),
          stderr: (text) => void (run.stderr += text),
          env: {},
          stopped: () => new Promise<string>(() => undefined),
          followQuietMs: 50,
        });
        return run;
      };
      const plain = launch();
      const json = launch('--json');
      for (const run of [plain, json]) {
        await vi.waitFor(() => expect(run.stderr).toContain('no worker serves calculator'), { timeout: 10_000, interval: 20 });
        expect(run.stderr).toContain('switchyard worker --agents calculator');
      }
      expect(plain.stdout).toMatch(/^launched th_\S+ \(calculator\)$/m);
      expect(plain.stdout).not.toContain('worker');

      worker = await join('nwf', true, capturingLogger('silent').logger);
      expect(await plain.exited).toBe(0);
      expect(await json.exited).toBe(0);
      expect(plain.stdout).toMatch(/^thread th_\S+ is done$/m);
      // --json: stdout holds the thread's JSON only.
      expect((JSON.parse(json.stdout) as { status: string }).status).toBe('done');
      for (const run of [plain, json]) expect(run.stderr.match(/no worker serves/g)).toHaveLength(1);
    } finally {
      await worker?.close();
      expect(await served.stop()).toBe(0);
    }
  }, 60_000);
});
