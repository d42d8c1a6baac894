import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ModelRequest, ModelResult, ToolSpec } from '../../src/model/model.js';
import { createHttpTransport, isHttpTransportFetch } from '../../src/model/httpTransport.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import { REFUSED_PORT } from '../support/refusedPort.js';
import {
  benchHandler,
  scriptedHandler,
  startFakeOpenAI,
  type ChatRequestBody,
  type FakeOpenAI,
  type FakeReply,
} from '../support/fakeOpenAIServer.js';

const API_KEY = 'sk-test-secret-123';

const addTool: ToolSpec = {
  name: 'add',
  description: 'Adds two numbers.',
  parameters: {
    type: 'object',
    properties: { a: { type: 'number' }, b: { type: 'number' } },
    required: ['a', 'b'],
    additionalProperties: false,
  },
};

function request(overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    threadId: 't-1',
    agent: 'calculator',
    system: 'You are a calculator.',
    context: '<input>add 1 and 2</input>',
    tools: [addTool],
    signal: new AbortController().signal,
    ...overrides,
  };
}

const servers: FakeOpenAI[] = [];
async function fake(replies: FakeReply[]): Promise<FakeOpenAI> {
  const server = await startFakeOpenAI(scriptedHandler(replies));
  servers.push(server);
  return server;
}

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function expectFailure(result: ModelResult) {
  expect(result.success).toBe(false);
  if (result.success) throw new Error('expected a failure');
  expect(result.error.message).not.toContain(API_KEY);
  expect(result.error.message.length).toBeLessThanOrEqual(300);
  return result.error;
}

/** A port on 127.0.0.1 that nothing listens on (see {@link REFUSED_PORT}). */
async function closedPort(): Promise<number> {
  return REFUSED_PORT;
}

describe('createOpenAIModel', () => {
  it('returns the first tool call with usage and the server-reported model', async () => {
    const server = await fake([{ toolCall: { name: 'add', arguments: '{"a":1,"b":2}' } }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'my-model' });

    const result = await model.complete(request());

    expect(model.name).toBe('my-model');
    expect(result.success).toBe(true);
    if (!result.success) return;
    expect(result.data.toolCall).toEqual({ name: 'add', arguments: '{"a":1,"b":2}' });
    expect(result.data.text).toBeUndefined();
    expect(result.data.model).toBe('fake-model');
    expect(result.data.usage.prompt).toBeGreaterThan(0);
    expect(result.data.usage.completion).toBeGreaterThan(0);
  });

  it('returns tool arguments unparsed, even when they are not JSON', async () => {
    const server = await fake([{ toolCall: { name: 'add', arguments: '{"a":1,' } }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const result = await model.complete(request());
    expect(result).toMatchObject({ success: true, data: { toolCall: { arguments: '{"a":1,' } } });
  });

  it('returns a text answer when there is no tool call', async () => {
    const server = await fake([{ content: '{"intent":"done_for_now"}' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });

    const result = await model.complete(request());

    expect(result).toMatchObject({ success: true, data: { text: '{"intent":"done_for_now"}' } });
    if (result.success) expect(result.data.toolCall).toBeUndefined();
  });

  it('sends the prompt, context and strict tools with tool_choice required', async () => {
    const server = await fake([{ content: 'ok' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'my-model' });

    await model.complete(request());

    expect(server.requests).toHaveLength(1);
    const body = server.requests[0] as ChatRequestBody;
    expect(body.model).toBe('my-model');
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are a calculator.' },
      { role: 'user', content: '<input>add 1 and 2</input>' },
    ]);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'add',
          description: 'Adds two numbers.',
          parameters: addTool.parameters,
          strict: true,
        },
      },
    ]);
    expect(body.tool_choice).toBe('required');
    expect(body.parallel_tool_calls).toBe(false);
    expect('temperature' in body).toBe(false);
  });

  it('sends the body the SDK would serialize, byte for byte, as JSON with the bearer key; a caller\'s client gets the body object', async () => {
    const seen: { url: string | undefined; headers: Record<string, string | string[] | undefined>; text: string }[] = [];
    const raw = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        seen.push({ url: req.url, headers: req.headers, text });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'ok' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } }));
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const { port } = raw.address() as AddressInfo;
    try {
      const tricky = { system: 'Say "hi"\n\tthen \\ stop \u2028 é 🚦', context: '<input>{"a":1}</input>\u0000' };
      for (const [fetch, temperature, tools] of [[undefined, 0.5, [addTool]], [globalThis.fetch, undefined, []]] as const) {
        const model = createOpenAIModel({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, model: 'm"1', ...(temperature === undefined ? {} : { temperature }), ...(fetch ? { fetch } : {}) });
        const result = await model.complete(request({ ...tricky, tools }));
        expect(result.success).toBe(true);
        const expected = {
          model: 'm"1',
          messages: [
            { role: 'system', content: tricky.system },
            { role: 'user', content: tricky.context },
          ],
          ...(tools.length === 0 ? {} : { tools: tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters, strict: true } })), tool_choice: 'required', parallel_tool_calls: false }),
          ...(temperature === undefined ? {} : { temperature }),
        };
        const last = seen[seen.length - 1]!;
        expect(last.text).toBe(JSON.stringify(expected));
        expect(last.headers['content-type']).toBe('application/json');
        expect(last.headers.authorization).toBe(`Bearer ${API_KEY}`);
      }
      expect(seen).toHaveLength(2);

      // A caller's client gets the body object: an AzureOpenAI routes by the deployment it reads there.
      const azure = new AzureOpenAI({ apiKey: API_KEY, endpoint: `http://127.0.0.1:${port}`, apiVersion: '2024-10-21', maxRetries: 0 });
      const viaAzure = createOpenAIModel({ client: azure, model: 'my-deployment', temperature: 0.5 });
      expect((await viaAzure.complete(request({ ...tricky }))).success).toBe(true);
      const last = seen[seen.length - 1]!;
      expect(last.url).toBe('/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21');
      expect(JSON.parse(last.text)).toEqual({
        model: 'my-deployment',
        messages: [
          { role: 'system', content: tricky.system },
          { role: 'user', content: tricky.context },
        ],
        tools: [{ type: 'function', function: { name: addTool.name, description: addTool.description, parameters: addTool.parameters, strict: true } }],
        tool_choice: 'required',
        parallel_tool_calls: false,
        temperature: 0.5,
      });
    } finally {
      raw.closeAllConnections();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
  });

  it('sends temperature only when set', async () => {
    const server = await fake([{ content: 'ok' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, temperature: 0 });
    await model.complete(request());
    expect(server.requests[0]?.temperature).toBe(0);
  });

  it('omits tool_choice when no tools are offered', async () => {
    const server = await fake([{ content: 'ok' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    await model.complete(request({ tools: [] }));
    expect(server.requests[0]?.tools).toBeUndefined();
    expect(server.requests[0]?.tool_choice).toBeUndefined();
  });

  it.each([500, 429, 400])('maps HTTP %i to an http failure with that status, without retrying', async (status) => {
    const server = await fake([
      { status, message: `boom ${status}` },
      { content: 'a retry would get this' },
    ]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });

    const error = expectFailure(await model.complete(request()));

    expect(error).toMatchObject({ kind: 'http', status });
    expect(error.message).toContain(String(status));
    expect(error.message).toContain(`boom ${status}`);
    expect(server.requests).toHaveLength(1);
  });

  it('keeps http failure messages short', async () => {
    const server = await fake([{ status: 502, message: 'x'.repeat(5000) }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 502 });
    expect(error.message.length).toBeLessThanOrEqual(300);
  });

  it('never puts the API key in a failure message, even when the server echoes it', async () => {
    const server = await fake([{ status: 401, message: `Incorrect API key provided: ${API_KEY}` }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 401 });
    expect(error.message).toContain('[redacted]');
  });

  it('names the chat completions endpoint of a base URL with a query, without its query or credentials', async () => {
    const server = await fake([{ status: 401, message: 'Incorrect API key provided' }]);
    const { host, pathname } = new URL(server.baseURL);
    const baseURL = `http://bob:pw-secret@${host}${pathname}?api-version=2024-10-21&api-key=query-secret`;
    const model = createOpenAIModel({ baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 401 });
    expect(error.message).toContain(`POST http://${host}${pathname}/chat/completions: 401`);
    expect(error.message).not.toContain('pw-secret');
    expect(error.message).not.toContain('query-secret');
    // For the logs: the endpoint's origin and path only.
    expect(error.endpoint).toBe(`http://${host}${pathname}/chat/completions`);
  });

  it("names the deployment's URL of an AzureOpenAI client, which routes by the model it is given", async () => {
    // The fake answers 404 to any path but /v1/chat/completions: the failure names the URL requested.
    const server = await fake([]);
    const { host, origin } = new URL(server.baseURL);
    const azure = new AzureOpenAI({ apiKey: API_KEY, endpoint: origin, apiVersion: '2024-10-21', maxRetries: 0 });
    const error = expectFailure(await createOpenAIModel({ client: azure, model: 'my deployment' }).complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 404 });
    expect(error.message).toContain('no route for POST /openai/deployments/my%20deployment/chat/completions');
    expect(error.endpoint).toBe(`http://${host}/openai/deployments/my%20deployment/chat/completions`);
    expect(error.message).toContain(`POST http://${host}/openai/deployments/my%20deployment/chat/completions: 404`);
    // A client given its deployment has it in its base URL already, and routes there whatever the model.
    const pinned = new AzureOpenAI({ apiKey: API_KEY, endpoint: origin, deployment: 'dep-1', apiVersion: '2024-10-21', maxRetries: 0 });
    const second = expectFailure(await createOpenAIModel({ client: pinned, model: 'gpt-x' }).complete(request()));
    expect(second.message).toContain('no route for POST /openai/deployments/dep-1/chat/completions');
    expect(second.endpoint).toBe(`http://${host}/openai/deployments/dep-1/chat/completions`);
  });

  it('redacts the credentials of its base URL (a password, a key in the query) from a failure the server echoes them in', async () => {
    const server = await fake([{ status: 401, message: 'bad key query-secret for bob:pw-secret' }]);
    const { host, pathname } = new URL(server.baseURL);
    const baseURL = `http://bob:pw-secret@${host}${pathname}?api-version=2024-10-21&api-key=query-secret`;
    const model = createOpenAIModel({ baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 401 });
    expect(error.message).toContain('bad key [redacted] for bob:[redacted]');
  });

  it('times out a server that never answers', async () => {
    const server = await fake([{ hang: true }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, timeoutMs: 200 });

    const error = expectFailure(await model.complete(request()));

    expect(error.kind).toBe('timeout');
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('200 ms');
  });

  it('says on a 401 or 403 to a request sent without a key that none was sent, and which variable to set, never the withheld key', async () => {
    const server = await fake([{ status: 401, message: 'Invalid API Key' }, { status: 403, message: 'Forbidden' }, { status: 401, message: 'Invalid API Key' }]);
    const shellKey = 'sk-openai-SHELLKEY-999999';
    const withheld = createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: server.baseURL, OPENAI_API_KEY: shellKey } });
    const first = expectFailure(await withheld.complete(request()));
    expect(first.message).toBe(
      `POST ${server.baseURL}/chat/completions: no API key was sent (OPENAI_API_KEY goes only to OpenAI or to OPENAI_BASE_URL): set SWITCHYARD_MODEL_API_KEY; 401 Invalid API Key`,
    );
    expect(first.message).not.toContain(shellKey);

    const keyless = createOpenAIModel({ baseURL: server.baseURL, env: {} });
    expect(expectFailure(await keyless.complete(request())).message).toBe(`POST ${server.baseURL}/chat/completions: no API key was sent: set SWITCHYARD_MODEL_API_KEY or pass apiKey; 403 Forbidden`);

    // A key was sent: the server's word alone.
    const keyed = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    expect(expectFailure(await keyed.complete(request())).message).toBe(`POST ${server.baseURL}/chat/completions: 401 Invalid API Key`);
  });

  it('names the endpoint in every failure of the endpoint, not only an HTTP status: a refused connection, a page that is not JSON, a body with no choices', async () => {
    const server = await fake([{ raw: '<html>proxy login</html>' }, { raw: '{"choices":[]}' }]);
    const endpoint = `${server.baseURL}/chat/completions`;
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    expect(expectFailure(await model.complete(request())).message).toMatch(new RegExp(`^POST ${endpoint}: model response is not valid JSON`));
    expect(expectFailure(await model.complete(request())).message).toBe(`POST ${endpoint}: model response has no choices`);

    const closed = await fake([]);
    const gone = createOpenAIModel({ baseURL: closed.baseURL, apiKey: API_KEY });
    await closed.close();
    expect(expectFailure(await gone.complete(request())).message).toMatch(new RegExp(`^POST ${closed.baseURL}/chat/completions: Connection error: connect ECONNREFUSED`));
  });

  it('says its timeout, so an agent waits for it, and its timeout failure names the setting and the endpoint', async () => {
    const server = await fake([{ hang: true }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, timeoutMs: 200 });
    expect(model.timeoutMs).toBe(200);
    expect(createOpenAIModel({ apiKey: API_KEY }).timeoutMs).toBe(60_000);

    const error = expectFailure(await model.complete(request()));

    expect(error.message).toBe(`POST ${server.baseURL}/chat/completions: no answer within 200 ms (the model's timeoutMs)`);
  });

  it('times out a server that sends headers but never finishes the body', async () => {
    const stall = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"chatcmpl-1",');
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    const { port } = stall.address() as AddressInfo;
    try {
      // switchyard's transport (the body is read before the SDK's deadline ends) and the global
      // fetch (the body is read after it: the model keeps a deadline of its own).
      for (const fetch of [undefined, globalThis.fetch]) {
        const model = createOpenAIModel({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, timeoutMs: 200, ...(fetch ? { fetch } : {}) });
        const started = Date.now();
        const error = expectFailure(await model.complete(request()));
        expect(error.kind).toBe('timeout');
        expect(Date.now() - started).toBeLessThan(2_000);
      }
    } finally {
      stall.closeAllConnections();
      await new Promise<void>((resolve) => stall.close(() => resolve()));
    }
  });

  it('returns a failure when the signal is aborted before the request', async () => {
    const server = await fake([{ content: 'ok' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const controller = new AbortController();
    controller.abort();

    const error = expectFailure(await model.complete(request({ signal: controller.signal })));

    expect(error.kind).toBe('timeout');
    expect(error.message).toMatch(/aborted/);
    expect(server.requests).toHaveLength(0);
  });

  it('returns a failure when the signal is aborted during the request, on the shared transport or one of its own', async () => {
    const own = createHttpTransport();
    expect(isHttpTransportFetch(own.fetch)).toBe(true);
    expect(isHttpTransportFetch(globalThis.fetch)).toBe(false);
    try {
      for (const fetch of [undefined, own.fetch]) {
        const server = await fake([{ hang: true }, { content: 'ok' }]);
        const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, ...(fetch ? { fetch } : {}) });
        const controller = new AbortController();

        const pending = model.complete(request({ signal: controller.signal }));
        await vi.waitFor(() => expect(server.requests).toHaveLength(1));
        controller.abort();

        const error = expectFailure(await pending);
        expect(error.kind).toBe('timeout');
        expect(error.message).toMatch(/aborted by the caller/);
        expect((await model.complete(request())).success).toBe(true);
      }
    } finally {
      await own.close();
    }
  });

  it('maps a refused connection to an http failure without status', async () => {
    const port = await closedPort();
    const model = createOpenAIModel({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY });

    const error = expectFailure(await model.complete(request()));

    expect(error.kind).toBe('http');
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.endpoint).toBe(`http://127.0.0.1:${port}/v1/chat/completions`);
  });

  it('maps a broken JSON body to a failure', async () => {
    const server = await fake([{ raw: '{"id": "chatcmpl-1", "choices": [' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error.kind).toBe('http');
    expect(error.message).toMatch(/JSON/);
  });

  it('maps a broken JSON error body to an http failure with status', async () => {
    const server = await fake([{ raw: '<html>bad gateway', status: 502 }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 502 });
  });

  // What the server asked to wait, in ms: `retry-after-ms`, else `Retry-After` in seconds or as an
  // HTTP date (measured from the response's own `Date`, so the two clocks need not agree).
  const DATE = 'Wed, 01 Jan 2025 00:00:00 GMT';
  it.each([
    ['Retry-After in seconds on a 429', 429, { 'retry-after': '30' }, 30_000],
    ['Retry-After with a fraction', 429, { 'retry-after': '1.5' }, 1_500],
    ['retry-after-ms, preferred to Retry-After', 429, { 'retry-after-ms': '250', 'retry-after': '30' }, 250],
    ['Retry-After as an HTTP date on a 503', 503, { date: DATE, 'retry-after': 'Wed, 01 Jan 2025 00:00:20 GMT' }, 20_000],
    ['an HTTP date already past', 503, { date: DATE, 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, 0],
    ['a Retry-After that is neither', 429, { 'retry-after': 'soon' }, undefined],
    ['a negative Retry-After', 429, { 'retry-after': '-5' }, undefined],
    ['no Retry-After', 429, {}, undefined],
  ] as const)('reports %s as the failure\'s retryAfterMs', async (_name, status, headers, expected) => {
    const server = await fake([{ status, message: 'Rate limit reached', headers }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status });
    expect(error.retryAfterMs).toBe(expected);
  });

  it('reports the Retry-After of a failure through a caller\'s client too', async () => {
    const server = await fake([{ status: 429, headers: { 'retry-after': '7' } }]);
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 3 });
    const model = createOpenAIModel({ client });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 429, retryAfterMs: 7_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('maps a response without choices to an http failure', async () => {
    const server = await fake([
      { raw: JSON.stringify({ id: 'x', object: 'chat.completion', model: 'fake-model', choices: [] }) },
    ]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const error = expectFailure(await model.complete(request()));
    expect(error.kind).toBe('http');
    expect(error.message).toMatch(/no choices/);
  });

  it('reports zero usage and the configured model when the server omits them', async () => {
    const server = await fake([
      {
        raw: JSON.stringify({
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        }),
      },
    ]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'configured' });
    const result = await model.complete(request());
    expect(result).toEqual({
      success: true,
      data: { text: 'hi', usage: { prompt: 0, completion: 0 }, model: 'configured' },
    });
  });

  it('records the configured model, not a reported name longer than 200 characters, which every decision would hold', async () => {
    const answer = (model: string) => ({
      raw: JSON.stringify({ model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }),
    });
    const server = await fake([answer('r'.repeat(100_000)), answer('r'.repeat(200))]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, model: 'configured' });
    expect(await model.complete(request())).toMatchObject({ success: true, data: { model: 'configured' } });
    expect(await model.complete(request())).toMatchObject({ success: true, data: { model: 'r'.repeat(200) } });
  });

  it('reuses a given client and still sends one request per call', async () => {
    const server = await fake([{ status: 503, message: 'busy' }]);
    const client = new OpenAI({ apiKey: API_KEY, baseURL: server.baseURL, maxRetries: 5 });
    const model = createOpenAIModel({ client });
    const error = expectFailure(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', status: 503 });
    expect(server.requests).toHaveLength(1);
  });

  it('reads base URL, key and model from the environment', async () => {
    const server = await fake([{ content: 'ok' }]);
    vi.stubEnv('SWITCHYARD_MODEL_BASE_URL', server.baseURL);
    vi.stubEnv('SWITCHYARD_MODEL_API_KEY', API_KEY);
    vi.stubEnv('SWITCHYARD_MODEL', 'env-model');
    const model = createOpenAIModel();
    expect(model.name).toBe('env-model');
    expect((await model.complete(request())).success).toBe(true);
    expect(server.requests[0]?.model).toBe('env-model');
  });

  it('reads base URL, key and model from the environment it is given instead of process.env', async () => {
    const server = await fake([{ content: 'ok' }]);
    vi.stubEnv('SWITCHYARD_MODEL_BASE_URL', 'http://127.0.0.1:9/v1');
    vi.stubEnv('SWITCHYARD_MODEL', 'process-model');
    const model = createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: '', OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: API_KEY, SWITCHYARD_MODEL: 'given-model' } });
    expect(model.name).toBe('given-model');
    expect((await model.complete(request())).success).toBe(true);
    expect(server.requests[0]?.model).toBe('given-model');
    expect(() => createOpenAIModel({ env: {} })).toThrow(ConfigError);
  });

  it('needs no key for a custom base URL, but refuses to build with neither', async () => {
    vi.stubEnv('SWITCHYARD_MODEL_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY', '');
    vi.stubEnv('SWITCHYARD_MODEL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    vi.stubEnv('SWITCHYARD_MODEL', '');
    expect(() => createOpenAIModel()).toThrow(ConfigError);

    const server = await fake([{ content: 'ok' }]);
    const model = createOpenAIModel({ baseURL: server.baseURL });
    expect(model.name).toBe('gpt-4o-mini');
    expect((await model.complete(request())).success).toBe(true);
  });

  it('rejects a non-positive timeout, or one no timer can hold, at construction', () => {
    expect(() => createOpenAIModel({ apiKey: API_KEY, timeoutMs: 0 })).toThrow(ConfigError);
    // Node runs a timer longer than 2^31 - 1 ms at once: the deadline would fire at the start.
    expect(() => createOpenAIModel({ apiKey: API_KEY, timeoutMs: 2 ** 31 })).toThrow('timeoutMs must be a positive number of milliseconds, at most 2147483647, got 2147483648');
  });

  it('refuses an answer longer than 256 Ki characters, a tool call or text, as a malformed answer naming its size and the limit', async () => {
    const huge = JSON.stringify({ message: 'x'.repeat(300 * 1024) });
    const server = await fake([{ toolCall: { name: 'done_for_now', arguments: huge } }, { content: 'y'.repeat(256 * 1024 + 1) }, { content: 'z'.repeat(256 * 1024) }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const call = expectFailure(await model.complete(request()));
    expect(call).toEqual({ kind: 'malformed', message: expect.stringContaining(`the model's answer is ${huge.length} characters, over the limit of 262144 (maxAnswerChars)`), endpoint: `${server.baseURL}/chat/completions` });
    const text = expectFailure(await model.complete(request()));
    expect(text.message).toContain(`the model's answer is ${256 * 1024 + 1} characters, over the limit of 262144`);
    const atTheLimit = await model.complete(request());
    expect(atTheLimit.success && atTheLimit.data.text?.length).toBe(256 * 1024);
  });

  it('takes the limit of an answer from maxAnswerChars, and refuses one that is not a positive whole number', async () => {
    const server = await fake([{ content: 'a'.repeat(101) }, { toolCall: { name: 'add', arguments: '{"a":1,"b":2}' } }]);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, maxAnswerChars: 100 });
    expect(expectFailure(await model.complete(request())).message).toContain('is 101 characters, over the limit of 100 (maxAnswerChars)');
    expect(await model.complete(request())).toMatchObject({ success: true, data: { toolCall: { name: 'add' } } });
    for (const maxAnswerChars of [0, -1, 1.5, Number.NaN]) {
      expect(() => createOpenAIModel({ apiKey: API_KEY, maxAnswerChars })).toThrow(/maxAnswerChars must be a positive whole number/);
    }
  });
});

describe('fake OpenAI server', () => {
  const body = (messages: ChatRequestBody['messages'], tools?: string[]): ChatRequestBody => ({
    model: 'm',
    messages,
    ...(tools ? { tools: tools.map((name) => ({ type: 'function', function: { name } })) } : {}),
  });

  it('scriptedHandler answers in order, then script exhausted', async () => {
    const handler = scriptedHandler([{ content: 'one' }, { status: 429 }]);
    const b = body([]);
    expect(await handler(b, 0)).toEqual({ content: 'one' });
    expect(await handler(b, 1)).toEqual({ status: 429 });
    expect(await handler(b, 2)).toEqual({ status: 500, message: 'script exhausted' });
    expect(await handler(b, 3)).toEqual({ status: 500, message: 'script exhausted' });
  });

  it('benchHandler counts tool messages and <tool_result tags', async () => {
    const user = { role: 'user', content: 'add things' };
    expect(await benchHandler(body([user]), 0)).toEqual({
      toolCall: { name: 'add', arguments: JSON.stringify({ a: 0, b: 1 }) },
    });
    const tool = { role: 'tool', content: '1', tool_call_id: 'c' };
    expect(await benchHandler(body([user, tool, tool]), 0)).toEqual({
      toolCall: { name: 'add', arguments: JSON.stringify({ a: 2, b: 1 }) },
    });
    const compact = { role: 'user', content: '<tool_result n=1>1</tool_result><tool_result n=2>2</tool_result>' };
    const parts = { role: 'user', content: [{ type: 'text', text: '<tool_result>3</tool_result>' }] };
    expect(await benchHandler(body([compact, parts]), 0)).toEqual({
      toolCall: { name: 'add', arguments: JSON.stringify({ a: 3, b: 1 }) },
    });
  });

  it('benchHandler finishes with done_for_now when offered, else with text', async () => {
    const four = { role: 'user', content: '<tool_result/>'.repeat(4) };
    expect(await benchHandler(body([four], ['add', 'done_for_now']), 0)).toEqual({
      toolCall: { name: 'done_for_now', arguments: '{"message":"the answer is 10"}' },
    });
    expect(await benchHandler(body([four], ['add']), 0)).toEqual({ content: 'the answer is 10' });
  });

  it('benchHandler drives a full run through the model', async () => {
    const server = await startFakeOpenAI(benchHandler);
    servers.push(server);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY });
    const done: ToolSpec = { name: 'done_for_now', description: 'Finish.', parameters: { type: 'object' } };
    const calls: string[] = [];
    let context = '<user>add</user>';
    for (let step = 0; step < 5; step++) {
      const result = await model.complete(request({ context, tools: [addTool, done] }));
      if (!result.success || !result.data.toolCall) throw new Error('expected a tool call');
      calls.push(`${result.data.toolCall.name} ${result.data.toolCall.arguments}`);
      context += `<tool_result>${step}</tool_result>`;
    }
    expect(calls).toEqual([
      'add {"a":0,"b":1}',
      'add {"a":1,"b":1}',
      'add {"a":2,"b":1}',
      'add {"a":3,"b":1}',
      'done_for_now {"message":"the answer is 10"}',
    ]);
  });

  it('answers other routes with a 404 JSON error and bad bodies with 400', async () => {
    const server = await fake([]);
    const notFound = await fetch(`${server.baseURL}/models`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ error: { message: expect.any(String) } });

    const bad = await fetch(`${server.baseURL}/chat/completions`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    expect(server.requests).toHaveLength(0);
  });

  it('serves proper chat.completion objects', async () => {
    const server = await fake([{ toolCall: { name: 'add', arguments: '{}' } }]);
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body([{ role: 'user', content: 'x'.repeat(40) }])),
    });
    expect(await response.json()).toMatchObject({
      object: 'chat.completion',
      model: 'fake-model',
      choices: [
        {
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            tool_calls: [{ type: 'function', function: { name: 'add', arguments: '{}' } }],
          },
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 2 },
    });
  });

  it('close() ends hanging requests promptly', async () => {
    const server = await startFakeOpenAI(() => ({ hang: true }));
    const pending = fetch(`${server.baseURL}/chat/completions`, { method: 'POST', body: '{}' }).then(
      () => 'answered',
      () => 'failed',
    );
    await vi.waitFor(() => expect(server.requests).toHaveLength(1));
    await server.close();
    expect(await pending).toBe('failed');
  });

  it('the main script prints its base URL and serves the bench task until SIGTERM', async () => {
    const script = fileURLToPath(new URL('../support/fakeOpenAIServerMain.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const end = out.indexOf('\n');
          if (end !== -1) resolve(out.slice(0, end));
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const { baseURL } = JSON.parse(line) as { baseURL: string };
      expect(baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const model = createOpenAIModel({ baseURL, apiKey: API_KEY });
      const result = await model.complete(request({ tools: [addTool] }));
      expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'add' } } });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
