/**
 * `switchyard serve` (embedded: file store, in-process bus) told to stop (SIGTERM) while a user's
 * tool call runs: the result of a call that finishes within the drain time is journaled before the
 * process exits, so the thread carries on after a restart instead of asking a human about it. A
 * call still running at the drain deadline dies with the process, which exits then; until it has,
 * no other process takes the thread (a `serve` on the same data directory, a `worker` on NATS) to
 * ask a human whether a call that still runs took effect.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/fileStore.js';
import { startNatsServer } from '../support/natsServer.js';
import { plainClient, uniqueToken } from '../nats/natsTestKit.js';
import { ROOT, cliTestTimeout, startCli, type CliProcess } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const TESTING = JSON.stringify(join(ROOT, 'src/testing/index.ts'));

// The user's tools are not idempotent and run until the test creates the file at RELEASE (they
// ignore their abort signal, and say on stdout when that aborts); each run that ends adds a line
// to the file at LEDGER. publish needs approval, charge does not. The config's logger writes to
// stdout, where the test reads it.
const CONFIG = `
import { appendFileSync, existsSync } from 'node:fs';
import { z } from 'zod';
import { agent, createLogger, defineConfig, tool } from ${SRC};
import { scriptedModel } from ${TESTING};

const publish = tool({
  name: 'publish',
  description: 'Publishes a post',
  input: z.object({ post: z.string() }),
  approval: true,
  timeoutMs: 120_000,
  run: async ({ post }, { signal }) => {
    signal.addEventListener('abort', () => process.stdout.write('publish aborted\\n'));
    process.stdout.write('publish started\\n');
    while (!existsSync(process.env.RELEASE)) await new Promise((resolve) => setTimeout(resolve, 20));
    appendFileSync(process.env.LEDGER, post + '\\n');
    return 'published';
  },
});

const charge = tool({
  name: 'charge',
  description: 'Charges a card',
  input: z.object({ amount: z.number() }),
  timeoutMs: 120_000,
  run: async ({ amount }, { signal }) => {
    signal.addEventListener('abort', () => process.stdout.write('charge aborted\\n'));
    process.stdout.write('charge started\\n');
    while (!existsSync(process.env.RELEASE)) await new Promise((resolve) => setTimeout(resolve, 20));
    appendFileSync(process.env.LEDGER, 'charged ' + amount + '\\n');
    return 'charged';
  },
});

const publisher = agent({ name: 'publisher', description: 'Publishes posts', prompt: 'You publish. Tools:\\n{{tools}}', tools: [publish] });
const charger = agent({ name: 'charger', description: 'Charges cards', prompt: 'You charge. Tools:\\n{{tools}}', tools: [charge] });

const model = scriptedModel([], {
  whenExhausted: ({ agent, context }) =>
    agent === 'charger'
      ? context.includes('<tool_result tool="charge"') ? { intent: 'done_for_now', args: { message: 'charged it' } } : { intent: 'charge', args: { amount: 5 } }
      : context.includes('<tool_result tool="publish"') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
});

export default defineConfig({ agents: [publisher, charger], model, logger: createLogger({ level: 'info', destination: process.stdout }) });
`;

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ so the config's `import 'zod'` resolves as in a user's project.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-shutdown-'));
  await writeFile(join(dir, 'switchyard.config.mts'), CONFIG);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A serve of the config with a publish call running (approved, held until RELEASE exists). */
async function serveWithCallRunning(name: string) {
  const data = join(dir, `${name}-data`);
  const env = { LEDGER: join(dir, `${name}-ledger.txt`), RELEASE: join(dir, `${name}-release`) };
  const serve = startCli(['serve', '--port', '0', '--dir', data], { cwd: dir, env });
  try {
    const [, url] = await serve.waitFor(/switchyard listening on (http:\/\/\S+)/);
    await serve.waitFor(/press Ctrl\+C to stop/);
    const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'publisher', input: 'publish hello' }) });
    const id = ((await launched.json()) as { id: string }).id;
    const waiting = (await (await fetch(`${url}/threads/${id}/wait`)).json()) as { status: string; pendingRequest: { requestId: string } };
    await fetch(`${url}/threads/${id}/respond`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: waiting.pendingRequest.requestId, approved: true }) });
    await serve.waitFor(/publish started/);
    return { serve, id, data, env };
  } catch (error) {
    await serve.stop();
    throw error;
  }
}

/** The types of the thread's stored events. */
async function storedTypes(data: string, id: string): Promise<string[]> {
  const store = await createFileStore({ dir: join(data, 'threads') });
  try {
    return (await store.get(id))!.events.map((e) => e.type);
  } finally {
    await store.close();
  }
}

describe('serve whose terminal closes (SIGHUP)', () => {
  // QA: SIGHUP (an ssh session or terminal closed under a foreground serve) killed the process at
  // once, with no drain and no line saying why.
  it('stops as on SIGTERM: the call in progress finishes and is journaled, and it says why', { timeout: cliTestTimeout(1) }, async () => {
    const { serve, id, data, env } = await serveWithCallRunning('hangup');
    serve.signal('SIGHUP');
    await serve.waitFor(/waiting for the tool calls in progress before stopping/);
    await writeFile(env.RELEASE, '');
    expect(await serve.exited()).toBe(0);
    expect(serve.stderr()).toMatch(/SIGHUP: stopping: letting the work in progress finish/);
    expect(await storedTypes(data, id)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result']);
  });
});

describe('serve told to stop twice', () => {
  it('takes a repeat that comes at once (a process group signalled, and a wrapper such as timeout passing it on) as the same stop: the call still finishes and is journaled', { timeout: cliTestTimeout(1) }, async () => {
    const { serve, id, data, env } = await serveWithCallRunning('twice');
    serve.signal('SIGINT');
    await serve.waitFor(/waiting for the tool calls in progress before stopping/);
    // At once after the first was handled, as `timeout` passes on the signal its group got.
    serve.signal('SIGINT');
    await writeFile(env.RELEASE, '');
    expect(await serve.exited()).toBe(0);
    expect(await storedTypes(data, id)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result']);
    expect(await readFile(env.LEDGER, 'utf8')).toBe('hello\n');
  });

  it('stops at once on a later repeat, saying so on stderr, and says at the first how to stop at once', { timeout: cliTestTimeout(1) }, async () => {
    const { serve, env } = await serveWithCallRunning('later');
    serve.signal('SIGTERM');
    await serve.waitFor(/waiting for the tool calls in progress before stopping/);
    // Written to stderr before that stdout line, through another pipe: it may reach the test after it.
    await expect.poll(() => serve.stderr()).toMatch(/stopping: letting the work in progress finish \(send the signal again to stop at once\)/);
    // Well after the first (the process handled it: it logged the line above).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    serve.signal('SIGTERM');
    expect(await serve.exited()).toBe(130);
    expect(serve.stderr()).toMatch(/stopping at once: a tool call cut short asks a human whether it took effect/);
    await writeFile(env.RELEASE, '');
  });
});

describe('serve stopped (SIGTERM) while a tool call runs', () => {
  it('journals the result of the call that finishes within the drain time, then exits 0', { timeout: cliTestTimeout(2) }, async () => {
    const data = join(dir, 'data');
    const env = { LEDGER: join(dir, 'ledger.txt'), RELEASE: join(dir, 'release') };
    const serve = startCli(['serve', '--port', '0', '--dir', data], { cwd: dir, env });
    let id: string;
    try {
      const [, url] = await serve.waitFor(/switchyard listening on (http:\/\/\S+)/);
      await serve.waitFor(/press Ctrl\+C to stop/);
      const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'publisher', input: 'publish hello' }) });
      id = ((await launched.json()) as { id: string }).id;
      const waiting = (await (await fetch(`${url}/threads/${id}/wait`)).json()) as { status: string; pendingRequest: { requestId: string; kind: string } };
      expect(waiting).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'approval' } });
      const approved = await fetch(`${url}/threads/${id}/respond`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: waiting.pendingRequest.requestId, approved: true }) });
      expect(approved.status).toBe(200);
      await serve.waitFor(/publish started/);
    } catch (error) {
      await serve.stop();
      throw error;
    }
    const stopping = serve.stop();
    // The process is shutting down: it waits for the call (it says so), or (the defect) aborts it.
    const [seen] = await serve.waitFor(/waiting for the tool calls in progress before stopping|publish aborted/);
    await writeFile(env.RELEASE, '');
    expect(await stopping).toBe(0);

    expect(await readFile(env.LEDGER, 'utf8')).toBe('hello\n');
    const store = await createFileStore({ dir: join(data, 'threads') });
    try {
      const thread = (await store.get(id))!;
      expect(thread.events.map((e) => e.type)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result']);
      expect(thread.events.at(-1)).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    } finally {
      await store.close();
    }
    expect(seen).toBe('waiting for the tool calls in progress before stopping');

    // Restarted, the thread carries on from the result (no human is asked about the call).
    const again = startCli(['serve', '--port', '0', '--dir', data], { cwd: dir, env });
    try {
      const [, url] = await again.waitFor(/switchyard listening on (http:\/\/\S+)/);
      const [recovered] = await again.waitFor(/recovered \d+ threads?[^\n]*(?=\n)/);
      expect(recovered).toBe('recovered 1 thread that was running, backing off or sleeping when the last process stopped');
      const done = (await (await fetch(`${url}/threads/${id}/wait`)).json()) as { status: string; output: unknown; pendingRequest: unknown };
      expect(done).toMatchObject({ status: 'done', output: 'published it', pendingRequest: null });
    } finally {
      expect(await again.stop()).toBe(0);
    }
    expect(await readFile(env.LEDGER, 'utf8')).toBe('hello\n');
  });
});

/** The drain deadline's warning: the calls still running are aborted (a tool may ignore that). */
const PAST_DEADLINE = /tool calls still running at shutdown: aborting them/;

/** Whether a file exists. */
const exists = (path: string): Promise<boolean> => readFile(path).then(() => true, () => false);

describe('serve stopped (SIGTERM) while a tool call runs past the drain time', () => {
  it('exits at the deadline, the call dying with it, and holds its data directory until it has exited: no serve asks a human about the call while it still runs', { timeout: 120_000 }, async () => {
    const data = join(dir, 'past-data');
    const env = { LEDGER: join(dir, 'past-ledger.txt'), RELEASE: join(dir, 'past-release') };
    const serve = startCli(['serve', '--port', '0', '--dir', data], { cwd: dir, env });
    let next: CliProcess | undefined;
    try {
      const [, url] = await serve.waitFor(/switchyard listening on (http:\/\/\S+)/);
      await serve.waitFor(/press Ctrl\+C to stop/);
      const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'charger', input: 'charge 5' }) });
      const id = ((await launched.json()) as { id: string }).id;
      await serve.waitFor(/charge started/);

      // One stop signal; the charge (held until RELEASE, which the test never creates while the
      // process lives) outlasts the 10 s drain time.
      serve.signal('SIGTERM');
      await serve.waitFor(PAST_DEADLINE);

      // A serve on the same directory is refused for as long as the first still runs the charge;
      // the first one to start must find it gone.
      let nextUrl: string | undefined;
      for (let attempt = 1; nextUrl === undefined; attempt++) {
        const candidate = startCli(['serve', '--port', '0', '--dir', data], { cwd: dir, env });
        const listening = await candidate.waitFor(/switchyard listening on (http:\/\/\S+)/).catch(() => null);
        if (listening !== null) {
          next = candidate;
          expect(serve.alive(), 'a second serve started on the data directory while the first still ran its charge').toBe(false);
          nextUrl = listening[1];
          break;
        }
        expect(await candidate.exited()).toBe(2);
        expect(candidate.stderr()).toMatch(/is in use by another switchyard serve/);
        expect(attempt, 'serve attempts refused while the first one stopped').toBeLessThan(20);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }

      // The first exited by itself at the deadline, the charge cut short (it never ended).
      expect(await serve.exited()).toBe(0);
      expect(serve.stdout()).toMatch(/charge aborted/);
      expect(await exists(env.LEDGER)).toBe(false);
      // The next serve asks a human whether the call took effect, as after a crash.
      const asked = (await (await fetch(`${nextUrl}/threads/${id}/wait`)).json()) as { status: string; pendingRequest: { kind: string; tool: string } | null };
      expect(asked).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'interrupted', tool: 'charge' } });
      expect(await next!.stop()).toBe(0);
    } finally {
      await next?.stop();
      await serve.stop();
      await writeFile(env.RELEASE, '');
    }
  });
});

describe('worker stopped (SIGTERM) while a tool call runs past the drain time', () => {
  it('exits at the deadline, the call dying with it, and no other worker takes the thread before it has exited', { timeout: 150_000 }, async () => {
    const server = await startNatsServer();
    const client = await plainClient(server.url);
    const prefix = `sy${uniqueToken()}`;
    const env = { LEDGER: join(dir, 'worker-ledger.txt'), RELEASE: join(dir, 'worker-release') };
    const args = ['worker', '--nats-url', server.url, '--prefix', prefix];
    const first = startCli(args, { cwd: dir, env });
    let second: CliProcess | undefined;
    try {
      await first.waitFor(/taking jobs for: publisher, charger/);
      // Every event any process appends, and whether the first worker still ran then.
      const appended: { type: string; firstAlive: boolean }[] = [];
      client.nc.subscribe(`${prefix}.events.charger.>`, {
        callback: (_error, msg) => {
          appended.push({ type: msg.subject.split('.').at(-1)!, firstAlive: first.alive() });
        },
      });
      const token = uniqueToken();
      await client.trigger(`${prefix}.trigger.charger`, { input: 'charge 5' }, { msgId: token });
      await first.waitFor(/charge started/);
      second = startCli(args, { cwd: dir, env });
      await second.waitFor(/taking jobs for: publisher, charger/);

      first.signal('SIGTERM');
      await first.waitFor(PAST_DEADLINE);

      // The thread is handed back: the second worker takes it and asks a human whether the
      // charge took effect, but only once the first, which ran it, has exited.
      const deadline = Date.now() + 90_000;
      while (!appended.some((e) => e.type === 'human_request')) {
        if (Date.now() > deadline) throw new Error(`no human_request for trg-${token} within 90 s; events: ${JSON.stringify(appended)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(appended.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'human_request']);
      expect(appended.at(-1), 'the second worker asked about the charge while the first still ran it').toEqual({ type: 'human_request', firstAlive: false });
      expect(await first.exited()).toBe(0);
      expect(first.stdout()).toMatch(/charge aborted/);
      // The charge never ended, and the second worker did not run it again.
      expect(await exists(env.LEDGER)).toBe(false);
      expect(second.stdout()).not.toMatch(/charge started/);
      expect(await second.stop()).toBe(0);
    } finally {
      await second?.stop();
      await first.stop();
      await writeFile(env.RELEASE, '');
      await client.close();
      await server.stop();
    }
  });
});
