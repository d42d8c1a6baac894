// The HTTP API over the file store, with the longest thread ids it allows: 128 characters of the
// pattern, upper-case ones included (3 bytes each in an escaped file name), and pipelines whose
// child ids are derived from such an id.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { childThreadId } from '../../src/pipeline/pipelineDefinition.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { decide, echo } from './harness.js';

const greet = pipeline({ name: 'greet', description: 'has echo say hello', input: z.object({ who: z.string() }), output: z.string() })
  .code({ name: 'compose', output: z.string(), run: ({ input }) => `hello ${input.who}` })
  .agent({ name: 'reply', agent: 'echo', input: ({ results }) => results.compose })
  .finish(({ results }) => String(results.reply));

describe('long upper-case thread ids over HTTP on the file store', () => {
  let dir: string;
  let store: ThreadStore;
  let runtime: Runtime;
  let app: ReturnType<typeof createHttpApp>;

  async function start(): Promise<void> {
    store = await createFileStore({ dir, fsync: false });
    runtime = createRuntime({ agents: [calculator, echo], pipelines: [greet], store, model: scriptedModel([], { whenExhausted: decide }) });
    app = createHttpApp(runtime, { token: '' });
  }

  async function stop(): Promise<void> {
    await runtime.close();
    await store.close();
  }

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await app.request(path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-longids-'));
    await start();
  });

  afterEach(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('launches, gets, lists, answers and restarts threads whose ids are 67 to 128 upper-case characters or colons', async () => {
    const ids = ['Q'.repeat(67), 'Q'.repeat(128), ':'.repeat(128)];
    for (const id of ids) {
      const launched = await call('POST', '/threads', { agent: 'calculator', input: { ask: 'which one?' }, threadId: id });
      expect(launched, JSON.stringify(launched.body)).toMatchObject({ status: 201, body: { id } });
      expect(await call('GET', `/threads/${id}/wait`)).toMatchObject({ status: 200, body: { id, status: 'awaiting_human' } });
    }
    const listed = await call('GET', '/threads?status=awaiting_human&limit=100');
    expect(listed.body.threads.map((t: { id: string }) => t.id).sort()).toEqual([...ids].sort());
    const first = (await call('GET', `/threads/${ids[0]}`)).body;
    const request = first.events.find((e: { type: string }) => e.type === 'human_request');
    expect(await call('POST', `/threads/${ids[0]}/respond`, { requestId: request.data.requestId, answer: 'this one' })).toMatchObject({ status: 200 });
    expect(await call('GET', `/threads/${ids[0]}/wait`)).toMatchObject({ body: { status: 'done', output: 'you said this one' } });
    await stop();
    await start();
    expect(await call('GET', `/threads/${ids[0]}`)).toMatchObject({ status: 200, body: { id: ids[0], status: 'done' } });
    const again = await call('GET', '/threads?status=awaiting_human&limit=100');
    expect(again.body.threads.map((t: { id: string }) => t.id).sort()).toEqual(ids.slice(1).sort());
  });

  it('runs a pipeline whose id is 65 upper-case characters: its child is stored and the pipeline completes', async () => {
    const id = 'Q'.repeat(65);
    expect(await call('POST', '/threads', { agent: 'greet', input: { who: 'ann' }, threadId: id })).toMatchObject({ status: 201 });
    // A pipeline waiting on its child has stopped moving itself (`/wait` answers): until it ends.
    await expect.poll(async () => (await call('GET', `/threads/${id}/wait`)).body.status, { timeout: 10_000 }).not.toBe('running');
    expect((await call('GET', `/threads/${id}`)).body).toMatchObject({ status: 'done', output: '"hello ann"' });
    const child = childThreadId(id, 'reply');
    expect(await call('GET', `/threads/${child}`)).toMatchObject({ status: 200, body: { id: child, agent: 'echo', status: 'done' } });
  });
});
