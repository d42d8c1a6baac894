import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { ModelRequest, ModelResult, ToolSpec } from '../../src/model/model.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import { eventsOf, runToEnd, startRun } from '../support/agentHarness.js';

// Answers of OpenAI-compatible providers with their quirks, served as they send them by a raw
// server on 127.0.0.1 (the shared fake serves only well-formed answers).

const chargeTool: ToolSpec = {
  name: 'charge',
  description: 'Charges an amount.',
  parameters: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'], additionalProperties: false },
};

function request(): ModelRequest {
  return { threadId: 't-1', agent: 'payer', system: 'You charge.', context: '<input>charge 5</input>', tools: [chargeTool], signal: new AbortController().signal };
}

/** What the raw server answers: a status, headers and a body, as given. */
interface Served {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A request the raw server received. */
interface Received {
  readonly url: string;
  readonly authorization: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

interface RawServer {
  readonly baseURL: string;
  readonly received: Received[];
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A server answering every request with `answer(received)`. */
async function rawServer(answer: (received: Received) => Served): Promise<RawServer> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const got = { url: req.url ?? '', authorization: req.headers.authorization, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(got);
      const served = answer(got);
      res.writeHead(served.status ?? 200, { 'content-type': 'application/json', ...served.headers });
      res.end(served.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  return { baseURL: `http://127.0.0.1:${port}/v1`, received };
}

/** A chat.completion body whose first choice is `choice` (its `message` and `finish_reason`, or anything). */
function completion(choice: Record<string, unknown>): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'fake-model',
    choices: [{ index: 0, finish_reason: 'stop', ...choice }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });
}

function functionCall(id: string, name: string, args: unknown): Record<string, unknown> {
  return { id, type: 'function', function: { name, arguments: args } };
}

/** A completion answering these tool calls. */
function toolCalls(...calls: Array<Record<string, unknown>>): string {
  return completion({ finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: calls } });
}

async function answerOf(served: Served, options: Parameters<typeof createOpenAIModel>[0] = {}): Promise<ModelResult> {
  const server = await rawServer(() => served);
  return createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123', ...options }).complete(request());
}

/** `message` with the endpoint of a {@link rawServer} it names first as `<endpoint>`. */
function endpointNamed(message: string): string {
  return message.replace(/^POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions: /, 'POST <endpoint>: ');
}

/** What a failure says of an answer the provider's content filter withheld. */
const CONTENT_FILTERED = 'the provider\'s content filter withheld the answer (finish_reason "content_filter"); the same context is usually filtered again, so it is not retried: review the thread\'s input, or the filter\'s settings at the provider';

function failureOf(result: ModelResult) {
  if (result.success) throw new Error(`expected a failure, got ${JSON.stringify(result.data)}`);
  return result.error;
}

describe('createOpenAIModel: answers with several tool calls', () => {
  it('refuses an answer with more than one tool call as a malformed answer naming every call, none taken', async () => {
    const result = await answerOf({
      body: toolCalls(functionCall('a', 'charge', '{"amount":5}'), functionCall('b', 'charge', '{"amount":7}'), functionCall('c', 'done_for_now', '{"message":"charged both"}')),
    });
    const error = failureOf(result);
    // No status: handled as any malformed answer (retried, counted toward errors in a row), not a refused request.
    expect(error.status).toBeUndefined();
    expect(error.kind).toBe('malformed');
    expect(error.message).toBe('answer with exactly one tool call; this answer had 3: charge, charge, done_for_now (none was run)');
  });

  /** The calculator run through createOpenAIModel against a raw server answering `bodies` in turn. */
  async function runAgainst(bodies: string[]) {
    const server = await rawServer(() => ({ body: bodies.shift() ?? toolCalls(functionCall('z', 'done_for_now', '{"message":"out of answers"}')) }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    const { actor, clock } = await startRun({ agent: calculator, model, input: 'what is 2 + 3 and 4 + 5?' });
    return { end: await runToEnd(actor, clock), server };
  }

  const twoCalls = (): string => toolCalls(functionCall('a', 'add', '{"a":2,"b":3}'), functionCall('b', 'add', '{"a":4,"b":5}'));

  it('is recorded in the thread as a malformed answer is (invalid_json, as unparseable arguments or no tool call are), and retried', async () => {
    const { end, server } = await runAgainst([twoCalls(), toolCalls(functionCall('c', 'done_for_now', '{"message":"5 and 9"}'))]);
    expect(end.status).toBe('done');
    expect(server.received).toHaveLength(2);
    const errors = eventsOf(end.thread, 'error');
    expect(errors.map((e) => e.data.kind)).toEqual(['invalid_json']);
    expect(errors[0]!.data.message).toBe('answer with exactly one tool call; this answer had 2: add, add (none was run)');
    expect(errors[0]!.data.retryAt).toBeDefined();
    // The model is told, on its retry, that its answer was malformed, not that the endpoint failed.
    expect(server.received[1]!.body).toContain('<error kind=\\"invalid_json\\"');
  });

  it('counts toward maxConsecutiveErrors as any malformed answer: three in a row escalate', async () => {
    const { end, server } = await runAgainst([twoCalls(), twoCalls(), twoCalls()]);
    expect(end.status).toBe('escalated');
    expect(server.received).toHaveLength(3);
    expect(eventsOf(end.thread, 'error').map((e) => [e.data.kind, e.data.attempt])).toEqual([['invalid_json', 1], ['invalid_json', 2], ['invalid_json', 3]]);
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('max_consecutive_errors');
    expect(escalation!.data.message).toMatch(/^3 errors in a row \(maxConsecutiveErrors\); the last: answer with exactly one tool call/);
  });

  it('still takes an answer with exactly one tool call', async () => {
    const result = await answerOf({ body: toolCalls(functionCall('a', 'charge', '{"amount":5}')) });
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount":5}' } } });
  });
});

describe('createOpenAIModel: a key and base URL read from secret files', () => {
  /** A server answering 401 with the bearer token it received, as OpenAI's "Incorrect API key provided" does. */
  function echoingKey(received: Received): Served {
    const token = (received.authorization ?? '').replace(/^Bearer /, '');
    return { status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${token}.`, type: 'invalid_request_error', code: 'invalid_api_key' } }) };
  }

  it.each([
    ['a trailing newline', 'sk-SECRET123\n'],
    ['a CRLF', 'sk-SECRET123\r\n'],
    ['spaces around it', '  sk-SECRET123 '],
  ])('trims a key with %s, so the key the server echoes is redacted', async (_name, apiKey) => {
    const server = await rawServer(echoingKey);
    const error = failureOf(await createOpenAIModel({ baseURL: server.baseURL, apiKey }).complete(request()));
    expect(server.received[0]?.authorization).toBe('Bearer sk-SECRET123');
    expect(error.status).toBe(401);
    expect(error.message).toContain('Incorrect API key provided: [redacted].');
    expect(error.message).not.toContain('SECRET123');
  });

  it('trims a key read from the environment too', async () => {
    const server = await rawServer(echoingKey);
    const model = createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: `${server.baseURL}\n`, SWITCHYARD_MODEL_API_KEY: 'sk-SECRET123\n' } });
    const error = failureOf(await model.complete(request()));
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain('SECRET123');
  });

  it.each([
    ['a trailing newline', '\n'],
    ['a trailing slash and a newline', '/\n'],
    ['doubled trailing slashes', '//'],
    ['spaces around it', ' '],
  ])('requests the URL its errors name when the base URL has %s', async (_name, suffix) => {
    const server = await rawServer((received) => received.url === '/v1/chat/completions'
      ? { body: toolCalls(functionCall('a', 'charge', '{"amount":5}')) }
      : { status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found' });
    const baseURL = suffix === ' ' ? ` ${server.baseURL} ` : `${server.baseURL}${suffix}`;
    const result = await createOpenAIModel({ baseURL, apiKey: 'sk-test-secret-123' }).complete(request());
    expect(server.received.map((received) => received.url)).toEqual(['/v1/chat/completions']);
    expect(result.success).toBe(true);
  });
});

describe('createOpenAIModel: tool call arguments as providers send them', () => {
  it('takes arguments sent as a JSON object, not a string, as their JSON text', async () => {
    const result = await answerOf({ body: toolCalls(functionCall('c1', 'charge', { amount: 5, note: 'a "b"' })) });
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount":5,"note":"a \\"b\\""}' } } });
  });

  it('takes arguments sent as a JSON array or number as their JSON text, and missing ones as none', async () => {
    const sent: unknown[] = [[1, 2], 7, undefined];
    const server = await rawServer(() => ({ body: toolCalls(functionCall('c1', 'charge', sent.shift())) }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    const answers = [await model.complete(request()), await model.complete(request()), await model.complete(request())];
    expect(answers.map((answer) => (answer.success ? answer.data.toolCall?.arguments : answer.error.message))).toEqual(['[1,2]', '7', '']);
  });
});

/** A completion answering in the API's pre-tools shape: `message.function_call`. */
function legacyCall(name: string, args: unknown): string {
  return completion({ finish_reason: 'function_call', message: { role: 'assistant', content: null, function_call: { name, arguments: args } } });
}

describe('createOpenAIModel: a legacy function_call answer (the pre-tools API shape)', () => {
  it('takes message.function_call as the tool call it is, its arguments as a tool call\'s are', async () => {
    const sent = [legacyCall('charge', '{"amount":5}'), legacyCall('functions.charge', { amount: 7 })];
    const server = await rawServer(() => ({ body: sent.shift() ?? '' }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    expect(await model.complete(request())).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount":5}' } } });
    expect(await model.complete(request())).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount":7}' } } });
  });

  it('runs a thread answered in that shape: its calls are checked and run as tool calls are', async () => {
    const bodies = [legacyCall('add', '{"a":2}'), legacyCall('add', '{"a":2,"b":3}'), legacyCall('done_for_now', '{"message":"5"}')];
    const server = await rawServer(() => ({ body: bodies.shift() ?? legacyCall('done_for_now', '{"message":"out of answers"}') }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    const { actor, clock } = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(server.received).toHaveLength(3);
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['invalid_args']);
    expect(eventsOf(end.thread, 'tool_result')).toHaveLength(1);
  });
});

describe('createOpenAIModel: a <tool_call> block in the text (a vLLM or llama.cpp server without a tool parser)', () => {
  it('runs a thread answered so: each block is the tool call it holds, checked as a tool call is', async () => {
    const text = (name: string, args: string): string => completion({ message: { role: 'assistant', content: `<tool_call>\n{"name": "${name}", "arguments": ${args}}\n</tool_call>` } });
    const bodies = [text('power', '{"a":2,"b":3}'), text('add', '{"a":2,"b":3}'), text('done_for_now', '{"message":"5"}')];
    const server = await rawServer(() => ({ body: bodies.shift() ?? text('done_for_now', '{"message":"out of answers"}') }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    const { actor, clock } = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['unknown_intent']);
    expect(eventsOf(end.thread, 'tool_result')).toHaveLength(1);
  });
});

describe('createOpenAIModel: tool names as gpt-oss servers send them (QA28 D2)', () => {
  it.each([
    ['charge<|channel|>commentary', 'charge'],
    ['charge <|constrain|>json', 'charge'],
    ['functions.charge', 'charge'],
    ['functions.charge<|channel|>commentary', 'charge'],
  ])('takes %j, Harmony tokens leaked or the recipient prefix kept, as the offered tool %j', async (sent, taken) => {
    const result = await answerOf({ body: toolCalls(functionCall('c1', sent, '{"amount":5}')) });
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: taken, arguments: '{"amount":5}' } } });
  });

  it('keeps a name that is no offered tool once cleaned as it came, for the error to show', async () => {
    const result = await answerOf({ body: toolCalls(functionCall('c1', 'assistant<|channel|>analysis', '{}')) });
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'assistant<|channel|>analysis' } } });
  });
});

describe('createOpenAIModel: a 400 refusing a field the options control (QA28 D6)', () => {
  it.each([
    ["Unsupported parameter: 'parallel_tool_calls' is not supported with this model.", 'the server refuses parallel_tool_calls: pass parallelToolCalls: null to createOpenAIModel'],
    ['"required" tool_choice is not supported', "the server refuses tool_choice: pass toolChoice: 'auto' (or null) to createOpenAIModel"],
    ['Validation Error: "strict" - Extra inputs are not permitted', 'the server refuses strict tools: pass strict: false (or null) to createOpenAIModel'],
  ])('names the option that stops sending what %j refuses, before the server\'s words', async (said, hint) => {
    const result = await answerOf({ status: 400, body: JSON.stringify({ error: { message: said, type: 'invalid_request_error' } }) });
    expect(endpointNamed(failureOf(result).message)).toBe(`POST <endpoint>: ${hint}; 400 ${said}`);
  });

  it.each([
    'Unrecognized request argument supplied: strict',
    'Invalid JSON payload received. Unknown name "strict" at \'tools[0].function\': Cannot find field.',
  ])('names the strict option for %j too', async (said) => {
    const result = await answerOf({ status: 400, body: JSON.stringify({ error: { message: said } }) });
    expect(endpointNamed(failureOf(result).message)).toBe(`POST <endpoint>: the server refuses strict tools: pass strict: false (or null) to createOpenAIModel; 400 ${said}`);
  });

  it("says nothing of strict for OpenAI's own strict-schema errors, where the schema is the problem (review28 item 12)", async () => {
    const said = "Invalid schema for function 'charge': In context=(), 'additionalProperties' is required to be supplied and to be false (strict mode).";
    const result = await answerOf({ status: 400, body: JSON.stringify({ error: { message: said } }) });
    expect(endpointNamed(failureOf(result).message)).toBe(`POST <endpoint>: 400 ${said}`);
  });

  it('says nothing of an option that already sends nothing, nor of another 400', async () => {
    const refused = JSON.stringify({ error: { message: "Unsupported parameter: 'parallel_tool_calls'" } });
    const unsent = await answerOf({ status: 400, body: refused }, { parallelToolCalls: null });
    const other = await answerOf({ status: 400, body: JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens." } }) });
    expect([endpointNamed(failureOf(unsent).message), endpointNamed(failureOf(other).message)]).toEqual([
      "POST <endpoint>: 400 Unsupported parameter: 'parallel_tool_calls'",
      "POST <endpoint>: 400 This model's maximum context length is 8192 tokens.",
    ]);
  });
});

describe('createOpenAIModel: an HTML page instead of the API (QA28 D7)', () => {
  // The head of a gateway's error page, as Cloudflare serves it: its title comes after 300 characters.
  const page = [
    '<!DOCTYPE html>',
    '<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->',
    '<!--[if IE 7]>    <html class="no-js ie7 oldie" lang="en-US"> <![endif]-->',
    '<!--[if IE 8]>    <html class="no-js ie8 oldie" lang="en-US"> <![endif]-->',
    '<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->',
    '<head>',
    '<title>api.example.com | 524: A timeout occurred</title>',
    '<meta charset="UTF-8" />',
    `<style>${'body{margin:0}'.repeat(100)}</style>`,
    '</head><body>A timeout occurred</body></html>',
  ].join('\n');

  it("names an error status's HTML page by its title, which a quote of its first characters would miss", async () => {
    const result = await answerOf({ status: 524, headers: { 'content-type': 'text/html' }, body: page });
    expect(endpointNamed(failureOf(result).message)).toBe('POST <endpoint>: 524 an HTML page, not the API\'s JSON: "api.example.com | 524: A timeout occurred"');
  });

  it('names an HTML page served with status 200 by its title too', async () => {
    const result = await answerOf({ headers: { 'content-type': 'text/html' }, body: '<html><head><title>Sign in &amp; continue</title></head><body>login</body></html>' });
    expect(endpointNamed(failureOf(result).message)).toBe('POST <endpoint>: model response is an HTML page, not the API\'s JSON: "Sign in & continue"');
  });
});

describe('createOpenAIModel: an empty answer and a base URL without its path (QA28 D8, D9)', () => {
  it('says a 200 with an empty body is empty', async () => {
    const result = await answerOf({ body: '' });
    expect(endpointNamed(failureOf(result).message)).toBe('POST <endpoint>: model response is an empty body');
  });

  it('says on a 404 to a base URL without a path that servers mostly serve the API under /v1', async () => {
    const server = await rawServer(() => ({ status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found' }));
    const origin = server.baseURL.replace(/\/v1$/, '');
    const result = await createOpenAIModel({ baseURL: origin, apiKey: 'sk-test-secret-123' }).complete(request());
    expect(failureOf(result).message).toBe(`POST ${origin}/chat/completions: the base URL has no path: OpenAI-compatible servers mostly serve the API under /v1 (${origin}/v1); 404 404 page not found`);
  });

  it('says nothing of /v1 on a 404 to a base URL with a path (a wrong model, say)', async () => {
    const result = await answerOf({ status: 404, body: JSON.stringify({ error: { message: 'The model `gpt-9` does not exist' } }) });
    expect(endpointNamed(failureOf(result).message)).toBe('POST <endpoint>: 404 The model `gpt-9` does not exist');
  });
});

describe('createOpenAIModel: an answer of reasoning only (QA28 D11)', () => {
  it.each(['reasoning_content', 'reasoning'])('says the token limit was reached while reasoning (%s), before any answer, and what to raise', async (field) => {
    const result = await answerOf({ body: completion({ finish_reason: 'length', message: { role: 'assistant', content: '', [field]: 'Let me think. '.repeat(10) } }) });
    expect(failureOf(result)).toMatchObject({
      kind: 'malformed',
      message: 'the token limit was reached while reasoning (139 characters), before any answer: answer sooner, or raise the output limit (extraBody max_completion_tokens or max_tokens)',
    });
  });

  it('says an answer of reasoning alone had no answer, rather than nothing', async () => {
    const result = await answerOf({ body: completion({ finish_reason: 'stop', message: { role: 'assistant', content: null, reasoning_content: 'I will call charge.' } }) });
    expect(failureOf(result)).toMatchObject({ kind: 'malformed', message: 'the model wrote only reasoning (19 characters), no answer: neither a tool call nor text' });
  });
});

describe('createOpenAIModel: what a provider says about an answer it did not give', () => {
  it('says an answer cut at the token limit was cut, quoting what came', async () => {
    const error = failureOf(await answerOf({
      body: completion({ finish_reason: 'length', message: { role: 'assistant', content: null, tool_calls: [functionCall('a', 'charge', '{"amount": 5, "note": "abc')] } }),
    }));
    expect(error.status).toBeUndefined();
    // The model's answer, not the endpoint, failed: recorded as one that does not parse is.
    expect(error.kind).toBe('malformed');
    expect(error.message).toBe('the answer was cut off at the token limit (finish_reason "length") before it was complete; answer more briefly. It began: "{\\"amount\\": 5, \\"note\\": \\"abc"');
  });

  it('takes an answer at the token limit whose tool call or text is a whole JSON object: nothing of it was cut', async () => {
    const call = await answerOf({
      body: completion({ finish_reason: 'length', message: { role: 'assistant', content: null, tool_calls: [functionCall('a', 'charge', '{"amount": 5, "note": "abc"}')] } }),
    });
    expect(call).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount": 5, "note": "abc"}' } } });
    const text = await answerOf({ body: completion({ finish_reason: 'length', message: { role: 'assistant', content: '{"intent":"charge","args":{"amount":5}}' } }) });
    expect(text).toMatchObject({ success: true, data: { text: '{"intent":"charge","args":{"amount":5}}' } });
  });

  it('still refuses one at the token limit whose answer is JSON that may continue (a number) or no JSON at all', async () => {
    for (const content of ['12', 'I will charge']) {
      const error = failureOf(await answerOf({ body: completion({ finish_reason: 'length', message: { role: 'assistant', content } }) }));
      expect(error.message).toMatch(/^the answer was cut off at the token limit/);
    }
  });

  it('says a text answer cut at the token limit was cut too', async () => {
    const error = failureOf(await answerOf({ body: completion({ finish_reason: 'length', message: { role: 'assistant', content: '{"intent":"charge","amo' } }) }));
    expect(error.kind).toBe('malformed');
    expect(error.message).toMatch(/^the answer was cut off at the token limit \(finish_reason "length"\)/);
    expect(error.message).toContain('It began: "{\\"intent\\":\\"charge\\",\\"amo"');
  });

  it("says the provider's content filter withheld the answer, and that it is not retried", async () => {
    const error = failureOf(await answerOf({ body: completion({ finish_reason: 'content_filter', message: { role: 'assistant', content: null } }) }));
    expect(error.status).toBeUndefined();
    // The provider withheld it: an endpoint's failure, which the same context meets again.
    expect(error.kind).toBe('http');
    expect(error.retryable).toBe(false);
    expect(endpointNamed(error.message)).toBe(`POST <endpoint>: ${CONTENT_FILTERED}`);
  });

  it('escalates a thread whose answer the content filter withheld at once, naming the filter, not after three attempts', async () => {
    const server = await rawServer(() => ({ body: completion({ finish_reason: 'content_filter', message: { role: 'assistant', content: null } }) }));
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'sk-test-secret-123' });
    const { actor, clock } = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('escalated');
    expect(server.received).toHaveLength(1);
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('non_retryable_error');
    expect(endpointNamed(escalation!.data.message.replace(/^not retried: /, ''))).toBe(`POST <endpoint>: ${CONTENT_FILTERED}`);
  });

  it("quotes the model's refusal", async () => {
    const error = failureOf(await answerOf({ body: completion({ message: { role: 'assistant', content: null, refusal: "I'm sorry, I can't help with charging cards." } }) }));
    expect(error.status).toBeUndefined();
    expect(error.kind).toBe('malformed');
    expect(error.message).toBe('the model refused: "I\'m sorry, I can\'t help with charging cards."');
  });

  it("quotes the model's refusal when it reasoned before refusing, rather than reporting reasoning only (review28 item 5)", async () => {
    const error = failureOf(await answerOf({ body: completion({ message: { role: 'assistant', content: null, refusal: 'I cannot do that.', reasoning_content: 'This is not allowed.' } }) }));
    expect(error.message).toBe('the model refused: "I cannot do that."');
  });

  it("quotes an error the provider put in the choice (OpenRouter's upstream errors)", async () => {
    const error = failureOf(await answerOf({
      body: completion({ finish_reason: 'error', error: { code: 502, message: 'Provider returned error: upstream overloaded' }, message: { role: 'assistant', content: '' } }),
    }));
    expect(error.status).toBeUndefined();
    expect(endpointNamed(error.message)).toBe('POST <endpoint>: the provider answered with an error instead of an answer: 502 Provider returned error: upstream overloaded');
  });

  it('takes content given as text parts as their text', async () => {
    const result = await answerOf({
      body: completion({ message: { role: 'assistant', content: [{ type: 'text', text: '{"intent":"charge",' }, { type: 'text', text: '"amount":5}' }] } }),
    });
    expect(result).toMatchObject({ success: true, data: { text: '{"intent":"charge","amount":5}' } });
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain; charset=utf-8' }],
    ['no content type', { 'content-type': '' }],
  ])('takes a JSON completion served as %s', async (_name, headers) => {
    const result = await answerOf({ headers, body: toolCalls(functionCall('a', 'charge', '{"amount":5}')) });
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'charge', arguments: '{"amount":5}' }, model: 'fake-model' } });
  });

  it('says a body served as text that is no JSON object is not one, quoting it', async () => {
    const error = failureOf(await answerOf({ headers: { 'content-type': 'text/plain' }, body: 'upstream said no' }));
    expect(endpointNamed(error.message)).toBe('POST <endpoint>: model response is not a JSON object: "upstream said no"');
  });
});

describe('createOpenAIModel: placeholder keys', () => {
  /** A server answering 404 with `message`. */
  function notFound(message: string): Served {
    return { status: 404, body: JSON.stringify({ error: { message, type: 'not_found_error' } }) };
  }

  it.each([
    ['ollama', 'model "ollama/llama3.1" not found, try pulling it first'],
    ['EMPTY', 'EMPTY is not a model; try EMPTY-chat'],
    ['x', 'Unexpected token x in max_tokens'],
    ['sk-1234', 'key sk-1234 is a placeholder'],
  ])('leaves a failure message whole when the key is the placeholder %j, too short to be a secret', async (apiKey, message) => {
    const error = failureOf(await answerOf(notFound(message), { apiKey }));
    expect(error.message).toContain(`404 ${message}`);
    expect(error.message).not.toContain('[redacted]');
  });

  it('still redacts a key of 8 characters or more', async () => {
    const error = failureOf(await answerOf(notFound('key sk-12345 is revoked'), { apiKey: 'sk-12345' }));
    expect(error.message).toContain('404 key [redacted] is revoked');
  });
});

describe('createOpenAIModel: provider errors their status misstates', () => {
  it("reads Groq's 400 tool_use_failed as a malformed answer (retried: no status) quoting the failed generation", async () => {
    const body = { error: { message: 'Failed to call a function.', type: 'invalid_request_error', code: 'tool_use_failed', failed_generation: '<function=charge>{"amount": 5}</function>' } };
    const result = await answerOf({ status: 400, body: JSON.stringify(body) });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.status).toBeUndefined();
    // Recorded as a model answer that does not parse is (invalid_json), not as an endpoint's failure.
    expect(result.error.kind).toBe('malformed');
    expect(result.error.message).toContain('<function=charge>');
  });

  it("reads OpenAI's 429 insufficient_quota as a failure not to retry", async () => {
    const body = { error: { message: 'You exceeded your current quota.', type: 'insufficient_quota', code: 'insufficient_quota' } };
    const result = await answerOf({ status: 429, body: JSON.stringify(body) });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error).toMatchObject({ status: 429, retryable: false });
    expect(result.error.message).toContain('You exceeded your current quota.');
  });
});

describe('createOpenAIModel: credentials in custom headers', () => {
  it('redacts from a failure the value of a custom header whose name says it is a credential, as it redacts the key', async () => {
    const body = { error: { message: 'gateway refused token gw-SECRET-123456 for this route', type: 'invalid_request_error' } };
    const result = await answerOf({ status: 401, body: JSON.stringify(body) }, { env: { OPENAI_CUSTOM_HEADERS: 'cf-aig-authorization: Bearer gw-SECRET-123456\nX-Team: blue-team-label' } });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.message).not.toContain('gw-SECRET-123456');
    expect(result.error.message).toContain('[redacted]');
  });
});

describe('createOpenAIModel: credentials a failing endpoint echoes (QA25 D6)', () => {
  /** A 401 whose message echoes the request's URL and headers, as some gateways' do. */
  const echo = (got: Received): Served => ({
    status: 401,
    body: JSON.stringify({ error: { message: `refused ${got.url} with ${JSON.stringify(got.headers)}`, type: 'invalid_request_error' } }),
  });

  it('redacts a base URL query secret in the percent-encoded form the request carries, and decoded', async () => {
    const server = await rawServer(echo);
    const result = await createOpenAIModel({ baseURL: `${server.baseURL}?api_key=MQK%2Fenc%3D7777`, apiKey: 'sk-test-secret-123' }).complete(request());
    expect(server.received[0]?.url).toContain('MQK%2Fenc%3D7777');
    const { message } = failureOf(result);
    expect(message).toContain('api_key=[redacted]');
    expect(message).not.toMatch(/MQK/);
  });

  it('redacts a base URL password in its percent-encoded form too', async () => {
    const server = await rawServer((got) => ({ status: 401, body: JSON.stringify({ error: { message: `bad basic auth pw%40ss-PLANT-42 (${got.url})` } }) }));
    const url = new URL(server.baseURL);
    url.username = 'bob';
    url.password = 'pw%40ss-PLANT-42';
    const { message } = failureOf(await createOpenAIModel({ baseURL: url.href, apiKey: 'sk-test-secret-123' }).complete(request()));
    expect(message).not.toMatch(/PLANT/);
  });

  it('redacts a Cookie custom header: a gateway session is a credential', async () => {
    const server = await rawServer(echo);
    const result = await createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: server.baseURL, SWITCHYARD_MODEL_API_KEY: 'sk-test-secret-123', OPENAI_CUSTOM_HEADERS: 'Cookie: session=COOKIE-plant-8181\nX-Team: blue-team-label' } }).complete(request());
    expect(server.received[0]?.headers.cookie).toBe('session=COOKIE-plant-8181');
    const { message } = failureOf(result);
    expect(message).toContain('"cookie":"[redacted]"');
    expect(message).not.toContain('COOKIE-plant-8181');
  });
});
