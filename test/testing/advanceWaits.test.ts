/**
 * `advanceUntilSettled` through what a thread waits on besides its own backoff or sleep: a
 * pipeline's child (or a nested pipeline's descendant) that backs off or waits for a human, another
 * thread's backoff holding the only slot (`maxConcurrent`), a step's own timer on the simulated
 * clock (a tool's `timeoutMs`, `decideTimeoutMs`); and a clock that is not the runtime's, named as such.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { advanceUntilSettled, createMemoryStore, scriptedModel, SimulatedClock, type ScriptedReply } from '../../src/testing/index.js';
import { within } from '../bus/waiting.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const prompt = 'You are {{agent}}.\nTools:\n{{tools}}';
const busy: ScriptedReply = { error: { kind: 'http', status: 503, message: 'busy' } };
const done = (message: string): ScriptedReply => ({ intent: 'done_for_now', args: { message } });
const refund = tool({ name: 'refund', description: 'refunds', input: z.object({ amount: z.number() }), approval: true, run: ({ amount }) => `refunded ${amount}` });
const support = agent({ name: 'support', description: 'refunds', prompt, tools: [refund] });
const summarizer = agent({ name: 'summarizer', description: 'sums up', prompt, tools: [] });
const caseFlow = pipeline({ name: 'case_flow', description: 'support then summary', input: z.object({ text: z.string() }), output: z.object({ summary: z.string() }) })
  .agent({ name: 'handle', agent: 'support', input: ({ input }) => input.text })
  .agent({ name: 'summary', agent: 'summarizer', input: ({ results }) => JSON.stringify(results.handle) })
  .finish(({ results }) => ({ summary: String(results.summary) }));
const outer = pipeline({ name: 'outer', description: 'runs case_flow', input: z.object({ text: z.string() }), output: z.unknown() })
  .agent({ name: 'inner', agent: 'case_flow', input: ({ input }) => input })
  .finish(({ results }) => results.inner ?? null);

function clockAt(): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(START);
  return clock;
}

/** How long a drive may take in real time before it fails the test naming what hung (not vitest's timeout). */
const REAL_MS = 4_000;

describe('advanceUntilSettled on a pipeline', () => {
  it("drives the child's backoff and resolves at the pipeline's end", async () => {
    const clock = clockAt();
    const model = scriptedModel([busy, done('nothing to refund'), done('summary')]);
    const runtime = createRuntime({ agents: [support, summarizer], pipelines: [caseFlow], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('case_flow', { text: 'hi' });
    const view = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(view.status).toBe('done');
    expect(view.output).toEqual({ summary: 'summary' });
    expect(view.waitingOn).toBeUndefined();
    expect(clock.now() - START).toBeGreaterThanOrEqual(800);
    await runtime.close();
  }, 10_000);

  it('resolves when the child waits for a human, naming it in waitingOn; answered there, goes on to the end', async () => {
    const clock = clockAt();
    const model = scriptedModel([{ intent: 'refund', args: { amount: 5 } }, done('refunded'), done('summary')]);
    const runtime = createRuntime({ agents: [support, summarizer], pipelines: [caseFlow], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('case_flow', { text: 'refund 5' });
    const waiting = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(waiting.status).toBe('running');
    expect(waiting.waitingOn).toMatchObject({ agent: 'support', status: 'awaiting_human', pendingRequest: { kind: 'approval' } });
    expect(waiting.waitingOn?.through).toBeUndefined();
    const child = waiting.waitingOn!;
    await runtime.respond(child.threadId, { requestId: child.pendingRequest!.requestId, approved: true });
    const end = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled after the answer');
    expect(end).toMatchObject({ status: 'done', output: { summary: 'summary' } });
    await runtime.close();
  }, 10_000);

  it('fails after maxSteps naming the child the pipeline waits on, its deadline and its last error', async () => {
    const clock = clockAt();
    const model = scriptedModel([busy, busy, done('late'), done('summary')]);
    const runtime = createRuntime({ agents: [support, summarizer], pipelines: [caseFlow], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('case_flow', { text: 'hi' });
    const error = await within(advanceUntilSettled(runtime, id, clock, { maxSteps: 1 }), REAL_MS, 'advanceUntilSettled').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toMatch(new RegExp(`^thread ${id} did not settle within 1 step of the clock \\(advanceUntilSettled's maxSteps\\): it waits on support thread \\S+, which is backing_off until \\S+; its last error: HTTP 503: busy$`));
    expect(await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled again')).toMatchObject({ status: 'done', output: { summary: 'summary' } });
    await runtime.close();
  }, 10_000);

  it("names a nested pipeline's grandchild waiting for a human, with the pipeline in between", async () => {
    const clock = clockAt();
    const model = scriptedModel([busy, { intent: 'refund', args: { amount: 5 } }, done('refunded'), done('summary')]);
    const runtime = createRuntime({ agents: [support, summarizer], pipelines: [outer, caseFlow], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('outer', { text: 'refund 5' });
    const waiting = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(waiting.waitingOn).toMatchObject({ agent: 'support', status: 'awaiting_human' });
    expect(waiting.waitingOn?.through).toEqual([{ threadId: expect.any(String), agent: 'case_flow' }]);
    const child = waiting.waitingOn!;
    await runtime.respond(child.threadId, { requestId: child.pendingRequest!.requestId, approved: true });
    expect(await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled after the answer')).toMatchObject({ status: 'done', output: { summary: 'summary' } });
    await runtime.close();
  }, 10_000);
});

describe('advanceUntilSettled on a thread queued behind another (maxConcurrent)', () => {
  it("moves the clock to the backoff of the thread holding the slot, and the queued thread's rest follows", async () => {
    const clock = clockAt();
    const model = scriptedModel([], { whenExhausted: (req) => (req.context.includes('<error') || !req.context.includes('first') ? done('ok') : busy) });
    const runtime = createRuntime({ agents: [summarizer], store: createMemoryStore({ clock }), model, clock, maxConcurrent: 1 });
    const first = await runtime.launch('summarizer', 'first');
    const second = await runtime.launch('summarizer', 'second');
    expect(await within(advanceUntilSettled(runtime, second.id, clock), REAL_MS, 'advanceUntilSettled of the queued thread')).toMatchObject({ status: 'done' });
    expect((await runtime.get(first.id))?.status).toBe('done');
    await runtime.close();
  }, 10_000);

  it('throws, naming the threads it is queued behind, when nothing on the clock frees a slot', async () => {
    const clock = clockAt();
    const forever = pipeline({ name: 'forever', description: 'never ends its step', input: z.unknown(), output: z.unknown() })
      .code({ name: 'wait', run: () => new Promise<number>(() => undefined) })
      .finish(() => null);
    const runtime = createRuntime({ agents: [summarizer], pipelines: [forever], store: createMemoryStore({ clock }), model: scriptedModel([done('ok')]), clock, maxConcurrent: 1 });
    const holder = await runtime.launch('forever', null);
    const queued = await runtime.launch('summarizer', 'second');
    const error = await within(advanceUntilSettled(runtime, queued.id, clock), REAL_MS, 'advanceUntilSettled of the queued thread').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain(`thread ${queued.id} did not settle while queued behind 1 thread (forever thread ${holder.id}, running)`);
    expect((error as Error).message).toContain('nothing on this clock frees one');
    expect(clock.now()).toBe(START);
    await runtime.close();
  }, 10_000);
});

describe("advanceUntilSettled through a step's own timer on the simulated clock", () => {
  it("moves the clock to a tool's timeoutMs when the tool never answers", async () => {
    const stuck = tool({
      name: 'stuck',
      description: 'never answers',
      input: z.object({}),
      idempotent: true,
      timeoutMs: 1_000,
      run: (_args, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    const slowpoke = agent({ name: 'slowpoke', description: 'waits', prompt, tools: [stuck] });
    const clock = clockAt();
    const model = scriptedModel([{ intent: 'stuck', args: {} }, done('gave up')]);
    const runtime = createRuntime({ agents: [slowpoke], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('slowpoke', 'x');
    const view = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(view).toMatchObject({ status: 'done', output: 'gave up' });
    expect(view.events.some((e) => e.type === 'error' && e.data.message === 'stuck did not finish within 1000 ms')).toBe(true);
    expect(clock.now() - START).toBeGreaterThanOrEqual(1_000);
    await runtime.close();
  }, 10_000);

  it("moves the clock to the agent's decideTimeoutMs when the model hangs", async () => {
    const quick = agent({ name: 'quick', description: 'decides fast', prompt, tools: [], decideTimeoutMs: 1_000 });
    const clock = clockAt();
    const model = scriptedModel([{ hang: true }, done('second try')]);
    const runtime = createRuntime({ agents: [quick], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('quick', 'x');
    const view = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(view).toMatchObject({ status: 'done', output: 'second try' });
    expect(clock.now() - START).toBeGreaterThanOrEqual(1_000);
    await runtime.close();
  }, 10_000);

  it('lets a tool doing real asynchronous work finish instead of firing its timeout', async () => {
    const real = tool({ name: 'real', description: 'real I/O', input: z.object({}), idempotent: true, timeoutMs: 60_000, run: () => new Promise<string>((resolve) => setTimeout(() => resolve('read'), 30)) });
    const reader = agent({ name: 'reader', description: 'reads', prompt, tools: [real] });
    const clock = clockAt();
    const model = scriptedModel([{ intent: 'real', args: {} }, done('read it')]);
    const runtime = createRuntime({ agents: [reader], store: createMemoryStore({ clock }), model, clock });
    const { id } = await runtime.launch('reader', 'x');
    const view = await within(advanceUntilSettled(runtime, id, clock), REAL_MS, 'advanceUntilSettled');
    expect(view).toMatchObject({ status: 'done', output: 'read it' });
    expect(view.events.some((e) => e.type === 'tool_result' && e.data.result === 'read')).toBe(true);
    expect(clock.now()).toBe(START);
    await runtime.close();
  }, 10_000);
});

describe('advanceUntilSettled with a clock that is not the runtime’s', () => {
  it('says so when the SimulatedClock was given to the store but not to createRuntime', async () => {
    const clock = clockAt();
    const runtime = createRuntime({ agents: [summarizer], model: scriptedModel([busy, done('hello')]), store: createMemoryStore({ clock }) });
    const { id } = await runtime.launch('summarizer', 'x');
    const error = await advanceUntilSettled(runtime, id, clock).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('is this SimulatedClock the `clock` given to createRuntime?');
    expect((error as Error).message).not.toContain('nothing in this runtime wakes it');
    await runtime.close();
  }, 10_000);
});
