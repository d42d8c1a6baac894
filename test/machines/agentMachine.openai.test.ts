import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { promptHash } from '../../src/agent/prompt.js';
import { renderContext } from '../../src/context/renderContext.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import type { ErrorKind, Thread } from '../../src/thread/events.js';
import { scriptedHandler, startFakeOpenAI, type FakeOpenAI, type FakeReply } from '../support/fakeOpenAIServer.js';
import { eventsOf, runToEnd, startRun, typesOf } from '../support/agentHarness.js';

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
    expect(promptHash(system!.content as string)).toBe(decision!.data.promptHash);
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
    { name: 'a timeout', failure: { hang: true }, kind: 'model_timeout', message: /timed out after 300ms/, timeoutMs: 300 },
    { name: 'a body that is not JSON', failure: { raw: '{"choices": [' }, kind: 'model_http', message: /not valid JSON|JSON/ },
    { name: 'broken JSON arguments', failure: call('add', '{"a": 2, "b": '), kind: 'invalid_json', message: /arguments of add are not valid JSON/ },
    { name: 'an unknown tool name', failure: call('sqrt', '{"x":9}'), kind: 'unknown_intent', message: /unknown intent "sqrt"/ },
    { name: 'bad arguments', failure: call('add', '{"a":"two","b":3}'), kind: 'invalid_args', message: /arguments for add are invalid: a: / },
    { name: 'a text answer that is not JSON', failure: { content: 'five' }, kind: 'invalid_json', message: /not valid JSON/ },
    { name: 'an answer over 256 Ki characters', failure: done('x'.repeat(300 * 1024)), kind: 'model_http', message: /the model's answer is \d+ characters, over the limit of 262144/ },
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
    const { end, server } = await run([{ status: 500 }, { status: 429 }, call('nope', '{}')]);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['model_http', 'model_http', 'unknown_intent']);
    expect(eventsOf(end.thread, 'human_request')[0]!.data.kind).toBe('escalation');
    expect(server.requests).toHaveLength(3);
  });

  it('three answers over the size limit in a row escalate, and the thread records none of them', async () => {
    const huge = done('x'.repeat(300 * 1024));
    const { end, server } = await run([huge, huge, huge]);
    expect(end.status).toBe('escalated');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['model_http', 'model_http', 'model_http']);
    expect(server.requests).toHaveLength(3);
    expect(JSON.stringify(end.thread).length).toBeLessThan(10_000);
  });

  it('accepts a JSON text answer', async () => {
    const { end } = await run([{ content: '{"intent":"done_for_now","message":"it is 5"}' }]);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'final')[0]!.data.output).toBe('it is 5');
  });
});
