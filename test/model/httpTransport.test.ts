import { getEventListeners, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_SIGNAL, createHttpTransport, type TransportInit } from '../../src/model/httpTransport.js';
import { REFUSED_PORT } from '../support/refusedPort.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('http transport (the model client fetch on undici request)', () => {
  let server: http.Server;
  let base: string;
  const seen: Seen[] = [];
  const transport = createHttpTransport();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const url = req.url ?? '/';
        if (url === '/json') {
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.setHeader('x-request-id', 'req-1');
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ echo: body }));
        } else if (url === '/bom') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('\uFEFF{"bom":true}');
        } else if (url === '/gzip') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync(JSON.stringify({ zipped: true })));
        } else if (url === '/redirect-307') {
          res.writeHead(307, { location: '/json' });
          res.end();
        } else if (url === '/empty') {
          res.writeHead(204);
          res.end();
        } else if (url === '/error') {
          res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
          res.end(JSON.stringify({ error: { message: 'overloaded' } }));
        } else if (url === '/slow') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"partial":');
          setTimeout(() => res.end('true}'), 2_000).unref();
        } else if (url === '/v1/chat/completions') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: 'c1',
              object: 'chat.completion',
              created: 1,
              model: 'm',
              choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'hi' } }],
            }),
          );
        } else {
          res.writeHead(404);
          res.end('not found');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await transport.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends method, headers and a string body, and returns status, headers and body', async () => {
    const headers = new Headers({ 'Content-Type': 'application/json', Authorization: 'Bearer k' });
    const response = await transport.fetch(`${base}/json`, { method: 'post', headers, body: '{"x":1}' });
    expect(response.status).toBe(200);
    expect(response.ok).toBe(true);
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await response.json()).toEqual({ echo: '{"x":1}' });
    const request = seen.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.headers['authorization']).toBe('Bearer k');
    expect(request.headers['content-type']).toBe('application/json');
  });

  it('hands back a response that behaves like fetch\'s: read once, clone, stream, statusText', async () => {
    const response = await transport.fetch(`${base}/json`, { method: 'POST', body: 'one' });
    expect(response.statusText).toBe('OK');
    expect(response.url).toBe(`${base}/json`);
    const copy = response.clone();
    expect(response.bodyUsed).toBe(false);
    expect(await response.text()).toBe('{"echo":"one"}');
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toThrow(TypeError);
    await expect(response.json()).rejects.toThrow(TypeError);
    expect(() => response.body).toThrow(TypeError);
    expect(new TextDecoder().decode(await copy.arrayBuffer())).toBe('{"echo":"one"}');

    const streamed = await transport.fetch(`${base}/json`, { method: 'POST', body: 'two' });
    const chunks: Uint8Array[] = [];
    for await (const chunk of streamed.body!) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('{"echo":"two"}');
    expect(streamed.bodyUsed).toBe(true);

    const blob = await (await transport.fetch(`${base}/json`, { method: 'POST', body: 'three' })).blob();
    expect(await blob.text()).toBe('{"echo":"three"}');
    expect(await (await transport.fetch(`${base}/bom`)).json()).toEqual({ bom: true });
    const failed = await transport.fetch(`${base}/missing`);
    expect([failed.ok, failed.status, failed.statusText]).toEqual([false, 404, 'Not Found']);
  });

  it('takes headers as a record or as pairs, and a URL object', async () => {
    await transport.fetch(new URL(`${base}/json`), { method: 'POST', headers: { 'X-One': '1' }, body: 'a' });
    expect(seen.at(-1)!.headers['x-one']).toBe('1');
    await transport.fetch(`${base}/json`, { method: 'POST', headers: [['X-Two', '2']], body: new TextEncoder().encode('b') });
    expect(seen.at(-1)!.headers['x-two']).toBe('2');
    expect(seen.at(-1)!.body).toBe('b');
  });

  it('decodes a gzip body a server sent unasked and drops the wire encoding headers', async () => {
    const response = await transport.fetch(`${base}/gzip`);
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(await response.json()).toEqual({ zipped: true });
  });

  it('follows a redirect with the body, as fetch does', async () => {
    const response = await transport.fetch(`${base}/redirect-307`, { method: 'POST', body: 'again' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ echo: 'again' });
  });

  it('returns error statuses as responses and a 204 with no body', async () => {
    const error = await transport.fetch(`${base}/error`);
    expect(error.status).toBe(503);
    expect(error.headers.get('retry-after')).toBe('1');
    expect(await error.json()).toEqual({ error: { message: 'overloaded' } });
    const empty = await transport.fetch(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
  });

  it('rejects with an abort error when the signal is aborted before or during the response', async () => {
    await expect(transport.fetch(`${base}/json`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    const pending = transport.fetch(`${base}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("aborts on the caller signal given beside the init signal, with one listener on the caller's for all its requests", async () => {
    const own = new AbortController();
    const caller = new AbortController();
    for (const text of ['x', 'y', 'z']) {
      const ok = await transport.fetch(`${base}/json`, { method: 'POST', body: text, signal: own.signal, [CALLER_SIGNAL]: caller.signal } as TransportInit);
      expect(await ok.json()).toEqual({ echo: text });
    }
    expect(getEventListeners(own.signal, 'abort')).toHaveLength(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);

    const pending = transport.fetch(`${base}/slow`, { signal: own.signal, [CALLER_SIGNAL]: caller.signal } as TransportInit);
    setTimeout(() => caller.abort(new Error('caller gave up')), 50);
    await expect(pending).rejects.toThrow('caller gave up');
    const alone = transport.fetch(`${base}/slow`, { [CALLER_SIGNAL]: AbortSignal.abort(new Error('already')) } as TransportInit);
    await expect(alone).rejects.toThrow('already');
    // The init's own signal still aborts when a caller signal is given too.
    const second = new AbortController();
    const byOwn = transport.fetch(`${base}/slow`, { signal: second.signal, [CALLER_SIGNAL]: new AbortController().signal } as TransportInit);
    setTimeout(() => second.abort(), 50);
    await expect(byOwn).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects when nothing listens', async () => {
    await expect(transport.fetch(`http://127.0.0.1:${REFUSED_PORT}/json`)).rejects.toThrow();
  });

  it('hands what it does not handle (a Request, a form body) to the global fetch', async () => {
    const viaRequest = await transport.fetch(new Request(`${base}/json`, { method: 'POST', body: 'req' }));
    expect(await viaRequest.json()).toEqual({ echo: 'req' });
    const form = new FormData();
    form.set('field', 'value');
    const viaForm = await transport.fetch(`${base}/json`, { method: 'POST', body: form });
    expect(viaForm.status).toBe(200);
    expect(seen.at(-1)!.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(seen.at(-1)!.body).toContain('value');
  });

  it('serves the openai SDK as its fetch', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test', maxRetries: 0, fetch: transport.fetch });
    const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
    expect(completion.choices[0]!.message.content).toBe('hi');
    expect(seen.at(-1)!.headers['authorization']).toBe('Bearer sk-test');
    expect(JSON.parse(seen.at(-1)!.body)).toMatchObject({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });
  });
});
