/**
 * `createOpenAIModel({ env })` takes its settings from `env` alone: the openai SDK's constructor
 * defaults several options from process.env (organization, project, admin key, custom headers,
 * log level, webhook secret) when they are left undefined, and none of them may leak in.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ModelRequest } from '../../src/model/model.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';

const API_KEY = 'sk-given-key';

const request = (): ModelRequest => ({
  threadId: 't-1',
  agent: 'calculator',
  system: 'You are a calculator.',
  context: '<input>add 1 and 2</input>',
  tools: [{ name: 'add', description: 'Adds.', parameters: { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false } }],
  signal: new AbortController().signal,
});

const completion = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 0,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'add', arguments: '{"a":1}' } }] }, logprobs: null, finish_reason: 'tool_calls' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/** A chat completions server on 127.0.0.1 that records the headers of each request. */
async function headerServer(): Promise<{ baseURL: string; headers: IncomingHttpHeaders[]; server: Server }> {
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    headers.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(completion));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, headers, server };
}

const servers: Server[] = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** What process.env says, which a model given its own env must ignore. */
function stubProcessEnv(): void {
  vi.stubEnv('OPENAI_ORG_ID', 'org-from-process');
  vi.stubEnv('OPENAI_PROJECT_ID', 'proj-from-process');
  vi.stubEnv('OPENAI_ADMIN_KEY', 'sk-admin-from-process');
  vi.stubEnv('OPENAI_CUSTOM_HEADERS', 'X-From-Process: leaked');
  vi.stubEnv('OPENAI_LOG', 'debug');
}

describe('createOpenAIModel({ env })', () => {
  it('sends no organization, project, admin key or custom header that only process.env has, and logs nothing by its log level', async () => {
    stubProcessEnv();
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
    const { baseURL, headers } = await headerServer();
    const model = createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: baseURL, SWITCHYARD_MODEL_API_KEY: API_KEY } });
    const result = await model.complete(request());
    expect(result.success).toBe(true);
    expect(headers).toHaveLength(1);
    expect(headers[0]!['openai-organization']).toBeUndefined();
    expect(headers[0]!['openai-project']).toBeUndefined();
    expect(headers[0]!['x-from-process']).toBeUndefined();
    expect(headers[0]!.authorization).toBe(`Bearer ${API_KEY}`);
    expect(debug).not.toHaveBeenCalled();
  });

  it('sends the organization, project and custom headers its env gives', async () => {
    stubProcessEnv();
    const { baseURL, headers } = await headerServer();
    const model = createOpenAIModel({
      env: { SWITCHYARD_MODEL_BASE_URL: baseURL, SWITCHYARD_MODEL_API_KEY: API_KEY, OPENAI_ORG_ID: 'org-given', OPENAI_PROJECT_ID: 'proj-given', OPENAI_CUSTOM_HEADERS: 'X-From-Env: given\nX-Other: two' },
    });
    expect((await model.complete(request())).success).toBe(true);
    expect(headers[0]).toMatchObject({ 'openai-organization': 'org-given', 'openai-project': 'proj-given', 'x-from-env': 'given', 'x-other': 'two', authorization: `Bearer ${API_KEY}` });
    expect(headers[0]!['x-from-process']).toBeUndefined();
  });

  it('refuses custom headers in its env whose name is not a header name, saying so', () => {
    expect(() => createOpenAIModel({ env: { SWITCHYARD_MODEL_API_KEY: API_KEY, OPENAI_CUSTOM_HEADERS: 'Bad Name: x' } })).toThrow(ConfigError);
    expect(() => createOpenAIModel({ env: { SWITCHYARD_MODEL_API_KEY: API_KEY, OPENAI_CUSTOM_HEADERS: 'Bad Name: x' } })).toThrow(/OPENAI_CUSTOM_HEADERS: "Bad Name" is not a header name/);
  });

  it('refuses a custom header, organization or project whose value a header cannot carry, naming it and never its value', () => {
    const refused = (env: Record<string, string>): string => {
      try {
        createOpenAIModel({ env: { SWITCHYARD_MODEL_API_KEY: API_KEY, ...env } });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    const custom = refused({ OPENAI_CUSTOM_HEADERS: 'X-Team: blue\ncf-aig-authorization: Bearer \u201cgw-SECRET-1\u201d' });
    expect(custom).toBe('OPENAI_CUSTOM_HEADERS has a character an HTTP header cannot carry (U+201C) at index 7 of header cf-aig-authorization: check it was not pasted with quotes, a dash or a line break');
    expect(refused({ OPENAI_ORG_ID: 'org\u2013given' })).toBe('OPENAI_ORG_ID has a character an HTTP header cannot carry (U+2013) at index 3: it is sent as the OpenAI-Organization header; check it was not pasted with quotes, a dash or a line break');
    expect(refused({ OPENAI_PROJECT_ID: 'proj\u00a0x\u2028y' })).toMatch(/^OPENAI_PROJECT_ID has a character an HTTP header cannot carry \(U\+2028\) at index 6: it is sent as the OpenAI-Project header;/);
  });

  it('still reads process.env when no env is given', async () => {
    vi.stubEnv('OPENAI_ORG_ID', 'org-from-process');
    const { baseURL, headers } = await headerServer();
    const model = createOpenAIModel({ baseURL, apiKey: API_KEY });
    expect((await model.complete(request())).success).toBe(true);
    expect(headers[0]!['openai-organization']).toBe('org-from-process');
  });
});

// OPENAI_API_KEY is OpenAI's key. Sent wherever SWITCHYARD_MODEL_BASE_URL points, a developer who
// exported it and points switchyard at another provider (OpenRouter, a colleague's proxy) hands it
// to that host (QA20 providers #19). It goes with the SDK's pairing only: to OpenAI, or to
// OPENAI_BASE_URL; switchyard's own URL variable pairs with switchyard's own key variable.
describe('createOpenAIModel: which key goes where', () => {
  const OPENAI_KEY = 'sk-openai-account-key';

  it('does not send OPENAI_API_KEY to the host SWITCHYARD_MODEL_BASE_URL names', async () => {
    const { baseURL, headers } = await headerServer();
    const model = createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: baseURL, OPENAI_API_KEY: OPENAI_KEY } });
    expect((await model.complete(request())).success).toBe(true);
    expect(headers[0]!.authorization).not.toContain(OPENAI_KEY);
  });

  it('sends SWITCHYARD_MODEL_API_KEY there, and OPENAI_API_KEY to OPENAI_BASE_URL', async () => {
    const own = await headerServer();
    await createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: own.baseURL, SWITCHYARD_MODEL_API_KEY: API_KEY, OPENAI_API_KEY: OPENAI_KEY } }).complete(request());
    expect(own.headers[0]!.authorization).toBe(`Bearer ${API_KEY}`);
    const sdk = await headerServer();
    await createOpenAIModel({ env: { OPENAI_BASE_URL: sdk.baseURL, OPENAI_API_KEY: OPENAI_KEY } }).complete(request());
    expect(sdk.headers[0]!.authorization).toBe(`Bearer ${OPENAI_KEY}`);
  });
});

describe('createOpenAIModel: OpenAI\'s key and a base URL given as an option', () => {
  it('does not send OPENAI_API_KEY to a baseURL option that is not OpenAI\'s; an apiKey option goes there', async () => {
    const other = await headerServer();
    await createOpenAIModel({ baseURL: other.baseURL, env: { OPENAI_API_KEY: 'sk-openai-account-key' } }).complete(request());
    expect(other.headers[0]!.authorization).not.toContain('sk-openai-account-key');
    const given = await headerServer();
    await createOpenAIModel({ baseURL: given.baseURL, apiKey: API_KEY, env: { OPENAI_API_KEY: 'sk-openai-account-key' } }).complete(request());
    expect(given.headers[0]!.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('reads a SWITCHYARD_MODEL_BASE_URL of only whitespace (an empty secret file) as unset: OPENAI_BASE_URL is taken', async () => {
    const sdk = await headerServer();
    await createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: ' \n', OPENAI_BASE_URL: sdk.baseURL, OPENAI_API_KEY: 'sk-openai-account-key' } }).complete(request());
    expect(sdk.headers).toHaveLength(1);
    expect(sdk.headers[0]!.authorization).toBe('Bearer sk-openai-account-key');
  });
});

describe('createOpenAIModel: SWITCHYARD_MODEL_TIMEOUT_MS (QA28 D12)', () => {
  const base = { SWITCHYARD_MODEL_BASE_URL: 'http://127.0.0.1:9/v1' };

  it('takes the timeout from the environment, for `serve` with a slow local server and no config file', () => {
    expect(createOpenAIModel({ env: { ...base, SWITCHYARD_MODEL_TIMEOUT_MS: '180000' } }).timeoutMs).toBe(180_000);
  });

  it('lets the timeoutMs option win over the environment, and takes 60 s with neither', () => {
    expect(createOpenAIModel({ env: { ...base, SWITCHYARD_MODEL_TIMEOUT_MS: '180000' }, timeoutMs: 5000 }).timeoutMs).toBe(5000);
    expect(createOpenAIModel({ env: base }).timeoutMs).toBe(60_000);
  });

  it('refuses a value that is no whole number of milliseconds, naming the variable', () => {
    expect(() => createOpenAIModel({ env: { ...base, SWITCHYARD_MODEL_TIMEOUT_MS: '3m' } })).toThrow(new ConfigError('SWITCHYARD_MODEL_TIMEOUT_MS must be a whole number of milliseconds from 1 to 2147483647, got "3m"'));
  });
});
