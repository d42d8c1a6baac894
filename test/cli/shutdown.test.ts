/**
 * `switchyard serve` (embedded: file store, in-process bus) told to stop (SIGTERM) while a user's
 * tool call runs: the result of a call that finishes within the drain time is journaled before the
 * process exits, so the thread carries on after a restart instead of asking a human about it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/fileStore.js';
import { ROOT, startCli } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const TESTING = JSON.stringify(join(ROOT, 'src/testing/index.ts'));

// The user's tool is not idempotent, needs approval, and runs until the test creates the file at
// RELEASE (it ignores its abort signal, and says on stdout when that aborts); each run adds a line
// to the file at LEDGER. The config's logger writes to stdout, where the test reads it.
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

const publisher = agent({ name: 'publisher', description: 'Publishes posts', prompt: 'You publish. Tools:\\n{{tools}}', tools: [publish] });

const model = scriptedModel([], {
  whenExhausted: ({ context }) =>
    context.includes('<tool_result tool="publish"') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
});

export default defineConfig({ agents: [publisher], model, logger: createLogger({ level: 'info', destination: process.stdout }) });
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

describe('serve told to stop twice', () => {
  it('takes a repeat that comes at once (a process group signalled, and a wrapper such as timeout passing it on) as the same stop: the call still finishes and is journaled', async () => {
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

  it('stops at once on a later repeat, saying so on stderr, and says at the first how to stop at once', async () => {
    const { serve, env } = await serveWithCallRunning('later');
    serve.signal('SIGTERM');
    await serve.waitFor(/waiting for the tool calls in progress before stopping/);
    expect(serve.stderr()).toMatch(/stopping: letting the work in progress finish \(send the signal again to stop at once\)/);
    // Well after the first (the process handled it: it logged the line above).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    serve.signal('SIGTERM');
    expect(await serve.exited()).toBe(130);
    expect(serve.stderr()).toMatch(/stopping at once: a tool call cut short asks a human whether it took effect/);
    await writeFile(env.RELEASE, '');
  });
});

describe('serve stopped (SIGTERM) while a tool call runs', () => {
  it('journals the result of the call that finishes within the drain time, then exits 0', async () => {
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
      expect(recovered).toBe('recovered 1 thread that was running when the last process stopped');
      const done = (await (await fetch(`${url}/threads/${id}/wait`)).json()) as { status: string; output: unknown; pendingRequest: unknown };
      expect(done).toMatchObject({ status: 'done', output: 'published it', pendingRequest: null });
    } finally {
      expect(await again.stop()).toBe(0);
    }
    expect(await readFile(env.LEDGER, 'utf8')).toBe('hello\n');
  });
});
