import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelFailure, ModelRequest, ModelResult } from '../../src/model/model.js';
import { createHttpTransport } from '../../src/model/httpTransport.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';

// How createOpenAIModel behaves on what a provider's HTTP layer may do: a body without end, a
// redirect, a transport failure with a cause. Each test runs a raw HTTP server on 127.0.0.1.

const API_KEY = 'sk-transport-test-0123456789';

function request(): ModelRequest {
  return { threadId: 't-1', agent: 'a', system: 'You decide.', context: '<input>go</input>', tools: [], signal: new AbortController().signal };
}

function failureOf(result: ModelResult): ModelFailure {
  if (result.success) throw new Error(`expected a failure, got ${JSON.stringify(result.data).slice(0, 200)}`);
  expect(result.error.message).not.toContain(API_KEY);
  return result.error;
}

interface Seen {
  method: string;
  url: string;
}

const servers: http.Server[] = [];
async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    req.on('end', () => handler(req, res));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const COMPLETION_HEAD = '{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"';

describe('createOpenAIModel on a body larger than any answer it takes', () => {
  it('stops reading once the body passes the bound its maxAnswerChars sets, and fails as a too-long answer', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    let stopped!: () => void;
    const finished = new Promise<void>((resolve) => (stopped = resolve));
    const { base } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => stopped());
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.write(COMPLETION_HEAD);
      written += COMPLETION_HEAD.length;
      const pump = (): void => {
        while (!res.destroyed && written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end('"}}]}');
      };
      pump();
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY, maxAnswerChars: 1000, timeoutMs: 30_000 });

    const error = failureOf(await model.complete(request()));
    await finished;

    // The bound for 1000 characters is about 1 MiB: what the server got out before the transport
    // hung up is that plus what the sockets' buffers took, far from the 64 MiB it meant to send.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(error).toMatchObject({ kind: 'malformed' });
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('over the limit of 1000 characters (maxAnswerChars)');
    expect(error.message).toContain('it was not recorded');
  });

  it('refuses a body whose Content-Length is over the bound without reading it', async () => {
    const { base } = await serve((_req, res) => {
      const size = 8 * 1024 * 1024;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(size) });
      // The header promises 8 MiB; only the head is sent, then the server waits.
      res.write(COMPLETION_HEAD);
    });
    // Unfixed, the transport would wait for the rest until this timeout.
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY, maxAnswerChars: 1000, timeoutMs: 3_000 });
    const error = failureOf(await model.complete(request()));
    expect(error.message).toContain('over the limit of 1000 characters (maxAnswerChars)');
  });

  it('stops decoding a compressed body at the same bound', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(`${COMPLETION_HEAD}${'x'.repeat(8 * 1024 * 1024)}"}}]}`));
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY, maxAnswerChars: 1000 });
    const error = failureOf(await model.complete(request()));
    expect(error.message).toContain('over the limit of 1000 characters (maxAnswerChars)');
  });

  it('takes an answer at its limit even when every character is written as a \\u escape', async () => {
    const answer = 'é'.repeat(1000);
    const escaped = [...answer].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const { base } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${COMPLETION_HEAD}${escaped}"}}]}`);
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY, maxAnswerChars: 1000 });
    const result = await model.complete(request());
    expect(result.success && result.data.text).toBe(answer);
  });
});

describe('createOpenAIModel on a redirect', () => {
  const completion = JSON.stringify({
    id: 'c1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'moved fine' } }],
  });
  /** `/v1/...` redirects with `status` to `/v2/...`, which takes only a POST. */
  const redirecting = (status: number) =>
    serve((req, res) => {
      if (req.url?.startsWith('/v1/')) {
        res.writeHead(status, { location: '/v2/chat/completions' });
        res.end();
      } else if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completion);
      } else {
        res.writeHead(405, { 'content-type': 'text/plain' });
        res.end(`method not allowed: ${req.method}`);
      }
    });

  it.each([301, 302, 303])('does not follow a %i, which would resend the POST as a GET, and names where it points as the base URL to set', async (status) => {
    const { base, seen } = await redirecting(status);
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /v1/chat/completions']);
    expect(error).toMatchObject({ kind: 'http', status });
    expect(error.message).toContain(`${base}/v2/chat/completions`);
    expect(error.message).toContain(`set the base URL to ${base}/v2`);
    expect(error.message).toMatch(/\(not followed: a redirected POST is resent as a GET, without its body\)$/);
  });

  it('masks the credentials of the Location it names: userinfo and query values (QA25 D6)', async () => {
    const location = 'https://ru:REDIRPW-plant-1001@gw.example.com/v1/chat/completions?token=REDIRTOK-plant-1002&X-Amz-Signature=REDIRSIG-plant-1003';
    const { base } = await serve((_req, res) => {
      res.writeHead(302, { location });
      res.end();
    });
    const error = failureOf(await createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY }).complete(request()));
    expect(error.message).toContain('302 redirects to https://ru:***@gw.example.com/v1/chat/completions?token=***&X-Amz-Signature=***: set the base URL to https://gw.example.com/v1');
    expect(error.message).not.toMatch(/REDIR/);
  });

  it('does not follow a 308 of the POST to another origin (http to https is one), and names where it points', async () => {
    const { base, seen } = await serve((_req, res) => {
      res.writeHead(308, { location: 'https://127.0.0.1:1/v1/chat/completions' });
      res.end();
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ kind: 'http', status: 308 });
    expect(error.message).toContain('set the base URL to https://127.0.0.1:1/v1');
    // A 307 or 308 keeps the method and body: what stops it is the other origin, where the key would go.
    expect(error.message).toMatch(/\(not followed: it points to another origin, where the API key is not sent\)$/);
  });

  it.each([307, 308])('follows a %i with the POST and its body, as before', async (status) => {
    const { base, seen } = await redirecting(status);
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const result = await model.complete(request());
    expect(result.success && result.data.text).toBe('moved fine');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /v1/chat/completions', 'POST /v2/chat/completions']);
  });
});

describe('createOpenAIModel on a transport failure', () => {
  it('keeps the innermost cause of a connection error: an unsupported content-encoding', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' });
      res.end('(zstd bytes)');
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(error).toMatchObject({ kind: 'http', message: `POST ${base}/v1/chat/completions: Connection error: unsupported content-encoding zstd` });
  });

  it('keeps the innermost cause of a connection error: a redirect loop', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(307, { location: '/v1/chat/completions' });
      res.end();
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(error.message.startsWith(`POST ${base}/v1/chat/completions: Connection error: redirect count exceeded`)).toBe(true);
  });

  it('keeps the cause of a refused connection with its code', async () => {
    const { base } = await serve(() => undefined);
    const port = new URL(base).port;
    const server = servers.pop()!;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(error.message).toBe(`POST ${base}/v1/chat/completions: Connection error: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('redacts the key from a cause that carries it', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(307, { location: `http://[${API_KEY}` });
      res.end();
    });
    const model = createOpenAIModel({ baseURL: `${base}/v1`, apiKey: API_KEY });
    const error = failureOf(await model.complete(request()));
    expect(error.message.startsWith(`POST ${base}/v1/chat/completions: Connection error: a 307 redirect to an invalid URL: http://[[redacted]`)).toBe(true);
  });
});

describe("switchyard's transport following redirects itself", () => {
  it('follows a 301 of a GET to another origin without the credentials, and hands back a 308 of a POST to another origin (its headers, a custom api-key among them, never sent there)', async () => {
    const heard: Array<{ url: string; method: string; authorization: string | undefined; body: string }> = [];
    const target = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        heard.push({ url: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    servers.push(target);
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const other = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    const { base } = await serve((req, res) => {
      res.writeHead(req.method === 'GET' ? 301 : 308, { location: `${other}/moved` });
      res.end();
    });
    const transport = createHttpTransport();
    try {
      const got = await transport.fetch(`${base}/get`, { headers: { authorization: 'Bearer k' } });
      expect([got.status, got.redirected, got.url]).toEqual([200, true, `${other}/moved`]);
      const posted = await transport.fetch(`${base}/post`, { method: 'POST', headers: { authorization: 'Bearer k', 'api-key': 'azure-key' }, body: '{"x":1}' });
      expect([posted.status, posted.headers.get('location')]).toEqual([308, `${other}/moved`]);
      expect(heard).toEqual([{ url: '/moved', method: 'GET', authorization: undefined, body: '' }]);
    } finally {
      await transport.close();
    }
  });
});
