import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { InvalidInputError, InvalidStateError, NotFoundError, VersionConflictError } from '../../src/errors.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';

/** A model that answers by the thread's input, so many threads can share it. */
function byInput(plan: (input: string, context: string) => ScriptedReply) {
  return scriptedModel([], {
    whenExhausted: (request: ModelRequest) => plan(/<input>\n(.*)\n<\/input>/.exec(request.context)?.[1] ?? '', request.context),
  });
}

const divideThenDone = byInput((input, context): ScriptedReply => {
  if (context.includes('approved="false"')) return { intent: 'done_for_now', args: { message: 'not approved' } };
  if (context.includes('<tool_result')) return { intent: 'done_for_now', args: { message: 'divided' } };
  if (input.startsWith('ask')) return context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'thanks' } } : { intent: 'request_human_input', args: { question: 'why?', format: 'free_text' } };
  return { intent: 'divide', args: { a: 8, b: 2 } };
});

function runtime(model = divideThenDone) {
  return createRuntime({ agents: [calculator], store: createMemoryStore(), model });
}

describe('runtime', () => {
  it('launches, rests awaiting approval with no actor in memory, and finishes after a response', async () => {
    const rt = runtime();
    const launched = await rt.launch('calculator', 'divide 8 by 2');
    expect(launched.status).toBe('running');
    const waiting = await rt.settled(launched.id);
    expect(waiting.status).toBe('awaiting_human');
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'divide' });
    expect(rt.activeCount()).toBe(0);
    await rt.respond(launched.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await rt.settled(launched.id);
    expect(done).toMatchObject({ status: 'done', output: 'divided', steps: 2 });
    expect(rt.activeCount()).toBe(0);
  });

  it('a denial is fed back to the model', async () => {
    const rt = runtime();
    const { id } = await rt.launch('calculator', 'divide');
    const waiting = await rt.settled(id);
    await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: false, comment: 'no dividing today' });
    const done = await rt.settled(id);
    expect(done.output).toBe('not approved');
    expect(done.events.some((e) => e.type === 'tool_call')).toBe(false);
  });

  it('refuses bad input with clear errors', async () => {
    const rt = runtime();
    await expect(rt.launch('nope', 'x')).rejects.toBeInstanceOf(NotFoundError);
    await expect(rt.launch('calculator', { n: Number.NaN })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rt.launch('calculator', 'x', { threadId: 'bad id with spaces' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rt.respond('missing', { requestId: 'r', approved: true })).rejects.toBeInstanceOf(NotFoundError);
    const { id } = await rt.launch('calculator', 'divide');
    const waiting = await rt.settled(id);
    await expect(rt.respond(id, { requestId: 'forged', approved: true })).rejects.toBeInstanceOf(InvalidStateError);
    await expect(rt.respond(id, { requestId: waiting.pendingRequest!.requestId })).rejects.toThrow(/approved/);
    await expect(rt.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: 'yes' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rt.respond(id, 'not an object')).rejects.toBeInstanceOf(InvalidInputError);
    // Nothing above touched the thread.
    expect((await rt.get(id))!.version).toBe(waiting.version);
  });

  it('validates input against the agent input schema', async () => {
    const typed = agent({ name: 'typed', description: 't', prompt: 'p', tools: [], input: z.object({ n: z.number() }) });
    const rt = createRuntime({ agents: [typed], store: createMemoryStore(), model: scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }]) });
    // @ts-expect-error -- the types refuse it as the schema does: the run-time check is what JavaScript callers and the surfaces meet.
    await expect(rt.launch('typed', { n: 'x' })).rejects.toThrow(/invalid input for agent typed/);
    const ok = await rt.launch('typed', { n: 1 });
    expect((await rt.settled(ok.id)).status).toBe('done');
  });

  it('an input schema that throws refuses the launch with an InvalidInputError naming the throw', async () => {
    const throwing = z.string().transform((): string => {
      throw new TypeError('cannot read the tenant');
    });
    const typed = agent({ name: 'typed', description: 't', prompt: 'p', tools: [], input: throwing });
    const rt = createRuntime({ agents: [typed], store: createMemoryStore(), model: scriptedModel([]) });
    const error = await rt.launch('typed', 'acme').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/agent typed/);
    expect((error as Error).message).toMatch(/cannot read the tenant/);
    expect(await rt.list()).toHaveLength(0);
    await rt.close();
  });

  it("an agent's secrets in the launch input are stored as given (its documented exception) and redacted in what the model sees", async () => {
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }]);
    const keeper = agent({ name: 'keeper', description: 'k', prompt: 'p', tools: [], secrets: ['s3cr3t-value'] });
    const rt = createRuntime({ agents: [keeper], store: createMemoryStore(), model });
    const { id } = await rt.launch('keeper', { note: 'use s3cr3t-value' });
    const view = await rt.settled(id);
    expect(view.status).toBe('done');
    expect(view.events[0]).toMatchObject({ type: 'input', data: { input: { note: 'use s3cr3t-value' } } });
    expect(model.requests[0]!.context).not.toContain('s3cr3t-value');
    expect(model.requests[0]!.context).toContain('[REDACTED]');
    await rt.close();
  });

  it('launching with an existing thread id returns that thread (idempotent triggers; another input: test/runtime/relaunch.test.ts)', async () => {
    const rt = runtime();
    const a = await rt.launch('calculator', 'divide', { threadId: 'trigger-1' });
    const b = await rt.launch('calculator', 'divide', { threadId: 'trigger-1' });
    expect(b.id).toBe(a.id);
    expect(b.events[0]).toEqual(a.events[0]);
    expect(await rt.list()).toHaveLength(1);
  });

  it('two concurrent responses to the same request: exactly one wins', async () => {
    const rt = runtime();
    const { id } = await rt.launch('calculator', 'divide');
    const waiting = await rt.settled(id);
    const requestId = waiting.pendingRequest!.requestId;
    const results = await Promise.allSettled([
      rt.respond(id, { requestId, approved: true }),
      rt.respond(id, { requestId, approved: false, comment: 'no' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason instanceof VersionConflictError || rejected.reason instanceof InvalidStateError).toBe(true);
    const done = await rt.settled(id);
    expect(done.events.filter((e) => e.type === 'human_response')).toHaveLength(1);
  });

  it('pauses and resumes a waiting thread; pause and resume are idempotent; cancel ends it', async () => {
    const rt = runtime();
    const { id } = await rt.launch('calculator', 'divide');
    await rt.settled(id);
    expect((await rt.pause(id, { by: 'ops', reason: 'maintenance' })).status).toBe('paused');
    expect((await rt.pause(id)).events.filter((e) => e.type === 'control')).toHaveLength(1);
    expect((await rt.resume(id)).status).toBe('awaiting_human');
    expect((await rt.resume(id)).events.filter((e) => e.type === 'control')).toHaveLength(2);
    const cancelled = await rt.cancel(id, { reason: 'not needed' });
    expect(cancelled.status).toBe('cancelled');
    await expect(rt.pause(id)).rejects.toBeInstanceOf(InvalidStateError);
    expect((await rt.cancel(id)).status).toBe('cancelled');
  });

  it("refuses to control an ended thread with a message naming the action in plain English", async () => {
    const rt = runtime();
    const { id } = await rt.launch('calculator', 'divide');
    const waiting = await rt.settled(id);
    await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: false });
    expect((await rt.settled(id)).status).toBe('done');
    await expect(rt.cancel(id)).rejects.toThrow(`thread ${id} is done; it cannot be cancelled`);
    await expect(rt.pause(id)).rejects.toThrow(`thread ${id} is done; it cannot be paused`);
    await expect(rt.resume(id)).rejects.toThrow(`thread ${id} is done; it cannot be resumed`);
  });

  it("a tool's own approval rule or input schema that throws does not stop the thread: a throwing rule asks a human, a throwing schema is invalid arguments", async () => {
    const ran: string[] = [];
    const fail = (): never => {
      throw new Error('author bug');
    };
    const gated = tool({ name: 'gated', description: 'd', input: z.object({}), approval: () => fail(), run: () => ran.push('gated') });
    const shaped = tool({ name: 'shaped', description: 'd', input: z.object({ s: z.string().transform(() => fail()) }), run: () => ran.push('shaped') });
    const model = byInput((input, context): ScriptedReply => {
      if (input === 'gated') return context.includes('<tool_result') || context.includes('approved="false"') ? { intent: 'done_for_now', args: { message: 'gated done' } } : { intent: 'gated', args: {} };
      return context.includes('<error') ? { intent: 'done_for_now', args: { message: 'gave up on shaped' } } : { intent: 'shaped', args: { s: 'x' } };
    });
    const rt = createRuntime({ agents: [agent({ name: 'rules', description: 'd', prompt: 'p', tools: [gated, shaped], backoff: { initialMs: 1, jitter: 0 } })], store: createMemoryStore(), model });

    const first = await rt.launch('rules', 'gated');
    const waiting = await rt.settled(first.id);
    expect(waiting.status).toBe('awaiting_human');
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'gated' });
    expect(ran).toEqual([]);
    await rt.respond(first.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect(await rt.settled(first.id)).toMatchObject({ status: 'done', output: 'gated done' });
    expect(ran).toEqual(['gated']);

    const second = await rt.launch('rules', 'shaped');
    const ended = await rt.settled(second.id);
    expect(ended).toMatchObject({ status: 'done', output: 'gave up on shaped' });
    expect(ended.events.find((e) => e.type === 'error')).toMatchObject({ data: { kind: 'invalid_args', message: expect.stringContaining('author bug') } });
    expect(ran).toEqual(['gated']);
  });

  it('pauses a running thread at the next step boundary and resumes it from the log', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = tool({ name: 'slow', description: 's', input: z.object({}), idempotent: true, run: async () => (await gate, 'slept') });
    const a = agent({ name: 'slowpoke', description: 's', prompt: 'p', tools: [slow] });
    const model = byInput((_, context): ScriptedReply => (context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'slow', args: {} }));
    const rt = createRuntime({ agents: [a], store: createMemoryStore(), model });
    const { id } = await rt.launch('slowpoke', 'go');
    for await (const event of rt.watch(id)) if (event.type === 'tool_call') break;
    const pausing = rt.pause(id);
    release();
    const paused = await pausing;
    expect(paused.status).toBe('paused');
    // The tool finished before the pause took effect: its result is in the log.
    expect(paused.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control']);
    expect(rt.activeCount()).toBe(0);
    await rt.resume(id);
    expect((await rt.settled(id)).status).toBe('done');
  });

  it('cancels a running thread, aborting its tool', async () => {
    let aborted = false;
    const hang = tool({
      name: 'hang',
      description: 'h',
      input: z.object({}),
      run: (_, { signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => ((aborted = true), reject(new Error('aborted'))))),
    });
    const a = agent({ name: 'hanger', description: 'h', prompt: 'p', tools: [hang] });
    const rt = createRuntime({ agents: [a], store: createMemoryStore(), model: scriptedModel([{ intent: 'hang', args: {} }]) });
    const { id } = await rt.launch('hanger', 'go');
    for await (const event of rt.watch(id)) if (event.type === 'tool_call') break;
    const cancelled = await rt.cancel(id, { reason: 'stop' });
    expect(cancelled.status).toBe('cancelled');
    expect(aborted).toBe(true);
    expect(cancelled.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel', reason: 'stop' } });
  });

  it('watch yields stored then live events and ends with the thread', async () => {
    const rt = runtime();
    const { id } = await rt.launch('calculator', 'ask me');
    const waiting = await rt.settled(id);
    const seen: ThreadEvent[] = [];
    const watching = (async () => {
      for await (const event of rt.watch(id)) seen.push(event);
    })();
    await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, answer: 'because' });
    await watching;
    expect(seen.map((e) => e.type)).toEqual(['input', 'decision', 'human_request', 'human_response', 'decision', 'final']);
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const after: ThreadEvent[] = [];
    for await (const event of rt.watch(id, { afterSeq: 4 })) after.push(event);
    expect(after.map((e) => e.seq)).toEqual([5, 6]);
  });

  it('lists by agent and status', async () => {
    const rt = runtime();
    const a = await rt.launch('calculator', 'divide');
    const b = await rt.launch('calculator', 'ask');
    await rt.settled(a.id);
    await rt.settled(b.id);
    await rt.respond(b.id, { requestId: (await rt.get(b.id))!.pendingRequest!.requestId, answer: 'x' });
    await rt.settled(b.id);
    expect((await rt.list({ status: 'awaiting_human' })).map((s) => s.id)).toEqual([a.id]);
    expect((await rt.list({ status: 'done' })).map((s) => s.id)).toEqual([b.id]);
    expect(await rt.list({ agent: 'other' })).toEqual([]);
  });

  it('run() checks the owner before running, and takes a thread the caller holds without reading it', async () => {
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [calculator], store, model: scriptedModel([{ intent: 'done_for_now', args: { message: 'ran' } }]), schedule: () => {} });
    const launched = await rt.launch('calculator', 'x', { threadId: 'job-1' });
    await expect(rt.run('job-1', { agent: 'deploybot' })).rejects.toMatchObject({ constructor: InvalidStateError, conflict: 'thread_exists_other_agent' });
    expect(rt.activeCount()).toBe(0);
    await expect(rt.run('missing')).rejects.toBeInstanceOf(NotFoundError);
    const held = (await store.get('job-1'))!;
    await expect(rt.run('job-2', { thread: held })).rejects.toBeInstanceOf(InvalidInputError);
    let reads = 0;
    const get = store.get.bind(store);
    store.get = (id) => (reads++, get(id));
    const view = await rt.run(launched.id, { agent: 'calculator', thread: held });
    expect([view.status, view.output]).toEqual(['done', 'ran']);
    expect(reads).toBe(0);
  });

  it('run() and settled() given a signal already aborted reject with its reason, and run() moves nothing', async () => {
    // A NATS worker that began to stop aborts its runs: a job whose run starts after that must not run its thread.
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [calculator], store, model: scriptedModel([{ intent: 'done_for_now', args: { message: 'ran' } }]), schedule: () => {} });
    await rt.launch('calculator', 'x', { threadId: 'job-1' });
    const reason = new Error('the worker is shutting down');
    await expect(rt.run('job-1', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(rt.settled('job-1', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(rt.activeCount()).toBe(0);
    expect((await store.get('job-1'))!.events.map((e) => e.type)).toEqual(['input']);
  });

  it('recover() continues threads that were running when the process stopped', async () => {
    const store = createMemoryStore();
    const first = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
    // A thread written by a process that died right after launching it.
    await store.create({ id: 'orphan', agent: 'calculator', events: [{ seq: 1, at: new Date().toISOString(), type: 'input', data: { input: 'x' } }] });
    void first;
    const second = createRuntime({ agents: [calculator], store, model: scriptedModel([{ intent: 'done_for_now', args: { message: 'continued' } }]) });
    expect(await second.recover()).toBe(1);
    expect((await second.settled('orphan')).output).toBe('continued');
  });
});
