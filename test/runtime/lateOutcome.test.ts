/**
 * A call's outcome that comes after another process asked a human whether the call ran (a worker
 * frozen past its ack wait, whose job another worker took: qa16 #15). Here two runtimes on one
 * store: the second recovers the thread while the first's tool is held, finds the call started
 * with no outcome and asks; then the first's tool returns. The outcome is known: it answers the
 * question, instead of being dropped while a human is invited to run the call again.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { z } from 'zod';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { typesOf } from '../support/agentHarness.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';

type Line = LogLine & { msg: string; level: number; threadId?: string; agent?: string; tool?: string; callId?: string; outcome?: string };

/** A logger at debug whose lines land in `lines`. */
function capturingLines() {
  const { logger, out } = capturingLogger('debug');
  return { logger, lines: out.lines as Line[] };
}

/** A worker whose publish call is held, and another runtime on its store that has asked a human whether that call ran. */
async function askedWhileHeld() {
  const tools = heldPublishTool();
  const { model, asked } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const store = createMemoryStore();
  const { logger, lines } = capturingLines();
  const worker = createRuntime({ agents: [publisher], store, model, logger });
  const other = createRuntime({ agents: [publisher], store, model });
  const { id } = await worker.launch('publisher', 'publish hello');
  await tools.started.promise;
  // The other process takes the thread over (as a worker does a job whose ack wait ran out).
  expect(await other.recover()).toBe(1);
  const waiting = await other.settled(id);
  expect(waiting.status).toBe('awaiting_human');
  expect(waiting.pendingRequest).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'publish' });
  return { tools, asked, store, lines, worker, other, id, requestId: waiting.pendingRequest!.requestId };
}

describe("a call's outcome recorded after another process asked whether the call ran", () => {
  it('answers the question: the log ends with the real result, the thread goes on to done, the tool ran once', async () => {
    const { tools, asked, lines, worker, other, id, requestId } = await askedWhileHeld();
    tools.release.resolve('published');
    const done = await worker.settled(id);

    expect(done.status).toBe('done');
    expect(typesOf(done)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'tool_result', 'decision', 'final']);
    expect(done.events[4]).toMatchObject({ type: 'tool_result', data: { callId: 'call_2', tool: 'publish', result: 'published' } });
    expect(done.events[6]).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect(done.pendingRequest).toBeNull();
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
    expect(lines.filter((l) => l.level === 40 && l.callId === 'call_2')).toEqual([
      expect.objectContaining({ threadId: id, agent: 'publisher', tool: 'publish', callId: 'call_2', outcome: 'result' }),
    ]);
    expect(lines.filter((l) => l.msg === 'agent actor stopped early')).toHaveLength(0);
    // A human's answer to the question now comes too late: refused, and the call does not run again.
    await expect(other.respond(id, { requestId, approved: true })).rejects.toThrow();
    expect(tools.runs()).toBe(1);
    await Promise.all([worker.close(), other.close()]);
  });

  it('logs an error naming the call and its outcome when the thread moved on otherwise (cancelled after the question)', async () => {
    const { tools, store, lines, worker, other, id } = await askedWhileHeld();
    await other.cancel(id, { by: 'ops' });
    tools.release.resolve('published');
    await worker.settled(id);

    const thread = (await store.get(id))!;
    expect(typesOf(thread)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'control']);
    expect(lines.filter((l) => l.level === 50)).toEqual([
      expect.objectContaining({ threadId: id, agent: 'publisher', tool: 'publish', callId: 'call_2', outcome: 'result' }),
    ]);
    expect(tools.runs()).toBe(1);
    await Promise.all([worker.close(), other.close()]);
  });
});

describe("a call's outcome that comes after its own timeout asked a human, in the process that ran it (QA19 testing #15)", () => {
  it('goes on to done also when the tool returns at once after its timeout, while its actor is still coming to rest at the question', async () => {
    for (const turns of [0, 1, 2, 3]) {
      const tools = heldPublishTool({ timeoutMs: 1000 });
      const { model } = publisherModel();
      const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
      const clock = new SimulatedClock();
      clock.set(Date.parse('2026-01-01T00:00:00Z'));
      const runtime = createRuntime({ agents: [publisher], store: createMemoryStore({ clock }), model, clock });
      const { id } = await runtime.launch('publisher', 'publish hello');
      await tools.started.promise;
      clock.increment(1000);
      for (let i = 0; i < turns; i++) await Promise.resolve();
      tools.release.resolve('published');
      await expect.poll(async () => (await runtime.get(id))?.status, { message: `released ${turns} microtasks after the timeout` }).toBe('done');
      expect(tools.runs()).toBe(1);
      await runtime.close();
    }
  });

  it('a tool that gives up when its signal aborts at the timeout (its rejection proves nothing) leaves the question open, and the call does not run again (review)', async () => {
    let runs = 0;
    const charge = tool({
      name: 'charge',
      description: 'charges a card (not idempotent)',
      input: z.object({}),
      timeoutMs: 1000,
      run: (_args, { signal }) => {
        runs++;
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
    });
    const model = scriptedModel([{ intent: 'charge', args: {} }], { whenExhausted: { intent: 'charge', args: {} } });
    const payer = agent({ name: 'payer', description: 'pays', prompt: 'p', tools: [charge] });
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const { logger, lines } = capturingLines();
    const runtime = createRuntime({ agents: [payer], store: createMemoryStore({ clock }), model, logger, clock });
    const { id } = await runtime.launch('payer', 'pay');
    await expect.poll(() => runs).toBe(1);
    clock.increment(1000);
    const waiting = await runtime.settled(id);
    expect(waiting.pendingRequest).toMatchObject({ kind: 'interrupted', tool: 'charge' });
    // The rejection has come (the signal aborted at the deadline) and was not taken as the outcome.
    await expect.poll(() => lines.some((l) => l.callId === waiting.pendingRequest!.callId && /rejected after its timeout/.test(l.msg))).toBe(true);
    clock.increment(600_000);
    const still = (await runtime.get(id))!;
    expect(still.status).toBe('awaiting_human');
    expect(typesOf(still)).toEqual(['input', 'decision', 'tool_call', 'error', 'human_request']);
    expect(runs).toBe(1);
    await runtime.close();
  });

  it('answers the question: recorded, the thread goes on to done, the tool ran once, and a later answer is refused', async () => {
    const tools = heldPublishTool({ timeoutMs: 1000 });
    const { model, asked } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const { logger, lines } = capturingLines();
    const runtime = createRuntime({ agents: [publisher], store: createMemoryStore({ clock }), model, logger, clock });
    const { id } = await runtime.launch('publisher', 'publish hello');
    await tools.started.promise;
    clock.increment(1000);
    const waiting = await runtime.settled(id);
    expect(waiting.pendingRequest).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'publish' });

    tools.release.resolve('published');
    await expect.poll(async () => (await runtime.get(id))?.status).toBe('done');
    const done = (await runtime.get(id))!;
    expect(typesOf(done)).toEqual(['input', 'decision', 'tool_call', 'error', 'human_request', 'tool_result', 'decision', 'final']);
    expect(done.events[5]).toMatchObject({ type: 'tool_result', data: { callId: 'call_2', tool: 'publish', result: 'published' } });
    expect(done.pendingRequest).toBeNull();
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
    expect(lines.filter((l) => l.level === 40 && l.callId === 'call_2')).toEqual([
      expect.objectContaining({ threadId: id, msg: 'tool call failed', kind: 'tool_timeout', tool: 'publish', humanAsked: true }),
      expect.objectContaining({ threadId: id, tool: 'publish', outcome: 'result' }),
    ]);
    await expect(runtime.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true })).rejects.toThrow();
    expect(tools.runs()).toBe(1);
    await runtime.close();
  });
});
