/** The request offers each tool strict or not, as its spec says (an agent decides once per tool). */
import OpenAI from 'openai';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { ModelRequest, ToolSpec } from '../../src/model/model.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import { scriptedHandler, startFakeOpenAI, type ChatRequestBody, type FakeOpenAI } from '../support/fakeOpenAIServer.js';

const servers: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const base = { description: 'd', run: () => null };
const mixed = agent({
  name: 'mixed',
  description: 'd',
  prompt: 'p',
  tools: [
    tool({ ...base, name: 'tally', input: z.object({ byKey: z.record(z.string(), z.number()) }) }),
    tool({ ...base, name: 'loose', input: z.looseObject({ a: z.string() }) }),
    tool({ ...base, name: 'fetch_page', input: z.object({ url: z.url() }) }),
    tool({ ...base, name: 'store', input: z.object({ value: z.any() }) }),
    tool({ ...base, name: 'range', input: z.object({ range: z.tuple([z.string(), z.number()]) }) }),
    tool({ ...base, name: 'add', input: z.object({ a: z.number(), b: z.number().optional() }) }),
  ],
});

function request(tools: readonly ToolSpec[]): ModelRequest {
  return { threadId: 't-1', agent: 'mixed', system: 's', context: 'c', tools, signal: new AbortController().signal };
}

const expectedStrictness = [
  ['tally', false],
  ['loose', false],
  ['fetch_page', false],
  ['store', false],
  ['range', false],
  ['add', true],
  ['request_human_input', true],
  ['done_for_now', true],
];

describe('builtTools', () => {
  it('sends each tool with its own strict flag and schema, through the transport and through a caller\'s client', async () => {
    const server = await startFakeOpenAI(scriptedHandler([{ content: 'ok' }, { content: 'ok' }]));
    servers.push(server);
    const viaTransport = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'k', model: 'm' });
    const viaClient = createOpenAIModel({ client: new OpenAI({ baseURL: server.baseURL, apiKey: 'k', maxRetries: 0 }), model: 'm' });
    expect((await viaTransport.complete(request(mixed.toolSpecs))).success).toBe(true);
    expect((await viaClient.complete(request(mixed.toolSpecs))).success).toBe(true);
    expect(server.requests).toHaveLength(2);
    for (const body of server.requests as ChatRequestBody[]) {
      const tools = body.tools ?? [];
      expect(tools.map((t) => [t.function.name, t.function.strict])).toEqual(expectedStrictness);
      tools.forEach((t, i) => expect(t.function.parameters).toEqual(mixed.toolSpecs[i]!.parameters));
      // The record keeps its values' schema: a non-strict model may send entries.
      expect(tools[0]!.function.parameters).toMatchObject({ properties: { byKey: { additionalProperties: { type: 'number' } } } });
      // The strict tool keeps the strict form: every property required, the optional one nullable.
      expect(tools[5]!.function.parameters).toEqual({
        type: 'object',
        properties: { a: { type: 'number' }, b: { anyOf: [{ type: 'number' }, { type: 'null' }] } },
        required: ['a', 'b'],
        additionalProperties: false,
      });
    }
  });

  it('sends a spec that does not say, as a model of the user\'s may build, strict as before', async () => {
    const server = await startFakeOpenAI(scriptedHandler([{ content: 'ok' }]));
    servers.push(server);
    const model = createOpenAIModel({ baseURL: server.baseURL, apiKey: 'k', model: 'm' });
    const spec: ToolSpec = { name: 'add', description: 'Adds.', parameters: { type: 'object', properties: {}, required: [], additionalProperties: false } };
    await model.complete(request([spec]));
    expect(server.requests[0]?.tools?.[0]?.function.strict).toBe(true);
  });
});
