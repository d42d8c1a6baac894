import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';

/** The ConfigError building a model with these options throws. */
function configErrorOf(build: () => unknown): ConfigError {
  try {
    build();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('createOpenAIModel: the API key', () => {
  it.each([
    ['a smart quote pasted around it', 'apiKey', { apiKey: '\u201csk-qa24-QUOTED-1234567890\u201d' }, 'apiKey', 0, 'U+201C'],
    ['an em dash in it', 'SWITCHYARD_MODEL_API_KEY', { env: { SWITCHYARD_MODEL_API_KEY: 'sk-proj\u2014ABCDEFGHIJ', SWITCHYARD_MODEL_BASE_URL: 'http://127.0.0.1:1/v1' } }, 'SWITCHYARD_MODEL_API_KEY', 7, 'U+2014'],
    ['a newline inside it', 'OPENAI_API_KEY', { env: { OPENAI_API_KEY: 'sk-abcdefgh\nijklmnop' } }, 'OPENAI_API_KEY', 11, 'U+000A'],
    ['a NUL in it', 'apiKey', { apiKey: 'sk-abcdefgh\u0000ijkl' }, 'apiKey', 11, 'U+0000'],
  ])('refuses one with %s at construction, naming %s and the position, never the key', (_name, _setting, options, setting, index, codePoint) => {
    const error = configErrorOf(() => createOpenAIModel(options));
    expect(error.message).toBe(`${setting} has a character an HTTP header cannot carry (${codePoint}) at index ${index}: it is sent as the Authorization header; check it was not pasted with quotes, a dash or a line break`);
    expect(error.message).not.toMatch(/sk-|ijkl|ABCDEF/);
  });

  it('takes a key of printable ASCII, and trims a secret file\'s newline', () => {
    expect(() => createOpenAIModel({ apiKey: 'sk-proj-AbC_123.xyz+/=~\n' })).not.toThrow();
  });
});

describe('createOpenAIModel: the base URL', () => {
  it.each([
    ['no scheme (OLLAMA_HOST style)', 'localhost:11434/v1'],
    ['an address without scheme', '127.0.0.1:11434/v1'],
    ['another scheme', 'htp://127.0.0.1:1/v1'],
    ['a port out of range', 'http://127.0.0.1:99999/v1'],
    ['a path only', '/v1'],
  ])('refuses one with %s at construction, naming it and what is expected', (_name, baseURL) => {
    const error = configErrorOf(() => createOpenAIModel({ baseURL, apiKey: 'sk-test-secret-123' }));
    expect(error.message).toBe(`baseURL must be an absolute http:// or https:// URL, such as http://127.0.0.1:11434/v1; got ${JSON.stringify(baseURL)}`);
  });

  it.each([
    ['http://127.0.0.1:1/v1/chat/completions', 'http://127.0.0.1:1/v1'],
    ['https://api.example.com/openai/v1/chat/completions/', 'https://api.example.com/openai/v1'],
    ['http://127.0.0.1:1/v1/chat/completions?api-version=1', 'http://127.0.0.1:1/v1?api-version=1'],
  ])('refuses %s, the endpoint the client appends to it, naming the base URL to give', (baseURL, meant) => {
    const error = configErrorOf(() => createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: baseURL } }));
    expect(error.message).toBe(
      `SWITCHYARD_MODEL_BASE_URL ends with /chat/completions, which the client appends to it (requests would go to .../chat/completions/chat/completions): give ${JSON.stringify(meant)}`,
    );
  });

  it('names the variable a bad base URL came from', () => {
    const error = configErrorOf(() => createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: 'localhost:11434/v1' } }));
    expect(error.message).toMatch(/^SWITCHYARD_MODEL_BASE_URL must be an absolute http:\/\/ or https:\/\/ URL/);
    const fromSdk = configErrorOf(() => createOpenAIModel({ env: { OPENAI_BASE_URL: 'ftp://host/v1', OPENAI_API_KEY: 'sk-test-secret-123' } }));
    expect(fromSdk.message).toMatch(/^OPENAI_BASE_URL must be .*; got "ftp:\/\/host\/v1"$/);
  });

  it.each([
    ['a password', 'htp://bob:pw-secret@127.0.0.1:1/v1', 'htp://bob:***@127.0.0.1:1/v1'],
    ['a key in the query', 'ftp://127.0.0.1/v1?api-version=1&api-key=query-secret', 'ftp://127.0.0.1/v1?api-version=1&api-key=***'],
    ['both, in a URL that does not parse', 'http://bob:pw-secret@127.0.0.1:99999/v1?token=query-secret', 'http://bob:***@127.0.0.1:99999/v1?token=***'],
  ])('masks %s in the base URL it names', (_name, baseURL, shown) => {
    const error = configErrorOf(() => createOpenAIModel({ baseURL, apiKey: 'sk-test-secret-123' }));
    expect(error.message).toContain(`got ${JSON.stringify(shown)}`);
    expect(error.message).not.toContain('secret');
    // A bad port is not the password's fault.
    expect(error.message).not.toContain('percent-encoded');
  });

  it.each([
    ['#', 'http://mu:BASE#PW-plant-6363@127.0.0.1:47311/v1'],
    ['/', 'http://mu:BASE/PW-plant-6464@127.0.0.1:47311/v1'],
    ['?', 'http://mu:BASE?PW-plant-6565@127.0.0.1:47311/v1'],
  ])('masks a password written raw with %s (it does not parse: refused, never printed; QA25 D2)', (_char, baseURL) => {
    const error = configErrorOf(() => createOpenAIModel({ env: { SWITCHYARD_MODEL_BASE_URL: baseURL, SWITCHYARD_MODEL_API_KEY: 'sk-test-secret-123' } }));
    expect(error.message).toContain('got "http://mu:***@127.0.0.1:47311/v1": a password holding / ? # or @ must be percent-encoded (%2F %3F %23 %40)');
    expect(error.message).not.toMatch(/:BASE|PW-plant/);
  });

  it('takes http and https URLs, with a port, a path, credentials or a query', () => {
    for (const baseURL of ['http://127.0.0.1:11434/v1', 'https://api.example.com/openai/v1?api-version=1', 'http://bob:pw@ollama:11434', 'HTTPS://Example.com/v1/']) {
      expect(createOpenAIModel({ baseURL, apiKey: 'sk-test-secret-123' }).name).toBe('gpt-4o-mini');
    }
  });
});
