/**
 * Controlling a thread over HTTP once it ended: a clear 409, never an event after the end, and the
 * server (and its runtime) goes on serving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { cancelArrival, heldPublishTool, holdingWritesBefore, publisherModel } from '../support/heldTool.js';
import { call } from './harness.js';

let runtime: Runtime | undefined;
let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  await runtime?.close();
  server = runtime = undefined;
});

describe('POST /threads/:id/cancel on a thread that ended', () => {
  it('answers 409 "already ended (done)" to a cancel that lost the race to the final, keeps the log as the tool ended it, and goes on serving', async () => {
    const tools = heldPublishTool({ breaksLoop: true });
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // The tool's result and final are held on their way to the store until the cancel reached the thread's actor.
    const { store, writing, hold } = holdingWritesBefore(createMemoryStore(), (events) => events.some((e) => e.type === 'final'));
    const { inspect, received: cancelReceived } = cancelArrival();
    runtime = createRuntime({ agents: [publisher], store, model, inspect });
    server = await startHttpServer(runtime, { port: 0, token: '' });
    const base = server.url;

    const launched = await call<ThreadView>(base, 'POST', '/threads', { agent: 'publisher', input: 'publish hello' });
    expect(launched.status).toBe(201);
    const id = launched.body.id;
    await tools.started.promise;
    tools.release.resolve('published');
    await writing.promise;

    const cancelling = call(base, 'POST', `/threads/${id}/cancel`, { reason: 'too late', by: 'qa' });
    await cancelReceived;
    hold.resolve();
    expect(await cancelling).toMatchObject({ status: 409, body: { error: `thread ${id} already ended (done); it cannot be cancelled` } });

    const stored = await call<ThreadView>(base, 'GET', `/threads/${id}`);
    expect(stored.body.status).toBe('done');
    expect(stored.body.output).toBe('published');
    expect(stored.body.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'final']);

    // Asked again once it is plainly done: the same answer, and still nothing appended.
    for (const action of ['cancel', 'pause']) {
      const again = await call(base, 'POST', `/threads/${id}/${action}`);
      expect(again.status).toBe(409);
      expect(again.body.error).toContain(`thread ${id}`);
      expect(again.body.error).toContain('done');
    }
    expect((await call<ThreadView>(base, 'GET', `/threads/${id}`)).body.events).toHaveLength(5);

    // The server and its runtime go on: another thread runs to its end.
    const next = await call<ThreadView>(base, 'POST', '/threads', { agent: 'publisher', input: 'publish again' });
    expect(next.status).toBe(201);
    const waited = await call<ThreadView>(base, 'GET', `/threads/${next.body.id}/wait`);
    expect(waited.body.status).toBe('done');
    expect((await call(base, 'GET', '/health')).status).toBe(200);
  });
});
