import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ModelRequest, ToolSpec } from '../../src/model/model.js';
import { createOpenAIModel, type OpenAIModelOptions } from '../../src/model/openaiModel.js';
import { scriptedHandler, startFakeOpenAI, type FakeOpenAI } from '../support/fakeOpenAIServer.js';

const API_KEY = 'sk-test-secret-123';
const addTool: ToolSpec = {
  name: 'add',
  description: 'Adds two numbers.',
  parameters: { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false },
};

function request(tools: readonly ToolSpec[] = [addTool]): ModelRequest {
  return { threadId: 't-1', agent: 'calculator', system: 'You add.', context: '<input>1</input>', tools, signal: new AbortController().signal };
}

const servers: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** The body the fake server received for one request of a model built with `options`, with its own client or a caller's. */
async function sentBody(options: OpenAIModelOptions, how: 'own client' | "caller's client", tools?: readonly ToolSpec[]): Promise<Record<string, unknown>> {
  const server = await startFakeOpenAI(scriptedHandler([{ content: 'ok' }]));
  servers.push(server);
  const model = how === 'own client'
    ? createOpenAIModel({ baseURL: server.baseURL, apiKey: API_KEY, ...options })
    : createOpenAIModel({ client: new OpenAI({ baseURL: server.baseURL, apiKey: API_KEY }), ...options });
  expect((await model.complete(request(tools))).success).toBe(true);
  return server.requests[0] as Record<string, unknown>;
}

describe('createOpenAIModel: toolChoice and parallelToolCalls', () => {
  describe.each(['own client', "caller's client"] as const)('with its %s', (how) => {
    it("sends tool_choice 'required' and parallel_tool_calls false by default", async () => {
      const body = await sentBody({}, how);
      expect(body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false });
    });

    it.each([
      [{ toolChoice: 'auto' as const }, { tool_choice: 'auto', parallel_tool_calls: false }],
      [{ parallelToolCalls: true }, { tool_choice: 'required', parallel_tool_calls: true }],
      [{ toolChoice: null, parallelToolCalls: null }, {}],
      [{ toolChoice: undefined, parallelToolCalls: null }, { tool_choice: 'required' }],
      [{ toolChoice: null }, { parallel_tool_calls: false }],
    ])('with %j sends %j and nothing else of the two', async (options, sent) => {
      const body = await sentBody(options, how);
      const { tool_choice: toolChoice, parallel_tool_calls: parallel } = body;
      expect({ ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }), ...(parallel === undefined ? {} : { parallel_tool_calls: parallel }) }).toEqual(sent);
      expect(Object.keys(body).includes('tool_choice')).toBe('tool_choice' in sent);
      expect(body['tools']).toHaveLength(1);
    });

    it('sends neither without tools', async () => {
      const body = await sentBody({ toolChoice: 'auto', parallelToolCalls: true }, how, []);
      expect(body['tools']).toBeUndefined();
      expect(body['tool_choice']).toBeUndefined();
      expect(body['parallel_tool_calls']).toBeUndefined();
    });
  });

  it('refuses values the API does not take, at construction', () => {
    expect(() => createOpenAIModel({ apiKey: API_KEY, toolChoice: 'none' as never })).toThrow(new ConfigError('toolChoice must be \'required\', \'auto\' or null (not sent), got "none"'));
    expect(() => createOpenAIModel({ apiKey: API_KEY, parallelToolCalls: 'no' as never })).toThrow(new ConfigError('parallelToolCalls must be true, false or null (not sent), got "no"'));
  });
});

describe('createOpenAIModel: strict', () => {
  /** The `strict` of each function sent, `'absent'` where the field was not sent. */
  function strictSent(body: Record<string, unknown>): unknown[] {
    const tools = body['tools'] as Array<{ function: Record<string, unknown> }>;
    return tools.map((tool) => ('strict' in tool.function ? tool.function['strict'] : 'absent'));
  }

  describe.each(['own client', "caller's client"] as const)('with its %s', (how) => {
    it.each([
      [{}, [true]],
      [{ strict: true }, [true]],
      [{ strict: false }, [false]],
      [{ strict: null }, ['absent']],
    ] as const)('with %j sends strict %j (a provider that refuses the field, or strict true, gets none or false)', async (options, sent) => {
      expect(strictSent(await sentBody(options, how))).toEqual(sent);
    });
  });

  it('keeps each model to its own setting when two models share an agent\'s tool list', async () => {
    const tools = [addTool];
    const strictBody = await sentBody({}, 'own client', tools);
    const plainBody = await sentBody({ strict: null }, 'own client', tools);
    const againBody = await sentBody({}, 'own client', tools);
    expect([strictSent(strictBody), strictSent(plainBody), strictSent(againBody)]).toEqual([[true], ['absent'], [true]]);
  });

  it('refuses a value that is not true, false or null, at construction', () => {
    expect(() => createOpenAIModel({ apiKey: API_KEY, strict: 'no' as never })).toThrow(new ConfigError('strict must be true, false or null (not sent), got "no"'));
  });
});

describe('createOpenAIModel: extraBody (QA28 D10)', () => {
  const extraBody = { reasoning_effort: 'low', chat_template_kwargs: { enable_thinking: false }, max_completion_tokens: 2048 };

  describe.each(['own client', "caller's client"] as const)('with its %s', (how) => {
    it('sends the fields a provider takes beside the ones switchyard sets (reasoning_effort, chat_template_kwargs, max_completion_tokens)', async () => {
      const body = await sentBody({ extraBody }, how);
      expect(body).toMatchObject({ ...extraBody, tool_choice: 'required', model: 'gpt-4o-mini' });
      expect(body['tools']).toHaveLength(1);
    });

    it('sends them without tools too', async () => {
      expect(await sentBody({ extraBody }, how, [])).toMatchObject(extraBody);
    });
  });

  it('refuses a field switchyard sets itself, or stream, naming the option to use, at construction', () => {
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: { tool_choice: 'auto' } })).toThrow(new ConfigError('extraBody must not set tool_choice, which switchyard sets: use the toolChoice option'));
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: { stream: true } })).toThrow(new ConfigError('extraBody must not set stream, which switchyard sets: answers are read whole'));
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: { messages: [] } })).toThrow(new ConfigError('extraBody must not set messages, which switchyard sets: the prompt and context are the agent\'s'));
  });

  it('refuses a value that is no JSON object', () => {
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: [1] as never })).toThrow(new ConfigError('extraBody must be an object of JSON values (the fields added to each request body), got an array'));
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: 'sk-gateway-secret' as never })).toThrow(new ConfigError('extraBody must be an object of JSON values (the fields added to each request body), got a string'));
  });

  it('names only the field whose value is no JSON, and its kind, never the other fields (a gateway key may be one) (review28 item 2)', () => {
    const refuse = () => createOpenAIModel({ apiKey: API_KEY, extraBody: { api_key: 'sk-gateway-secret', top_p: Number.NaN } });
    expect(refuse).toThrow(new ConfigError('extraBody must be an object of JSON values (the fields added to each request body): its field top_p is a number that is not finite'));
    expect(() => createOpenAIModel({ apiKey: API_KEY, extraBody: { api_key: 'sk-gateway-secret', when: new Date(0) } as never })).toThrow(new ConfigError('extraBody must be an object of JSON values (the fields added to each request body): its field when is an object that is not plain JSON'));
  });
});
