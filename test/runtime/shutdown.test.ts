/**
 * A runtime closing while a tool call runs: the call's result is journaled when the tool finishes
 * within the drain time, so the next process carries the thread on instead of asking a human
 * whether the call took effect.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { agent } from '../../src/agent/agent.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { heldPublishTool, holdingDecisionWrites, type HeldTool } from '../support/heldTool.js';

const publishTool = (): HeldTool => heldPublishTool({ approval: true });

/** Decides to publish, then ends with whatever the tool returned (the model sees it in the context). */
const publisherModel = () =>
  scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply => {
      const result = /<tool_result[^>]*>\n?([^<]*)/.exec(request.context)?.[1]?.trim();
      return result === undefined ? { intent: 'publish', args: { post: 'hello' } } : { intent: 'done_for_now', args: { message: `after ${result}` } };
    },
  });

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-shutdown-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Launches a publisher thread, approves its call, and resolves once the tool runs. */
async function publishing(rt: Runtime, tools: ReturnType<typeof publishTool>): Promise<{ id: string; signal: AbortSignal }> {
  const { id } = await rt.launch('publisher', 'publish hello');
  const waiting = await rt.settled(id);
  expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'publish' });
  await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
  return { id, signal: await tools.started.promise };
}

describe('closing a runtime while a tool call runs', () => {
  it('journals the result of a call that finishes within the drain time; the next process carries the thread on', async () => {
    const dir = await tempDir();
    const tools = publishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const first = createRuntime({ agents: [publisher], store: await createFileStore({ dir }), model: publisherModel() });
    const { id, signal } = await publishing(first, tools);

    const closing = first.close({ drainMs: 3_600_000 });
    // Whether the call was aborted while the runtime drained (it must not be).
    const abortedWhileDraining = signal.aborted;
    tools.release.resolve('published');
    await closing;
    // Nothing was left running.
    expect(first.abandonedCalls().calls).toEqual([]);

    const second = createRuntime({ agents: [publisher], store: await createFileStore({ dir }), model: publisherModel() });
    cleanup.push(() => second.close());
    const stored = (await second.get(id))!;
    expect(stored.events.map((e) => e.type)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result']);
    expect(stored.events.at(-1)).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(stored.status).toBe('running');
    expect(abortedWhileDraining).toBe(false);
    expect(await second.recover()).toBe(1);
    const done = await second.settled(id);
    expect(done.pendingRequest).toBeNull();
    expect(done).toMatchObject({ status: 'done', output: 'after published' });
    expect(tools.runs()).toBe(1);
  });

  it('aborts a call still running at the end of the drain time; the next process asks a human whether it took effect', async () => {
    const dir = await tempDir();
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const tools = publishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const first = createRuntime({ agents: [publisher], store: await createFileStore({ dir, clock }), model: publisherModel(), clock });
    const { id, signal } = await publishing(first, tools);

    // The drain time is real time (the process's timers, faked here), not the runtime's clock.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const closing = first.close({ drainMs: 10_000 });
    await vi.advanceTimersByTimeAsync(9_999);
    const abortedBeforeTheDrainTime = signal.aborted;
    await vi.advanceTimersByTimeAsync(1);
    vi.useRealTimers();
    await closing;
    expect(abortedBeforeTheDrainTime).toBe(false);
    expect(signal.aborted).toBe(true);
    // The call still runs (the tool ignores its signal): the runtime says so until it returns.
    const abandoned = first.abandonedCalls();
    expect(abandoned.calls).toEqual([{ threadId: id, tool: 'publish', idempotent: false }]);
    // A tool that ignores its signal and finishes later: its result is not journaled.
    tools.release.resolve('published');
    await abandoned.returned;
    expect(first.abandonedCalls().calls).toEqual([]);

    const second = createRuntime({ agents: [publisher], store: await createFileStore({ dir, clock }), model: publisherModel(), clock });
    cleanup.push(() => second.close());
    expect((await second.get(id))!.events.at(-1)).toMatchObject({ type: 'tool_call', data: { tool: 'publish' } });
    expect(await second.recover()).toBe(1);
    const asking = await second.settled(id);
    expect(asking.status).toBe('awaiting_human');
    expect(asking.pendingRequest).toMatchObject({ kind: 'interrupted', tool: 'publish' });
    expect(tools.runs()).toBe(1);
  });

  it('measures the drain time in real time: on a SimulatedClock nobody moves, the close still ends at it', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const tools = publishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const first = createRuntime({ agents: [publisher], store: createMemoryStore({ clock }), model: publisherModel(), clock });
    const { id, signal } = await publishing(first, tools);

    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still closing 5 s (real) after a 20 ms drain'), 5_000)));
    const outcome = await Promise.race([first.close({ drainMs: 20 }).then(() => 'closed'), pending]);
    clearTimeout(timer);
    expect(outcome).toBe('closed');
    expect(signal.aborted).toBe(true);
    expect(first.abandonedCalls().calls).toEqual([{ threadId: id, tool: 'publish', idempotent: false }]);
    tools.release.resolve('published');
    await first.abandonedCalls().returned;
  });

  it('is not cut short when the SimulatedClock moves past the drain time: the call finishes and its result is journaled', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const store = createMemoryStore({ clock });
    const tools = publishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const first = createRuntime({ agents: [publisher], store, model: publisherModel(), clock });
    cleanup.push(() => first.close());
    const { id, signal } = await publishing(first, tools);

    const draining = first.drain({ drainMs: 10_000 });
    // Past the drain time, within the tool's own timeout (30 s, on the runtime's clock).
    clock.increment(20_000);
    await new Promise((resolve) => setImmediate(resolve));
    const abortedWhenTheClockMoved = signal.aborted;
    tools.release.resolve('published');
    await draining;
    expect(abortedWhenTheClockMoved).toBe(false);
    expect((await store.get(id))!.events.at(-1)).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
  });

  it('closes at once by default, aborting the call', async () => {
    const dir = await tempDir();
    const tools = publishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const first = createRuntime({ agents: [publisher], store: await createFileStore({ dir }), model: publisherModel() });
    const { id, signal } = await publishing(first, tools);
    expect(first.abandonedCalls().calls).toEqual([]);
    await first.close();
    expect(signal.aborted).toBe(true);
    expect(first.abandonedCalls().calls).toEqual([{ threadId: id, tool: 'publish', idempotent: false }]);
    tools.release.resolve('published');
    await first.abandonedCalls().returned;
    expect(first.abandonedCalls().calls).toEqual([]);
  });

  it('records a call the decision recorded with it as not run when it closes during that write; the next process asks nobody', async () => {
    const tools = heldPublishTool(); // no approval: the decision records its call with it
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish], backoff: { initialMs: 1, jitter: 0 } });
    // The decision's write (its call recorded with it) lands, and its answer is held until the close began.
    const inner = createMemoryStore();
    const held = holdingDecisionWrites(inner);
    const { appended, hold } = held;
    const store = { ...held.store, close: async () => undefined }; // read after the runtime closed it
    const first = createRuntime({ agents: [publisher], store, model: publisherModel() });
    const { id } = await first.launch('publisher', 'publish hello');
    await appended.promise;

    const closing = first.close({ drainMs: 3_600_000 });
    hold.resolve();
    await closing;

    const stored = (await store.get(id))!;
    expect(stored.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'error']);
    const call = stored.events[2]!;
    expect(stored.events[3]).toMatchObject({
      type: 'error',
      data: { kind: 'tool_error', tool: 'publish', callId: call.type === 'tool_call' ? call.data.callId : '', message: 'publish was not run: the runtime closed' },
    });
    expect(tools.runs()).toBe(0);
    // The next process finds no call started: it asks no human whether it took effect.
    const second = createRuntime({ agents: [publisher], store: inner, model: publisherModel() });
    cleanup.push(() => second.close());
    tools.release.resolve('published');
    expect(await second.recover()).toBe(1);
    const done = await second.settled(id);
    expect(done.events.filter((e) => e.type === 'human_request')).toEqual([]);
    expect(done).toMatchObject({ status: 'done', output: 'after published' });
    expect(tools.runs()).toBe(1);
  });
});
