/**
 * Cancelling a thread while one of its tool calls runs: the call's outcome is journaled before the
 * cancel (the log never hides a side effect that happened), and nothing runs after the cancel.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { controlStep } from '../../src/agent/controlStep.js';
import { z } from 'zod';
import { tool } from '../../src/agent/tool.js';
import { InvalidStateError, ThreadTooLargeError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createAgentActor, whenSettled } from '../../src/runtime/agentActor.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { versionOf, type ThreadEvent } from '../../src/thread/events.js';
import { unrecordedCall } from '../../src/thread/state.js';
import { createClock, threadOf } from '../support/agentHarness.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { cancelArrival, heldPublishTool, holdingDecisionWrites, holdingWritesBefore, publisherModel } from '../support/heldTool.js';

/** Resolves once `signal` aborts. */
const aborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

const types = (events: readonly ThreadEvent[]) => events.map((e) => e.type);

/** A runtime whose `publish` call (held until released) has started. */
async function launchedWithCallHeld(breaksLoop: boolean) {
  const tools = heldPublishTool({ breaksLoop });
  const { model, asked } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model });
  const { id } = await rt.launch('publisher', 'publish hello');
  const signal = await tools.started.promise;
  return { tools, asked, rt, id, signal };
}

describe('cancelling a thread while its tool call runs', () => {
  // A tool that breaks the loop too: its result is journaled without the final, so the thread ends cancelled, not done.
  it.each([false, true])('aborts the call, waits for it, journals its result, then records the cancel; no decision after it (breaksLoop: %s)', async (breaksLoop) => {
    const { tools, asked, rt, id, signal } = await launchedWithCallHeld(breaksLoop);

    const cancelling = rt.cancel(id, { reason: 'wrong post', by: 'qa' });
    // The tool is told to stop; it finishes anyway (the payment was already sent, say).
    await aborted(signal);
    tools.release.resolve('published');
    const view = await cancelling;

    expect(view.status).toBe('cancelled');
    const stored = (await rt.get(id))!;
    expect(stored.status).toBe('cancelled');
    expect(stored.output).toBeUndefined();
    expect(types(stored.events)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control']);
    expect(stored.events[3]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(stored.events[4]).toMatchObject({ type: 'control', data: { action: 'cancel', reason: 'wrong post', by: 'qa' } });
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
    await rt.close();
  });

  // As a NATS `control` request asks (qa23 #4): answered at once, as a cancel from another process is.
  it.each([false, true])('with awaitCall false: records the cancel at once, aborts the call, and journals its result after the cancel; no decision after it (breaksLoop: %s)', async (breaksLoop) => {
    const { tools, asked, rt, id, signal } = await launchedWithCallHeld(breaksLoop);

    // Resolves while the call (which ignores its signal) still runs.
    const view = await rt.cancel(id, { reason: 'wrong post', by: 'qa', awaitCall: false });
    expect(view.status).toBe('cancelled');
    expect(types(view.events)).toEqual(['input', 'decision', 'tool_call', 'control']);
    expect(view.events[3]).toMatchObject({ type: 'control', data: { action: 'cancel', reason: 'wrong post', by: 'qa' } });
    expect(view.events[3]!.data).not.toHaveProperty('awaitCall');
    await aborted(signal);
    tools.release.resolve('published');
    const settled = await rt.settled(id);

    expect(settled.status).toBe('cancelled');
    expect(settled.output).toBeUndefined();
    expect(types(settled.events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(settled.events[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(unrecordedCall(settled.events)).toBeUndefined();
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
    await rt.close();
  });

  it('with awaitCall false: its log says the cancel was recorded here while the call ran, not that it came from elsewhere or was not recorded', async () => {
    const tools = heldPublishTool({ breaksLoop: false });
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const { logger, out } = capturingLogger('debug');
    const lines = out.lines as (LogLine & { msg: string; level: number })[];
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model, logger });
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    await rt.cancel(id, { by: 'qa', awaitCall: false });
    tools.release.resolve('published');
    expect((await rt.settled(id)).status).toBe('cancelled');

    const messages = lines.filter((l) => l.threadId === id).map((l) => l.msg);
    expect(messages).not.toContainEqual(expect.stringMatching(/not recorded: the thread had already ended/));
    expect(messages).not.toContainEqual(expect.stringMatching(/from elsewhere/));
    expect(messages).toContainEqual(expect.stringMatching(/outcome recorded after the (cancel|control)/));
    await rt.close();
  });

  it('a cancel that comes once a tool that breaks the loop returned, while its result and final are written, is refused as already ended: the thread stays done', async () => {
    const tools = heldPublishTool({ breaksLoop: true });
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // The tool's outcome (its result and the final) is held on its way to the store until the cancel reached the actor.
    const { store, writing, hold } = holdingWritesBefore(createMemoryStore(), (events) => events.some((e) => e.type === 'final'));
    const { inspect, received: cancelReceived } = cancelArrival();
    const rt = createRuntime({ agents: [publisher], store, model, inspect });
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    tools.release.resolve('published');
    await writing.promise;

    const cancelling = rt.cancel(id, { reason: 'too late', by: 'qa' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await cancelReceived;
    hold.resolve();
    const refused = await cancelling;

    expect(refused).toBeInstanceOf(InvalidStateError);
    expect((refused as InvalidStateError).message).toBe(`thread ${id} already ended (done); it cannot be cancelled`);
    const stored = (await rt.get(id))!;
    expect(stored.status).toBe('done');
    expect(stored.output).toBe('published');
    expect(types(stored.events)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'final']);
    expect(tools.runs()).toBe(1);
    // The runtime goes on: another thread runs to its end.
    const next = await rt.launch('publisher', 'publish again');
    expect((await rt.settled(next.id)).status).toBe('done');
    expect(asked).toEqual(['publisher', 'publisher']);
    await rt.close();
  });

  it('a cancel written by another process that loses the race to the final is refused as already ended, the log unchanged', async () => {
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    const thread = await inner.create(threadOf('t-race', 'publisher', [{ type: 'input', data: { input: 'publish hello' } }], clock.now()));
    // The canceller reads the thread running; the worker's final lands before its cancel does.
    let raced = false;
    const store: typeof inner = {
      ...inner,
      async get(threadId) {
        const read = await inner.get(threadId);
        if (!raced) {
          raced = true;
          await inner.append(threadId, 1, [{ seq: 2, at: new Date(clock.now()).toISOString(), type: 'final', data: { output: 'published' } }]);
        }
        return read;
      },
    };
    const refused = await controlStep({ store, clock, model: publisherModel().model, logger: silentLogger() }, thread.id, { action: 'cancel', by: 'qa' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(InvalidStateError);
    expect((refused as InvalidStateError).message).toBe('thread t-race already ended (done); it cannot be cancelled');
    expect(types((await inner.get('t-race'))!.events)).toEqual(['input', 'final']);
  });

  it('records a call that ignores its signal as timed out at its deadline, then the cancel: the cancel does not wait longer', async () => {
    const clock = createClock();
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore({ clock }), model, clock });
    const { id } = await rt.launch('publisher', 'publish hello');
    const signal = await tools.started.promise;

    const cancelling = rt.cancel(id);
    await aborted(signal);
    // The tool never finishes: its deadline (30 s by default) ends the wait.
    clock.increment(30_000);
    const view = await cancelling;

    expect(view.status).toBe('cancelled');
    expect(types(view.events)).toEqual(['input', 'decision', 'tool_call', 'error', 'control']);
    expect(view.events[3]).toMatchObject({ type: 'error', data: { kind: 'tool_timeout', tool: 'publish' } });
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
    await rt.close();
    tools.release.resolve('late');
  });

  it('does not start a call that the cancel came before: the journaled call records that it was not run', async () => {
    const tools = heldPublishTool({ approval: true });
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // The call's journal entry is held until the cancel has reached the actor.
    const { store, writing: appending, hold } = holdingWritesBefore(createMemoryStore(), (events) => events.some((e) => e.type === 'tool_call'));
    // Told when the thread's actor receives the cancel.
    const { inspect, received: cancelReceived } = cancelArrival();
    const rt = createRuntime({ agents: [publisher], store, model, inspect });
    const { id } = await rt.launch('publisher', 'publish hello');
    const waiting = await rt.settled(id);
    await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    await appending.promise;

    const cancelling = rt.cancel(id);
    await cancelReceived;
    hold.resolve();
    const view = await cancelling;

    expect(view.status).toBe('cancelled');
    expect(types(view.events)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'error', 'control']);
    expect(view.events[5]).toMatchObject({ type: 'error', data: { kind: 'tool_error', tool: 'publish', message: 'publish was not run: cancel requested' } });
    expect(tools.runs()).toBe(0);
    expect(asked).toEqual(['publisher']);
    await rt.close();
  });

  it('records that a call the decision recorded was not run when the cancel came before its execute step: the tool never runs', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // The decision's write (its call recorded with it) lands, and its answer is held until the cancel has reached the actor.
    const { store, appended, hold } = holdingDecisionWrites(createMemoryStore());
    const { inspect, received: cancelReceived } = cancelArrival();
    const rt = createRuntime({ agents: [publisher], store, model, inspect });
    const { id } = await rt.launch('publisher', 'publish hello');
    await appended.promise;

    const cancelling = rt.cancel(id, { by: 'qa' });
    await cancelReceived;
    hold.resolve();
    const view = await cancelling;

    expect(view.status).toBe('cancelled');
    expect(types(view.events)).toEqual(['input', 'decision', 'tool_call', 'error', 'control']);
    const call = view.events[2]!;
    expect(call.type === 'tool_call' && call.data.tool).toBe('publish');
    expect(view.events[3]).toMatchObject({ type: 'error', data: { kind: 'tool_error', tool: 'publish', callId: call.type === 'tool_call' ? call.data.callId : '', message: 'publish was not run: cancel requested' } });
    expect(view.events[4]).toMatchObject({ type: 'control', data: { action: 'cancel', by: 'qa' } });
    expect(tools.runs()).toBe(0);
    expect(asked).toEqual(['publisher']);
    await rt.close();
  });

  it('a runtime closing while a cancel waits for a call records the result, then the cancel, before it closes', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // Read after the runtime closed it.
    const inner = createMemoryStore();
    const store: typeof inner = { ...inner, close: async () => undefined };
    const rt = createRuntime({ agents: [publisher], store, model });
    const { id } = await rt.launch('publisher', 'publish hello');
    const signal = await tools.started.promise;

    const cancelling = rt.cancel(id);
    await aborted(signal);
    const closing = rt.close({ drainMs: 3_600_000 });
    tools.release.resolve('published');
    await closing;

    const stored = (await store.get(id))!;
    expect(types(stored.events)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control']);
    expect((await cancelling).status).toBe('cancelled');
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
  });

  it('reads nothing more before a recorded call of a tool that is not idempotent runs on an embedded runtime (its controls all reach the actor)', async () => {
    const tools = heldPublishTool();
    tools.release.resolve('published');
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    // Counts the reads between the decision's write (its call recorded with it) and the tool's start.
    const inner = createMemoryStore();
    let sinceDecision: number | undefined;
    let readsBeforeTool: number | undefined;
    const store: typeof inner = {
      ...inner,
      async get(threadId) {
        if (sinceDecision !== undefined) sinceDecision++;
        return inner.get(threadId);
      },
      async append(threadId, expectedVersion, events) {
        const written = await inner.append(threadId, expectedVersion, events);
        if (events.some((e) => e.type === 'decision') && events.some((e) => e.type === 'tool_call')) sinceDecision = 0;
        return written;
      },
    };
    void tools.started.promise.then(() => (readsBeforeTool = sinceDecision));
    const rt = createRuntime({ agents: [publisher], store, model });
    const { id } = await rt.launch('publisher', 'publish hello');
    const done = await rt.settled(id);
    expect(done.status).toBe('done');
    expect(tools.runs()).toBe(1);
    expect(readsBeforeTool).toBe(0);
    await rt.close();
  });
  it('does not run a recorded call of a tool that is not idempotent when another process cancelled first: an agent actor told that others write its store', async () => {
    const tools = heldPublishTool();
    tools.release.resolve('published'); // a call that runs returns at once
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    // Once the decision (its call recorded with it) lands, another process writes a cancel to the
    // shared store: it never reaches the actor.
    const other = { store: inner, clock, model, logger: silentLogger() };
    const store: typeof inner = {
      ...inner,
      async append(threadId, expectedVersion, events) {
        const written = await inner.append(threadId, expectedVersion, events);
        if (events.some((e) => e.type === 'decision') && events.some((e) => e.type === 'tool_call')) await controlStep(other, threadId, { action: 'cancel', by: 'qa' });
        return written;
      },
    };
    const thread = await inner.create(threadOf('t-shared', 'publisher', [{ type: 'input', data: { input: 'publish hello' } }], clock.now()));
    const actor = createAgentActor({ agent: publisher, thread, model, store, clock, otherWriters: true });
    const end = await whenSettled(actor);

    expect(tools.runs()).toBe(0);
    expect(end.status).toBe('cancelled');
    const events = (await inner.get('t-shared'))!.events;
    expect(types(events)).toEqual(['input', 'decision', 'tool_call', 'control', 'error']);
    expect(events[3]).toMatchObject({ type: 'control', data: { action: 'cancel', by: 'qa' } });
    expect(events[4]).toMatchObject({ type: 'error', data: { kind: 'tool_error', tool: 'publish', message: 'publish was not run: cancel requested' } });
    expect(asked).toEqual(['publisher']);
  });

  it('records a result too large for the store, after a cancel another process wrote during the call, as the call\'s error: no failure after the cancel', async () => {
    const { model, asked } = publisherModel();
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    const other = { store: inner, clock, model, logger: silentLogger() };
    let runs = 0;
    // The call runs while another process cancels the thread, then returns more than the store holds.
    const publish = tool({
      name: 'publish',
      description: 'publishes the post',
      input: z.object({ post: z.string() }),
      run: async (_args, { threadId }) => {
        runs++;
        await controlStep(other, threadId, { action: 'cancel', by: 'qa' });
        return 'a very long receipt';
      },
    });
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    // A store that holds no tool result (as a NATS KV store refuses a value past max_payload, once the version matches).
    const store: typeof inner = {
      ...inner,
      async append(threadId, expectedVersion, events) {
        const current = await inner.get(threadId);
        if (current !== undefined && versionOf(current) === expectedVersion && events.some((e) => e.type === 'tool_result')) {
          throw new ThreadTooLargeError(threadId, 2_000_000, 1_000_000, '(the test store holds no tool result)');
        }
        return inner.append(threadId, expectedVersion, events);
      },
    };
    const thread = await inner.create(threadOf('t-big', 'publisher', [{ type: 'input', data: { input: 'publish hello' } }], clock.now()));
    const actor = createAgentActor({ agent: publisher, thread, model, store, clock });
    const end = await whenSettled(actor).catch((error: unknown) => error);

    expect(runs).toBe(1);
    expect(end).toMatchObject({ status: 'cancelled' });
    const events = (await inner.get('t-big'))!.events;
    expect(types(events)).toEqual(['input', 'decision', 'tool_call', 'control', 'error']);
    const call = events[2]!;
    const callId = call.type === 'tool_call' ? call.data.callId : '';
    expect(events[4]).toMatchObject({ type: 'error', data: { kind: 'tool_error', tool: 'publish', callId } });
    expect(events[4]!.type === 'error' && events[4]!.data.message).toContain(`publish ran (call ${callId}) and its result could not be recorded`);
    expect(events[4]!.type === 'error' && events[4]!.data.retryAt).toBeUndefined();
    // Whoever follows the thread finds the call's outcome recorded.
    expect(unrecordedCall(events)).toBeUndefined();
    expect(asked).toEqual(['publisher']);
  });
});
