import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { promptHash } from '../../src/agent/prompt.js';
import { renderContext } from '../../src/context/renderContext.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import { createAgentActor } from '../../src/runtime/agentActor.js';
import type { ErrorKind, Thread, ThreadEvent } from '../../src/thread/events.js';
import { scriptedHandler, startFakeOpenAI, type FakeOpenAI, type FakeReply } from '../support/fakeOpenAIServer.js';
import { eventsOf, runToEnd, settle, startRun, T0, typesOf } from '../support/agentHarness.js';

const API_KEY = 'sk-test-agent-machine-0123456789';
const servers: FakeOpenAI[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const call = (name: string, args: string): FakeReply => ({ toolCall: { name, arguments: args } });
const done = (message = 'done'): FakeReply => call('done_for_now', JSON.stringify({ message }));

/** Runs the calculator through the real openai SDK against a fake server answering `replies`. */
async function run(replies: FakeReply[], options: { timeoutMs?: number; input?: string } = {}) {
  const server = await startFakeOpenAI(scriptedHandler(replies));
  servers.push(server);
  const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'gpt-test', timeoutMs: options.timeoutMs ?? 10_000 });
  const { actor, clock, store } = await startRun({ agent: calculator, model, input: options.input ?? 'what is 2 + 3?' });
  const end = await runToEnd(actor, clock);
  return { end, server, store };
}

/** The thread as it was when the model was asked for the `n`-th time (0-based): the prefix before that decision or error. */
function contextAt(thread: Thread, n: number): string {
  const asks = thread.events.filter((e) => e.type === 'decision' || (e.type === 'error' && !['tool_error', 'tool_timeout', 'prefetch_error'].includes(e.data.kind)));
  const ask = asks[n]!;
  return renderContext(calculator, { ...thread, events: thread.events.filter((e) => e.seq < ask.seq) }).text;
}

describe('agent machine through the openai SDK', () => {
  it('happy path: sends the prompt, the compact context and strict tools, and records the decisions', async () => {
    const { end, server, store } = await run([call('add', '{"a":2,"b":3}'), done('2 + 3 = 5')]);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(await store.get('thread-1')).toEqual(end.thread);
    expect(eventsOf(end.thread, 'tool_result')[0]!.data.result).toBe(5);
    expect(eventsOf(end.thread, 'final')[0]!.data.output).toBe('2 + 3 = 5');

    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    const [decision] = eventsOf(end.thread, 'decision');
    expect(first!.model).toBe('gpt-test');
    expect(first!.messages).toHaveLength(2);
    const [system, user] = first!.messages;
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('You are calculator: does arithmetic with add, subtract, multiply and divide tools.');
    expect(system!.content).toContain('- done_for_now: Finish');
    expect(promptHash(system!.content as string, calculator.toolsDigest)).toBe(decision!.data.promptHash);
    expect(user).toEqual({ role: 'user', content: '<input>\nwhat is 2 + 3?\n</input>' });
    expect(second!.messages[1]!.content).toBe(contextAt(end.thread, 1));
    expect(second!.messages[1]!.content).toContain('<tool_result tool="add" call="call_2">\n5\n</tool_result>');

    expect(first!.tool_choice).toBe('required');
    expect(first!.parallel_tool_calls).toBe(false);
    expect(first!.tools!.map((t) => t.function.name)).toEqual(['add', 'subtract', 'multiply', 'divide', 'request_human_input', 'done_for_now']);
    for (const t of first!.tools!) {
      expect(t.type).toBe('function');
      expect(t.function.strict).toBe(true);
      const parameters = t.function.parameters as { additionalProperties: boolean; required: string[]; properties: object };
      expect(parameters.additionalProperties).toBe(false);
      expect(parameters.required).toEqual(Object.keys(parameters.properties));
    }
    const ask = first!.tools!.find((t) => t.function.name === 'request_human_input')!.function.parameters as { properties: Record<string, unknown> };
    expect(ask.properties.context).toEqual({ anyOf: [{ type: 'string', description: expect.any(String) }, { type: 'null' }] });

    expect(decision!.data).toMatchObject({ intent: 'add', args: { a: 2, b: 3 }, model: 'fake-model' });
    expect(decision!.data.tokens.prompt).toBeGreaterThan(0);
    expect(decision!.data.tokens.completion).toBeGreaterThan(0);
  });

  interface Case {
    name: string;
    failure: FakeReply;
    kind: ErrorKind;
    message: RegExp;
    timeoutMs?: number;
  }
  const cases: Case[] = [
    { name: 'HTTP 500', failure: { status: 500, message: 'the server is overloaded' }, kind: 'model_http', message: /HTTP 500: .*the server is overloaded/ },
    { name: 'HTTP 429', failure: { status: 429, message: 'rate limit reached' }, kind: 'model_http', message: /HTTP 429: .*rate limit reached/ },
    { name: 'HTTP 408', failure: { status: 408, message: 'request timeout' }, kind: 'model_http', message: /HTTP 408: .*request timeout/ },
    { name: 'HTTP 409', failure: { status: 409, message: 'try again' }, kind: 'model_http', message: /HTTP 409: .*try again/ },
    { name: 'a timeout', failure: { hang: true }, kind: 'model_timeout', message: /no answer within 300 ms \(the model's timeoutMs\)/, timeoutMs: 300 },
    { name: 'a body that is not JSON', failure: { raw: '{"choices": [' }, kind: 'model_http', message: /not valid JSON|JSON/ },
    { name: 'broken JSON arguments', failure: call('add', '{"a": 2, "b": '), kind: 'invalid_json', message: /arguments of add are not valid JSON/ },
    { name: 'an unknown tool name', failure: call('sqrt', '{"x":9}'), kind: 'unknown_intent', message: /unknown intent "sqrt"/ },
    { name: 'bad arguments', failure: call('add', '{"a":"two","b":3}'), kind: 'invalid_args', message: /arguments for add are invalid: a: / },
    { name: 'a text answer that is not JSON', failure: { content: 'five' }, kind: 'invalid_json', message: /not valid JSON/ },
    { name: 'an answer over 256 Ki characters', failure: done('x'.repeat(300 * 1024)), kind: 'invalid_json', message: /the model's answer is \d+ characters, over the limit of 262144/ },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s becomes an error event the model sees next, then the agent recovers', async (_name, c) => {
    const { end, server } = await run([c.failure, call('add', '{"a":2,"b":3}'), done('5')], { timeoutMs: c.timeoutMs });
    expect(end.status).toBe('done');
    expect(end.backoffs).toBe(1);
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.data.kind).toBe(c.kind);
    expect(errors[0]!.data.message).toMatch(c.message);
    expect(errors[0]!.data.message).not.toContain(API_KEY);
    expect(errors[0]!.data.retryAt).toBeDefined();
    expect(server.requests).toHaveLength(3);
    const retried = server.requests[1]!.messages[1]!.content as string;
    expect(retried).toContain(`<error kind="${c.kind}"`);
    expect(retried).toBe(contextAt(end.thread, 1));
    // Once the add succeeded, the error is resolved and hidden.
    expect(server.requests[2]!.messages[1]!.content).not.toContain('<error');
  });

  it.each([400, 401, 403, 404])('HTTP %i is not retried: the thread escalates at once, naming the status and the endpoint, never the key', async (status) => {
    const { end, server } = await run([{ status, message: `refused with ${API_KEY}` }, call('add', '{"a":2,"b":3}'), done('5')]);
    expect(end.status).toBe('escalated');
    expect(end.backoffs).toBe(0);
    expect(server.requests).toHaveLength(1);
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.data).toMatchObject({ kind: 'model_http', attempt: 1 });
    expect(errors[0]!.data.retryAt).toBeUndefined();
    expect(errors[0]!.data.message).toContain(`HTTP ${status}`);
    expect(errors[0]!.data.message).toContain(`${server.baseURL}/chat/completions`);
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('non_retryable_error');
    expect(escalation!.data.message).toContain(`HTTP ${status}`);
    const [request] = eventsOf(end.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'escalation', requestId: escalation!.data.requestId });
    expect(JSON.stringify(end.thread)).not.toContain(API_KEY);
  });

  it('three failures in a row escalate', async () => {
    // A 429 would not count here: rate limits have their own budget (see 'rate limits' below).
    const { end, server } = await run([{ status: 500 }, { status: 502 }, call('nope', '{}')]);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['model_http', 'model_http', 'unknown_intent']);
    expect(eventsOf(end.thread, 'human_request')[0]!.data.kind).toBe('escalation');
    expect(server.requests).toHaveLength(3);
  });

  it('three answers over the size limit in a row escalate, and the thread records none of them', async () => {
    const huge = done('x'.repeat(300 * 1024));
    const { end, server } = await run([huge, huge, huge]);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['invalid_json', 'invalid_json', 'invalid_json']);
    expect(server.requests).toHaveLength(3);
    expect(JSON.stringify(end.thread).length).toBeLessThan(10_000);
  });

  it('accepts a JSON text answer', async () => {
    const { end } = await run([{ content: '{"intent":"done_for_now","message":"it is 5"}' }]);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'final')[0]!.data.output).toBe('it is 5');
  });
});

describe('agent machine: rate limits', () => {
  const rateLimited = (headers: Record<string, string> = { 'retry-after': '30' }, status = 429): FakeReply => ({
    status,
    message: 'Rate limit reached for requests',
    headers,
  });
  /** How long after its error the thread waits before asking the model again, as recorded in the log. */
  const waitOf = (error: Extract<ThreadEvent, { type: 'error' }>): number => Date.parse(error.data.retryAt!) - Date.parse(error.at);
  /** A wait the server asked for (10 minutes at most): no sooner, and up to the backoff's 20 % jitter later (so threads refused together come back apart). */
  const expectServerWait = (wait: number, asked: number): void => {
    expect(wait).toBeGreaterThanOrEqual(asked);
    expect(wait).toBeLessThanOrEqual(asked * 1.2);
  };

  async function start(replies: FakeReply[]) {
    const server = await startFakeOpenAI(scriptedHandler(replies));
    servers.push(server);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'gpt-test', timeoutMs: 10_000 });
    const run = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
    return { ...run, server, model };
  }

  it('a 429 with Retry-After: 30 three times waits 30 s before each retry, then goes on without a human', async () => {
    const { actor, clock, server } = await start([rateLimited(), rateLimited(), rateLimited(), call('add', '{"a":2,"b":3}'), done('5')]);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'escalation')).toHaveLength(0);
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(3);
    for (const error of errors) {
      expectServerWait(waitOf(error), 30_000);
      expect(error.data.kind).toBe('model_http');
      expect(error.data.message).toMatch(/^rate limited/);
      expect(error.data.message).toContain(`retrying at ${error.data.retryAt}`);
      expect(error.data.message).toContain('HTTP 429');
      expect(error.data.message).not.toContain(API_KEY);
    }
    expect(server.requests).toHaveLength(5);
    expect(clock.now() - T0).toBeGreaterThanOrEqual(90_000);
    expect(JSON.stringify(end.thread)).not.toContain(API_KEY);
  });

  it.each([
    ['retry-after-ms on a 429', rateLimited({ 'retry-after-ms': '45000' }), 45_000],
    ['Retry-After as an HTTP date on a 503', rateLimited({ date: 'Wed, 01 Jan 2025 00:00:00 GMT', 'retry-after': 'Wed, 01 Jan 2025 00:00:20 GMT' }, 503), 20_000],
    ['a Retry-After of a day, capped at 10 minutes', rateLimited({ 'retry-after': '86400' }), 600_000],
  ])('%s sets the recorded backoff', async (_name, reply, expected) => {
    const { actor, clock } = await start([reply, done('5')]);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    const [error] = eventsOf(end.thread, 'error');
    expectServerWait(waitOf(error!), expected);
    expect(error!.data.message).toMatch(/^rate limited/);
  });

  it('a restarted thread still waits out the Retry-After recorded in its log', async () => {
    const { actor, clock, server, store, model } = await start([rateLimited(), call('add', '{"a":2,"b":3}'), done('5')]);
    const backingOff = await settle(actor);
    expect(backingOff.state).toBe('backingOff');
    expectServerWait(backingOff.backoffUntil! - T0, 30_000);
    actor.stop();

    clock.increment(10_000);
    const again = createAgentActor({ agent: calculator, thread: (await store.get('thread-1'))!, model, store, clock });
    const waiting = await settle(again);
    expect(waiting.state).toBe('backingOff');
    expect(waiting.backoffUntil).toBe(backingOff.backoffUntil);
    expect(server.requests).toHaveLength(1);

    const end = await runToEnd(again, clock);
    expect(end.status).toBe('done');
    expect(server.requests).toHaveLength(3);
  });

  it('a 429 without Retry-After backs off as usual, and is not counted as a bad answer either', async () => {
    const bare = rateLimited({});
    const { actor, clock } = await start([bare, bare, bare, call('add', '{"a":2,"b":3}'), done('5')]);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(3);
    // The agent's own backoff: 1 s doubling, with 20% jitter.
    expect(waitOf(errors[0]!)).toBeLessThanOrEqual(1_200);
    expect(errors[0]!.data.message).toMatch(/^rate limited/);
  });

  it('a 429 whose Retry-After is no delay (text, a negative number) backs off as usual, and its error does not say the server gave none', async () => {
    const { actor, clock } = await start([rateLimited({ 'retry-after': 'banana' }), rateLimited({ 'retry-after': '-5' }), call('add', '{"a":2,"b":3}'), done('5')]);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    const messages = eventsOf(end.thread, 'error').map((e) => e.data.message);
    expect(messages).toEqual([expect.stringContaining('the server gave no Retry-After that reads as a delay'), expect.stringContaining('the server gave no Retry-After that reads as a delay')]);
  });

  it('rate limits do not count toward maxConsecutiveErrors: two bad answers among them do not escalate', async () => {
    const { actor, clock } = await start([rateLimited(), call('nope', '{}'), rateLimited(), call('nope', '{}'), rateLimited(), call('add', '{"a":2,"b":3}'), done('5')]);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['model_http', 'unknown_intent', 'model_http', 'unknown_intent', 'model_http']);
  });

  it('endless rate limits escalate after 10 in a row, saying so', async () => {
    const { actor, clock, server } = await start(Array.from({ length: 30 }, () => rateLimited({ 'retry-after': '5' })));
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('escalated');
    expect(server.requests).toHaveLength(10);
    const errors = eventsOf(end.thread, 'error');
    expect(errors).toHaveLength(10);
    expect(errors.at(-1)!.data.retryAt).toBeUndefined();
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('max_consecutive_rate_limits');
    // The limit that fired is named: raising maxConsecutiveErrors would change nothing (QA20 debug D6).
    expect(escalation!.data.message).toMatch(/^10 rate limits in a row \(maxConsecutiveRateLimits\); the last: /);
    expect(JSON.stringify(end.thread)).not.toContain(API_KEY);
  });
});
