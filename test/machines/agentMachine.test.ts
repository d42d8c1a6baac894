import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { agent, type AgentOptions, type PrefetchContext } from '../../src/agent/agent.js';
import { judge } from '../../src/agent/customStep.js';
import { promptHash } from '../../src/agent/prompt.js';
import { tool, type ToolContext } from '../../src/agent/tool.js';
import { estimateTokens } from '../../src/context/renderContext.js';
import type { Model } from '../../src/model/model.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createAgentActor, whenSettled } from '../../src/runtime/agentActor.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { ThreadTooLargeError } from '../../src/errors.js';
import type { ErrorKind } from '../../src/thread/events.js';
import { deriveState } from '../../src/thread/state.js';
import { stampEvents } from '../../src/thread/thread.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import { calculatorTools } from '../../tools/calculator.js';
import {
  T0,
  createClock,
  eventsOf,
  respond,
  runToEnd,
  settle,
  startRun,
  threadOf,
  typesOf,
  until,
} from '../support/agentHarness.js';

const done = (message = 'all done'): ScriptStep => ({ intent: 'done_for_now', args: { message } });
const add = (a: number, b: number): ScriptStep => ({ intent: 'add', args: { a, b } });
const httpError = (status = 500, message = 'server exploded'): ScriptStep => ({ error: { kind: 'http', status, message } });

/** A small agent over the calculator tools plus `extra`, with a short prompt. */
function customAgent(options: Partial<AgentOptions> & { extra?: AgentOptions['tools'] } = {}) {
  const { extra = [], ...rest } = options;
  return agent({
    name: 'custom',
    description: 'a test agent',
    prompt: 'You are {{agent}}: {{description}}.\nTools:\n{{tools}}',
    tools: [...calculatorTools, ...extra],
    ...rest,
  });
}

/** A tool that records its runs. */
function spyTool(options: { name: string; idempotent?: boolean; approval?: boolean; breaksLoop?: boolean; timeoutMs?: number; run?: (ctx: ToolContext) => unknown }) {
  const runs: ToolContext[] = [];
  const t = tool({
    name: options.name,
    description: `the ${options.name} tool`,
    input: z.object({ value: z.string() }),
    idempotent: options.idempotent ?? false,
    approval: options.approval ?? false,
    breaksLoop: options.breaksLoop ?? false,
    timeoutMs: options.timeoutMs ?? 30_000,
    run: async ({ value }, ctx) => {
      runs.push(ctx);
      return options.run ? options.run(ctx) : { echoed: value };
    },
  });
  return { tool: t, runs };
}

describe('agent machine: happy path', () => {
  it('runs the calculator: add, then done_for_now', async () => {
    const model = scriptedModel([add(2, 3), done('2 + 3 = 5')], { name: 'test-model' });
    const { actor, clock, store } = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
    const settled = await whenSettled(actor);
    const end = await runToEnd(actor, clock);

    expect(settled.state).toBe('done');
    expect(end.status).toBe('done');
    expect(end.backoffs).toBe(0);
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(end.thread.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await store.get('thread-1')).toEqual(end.thread);

    const [first, second] = eventsOf(end.thread, 'decision');
    const [req1, req2] = model.requests;
    expect(model.requests).toHaveLength(2);
    expect(first!.data).toEqual({
      callId: 'call_2',
      step: 1,
      intent: 'add',
      args: { a: 2, b: 3 },
      model: 'test-model',
      promptHash: promptHash(req1!.system, calculator.toolsDigest),
      tokens: { prompt: estimateTokens(req1!.system) + estimateTokens(req1!.context), completion: estimateTokens('{"a":2,"b":3}') + 1 },
      latencyMs: 0,
    });
    expect(second!.data).toMatchObject({ callId: 'call_5', step: 2, intent: 'done_for_now', model: 'test-model' });
    // The prompt does not change between steps (the context goes in the user message).
    expect(second!.data.promptHash).toBe(first!.data.promptHash);
    expect(req1!.system).toContain('You are calculator');
    expect(req1!.system).toContain('- add: Add two numbers');
    expect(req1!.context).toBe('<input>\nwhat is 2 + 3?\n</input>');
    expect(req1!.tools.map((t) => t.name)).toEqual(['add', 'subtract', 'multiply', 'divide', 'request_human_input', 'done_for_now']);
    expect(req1!.tools[0]!.parameters).toMatchObject({ additionalProperties: false, required: ['a', 'b'] });
    expect(req2!.context).toContain('<tool_result tool="add" call="call_2">\n5\n</tool_result>');

    const [call] = eventsOf(end.thread, 'tool_call');
    const [result] = eventsOf(end.thread, 'tool_result');
    expect(call!.seq).toBeLessThan(result!.seq);
    expect(call!.data).toEqual({ callId: 'call_2', tool: 'add', args: { a: 2, b: 3 }, idempotencyKey: `${incarnationKeyOf(end.thread)}:call_2`, attempt: 1 });
    expect(result!.data).toEqual({ callId: 'call_2', tool: 'add', result: 5, durationMs: 0 });
    expect(eventsOf(end.thread, 'final')[0]!.data.output).toBe('2 + 3 = 5');
    expect(end.thread.events.every((e) => e.at === new Date(T0).toISOString())).toBe(true);
  });

  it('accepts a JSON text answer as well as a tool call', async () => {
    const model = scriptedModel([{ text: '```json\n{"intent":"add","a":1,"b":1}\n```' }, { text: '{"intent":"done_for_now","args":{"message":"2"}}' }]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'tool_result')[0]!.data.result).toBe(2);
  });
});

interface ErrorCase {
  kind: ErrorKind;
  /** The model's script: it fails first, then recovers. */
  script: ScriptStep[];
  agentOptions?: Partial<AgentOptions> & { extra?: AgentOptions['tools'] };
  /** Advance simulated time to fire a timeout. */
  drive?: (args: { model: { requests: readonly unknown[] }; clock: { increment(ms: number): void } }) => Promise<void>;
  message: RegExp;
}

let flakyCalls = 0;
const flaky = tool({
  name: 'flaky',
  description: 'fails the first time',
  input: z.object({}),
  run: () => {
    flakyCalls++;
    if (flakyCalls === 1) throw new Error('disk full');
    return 'ok';
  },
});
let slowStarted = 0;
const slow = tool({
  name: 'slow',
  description: 'never finishes',
  input: z.object({}),
  // Idempotent: its timeout is an error the model sees and retries after (one that is not asks a human).
  idempotent: true,
  timeoutMs: 100,
  run: () => {
    slowStarted++;
    return new Promise(() => {});
  },
});

const errorCases: ErrorCase[] = [
  { kind: 'model_http', script: [httpError(503, 'upstream unavailable'), done()], message: /HTTP 503: upstream unavailable/ },
  { kind: 'model_timeout', script: [{ error: { kind: 'timeout', message: 'request timed out' } }, done()], message: /request timed out/ },
  {
    kind: 'model_timeout',
    script: [{ hang: true }, done()],
    agentOptions: { decideTimeoutMs: 50 },
    drive: async ({ model, clock }) => {
      await until(() => model.requests.length === 1);
      clock.increment(50);
    },
    message: /did not answer within 50 ms/,
  },
  { kind: 'invalid_json', script: [{ toolCall: { name: 'add', arguments: '{"a":1,' } }, done()], message: /arguments of add are not valid JSON/ },
  { kind: 'invalid_json', script: [{ text: 'I think the answer is 4' }, done()], message: /not valid JSON/ },
  { kind: 'unknown_intent', script: [{ intent: 'square_root', args: { x: 4 } }, done()], message: /unknown intent "square_root"; use one of: add, subtract/ },
  { kind: 'invalid_args', script: [{ intent: 'add', args: { a: 'one', b: 2 } }, done()], message: /arguments for add are invalid: a: / },
  {
    kind: 'tool_error',
    script: [{ intent: 'flaky', args: {} }, done()],
    agentOptions: { extra: [flaky] },
    message: /flaky failed: disk full/,
  },
  {
    kind: 'tool_timeout',
    script: [{ intent: 'slow', args: {} }, done()],
    agentOptions: { extra: [slow] },
    drive: async ({ clock }) => {
      await until(() => slowStarted === 1);
      clock.increment(100);
    },
    message: /slow did not finish within 100 ms/,
  },
];

describe('agent machine: every error kind is fed back and recovered from', () => {
  it.each(errorCases.map((c) => [`${c.kind}${c.drive ? ' (simulated time)' : ''}: ${c.message.source}`, c] as const))('%s', async (_name, c) => {
    flakyCalls = 0;
    slowStarted = 0;
    const model = scriptedModel(c.script);
    const { actor, clock } = await startRun({ agent: customAgent(c.agentOptions), model });
    actor.start();
    await c.drive?.({ model, clock });
    const end = await runToEnd(actor, clock);

    expect(end.status).toBe('done');
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(1);
    const error = errors[0]!;
    expect(error.data.kind).toBe(c.kind);
    expect(error.data.message).toMatch(c.message);
    expect(error.data.attempt).toBe(1);
    // It backed off until the recorded deadline, then decided again.
    expect(end.backoffs).toBe(1);
    const retryAt = Date.parse(error.data.retryAt!);
    expect(retryAt).toBeGreaterThan(Date.parse(error.at));
    const next = end.thread.events.find((e) => e.seq > error.seq && e.type === 'decision')!;
    expect(Date.parse(next.at)).toBe(retryAt);
    // The next model request shows the error.
    const shown = model.requests.at(-1)!.context;
    expect(shown).toContain(`<error kind="${c.kind}"`);
    expect(model.requests[0]!.context).not.toContain('<error');
  });

  it('prefetch_error: the step is retried after the backoff; once it succeeds the error is resolved and hidden', async () => {
    let calls = 0;
    const seen: PrefetchContext[] = [];
    const a = customAgent({
      prefetch: [
        {
          name: 'profile',
          run: (ctx) => {
            seen.push(ctx);
            calls++;
            if (calls === 1) throw new Error('profile service down');
            return { plan: 'pro' };
          },
        },
      ],
    });
    const model = scriptedModel([done()]);
    const { actor, clock } = await startRun({ agent: a, model, input: { user: 'ann' } });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'error', 'prefetch', 'decision', 'final']);
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'prefetch_error', tool: 'profile', attempt: 1 });
    expect(error!.data.message).toContain('prefetch profile failed: profile service down');
    expect(end.backoffs).toBe(1);
    expect(seen.map((ctx) => [ctx.threadId, ctx.input])).toEqual([
      ['thread-1', { user: 'ann' }],
      ['thread-1', { user: 'ann' }],
    ]);
    expect(model.requests[0]!.context).not.toContain('<error');
    expect(model.requests[0]!.context).toContain('<prefetch name="profile">\n{"plan":"pro"}\n</prefetch>');
  });

  it('a tool that throws a non-Error value and a model whose complete() throws become error events', async () => {
    const weird = spyTool({ name: 'weird', run: () => { throw { code: 42 }; } });
    const stringy = spyTool({ name: 'stringy', run: () => { throw 'plain string'; } });
    const inner = scriptedModel([{ intent: 'weird', args: { value: 'x' } }, { intent: 'stringy', args: { value: 'y' } }, done()]);
    let calls = 0;
    const model: Model = {
      name: 'throwing',
      // Not even async: the third call throws synchronously.
      complete(request) {
        calls++;
        if (calls === 3) throw new TypeError('socket hang up');
        return inner.complete(request);
      },
    };
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [weird.tool, stringy.tool], maxConsecutiveErrors: 5 }), model });
    const end = await runToEnd(actor, clock);
    expect(actor.getSnapshot().status).toBe('done');
    expect(end.state).toBe('done');
    const errors = eventsOf(end.thread, 'error').map((e) => [e.data.kind, e.data.message]);
    expect(errors).toEqual([
      ['tool_error', 'weird failed: {"code":42}'],
      ['tool_error', 'stringy failed: plain string'],
      ['model_http', 'model failed: socket hang up'],
    ]);
    expect(weird.runs).toHaveLength(1);
    expect(stringy.runs).toHaveLength(1);
  });

  it('a prefetch step that throws a non-Error value becomes a prefetch_error', async () => {
    const a = customAgent({ prefetch: [{ name: 'p', run: () => { throw 7; } }] });
    const { actor, clock } = await startRun({ agent: a, model: scriptedModel([]) });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'error').map((e) => [e.data.kind, e.data.message])).toEqual([
      ['prefetch_error', 'prefetch p failed: 7'],
      ['prefetch_error', 'prefetch p failed: 7'],
      ['prefetch_error', 'prefetch p failed: 7'],
    ]);
  });
});

describe('agent machine: a tool that returned a value JSON cannot hold', () => {
  /** A response with a back-reference, as HTTP clients return. */
  function circularResponse(): Record<string, unknown> {
    const response: Record<string, unknown> = { status: 200, data: { id: 'ch_1', amount: 5 } };
    response.request = { method: 'POST', res: response };
    return response;
  }
  const cases = [
    { name: 'a circular object', value: circularResponse, recorded: { status: 200, data: { id: 'ch_1', amount: 5 }, request: { method: 'POST', res: '[Circular]' } } },
    { name: 'a BigInt id', value: () => ({ id: 12345678901234567890n, amount: 5 }), recorded: { id: '12345678901234567890', amount: 5 } },
    { name: 'functions and undefined members', value: () => ({ ok: true, retry: () => 1, gone: undefined, list: [1, undefined, () => 2] }), recorded: { ok: true, list: [1, null, null] } },
    { name: 'a function', value: () => () => 1, recorded: null },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s: recorded as its (lossy) result, run once, never as a tool_error', async (_name, c) => {
    const charge = spyTool({ name: 'charge', run: c.value });
    expect(charge.tool.idempotent).toBe(false);
    const model = scriptedModel([{ intent: 'charge', args: { value: '5' } }, done()]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model });
    const end = await runToEnd(actor, clock);

    expect(end.status).toBe('done');
    expect(charge.runs).toHaveLength(1);
    expect(eventsOf(end.thread, 'error')).toEqual([]);
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    const [result] = eventsOf(end.thread, 'tool_result');
    expect(result!.data).toMatchObject({ tool: 'charge', result: c.recorded });
    // The model is shown the result, not an error to retry after.
    expect(model.requests[1]!.context).toContain(`<tool_result tool="charge"`);
    expect(model.requests[1]!.context).not.toContain('<error');
  });
});

describe('agent machine: escalation', () => {
  const threeErrors = [httpError(), { toolCall: { name: 'add', arguments: 'nope' } }, { intent: 'nope' }] as ScriptStep[];

  it('escalates to a human after three consecutive errors', async () => {
    const model = scriptedModel(threeErrors);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const end = await runToEnd(actor, clock);
    expect(end.state).toBe('escalated');
    expect(end.status).toBe('escalated');
    expect(typesOf(end.thread)).toEqual(['input', 'error', 'error', 'error', 'escalation', 'human_request']);
    const errors = eventsOf(end.thread, 'error');
    expect(errors.map((e) => [e.data.kind, e.data.attempt])).toEqual([
      ['model_http', 1],
      ['invalid_json', 2],
      ['unknown_intent', 3],
    ]);
    expect(errors[2]!.data.retryAt).toBeUndefined();
    expect(end.backoffs).toBe(2);
    // Each backoff is longer than the one before (exponential, with bounded jitter).
    const delays = errors.slice(0, 2).map((e) => Date.parse(e.data.retryAt!) - Date.parse(e.at));
    expect(delays[0]).toBeGreaterThanOrEqual(800);
    expect(delays[0]).toBeLessThanOrEqual(1200);
    expect(delays[1]).toBeGreaterThanOrEqual(1600);
    expect(delays[1]).toBeLessThanOrEqual(2400);
    const [escalation] = eventsOf(end.thread, 'escalation');
    const [request] = eventsOf(end.thread, 'human_request');
    expect(escalation!.data.reason).toBe('max_consecutive_errors');
    expect(escalation!.data.message).toContain('3 errors in a row');
    expect(request!.data).toMatchObject({ kind: 'escalation', requestId: escalation!.data.requestId, urgency: 'high', format: 'free_text' });
    expect(model.requests).toHaveLength(3);
  });

  it('a human answer continues the agent with the errors reset', async () => {
    const model = scriptedModel([...threeErrors, httpError(), httpError(), add(1, 2), done('3')]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const escalated = await runToEnd(actor, clock);
    const requestId = eventsOf(escalated.thread, 'human_request')[0]!.data.requestId;
    await respond(actor, { requestId, answer: 'use the add tool', by: 'ann' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    // Two more errors after the answer do not escalate: the count restarted.
    expect(eventsOf(end.thread, 'error').map((e) => e.data.attempt)).toEqual([1, 2, 3, 1, 2]);
    expect(eventsOf(end.thread, 'escalation')).toHaveLength(1);
    const afterAnswer = model.requests[3]!.context;
    expect(afterAnswer).toContain(`<human_response to="${requestId}">use the add tool</human_response>`);
    // A human's answer hides no error (qa25-context #0): the model sees what it got wrong with the
    // guidance, until a decision of its is accepted.
    expect(afterAnswer).toContain('<error kind="model_http"');
    expect(afterAnswer).toContain('<error kind="unknown_intent"');
    expect(model.requests[6]!.context).not.toContain('<error');
  });

  it('a denial fails the thread', async () => {
    const model = scriptedModel(threeErrors);
    const { actor, clock, store } = await startRun({ agent: calculator, model });
    const escalated = await runToEnd(actor, clock);
    const requestId = eventsOf(escalated.thread, 'human_request')[0]!.data.requestId;
    const end = await respond(actor, { requestId, approved: false, comment: 'stop' });
    expect(end.state).toBe('failed');
    expect(end.status).toBe('failed');
    expect(actor.getSnapshot().status).toBe('done');
    expect(deriveState((await store.get('thread-1'))!.events).failure).toMatch(/human stopped/);
    expect(model.requests).toHaveLength(3);
  });

  it('enforces maxSteps: escalates with reason max_steps after exactly maxSteps decisions', async () => {
    const model = scriptedModel([], { whenExhausted: add(1, 1) });
    const { actor, clock } = await startRun({ agent: customAgent({ maxSteps: 3 }), model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'decision')).toHaveLength(3);
    expect(eventsOf(end.thread, 'decision').map((d) => d.data.step)).toEqual([1, 2, 3]);
    expect(model.requests).toHaveLength(3);
    expect(typesOf(end.thread).slice(-2)).toEqual(['escalation', 'human_request']);
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data).toMatchObject({ reason: 'max_steps', message: 'reached maxSteps (3) without finishing' });
    // Guidance grants another maxSteps decisions.
    await respond(actor, { requestId: escalation!.data.requestId, answer: 'keep going' });
    const again = await runToEnd(actor, clock);
    expect(again.status).toBe('escalated');
    // Numbered through the thread (QA20 debug D11: a second "#1" read as a replay, and the model
    // saw two step="1" decisions); the budget starts again all the same.
    expect(eventsOf(again.thread, 'decision').map((d) => d.data.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(model.requests).toHaveLength(6);
  });
});

describe('agent machine: humans in the loop', () => {
  it('approval approved: the tool runs after the approval', async () => {
    const model = scriptedModel([{ intent: 'divide', args: { a: 10, b: 4 } }, done('2.5')]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const waiting = await runToEnd(actor, clock);
    expect(waiting.state).toBe('awaitingHuman');
    expect(waiting.status).toBe('awaiting_human');
    expect(typesOf(waiting.thread)).toEqual(['input', 'decision', 'human_request']);
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'approval', format: 'yes_no', callId: 'call_2', tool: 'divide', args: { a: 10, b: 4 } });
    await respond(actor, { requestId: request!.data.requestId, approved: true });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(eventsOf(end.thread, 'tool_result')[0]!.data.result).toBe(2.5);
  });

  it('approval denied: the tool never runs and the comment is in the next context', async () => {
    const launch = spyTool({ name: 'launch', approval: true });
    const model = scriptedModel([{ intent: 'launch', args: { value: 'rocket' } }, done('not launched')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [launch.tool] }), model });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    await respond(actor, { requestId, approved: false, comment: 'too risky today' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(launch.runs).toHaveLength(0);
    expect(eventsOf(end.thread, 'tool_call')).toHaveLength(0);
    expect(model.requests[1]!.context).toContain(`<human_response to="${requestId}" approved="false">too risky today</human_response>`);
  });

  it('an approval function decides per call', async () => {
    const guarded = tool({
      name: 'spend',
      description: 'spend money',
      input: z.object({ amount: z.number() }),
      approval: ({ amount }) => amount > 100,
      run: ({ amount }) => `spent ${amount}`,
    });
    const model = scriptedModel([{ intent: 'spend', args: { amount: 5 } }, { intent: 'spend', args: { amount: 500 } }]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [guarded] }), model });
    const end = await runToEnd(actor, clock);
    expect(end.state).toBe('awaitingHuman');
    expect(eventsOf(end.thread, 'tool_result').map((e) => e.data.result)).toEqual(['spent 5']);
    expect(eventsOf(end.thread, 'human_request')[0]!.data).toMatchObject({ kind: 'approval', args: { amount: 500 } });
  });

  it('request_human_input: the answer is in the next context', async () => {
    const model = scriptedModel([
      { intent: 'request_human_input', args: { question: 'Which numbers?', context: 'you said "some numbers"', urgency: 'high', format: 'free_text', choices: null } },
      add(4, 5),
      done('9'),
    ]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const waiting = await runToEnd(actor, clock);
    expect(waiting.state).toBe('awaitingHuman');
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toEqual({
      requestId: request!.data.requestId,
      kind: 'input',
      question: 'Which numbers?',
      context: 'you said "some numbers"',
      urgency: 'high',
      format: 'free_text',
    });
    expect(request!.data.requestId).toMatch(/^req_3_[0-9a-f]{10}$/);
    await respond(actor, { requestId: request!.data.requestId, answer: '4 and 5' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests[1]!.context).toContain(`<human_response to="${request!.data.requestId}">4 and 5</human_response>`);
  });

  it('yes/no: a bad answer is refused and the actor keeps waiting; a stale id is refused too', async () => {
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'Round the result?', format: 'yes_no' } }, done()]);
    const { actor, clock, store } = await startRun({ agent: calculator, model });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;

    const bad = await respond(actor, { requestId, answer: 'maybe' });
    expect(bad.state).toBe('awaitingHuman');
    expect(bad.refusal).toMatch(/yes or no/);
    const stale = await respond(actor, { requestId: 'req_1_0000000000', answer: 'yes' });
    expect(stale.state).toBe('awaitingHuman');
    expect(stale.refusal).toMatch(/not the open request/);
    expect(typesOf((await store.get('thread-1'))!)).toEqual(['input', 'decision', 'human_request']);

    const good = await respond(actor, { requestId, approved: true });
    expect(good.refusal).toBeNull();
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'human_response')[0]!.data).toEqual({ requestId, approved: true, answer: 'yes' });
  });

  it('multiple choice: an answer outside the choices is refused', async () => {
    const model = scriptedModel([
      { intent: 'request_human_input', args: { question: 'Which operation?', format: 'multiple_choice', choices: ['add', 'multiply'] } },
      done(),
    ]);
    const { actor, clock, store } = await startRun({ agent: calculator, model });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    const bad = await respond(actor, { requestId, answer: 'divide' });
    expect(bad.state).toBe('awaitingHuman');
    expect(bad.refusal).toMatch(/one of: add, multiply/);
    expect(eventsOf((await store.get('thread-1'))!, 'human_response')).toHaveLength(0);
    await respond(actor, { requestId, answer: 'multiply' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests[1]!.context).toContain('>multiply</human_response>');
  });
});

describe('agent machine: prefetch, breaking tools and control', () => {
  it('records prefetch results before the first decision, visible (and redacted) in the context', async () => {
    const a = customAgent({
      secrets: ['s3cr3t-value'],
      prefetch: [
        { name: 'user', run: ({ input }) => ({ name: 'ann', asked: input }) },
        { name: 'config', run: async () => ({ region: 'eu', token: 'abcd1234', note: 'key s3cr3t-value' }) },
      ],
    });
    const model = scriptedModel([done()]);
    const { actor, clock } = await startRun({ agent: a, model, input: 'hi' });
    const end = await runToEnd(actor, clock);
    expect(typesOf(end.thread)).toEqual(['input', 'prefetch', 'prefetch', 'decision', 'final']);
    const [user, config] = eventsOf(end.thread, 'prefetch');
    expect(user!.data).toEqual({ name: 'user', ok: true, result: { name: 'ann', asked: 'hi' } });
    expect(config!.data.result).toEqual({ region: 'eu', token: '[REDACTED]', note: 'key [REDACTED]' });
    const context = model.requests[0]!.context;
    expect(context).toContain('<prefetch name="user">\n{"name":"ann","asked":"hi"}\n</prefetch>');
    expect(context).toContain('<prefetch name="config">');
    expect(context).not.toContain('s3cr3t-value');
  });

  it('a prefetch step a new version added is not run in a thread already past its first decision; a new thread runs it first (QA19 #5)', async () => {
    const runs: string[] = [];
    const a = customAgent({
      prefetch: [
        {
          name: 'newprefetch',
          run: ({ threadId }) => {
            runs.push(threadId);
            return { loaded: true };
          },
        },
      ],
    });
    const old = threadOf('thread-old', 'custom', [
      { type: 'input', data: { input: 'add 2 and 3' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'add', args: { a: 2, b: 3 }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool: 'add', args: { a: 2, b: 3 }, idempotencyKey: 'thread-old:call_2', attempt: 1 } },
      { type: 'tool_result', data: { callId: 'call_2', tool: 'add', result: 5, durationMs: 0 } },
    ]);
    const continued = await startRun({ agent: a, model: scriptedModel([done('5')]), thread: old });
    const end = await runToEnd(continued.actor, continued.clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(runs).toEqual([]);
    const fresh = await startRun({ agent: a, model: scriptedModel([done('new')]), input: 'hi' });
    const freshEnd = await runToEnd(fresh.actor, fresh.clock);
    expect(typesOf(freshEnd.thread)).toEqual(['input', 'prefetch', 'decision', 'final']);
    expect(runs).toEqual([freshEnd.thread.id]);
  });

  it("redacts the agent's secrets from a question the model asks a human (it goes to people and bridges), as from its other decisions", async () => {
    const a = customAgent({ secrets: ['s3cr3t-value'] });
    const ask = { intent: 'request_human_input', args: { question: 'is s3cr3t-value the key?', context: 'found s3cr3t-value', format: 'multiple_choice', choices: ['yes s3cr3t-value', 'no'] } };
    const model = scriptedModel([ask]);
    const { actor } = await startRun({ agent: a, model });
    const rest = await settle(actor);
    expect(rest.status).toBe('awaiting_human');
    const [request] = eventsOf(rest.thread, 'human_request');
    expect(request!.data).toMatchObject({ question: 'is [REDACTED] the key?', context: 'found [REDACTED]', choices: ['yes [REDACTED]', 'no'] });
    expect(JSON.stringify(rest.thread.events)).not.toContain('s3cr3t-value');
  });

  it('a tool marked breaksLoop ends the thread with its result as output', async () => {
    const finish = spyTool({ name: 'publish', breaksLoop: true, run: () => ({ url: 'https://example.test/1' }) });
    const model = scriptedModel([{ intent: 'publish', args: { value: 'post' } }, done('never asked')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [finish.tool] }), model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'final']);
    expect(eventsOf(end.thread, 'final')[0]!.data.output).toEqual({ url: 'https://example.test/1' });
    expect(model.requests).toHaveLength(1);
    expect(deriveState(end.thread.events).output).toEqual({ url: 'https://example.test/1' });
  });

  it('PAUSE and RESUME while awaiting a human', async () => {
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'go on?' } }, done()]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    actor.send({ type: 'PAUSE', reason: 'lunch', by: 'ann' });
    const paused = await settle(actor);
    expect(paused.state).toBe('paused');
    expect(paused.status).toBe('paused');
    expect(eventsOf(paused.thread, 'control').map((e) => e.data)).toEqual([{ action: 'pause', reason: 'lunch', by: 'ann' }]);
    // A response to a paused actor is not taken.
    actor.send({ type: 'RESPOND', response: { requestId, answer: 'yes' } });
    expect((await settle(actor)).state).toBe('paused');
    actor.send({ type: 'RESUME', by: 'bob' });
    const resumed = await settle(actor);
    expect(resumed.state).toBe('awaitingHuman');
    expect(eventsOf(resumed.thread, 'control').map((e) => e.data)).toEqual([
      { action: 'pause', reason: 'lunch', by: 'ann' },
      { action: 'resume', by: 'bob' },
    ]);
    await respond(actor, { requestId, answer: 'yes' });
    expect((await runToEnd(actor, clock)).status).toBe('done');
  });

  it('a second PAUSE while paused does not make the next RESUME pause again', async () => {
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'go on?' } }]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    await runToEnd(actor, clock);
    actor.send({ type: 'PAUSE' });
    expect((await settle(actor)).state).toBe('paused');
    actor.send({ type: 'PAUSE' });
    actor.send({ type: 'RESUME' });
    const resumed = await settle(actor);
    expect(resumed.state).toBe('awaitingHuman');
    expect(eventsOf(resumed.thread, 'control').map((e) => e.data.action)).toEqual(['pause', 'resume']);
  });

  it('enters every working state of the loop, as inspection shows it: deciding and executing in turn, then done', async () => {
    const model = scriptedModel([add(1, 2), add(3, 4), done()]);
    const clock = createClock();
    const store = createMemoryStore({ clock });
    const thread = await store.create(threadOf('t-states', 'calculator', [{ type: 'input', data: { input: 'go' } }]));
    const shown: unknown[] = [];
    const actor = createAgentActor({
      agent: calculator,
      thread,
      model,
      store,
      clock,
      inspect: (event) => {
        if (event.type === '@xstate.snapshot' && event.actorRef === actor) shown.push((event.snapshot as { value?: unknown }).value);
      },
    });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(shown.filter((value, i) => value !== shown[i - 1])).toEqual(['deciding', 'executing', 'deciding', 'executing', 'deciding', 'done']);
  });

  /** PAUSE sent while the agent decides (an addition, then done), then RESUME: the events at the pause and at the end. */
  async function pauseDuringDecision(pausing: Parameters<typeof startRun>[0]['agent']): Promise<{ paused: string[]; end: string[] }> {
    const { actor, clock } = await startRun({ agent: pausing, model: scriptedModel([add(1, 2), done()]) });
    actor.start();
    expect(actor.getSnapshot().value).toBe('deciding');
    actor.send({ type: 'PAUSE' });
    const paused = await settle(actor);
    expect(paused.state).toBe('paused');
    actor.send({ type: 'RESUME' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    return { paused: typesOf(paused.thread), end: typesOf(end.thread) };
  }

  it('PAUSE during a decision takes effect once the call recorded with it has run; RESUME continues', async () => {
    const { paused, end } = await pauseDuringDecision(calculator);
    // The call is on record with the decision: pausing before it ran would leave it looking started.
    expect(paused).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control']);
    expect(end).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control', 'control', 'decision', 'final']);
  });

  it('PAUSE during a decision of an agent with a judge takes effect once the decision alone is recorded', async () => {
    const { paused, end } = await pauseDuringDecision(customAgent({ afterDecision: [judge({ name: 'allow', run: () => ({ verdict: 'accept' }) })] }));
    expect(paused).toEqual(['input', 'decision', 'control']);
    expect(end).toEqual(['input', 'decision', 'control', 'control', 'custom', 'tool_call', 'tool_result', 'decision', 'final']);
  });

  it('PAUSE while backing off, and RESUME re-arms the recorded deadline', async () => {
    const model = scriptedModel([httpError(), done()]);
    const { actor, clock } = await startRun({ agent: calculator, model });
    const backingOff = await settle(actor);
    expect(backingOff.state).toBe('backingOff');
    actor.send({ type: 'PAUSE' });
    expect((await settle(actor)).state).toBe('paused');
    actor.send({ type: 'RESUME' });
    const again = await settle(actor);
    expect(again.state).toBe('backingOff');
    expect(again.backoffUntil).toBe(backingOff.backoffUntil);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(2);
  });

  it('CANCEL ends the thread as cancelled', async () => {
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'go on?' } }]);
    const { actor, clock, store } = await startRun({ agent: calculator, model });
    await runToEnd(actor, clock);
    actor.send({ type: 'CANCEL', reason: 'not needed', by: 'ann' });
    const end = await settle(actor);
    expect(end.state).toBe('cancelled');
    expect(end.status).toBe('cancelled');
    expect(typesOf((await store.get('thread-1'))!).at(-1)).toBe('control');
    expect(eventsOf(end.thread, 'control')[0]!.data).toEqual({ action: 'cancel', reason: 'not needed', by: 'ann' });
  });

  it('a tool\'s signal aborts at its timeout, read before the deadline or after it', async () => {
    const seen: { early: AbortSignal | undefined; late: AbortSignal | undefined } = { early: undefined, late: undefined };
    let release: () => void = () => {};
    const early = spyTool({ name: 'early', idempotent: true, timeoutMs: 100, run: (ctx) => ((seen.early = ctx.signal), new Promise(() => {})) });
    const late = spyTool({
      name: 'late',
      idempotent: true,
      timeoutMs: 100,
      // Reads its signal only once the deadline has passed.
      run: (ctx) => new Promise((resolve) => (release = () => ((seen.late = ctx.signal), resolve('too late')))),
    });
    const model = scriptedModel([{ intent: 'early', args: { value: 'a' } }, { intent: 'late', args: { value: 'b' } }, done()]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [early.tool, late.tool] }), model });
    actor.start();
    await until(() => seen.early !== undefined);
    expect(seen.early!.aborted).toBe(false);
    clock.increment(100);
    expect(seen.early!.aborted).toBe(true);
    expect(String(seen.early!.reason)).toMatch(/early timed out/);
    let rest = await settle(actor);
    expect(rest.state).toBe('backingOff');
    clock.increment(rest.backoffUntil! - clock.now());
    await until(() => late.runs.length === 1);
    clock.increment(100);
    release();
    rest = await settle(actor);
    expect(seen.late!.aborted).toBe(true);
    expect(eventsOf(rest.thread, 'error').map((e) => e.data.kind)).toEqual(['tool_timeout', 'tool_timeout']);
  });

  it('CANCEL while a tool runs aborts its signal and records what the tool returned, then the cancel', async () => {
    let signal: AbortSignal | undefined;
    const wait = spyTool({
      name: 'wait',
      run: (ctx) => {
        signal = ctx.signal;
        return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('aborted')));
      },
    });
    const model = scriptedModel([{ intent: 'wait', args: { value: 'v' } }]);
    const { actor, store } = await startRun({ agent: customAgent({ extra: [wait.tool] }), model });
    actor.start();
    await until(() => signal !== undefined);
    actor.send({ type: 'CANCEL', reason: 'changed my mind' });
    const end = await settle(actor);
    expect(end.state).toBe('cancelled');
    expect(signal!.aborted).toBe(true);
    const stored = (await store.get('thread-1'))!;
    expect(typesOf(stored)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'control']);
    expect(stored.events[3]).toMatchObject({ type: 'tool_result', data: { tool: 'wait', result: 'aborted' } });
  });

  it('a decision past its deadline aborts its model call; the next decision gets a live signal', async () => {
    const model = scriptedModel([{ hang: true }, { hang: true }]);
    const { actor, clock } = await startRun({ agent: customAgent({ decideTimeoutMs: 50 }), model });
    actor.start();
    await until(() => model.requests.length === 1);
    clock.increment(50);
    expect(model.requests[0]!.signal.aborted).toBe(true);
    const rest = await settle(actor);
    expect(rest.state).toBe('backingOff');
    clock.increment(rest.backoffUntil! - clock.now());
    await until(() => model.requests.length === 2);
    expect(model.requests[1]!.signal.aborted).toBe(false);
    actor.stop();
  });

  it('stopping the actor aborts the step in progress', async () => {
    const model = scriptedModel([{ hang: true }]);
    const { actor } = await startRun({ agent: calculator, model });
    actor.start();
    await until(() => model.requests.length === 1);
    expect(model.requests[0]!.signal.aborted).toBe(false);
    actor.stop();
    expect(model.requests[0]!.signal.aborted).toBe(true);
  });

  it('an actor started from a paused or finished thread stays there', async () => {
    const pausedThread = threadOf('t-p', 'calculator', [{ type: 'input', data: { input: 'x' } }, { type: 'control', data: { action: 'pause' } }]);
    const paused = await startRun({ agent: calculator, model: scriptedModel([]), thread: pausedThread });
    expect((await settle(paused.actor)).state).toBe('paused');
    const doneThread = threadOf('t-d', 'calculator', [{ type: 'input', data: { input: 'x' } }, { type: 'final', data: { output: 1 } }]);
    const model = scriptedModel([]);
    const finished = await startRun({ agent: calculator, model, thread: doneThread });
    const end = await settle(finished.actor);
    expect(end.state).toBe('done');
    expect(end.thread.events).toHaveLength(2);
    expect(model.requests).toHaveLength(0);
  });
});

describe('agent machine: concurrency and restarts', () => {
  it('a version conflict stops the actor; the loser writes nothing', async () => {
    let store: ThreadStore | undefined;
    const clock = createClock();
    const meddle = spyTool({
      name: 'meddle',
      run: async () => {
        // Another worker advances the thread while the tool runs: it records the call's result
        // itself. (A control event alone, another process's pause or cancel, is not a conflict
        // that stops the actor: the outcome is recorded after it.)
        const current = (await store!.get('thread-1'))!;
        const call = current.events.find((e) => e.type === 'tool_call');
        const callId = call?.type === 'tool_call' ? call.data.callId : '';
        const foreign = stampEvents(current.events.length, [{ type: 'tool_result', data: { callId, tool: 'meddle', result: 'by-other-worker', durationMs: 1 } }], new Date(clock.now()).toISOString());
        await store!.append('thread-1', current.events.length, foreign);
        return 'done';
      },
    });
    store = createMemoryStore({ clock });
    const model = scriptedModel([{ intent: 'meddle', args: { value: 'v' } }, done()]);
    const { actor } = await startRun({ agent: customAgent({ extra: [meddle.tool] }), model, store, clock });
    const end = await settle(actor);
    expect(end.state).toBe('stopped');
    expect(end.stopped).toMatch(/^superseded: thread thread-1 is at version 4, expected 3/);
    expect(meddle.runs).toHaveLength(1);
    const stored = (await store.get('thread-1'))!;
    expect(typesOf(stored)).toEqual(['input', 'decision', 'tool_call', 'tool_result']);
    expect(eventsOf(stored, 'tool_result')[0]!.data.result).toBe('by-other-worker');
    expect(model.requests).toHaveLength(1);
  });

  it('a store failure stops the actor instead of throwing', async () => {
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    let fail = false;
    const store: ThreadStore = { ...inner, append: (...args) => (fail ? Promise.reject(new Error('disk on fire')) : inner.append(...args)) };
    const model: Model = {
      name: 'm',
      complete: async (request) => {
        fail = true;
        return scriptedModel([add(1, 1)]).complete(request);
      },
    };
    const { actor } = await startRun({ agent: calculator, model, store, clock });
    const end = await settle(actor);
    expect(end.state).toBe('stopped');
    expect(end.stopped).toMatch(/disk on fire/);
    expect(end.stopped).not.toMatch(/superseded/);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a decision records its call with it (one write) and the same actor runs the call once, as attempt 1', async () => {
    const charge = spyTool({ name: 'charge', idempotent: false });
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    const appends: string[][] = [];
    const store: ThreadStore = {
      ...inner,
      append: (id, expected, events) => {
        appends.push(events.map((e) => e.type));
        return inner.append(id, expected, events);
      },
    };
    const model = scriptedModel([{ intent: 'charge', args: { value: '10 EUR' } }, done('charged')]);
    const { actor } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model, store, clock });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(appends).toEqual([['decision', 'tool_call'], ['tool_result'], ['decision', 'final']]);
    expect(charge.runs.map((ctx) => [ctx.attempt, ctx.idempotencyKey, ctx.callId])).toEqual([[1, `${incarnationKeyOf(end.thread)}:call_2`, 'call_2']]);
    expect(eventsOf(end.thread, 'tool_call').map((e) => e.data)).toEqual([
      { callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: `${incarnationKeyOf(end.thread)}:call_2`, attempt: 1 },
    ]);
  });

  it('a call recorded with its decision by a worker that died before running it is asked about, never run silently', async () => {
    const charge = spyTool({ name: 'charge', idempotent: false });
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    // The write lands, and the worker dies before it hears back (its actor stops).
    const dying: ThreadStore = { ...inner, append: (...args) => inner.append(...args).then(() => Promise.reject(new Error('worker died'))) };
    const agentWithCharge = customAgent({ extra: [charge.tool] });
    const first = await startRun({ agent: agentWithCharge, model: scriptedModel([{ intent: 'charge', args: { value: '10 EUR' } }]), store: dying, clock });
    expect((await settle(first.actor)).state).toBe('stopped');
    expect(typesOf((await inner.get('thread-1'))!)).toEqual(['input', 'decision', 'tool_call']);

    const second = createAgentActor({ agent: agentWithCharge, thread: (await inner.get('thread-1'))!, model: scriptedModel([done('ok')]), store: inner, clock });
    const waiting = await runToEnd(second, clock);
    expect(waiting.state).toBe('awaitingHuman');
    expect(eventsOf(waiting.thread, 'human_request')[0]!.data).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge' });
    expect(charge.runs).toHaveLength(0);
  });

  it('an interrupted non-idempotent call asks a human; approval runs it again with the same key', async () => {
    const charge = spyTool({ name: 'charge', idempotent: false });
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'charge it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
    ]);
    const model = scriptedModel([done('charged')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model, thread });
    const waiting = await runToEnd(actor, clock);
    expect(waiting.state).toBe('awaitingHuman');
    expect(charge.runs).toHaveLength(0);
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, urgency: 'high', format: 'yes_no' });
    // Only what the log shows: the call started and its outcome is missing. Whether a process
    // stopped, or could not write to its store, is not known here (qa16 #3).
    expect(request!.data.question).toBe(
      'charge({"value":"10 EUR"}) was started and its outcome was not recorded (the process running it stopped or stalled, or could not write to the store), and the tool is not idempotent. Run it again? Approve to run it again, only if it did not take effect; deny, describing the outcome, if it did.',
    );
    await respond(actor, { requestId: request!.data.requestId, approved: true });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(charge.runs.map((ctx) => [ctx.attempt, ctx.idempotencyKey])).toEqual([[2, 'thread-1:call_2']]);
    expect(eventsOf(end.thread, 'tool_call').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(eventsOf(end.thread, 'tool_result')).toHaveLength(1);
  });

  /** A thread whose `charge` call was started (journaled) with no outcome, continued by a version whose tools are `tools`. */
  async function startedChargeUnder(tools: AgentOptions['tools'], script: ScriptStep[]) {
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'charge it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
    ]);
    const model = scriptedModel(script);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: tools }), model, thread });
    return { model, actor, clock, waiting: await runToEnd(actor, clock) };
  }

  it.each([
    ['renamed (charge_card)', true],
    ['removed', false],
  ])('a started call of a tool the new version %s is an interrupted call: a human is asked whether it took effect, never told it does not exist (QA19 #2)', async (_, renamed) => {
    // Whether the gone tool was idempotent is not known either: every started call of it is asked about.
    const chargeCard = spyTool({ name: 'charge_card', idempotent: false });
    const { model, actor, clock, waiting } = await startedChargeUnder(renamed ? [chargeCard.tool] : [], [done('charged once')]);
    expect(waiting.state).toBe('awaitingHuman');
    expect(model.requests).toHaveLength(0);
    expect(eventsOf(waiting.thread, 'error')).toEqual([]);
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, urgency: 'high', format: 'yes_no' });
    expect(request!.data.question).toContain('charge({"value":"10 EUR"}) was started and its outcome was not recorded');
    expect(request!.data.question).toContain('charge is not a tool of agent custom in this version, so it cannot be run again');
    // Said in the request itself too, for surfaces that tell a human what approving does.
    expect(request!.data.rerun).toBe(false);
    // What approving means, never a yes/no question whose "yes" would be deny (qa21 F1).
    expect(request!.data.question).toContain('Approve only if it did not take effect (the model is told it was not run again)');
    expect(request!.data.question).not.toContain('Did it take effect?');
    // The human says it went through: the model reads that, and nothing runs.
    await respond(actor, { requestId: request!.data.requestId, approved: false, comment: 'it went through' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(chargeCard.runs).toHaveLength(0);
    expect(eventsOf(end.thread, 'error')).toEqual([]);
    expect(model.requests[0]!.context).toContain('<human_request kind="interrupted"');
    expect(model.requests[0]!.context).toContain('took_effect="true">it went through</human_response>');
  });

  it('an interrupted call of a tool gone from this version that a human says to run again is recorded as not run again, for the model to see (QA19 #2)', async () => {
    const chargeCard = spyTool({ name: 'charge_card', idempotent: false });
    const { model, actor, clock, waiting } = await startedChargeUnder([chargeCard.tool], [done('asked the human')]);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    await respond(actor, { requestId, approved: true, comment: 'the bank shows no charge' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(chargeCard.runs).toHaveLength(0);
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'tool_error', callId: 'call_2', tool: 'charge', attempt: 1 });
    expect(error!.data.message).toBe(
      'charge({"value":"10 EUR"}) was not run again: charge is not a tool of agent custom in this version (its tools: add, subtract, multiply, divide, charge_card, request_human_input, done_for_now). It had been started and its outcome was not recorded; a human said it did not take effect: the bank shows no charge',
    );
    expect(model.requests[0]!.context).toContain('was not run again: charge is not a tool of agent custom in this version');
  });

  it('an approved call of a tool this version does not have (a newer worker decided it) is an error saying so, not "no longer exists"; nothing runs (QA19 #4)', async () => {
    // A rolling deploy: the new version decided charge_card and a human approved it; the old version continues.
    const charge = spyTool({ name: 'charge', idempotent: false });
    const approval = { requestId: 'req_3_x', kind: 'approval', question: 'Approve charge_card?', urgency: 'high', format: 'yes_no', callId: 'call_2', tool: 'charge_card', args: { value: '10 EUR' } } as const;
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'charge it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge_card', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:1', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'human_request', data: approval },
      { type: 'human_response', data: { requestId: 'req_3_x', approved: true, by: 'root' } },
    ]);
    const model = scriptedModel([done('not charged')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model, thread });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(charge.runs).toHaveLength(0);
    expect(eventsOf(end.thread, 'tool_call')).toEqual([]);
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'unknown_intent', callId: 'call_2', tool: 'charge_card', attempt: 1 });
    expect(error!.data.message).toBe('tool charge_card is not a tool of agent custom in this version (its tools: add, subtract, multiply, divide, charge, request_human_input, done_for_now); it was not run');
  });

  it('a log ending at a decision for an approval tool asks for approval when continued, and never runs the tool', async () => {
    const launch = spyTool({ name: 'launch', approval: true });
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'launch it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'launch', args: { value: 'rocket' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
    ]);
    const model = scriptedModel([done('launched')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [launch.tool] }), model, thread });
    const waiting = await runToEnd(actor, clock);
    expect(waiting.state).toBe('awaitingHuman');
    expect(launch.runs).toHaveLength(0);
    expect(typesOf(waiting.thread)).toEqual(['input', 'decision', 'human_request']);
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'approval', callId: 'call_2', tool: 'launch', args: { value: 'rocket' }, format: 'yes_no' });
    await respond(actor, { requestId: request!.data.requestId, approved: true });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(launch.runs).toHaveLength(1);
  });

  it('an interrupted non-idempotent call denied by a human is not run again', async () => {
    const charge = spyTool({ name: 'charge', idempotent: false });
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'charge it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
    ]);
    const model = scriptedModel([done('it was charged once')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model, thread });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    await respond(actor, { requestId, approved: false, comment: 'it went through' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(charge.runs).toHaveLength(0);
    expect(model.requests[0]!.context).toContain('took_effect="true">it went through</human_response>');
  });

  /** A charge (not idempotent, 100 ms timeout) that `run` keeps past its deadline, decided, run and timed out; the model then answers `final`. */
  async function chargePastItsTimeout(run: () => Promise<unknown>, final: string) {
    const charge = spyTool({ name: 'charge', idempotent: false, timeoutMs: 100, run });
    const model = scriptedModel([{ intent: 'charge', args: { value: '10 EUR' } }, done(final)]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [charge.tool] }), model });
    actor.start();
    await until(() => charge.runs.length === 1);
    clock.increment(100);
    return { charge, model, actor, clock, waiting: await settle(actor) };
  }

  it('a non-idempotent call past its timeout asks a human whether it took effect, as an interrupted one; "yes" runs it again', async () => {
    let release: (value: unknown) => void = () => {};
    const { charge, model, actor, clock, waiting } = await chargePastItsTimeout(() => new Promise((resolve) => (release = resolve)), 'charged');
    // Not retried after a backoff: the charge may have gone through.
    expect(waiting.state).toBe('awaitingHuman');
    expect(charge.runs).toHaveLength(1);
    expect(model.requests).toHaveLength(1);
    expect(eventsOf(waiting.thread, 'error').map((e) => e.data.kind)).toEqual(['tool_timeout']);
    const [request] = eventsOf(waiting.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, format: 'yes_no' });
    expect(request!.data.question).toMatch(/did not finish within 100 ms/);
    actor.send({ type: 'RESPOND', response: { requestId: request!.data.requestId, approved: true } });
    await until(() => charge.runs.length === 2);
    release({ ok: true });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(charge.runs.map((ctx) => [ctx.attempt, ctx.idempotencyKey])).toEqual([
      [1, `${incarnationKeyOf(end.thread)}:call_2`],
      [2, `${incarnationKeyOf(end.thread)}:call_2`],
    ]);
    expect(eventsOf(end.thread, 'tool_result')).toHaveLength(1);
  });

  it('a non-idempotent call past its timeout is not run again when the human says it took effect', async () => {
    const { charge, model, actor, clock, waiting } = await chargePastItsTimeout(() => new Promise(() => {}), 'charged once');
    expect(waiting.state).toBe('awaitingHuman');
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    await respond(actor, { requestId, approved: false, comment: 'it went through' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(charge.runs).toHaveLength(1);
    expect(model.requests.at(-1)!.context).toContain('took_effect="true">it went through</human_response>');
  });

  it('an interrupted idempotent call runs again as attempt 2 with the same idempotency key', async () => {
    const sync = spyTool({ name: 'sync', idempotent: true });
    const thread = threadOf('thread-1', 'custom', [
      { type: 'input', data: { input: 'sync' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'sync', args: { value: 'a' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool: 'sync', args: { value: 'a' }, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
    ]);
    const model = scriptedModel([done('synced')]);
    const { actor, clock } = await startRun({ agent: customAgent({ extra: [sync.tool] }), model, thread });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_call', 'tool_result', 'decision', 'final']);
    const calls = eventsOf(end.thread, 'tool_call');
    expect(calls.map((e) => [e.data.attempt, e.data.idempotencyKey])).toEqual([
      [1, 'thread-1:call_2'],
      [2, 'thread-1:call_2'],
    ]);
    expect(sync.runs.map((ctx) => [ctx.attempt, ctx.idempotencyKey, ctx.callId])).toEqual([[2, 'thread-1:call_2', 'call_2']]);
  });

  it('an actor started from a thread in backoff waits for the recorded deadline', async () => {
    const retryAt = new Date(T0 + 5000).toISOString();
    const thread = threadOf('thread-1', 'calculator', [
      { type: 'input', data: { input: 'x' } },
      { type: 'error', data: { kind: 'model_http', message: 'HTTP 500', attempt: 1, retryAt } },
    ]);
    const model = scriptedModel([done()]);
    const { actor, clock } = await startRun({ agent: calculator, model, thread, clock: createClock(T0 + 2000) });
    const rest = await settle(actor);
    expect(rest.state).toBe('backingOff');
    expect(rest.backoffUntil).toBe(T0 + 5000);
    clock.increment(2999);
    expect(actor.getSnapshot().value).toBe('backingOff');
    expect(model.requests).toHaveLength(0);
    clock.increment(1);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'decision')[0]!.at).toBe(retryAt);
  });
});

describe('agent machine: a store that cannot hold what a step records', () => {
  /** A memory store that refuses, as the NATS KV store does, an append whose events pass `limit` bytes of JSON. */
  function limitedStore(limit: number): ThreadStore {
    const inner = createMemoryStore();
    return {
      ...inner,
      append(id, expectedVersion, events) {
        const size = JSON.stringify(events).length;
        if (size > limit) return Promise.reject(new ThreadTooLargeError(id, size, limit, 'in this test store'));
        return inner.append(id, expectedVersion, events);
      },
    };
  }

  it('fails the thread, saying why, when a decision does not fit; the model is asked once', async () => {
    const model = scriptedModel([done('x'.repeat(2_000))], { whenExhausted: done('x'.repeat(2_000)) });
    const { actor, clock } = await startRun({ agent: calculator, model, store: limitedStore(1_000) });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('failed');
    expect(typesOf(end.thread)).toEqual(['input', 'failed']);
    expect(eventsOf(end.thread, 'failed')[0]!.data.reason).toMatch(/^could not record decision, final: thread thread-1 would be \d+ bytes, over the limit of 1000 bytes in this test store$/);
    expect(model.requests).toHaveLength(1);
  });

  it('refuses an answer that does not fit, and the actor keeps waiting for a smaller one', async () => {
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'Which numbers?' } }, done()]);
    const { actor, clock, store } = await startRun({ agent: calculator, model, store: limitedStore(1_000) });
    const waiting = await runToEnd(actor, clock);
    const requestId = eventsOf(waiting.thread, 'human_request')[0]!.data.requestId;
    const refused = await respond(actor, { requestId, answer: 'y'.repeat(2_000) });
    expect(refused.state).toBe('awaitingHuman');
    expect(refused.refusal).toMatch(/would be \d+ bytes, over the limit of 1000 bytes/);
    expect(typesOf((await store.get('thread-1'))!)).toEqual(['input', 'decision', 'human_request']);
    const taken = await respond(actor, { requestId, answer: '4 and 5' });
    expect(taken.refusal).toBeNull();
    expect((await runToEnd(actor, clock)).status).toBe('done');
  });
});
