import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModelRequest } from '../../src/model/model.js';
import { parseNextStep } from '../../src/model/nextStep.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';

const API_KEY = 'sk-property-secret-0123456789';

const request: ModelRequest = {
  threadId: 't-1',
  agent: 'calculator',
  system: 'You are a calculator.',
  context: '<input>add 1 and 2</input>',
  tools: [{ name: 'add', description: 'Adds.', parameters: { type: 'object', properties: {}, required: [], additionalProperties: false } }],
  signal: new AbortController().signal,
};

/** Any JSON, now and then holding the API key (a server may echo it). */
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(`bad key ${API_KEY}`));
const toolCall = fc.record(
  {
    id: anyJson,
    type: fc.oneof(fc.constantFrom('function', 'custom'), anyJson),
    function: fc.oneof(fc.record({ name: anyJson, arguments: fc.oneof(fc.constant('{"a":1}'), anyJson) }, { requiredKeys: [] }), anyJson),
    custom: fc.record({ name: anyJson, input: anyJson }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const message = fc.record(
  { content: fc.oneof(fc.constant('{"intent":"add"}'), anyJson), refusal: anyJson, tool_calls: fc.oneof(fc.array(fc.oneof(toolCall, anyJson), { maxLength: 2 }), anyJson) },
  { requiredKeys: [] },
);
/** A chat completion as a misbehaving server may send it, or anything else. */
const completion = fc.oneof(
  fc.record(
    {
      choices: fc.oneof(fc.array(fc.oneof(fc.record({ message: fc.oneof(message, anyJson) }, { requiredKeys: [] }), anyJson), { maxLength: 2 }), anyJson),
      usage: fc.oneof(fc.record({ prompt_tokens: anyJson, completion_tokens: fc.oneof(fc.nat(), fc.double()) }, { requiredKeys: [] }), anyJson),
      model: anyJson,
      error: fc.oneof(fc.record({ message: anyJson }), anyJson),
    },
    { requiredKeys: [] },
  ),
  anyJson,
);
/** A response: any status, JSON or not. */
const response = fc.record({
  status: fc.constantFrom(200, 200, 200, 400, 401, 429, 500, 503),
  body: fc.oneof({ arbitrary: completion.map((c) => JSON.stringify(c)), weight: 4 }, fc.string({ maxLength: 30 }), fc.constant('')),
  json: fc.boolean(),
});

describe('createOpenAIModel with any server response (property)', () => {
  it('never throws: an output of strings, or a failure with a short message that holds no key', async () => {
    await fc.assert(
      fc.asyncProperty(response, async ({ status, body, json }) => {
        const model = createOpenAIModel({
          apiKey: API_KEY,
          baseURL: 'http://127.0.0.1:9/v1',
          model: 'm',
          fetch: async () => new Response(body, { status, headers: { 'content-type': json ? 'application/json' : 'text/plain' } }),
        });
        const result = await model.complete(request);
        if (result.success) {
          const { toolCall, text, usage, model: name } = result.data;
          if (toolCall !== undefined) expect([typeof toolCall.name, typeof toolCall.arguments]).toEqual(['string', 'string']);
          else expect(typeof text).toBe('string');
          expect(typeof name === 'string' && name !== '').toBe(true);
          expect(usage.prompt).toBeGreaterThanOrEqual(0);
          expect(usage.completion).toBeGreaterThanOrEqual(0);
          // And the parse of whatever came back never throws either.
          expect(typeof parseNextStep(result.data).success).toBe('boolean');
        } else {
          expect(['http', 'timeout']).toContain(result.error.kind);
          expect(result.error.message.length).toBeLessThanOrEqual(300);
          expect(result.error.message).not.toContain(API_KEY);
        }
      }),
      { numRuns: 200, seed: 101 },
    );
  });
});
