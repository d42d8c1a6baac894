/**
 * `POST /threads/<pipeline>/cancel` while the pipeline's child runs a tool call in this process
 * answers promptly (qa26): the pipeline and the child are cancelled at once, the child's call told
 * to stop (its signal aborts) and its outcome recorded after the cancel, as a cancel over NATS or of
 * a call running in another process already does. It used to wait for the call, up to the tool's
 * `timeoutMs`, with nothing said over HTTP.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { eventually, within } from '../bus/waiting.js';
import { heldPublishTool, publisherModel, publisherPipeline } from '../support/heldTool.js';

describe("cancelling a pipeline while its child's tool call runs here", () => {
  it('answers at once with the pipeline cancelled; the child is cancelled, its call aborted, and its outcome recorded after', async () => {
    const tools = heldPublishTool({ timeoutMs: 120_000 });
    const { model } = publisherModel();
    const { publisher, posts } = publisherPipeline(tools.publish);
    const runtime = createRuntime({ agents: [publisher], pipelines: [posts], store: createMemoryStore(), model });
    try {
      const app = createHttpApp(runtime, { token: '' });
      await runtime.launch('posts', 'publish hello', { threadId: 'pp' });
      const signal = await tools.started.promise;
      const answered = Promise.resolve(app.request('/threads/pp/cancel', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'withdrawn' }) }));
      const res = await within(answered, 10_000, "the cancel's answer while the child's call still runs");
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: 'pp', status: 'cancelled' });
      expect(signal.aborted).toBe(true);
      expect((await runtime.get('pp--pub'))!.status).toBe('cancelled');
      tools.release.resolve('published');
      const child = await eventually(
        async () => {
          const view = await runtime.get('pp--pub');
          return view?.events.some((e) => e.type === 'tool_result') ? view : undefined;
        },
        10_000,
        "the child's call outcome",
      );
      expect(child.status).toBe('cancelled');
      expect(child.events.map((e) => e.type).slice(-2)).toEqual(['control', 'tool_result']);
    } finally {
      tools.release.resolve('published');
      await runtime.close();
    }
  });
});
