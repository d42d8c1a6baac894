/**
 * Pausing a thread from another process (another runtime on the same store) while its tool call
 * runs here: the call's outcome is journaled after the pause, the thread stays paused, and a
 * resume continues from the recorded outcome, without asking a human and without running the
 * tool again.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { requestIdFor } from '../../src/agent/ids.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

const types = (events: readonly ThreadEvent[]) => events.map((e) => e.type);

describe('pausing a thread from another process while its tool call runs', () => {
  it('journals the result after the pause; the thread stays paused, and a resume goes on from the result', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const store = createMemoryStore();
    const worker = createRuntime({ agents: [publisher], store, model });
    // Another process on the same store (an API server): it runs no actor for the thread, so its pause is a write.
    const api = createRuntime({ agents: [publisher], store, model });
    const { id } = await worker.launch('publisher', 'publish hello');
    await tools.started.promise;

    expect((await api.pause(id, { by: 'ops' })).status).toBe('paused');
    tools.release.resolve('published');
    await worker.settled(id);

    const paused = (await api.get(id))!;
    expect(types(paused.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(paused.events[3]).toMatchObject({ type: 'control', data: { action: 'pause', by: 'ops' } });
    expect(paused.events[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(paused.status).toBe('paused');
    expect(paused.pendingRequest).toBeNull();

    await api.resume(id, { by: 'ops' });
    const done = await api.settled(id);
    expect(done.status).toBe('done');
    expect(types(done.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result', 'control', 'decision', 'final']);
    expect(done.events[7]).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
    await Promise.all([worker.close(), api.close()]);
  });

  // As a NATS `control` request asks (qa23 #4): the runtime running the call records the pause as another process would.
  it('with awaitCall false, on the runtime running the call: records the pause at once, journals the result after it, and a resume goes on from it', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model });
    const { id } = await rt.launch('publisher', 'publish hello');
    const signal = await tools.started.promise;

    const view = await rt.pause(id, { by: 'ops', awaitCall: false });
    expect(view.status).toBe('paused');
    expect(types(view.events)).toEqual(['input', 'decision', 'tool_call', 'control']);
    expect(signal.aborted).toBe(false); // a pause does not tell the call to stop
    tools.release.resolve('published');
    const paused = await rt.settled(id);
    expect(paused.status).toBe('paused');
    expect(types(paused.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);

    await rt.resume(id, { by: 'ops' });
    const done = await rt.settled(id);
    expect(done.status).toBe('done');
    expect(types(done.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result', 'control', 'decision', 'final']);
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
    await rt.close();
  });

  it('journals an error that escalates after the pause, with request ids of the seqs they land at; a resume opens the escalation', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish], maxConsecutiveErrors: 1 });
    const store = createMemoryStore();
    const worker = createRuntime({ agents: [publisher], store, model });
    const api = createRuntime({ agents: [publisher], store, model });
    const { id } = await worker.launch('publisher', 'publish hello');
    await tools.started.promise;

    expect((await api.pause(id)).status).toBe('paused');
    tools.release.reject(new Error('the feed is down'));
    await worker.settled(id);

    const paused = (await api.get(id))!;
    expect(types(paused.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'error', 'escalation', 'human_request']);
    expect(paused.events[4]).toMatchObject({ type: 'error', data: { kind: 'tool_error', tool: 'publish', message: 'publish failed: the feed is down' } });
    const requestId = requestIdFor(incarnationKeyOf(paused), 7);
    expect(paused.events[5]).toMatchObject({ type: 'escalation', data: { reason: 'max_consecutive_errors', requestId } });
    expect(paused.events[6]).toMatchObject({ type: 'human_request', data: { kind: 'escalation', requestId } });
    expect(paused.status).toBe('paused');

    await api.resume(id);
    const escalated = await api.settled(id);
    expect(escalated.status).toBe('escalated');
    expect(escalated.pendingRequest?.requestId).toBe(requestId);
    // The request is the open one: an answer to it is taken.
    await api.respond(id, { requestId, approved: false, comment: 'leave it' });
    expect((await api.settled(id)).status).toBe('failed');
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
    await Promise.all([worker.close(), api.close()]);
  });
});
