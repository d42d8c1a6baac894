import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { providerFailure } from '../../src/model/providerFailure.js';

const ENDPOINT = 'http://127.0.0.1:1234/v1/chat/completions';
const clean = (text: string): string => text.split('sk-SECRET123').join('[redacted]').slice(0, 300);

// The `error` objects of provider bodies as the SDK hands them over (APIError.error).
const groqToolUseFailed = {
  message: "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
  type: 'invalid_request_error',
  code: 'tool_use_failed',
  failed_generation: '<function=charge>{"amount": 5}</function>',
};
const openAIQuota = {
  message: 'You exceeded your current quota, please check your plan and billing details.',
  type: 'insufficient_quota',
  code: 'insufficient_quota',
};

describe('providerFailure', () => {
  it("reads Groq's 400 tool_use_failed as a malformed answer (no status: retried, counted toward errors in a row) showing the failed generation", () => {
    const failure = providerFailure(400, groqToolUseFailed, ENDPOINT, clean);
    expect(failure).toEqual({
      kind: 'malformed',
      message: 'the server refused the model\'s answer as no valid tool call (HTTP 400 tool_use_failed); it generated: "<function=charge>{\\"amount\\": 5}</function>"',
    });
  });

  it('bounds the failed generation it shows, and cleans it of secrets', () => {
    const failure = providerFailure(400, { ...groqToolUseFailed, failed_generation: `sk-SECRET123 ${'x'.repeat(5000)}` }, ENDPOINT, clean);
    expect(failure?.status).toBeUndefined();
    expect(failure?.message).toContain('[redacted] xxx');
    expect(failure?.message).not.toContain('sk-SECRET123');
    expect(failure?.message.length).toBeLessThanOrEqual(300);
  });

  it('reads a tool_use_failed without a failed generation as a malformed answer too, saying it showed none', () => {
    const failure = providerFailure(400, { ...groqToolUseFailed, failed_generation: undefined }, ENDPOINT, clean);
    expect(failure).toEqual({ kind: 'malformed', message: "the server refused the model's answer as no valid tool call (HTTP 400 tool_use_failed); it did not say what the model generated" });
  });

  it.each([
    ['by code and type', openAIQuota],
    ['by type only', { ...openAIQuota, code: null }],
    ['by code only', { ...openAIQuota, type: 'requests' }],
  ])('reads a 429 insufficient_quota (%s) as a failure no retry fixes, naming the endpoint and the server message', (_name, error) => {
    const failure = providerFailure(429, error, ENDPOINT, clean);
    // A failure not to retry, not a 429 the agent waits out as a rate limit.
    expect(failure?.status).toBe(429);
    expect(failure?.retryable).toBe(false);
    expect(failure?.retryAfterMs).toBeUndefined();
    expect(failure?.message).toBe(
      `POST ${ENDPOINT}: 429 insufficient_quota: the account's quota or billing limit is reached, which retrying will not lift: You exceeded your current quota, please check your plan and billing details.`.slice(0, 300),
    );
  });

  it.each([
    ['an ordinary 400', 400, { message: 'bad', type: 'invalid_request_error', code: null }],
    ['a rate limit', 429, { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' }],
    ['a tool_use_failed code on a 500', 500, groqToolUseFailed],
    ['no error object', 400, undefined],
    ['an error that is a string', 429, 'insufficient_quota'],
  ])('leaves %s to the usual status rules', (_name, status, error) => {
    expect(providerFailure(status, error, ENDPOINT, clean)).toBeUndefined();
  });
});

describe('providerFailure on the SDK\'s errors', () => {
  /** The APIError the openai SDK throws for a response with this status and body. */
  async function sdkError(status: number, body: unknown): Promise<APIError> {
    const server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: 'sk-SECRET123', maxRetries: 0 });
      await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    } catch (error) {
      if (error instanceof APIError) return error;
      throw error;
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    throw new Error('expected an APIError');
  }

  it('reads the body\'s error object as the SDK hands it over (APIError.error), as mapError would pass it', async () => {
    const groq = await sdkError(400, { error: groqToolUseFailed });
    expect(providerFailure(groq.status ?? 0, groq.error, ENDPOINT, clean)?.message).toContain('<function=charge>');
    const quota = await sdkError(429, { error: openAIQuota });
    expect(providerFailure(quota.status ?? 0, quota.error, ENDPOINT, clean)?.retryable).toBe(false);
  });
});
