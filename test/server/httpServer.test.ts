import { createHash } from 'node:crypto';
import { getMaxListeners, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Runtime, ThreadView } from '../../src/runtime/runtime.js';
import { createHttpApp, startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { incarnationOf } from '../../src/thread/incarnation.js';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { agent } from '../../src/agent/agent.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { call, createHarness, decide, echo, launchAndWait, openSse, type Harness, type SseFrame } from './harness.js';

let h: Harness;
let server: HttpServer;
let base: string;

beforeAll(async () => {
  h = createHarness();
  // token '' so a SWITCHYARD_TOKEN in the environment cannot change these tests.
  server = await startHttpServer(h.runtime, { port: 0, token: '' });
  base = server.url;
});

afterAll(async () => {
  await server.close();
  await h.runtime.close();
});

const post = <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>(base, 'POST', path, body, headers);
const get = <T = any>(path: string, headers?: Record<string, string>) => call<T>(base, 'GET', path, undefined, headers);

describe('GET /health and /agents', () => {
  it('answers health and lists the agents with their tools', async () => {
    expect(await get('/health')).toMatchObject({ status: 200, body: { ok: true } });
    const agents = await get('/agents');
    expect(agents.status).toBe(200);
    const calculator = agents.body.find((a: { name: string }) => a.name === 'calculator');
    expect(calculator).toMatchObject({ name: 'calculator', maxSteps: 12 });
    expect(calculator.description).toContain('arithmetic');
    const tools = Object.fromEntries(calculator.tools.map((t: { name: string }) => [t.name, t]));
    expect(tools.divide).toMatchObject({ approval: true, idempotent: true });
    expect(tools.add).toMatchObject({ approval: false, idempotent: true });
    expect(tools.request_human_input).toBeDefined();
    expect(agents.body.map((a: { name: string }) => a.name).sort()).toEqual(['calculator', 'echo']);
  });

  it('lists the pipelines too, marked as such (the agents as kind agent), each with the JSON Schema of its input, and POST /threads launches one', async () => {
    const greet = pipeline({ name: 'greet', description: 'has echo say hello', input: z.object({ who: z.string() }), output: z.string() })
      .code({ name: 'compose', output: z.string(), run: ({ input }) => `hello ${input.who}` })
      .agent({ name: 'say', agent: 'echo', input: ({ results }) => results.compose })
      .finish(({ results }) => String(results.say));
    const sized = agent({ name: 'sized', description: 'takes a size', prompt: 'You are {{agent}}.\n{{tools}}', tools: [], input: z.object({ size: z.number().int().min(1) }) });
    const runtime = createRuntime({ agents: [calculator, echo, sized], pipelines: [greet], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
    try {
      const app = createHttpApp(runtime, { token: '' });
      const listed = (await (await app.request('/agents')).json()) as { name: string; kind: string }[];
      expect(listed.map((a) => [a.name, a.kind])).toEqual([
        ['calculator', 'agent'],
        ['echo', 'agent'],
        ['sized', 'agent'],
        ['greet', 'pipeline'],
      ]);
      expect(listed.find((a) => a.name === 'calculator')).toMatchObject({ maxSteps: 12, tools: expect.any(Array) });
      // An agent's input schema, and `{}` (any JSON value) for an agent that declares none.
      expect(listed.find((a) => a.name === 'sized')).toMatchObject({
        inputSchema: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } }, required: ['size'], additionalProperties: false },
      });
      expect(listed.find((a) => a.name === 'echo')).toHaveProperty('inputSchema', {});
      expect(listed.find((a) => a.name === 'greet')).toEqual({
        name: 'greet',
        kind: 'pipeline',
        description: 'has echo say hello',
        inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { who: { type: 'string' } }, required: ['who'], additionalProperties: false },
        steps: [
          { name: 'compose', kind: 'code' },
          { name: 'say', kind: 'agent', agent: 'echo' },
        ],
      });
      const launched = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'greet', input: { who: 'dogs' } }) });
      expect(launched.status).toBe(201);
      const { id } = (await launched.json()) as ThreadView;
      expect(await runtime.settled(id, { signal: AbortSignal.timeout(10_000) })).toMatchObject({ agent: 'greet', status: 'done', output: '"hello dogs"' });
      // An unknown name is answered with the agents and the pipelines.
      const unknown = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'nobody', input: 'hi' }) });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: 'unknown agent "nobody" (known: calculator, echo, sized, greet)', code: 'not_found' });
    } finally {
      await runtime.close();
    }
  });

  it('answers an unknown route with a JSON 404', async () => {
    expect(await get('/nope')).toMatchObject({ status: 404, body: { error: 'no route GET /nope' } });
  });
});

describe('POST /threads', () => {
  it('launches a thread: 201, Location, the thread; it runs to done', async () => {
    const res = await post<ThreadView>('/threads', { agent: 'calculator', input: { op: 'add', a: 2, b: 3 } });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/threads/${res.body.id}`);
    expect(res.body.id).toMatch(/^th_/);
    expect(res.body.agent).toBe('calculator');
    expect(res.body.events[0]).toMatchObject({ seq: 1, type: 'input', data: { input: { op: 'add', a: 2, b: 3 }, source: { kind: 'http' } } });
    const done = await get<ThreadView>(`/threads/${res.body.id}/wait`);
    expect(done.body).toMatchObject({ status: 'done', output: 'result 5' });
  });

  it('answers 404 for an unknown agent, naming the agents it knows (as the NATS trigger guard does)', async () => {
    expect(await post('/threads', { agent: 'nope', input: 1 })).toMatchObject({ status: 404, body: { error: 'unknown agent "nope" (known: calculator, echo)' } });
  });

  it('answers 400 naming a missing agent, a missing input, a wrong type and an unknown key', async () => {
    const missing = await post('/threads', { input: 1 });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid request body', code: 'bad_request', issues: ['agent: is required'] });
    const noInput = await post('/threads', { agent: 'calculator' });
    expect(noInput.body.issues).toEqual(['input: is required (any JSON value)']);
    const wrongType = await post('/threads', { agent: 7, input: 1 });
    expect(wrongType.body.issues).toEqual(['agent: must be a string naming an agent']);
    const extra = await post('/threads', { agent: 'calculator', input: 1, priority: 'high' });
    expect(extra.status).toBe(400);
    expect(extra.body.issues[0]).toContain('priority');
    const array = await post('/threads', [1, 2]);
    expect(array.status).toBe(400);
    expect(array.body.issues[0]).toMatch(/^\(root\): .*object/);
  });

  it('names each field of a bad launch body once, before what is wrong with it', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{}, ['agent: is required', 'input: is required (any JSON value)']],
      [{ agent: '', input: 1 }, ['agent: must not be empty']],
      [{ agent: 'echo', input: 1, threadId: 5 }, ['threadId: must be a string']],
      [{ agent: 'echo', input: 1, threadId: 'no spaces' }, ['threadId: must be 1 to 128 letters, digits or _ : -']],
      [{ agent: 'echo', input: 1, callbackUrl: 5 }, ['callbackUrl: must be an http or https URL']],
      [{ agent: 'echo', input: 1, callbackUrl: 'ftp://example.com/x' }, ['callbackUrl: must be an http or https URL']],
      [{ agent: 'echo', input: 1, callbackUrl: `https://example.com/${'x'.repeat(2048)}` }, ['callbackUrl: must be at most 2048 characters']],
    ];
    for (const [body, issues] of cases) {
      expect(await post('/threads', body), JSON.stringify(body).slice(0, 80)).toMatchObject({ status: 400, body: { error: 'invalid request body', issues } });
    }
  });

  it('answers 400 for a body that is not JSON or is empty, and 415 for another content type', async () => {
    const notJson = await post('/threads', '{"agent": "calculator", input');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toBe('body is not valid JSON');
    expect(notJson.body.issues).toHaveLength(1);
    const empty = await post('/threads', '');
    expect(empty).toMatchObject({ status: 400, body: { error: 'a JSON body is required' } });
    const form = await call(base, 'POST', '/threads', undefined, { 'content-type': 'text/plain' });
    expect(form.status).toBe(400); // no body at all
    const text = await fetch(`${base}/threads`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"agent":"calculator","input":1}' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: string }).error).toContain('Content-Type: application/json');
  });

  it('answers 413 for a body over the limit, with or without Content-Length', async () => {
    const big = JSON.stringify({ agent: 'calculator', input: 'x'.repeat(1024 * 1024), threadId: 'too-big' });
    const sized = await post('/threads', big);
    expect(sized).toMatchObject({ status: 413, body: { error: 'the request body is larger than 1048576 bytes' } });
    const bytes = new TextEncoder().encode(big);
    const streamed = await fetch(`${base}/threads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await streamed.json()) as unknown).toEqual({ error: 'the request body is larger than 1048576 bytes', code: 'payload_too_large' });
    expect((await get('/threads/too-big')).status).toBe(404);
    // Just under the limit is fine.
    const fits = JSON.stringify({ agent: 'echo', input: 'x'.repeat(1024 * 1024 - 100) });
    expect((await post('/threads', fits)).status).toBe(201);
  });

  it('answers 400 for a bad threadId', async () => {
    const res = await post('/threads', { agent: 'calculator', input: 1, threadId: 'no spaces/or slashes' });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual(['threadId: must be 1 to 128 letters, digits or _ : -']);
  });

  it('takes an Idempotency-Key that is not a thread id by its hash (as NATS msg ids and hook delivery ids are), the same thread on every retry', async () => {
    const key = 'a b/c';
    const hashed = `key-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
    const first = await post<ThreadView>('/threads', { agent: 'echo', input: 'h' }, { 'idempotency-key': key });
    expect(first).toMatchObject({ status: 201, body: { id: hashed, events: [{ data: { source: { kind: 'http', triggerId: key } } }] } });
    expect(await post<ThreadView>('/threads', { agent: 'echo', input: 'h' }, { 'idempotency-key': key })).toMatchObject({ status: 200, body: { id: hashed } });
    // A key that is a thread id stays one, however long it may be.
    const long = 'K'.repeat(128);
    expect(await post<ThreadView>('/threads', { agent: 'echo', input: 'h' }, { 'idempotency-key': long })).toMatchObject({ status: 201, body: { id: long } });
    // Too long to be a key at all.
    const tooLong = await post('/threads', { agent: 'echo', input: 'h' }, { 'idempotency-key': 'k '.repeat(101) });
    expect(tooLong).toMatchObject({ status: 400, body: { error: 'invalid Idempotency-Key header' } });
  });

  it('relaunching an id returns the existing thread with 200, by threadId or Idempotency-Key', async () => {
    const first = await post<ThreadView>('/threads', { agent: 'echo', input: { n: 1 }, threadId: 'order-42' });
    expect(first.status).toBe(201);
    expect(first.body.id).toBe('order-42');
    const again = await post<ThreadView>('/threads', { agent: 'echo', input: { n: 1 }, threadId: 'order-42' });
    expect(again.status).toBe(200);
    expect(again.body.events[0]).toMatchObject({ data: { input: { n: 1 } } });
    // Another input under the id is refused (see relaunch.test.ts).
    expect((await post('/threads', { agent: 'echo', input: { n: 2 }, threadId: 'order-42' })).status).toBe(409);

    const keyed = await post<ThreadView>('/threads', { agent: 'echo', input: 'k' }, { 'idempotency-key': 'msg-7' });
    expect(keyed.status).toBe(201);
    expect(keyed.body.id).toBe('msg-7');
    expect(keyed.body.events[0]).toMatchObject({ data: { source: { kind: 'http', triggerId: 'msg-7' } } });
    expect((await post('/threads', { agent: 'echo', input: 'k' }, { 'idempotency-key': 'msg-7' })).status).toBe(200);

    const otherAgent = await post('/threads', { agent: 'calculator', input: 1, threadId: 'order-42' });
    expect(otherAgent.status).toBe(409);
    expect(otherAgent.body.error).toBe('thread order-42 already exists and runs agent echo, not calculator');

    // Launched concurrently with one id: one creates it, the other gets it.
    const raced = await Promise.all([1, 2].map(() => post<ThreadView>('/threads', { agent: 'echo', input: 'r', threadId: 'race-1' })));
    expect(raced.map((r) => r.status).sort()).toEqual([200, 201]);
    const list = await get<{ threads: { id: string }[] }>('/threads?agent=echo&limit=10000');
    expect(list.body.threads.filter((t) => t.id === 'order-42' || t.id === 'race-1')).toHaveLength(2);
  });
});

describe('GET /threads/:id', () => {
  it('returns the thread, 404 for an unknown one and 400 for an id that cannot exist', async () => {
    const view = await launchAndWait(base, 'echo', { hello: 'world' });
    const res = await get<ThreadView>(`/threads/${view.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: view.id, agent: 'echo', status: 'done', output: '{"hello":"world"}' });
    expect(res.body.events.map((e) => e.type)).toEqual(['input', 'decision', 'final']);
    expect(await get('/threads/th_missing')).toMatchObject({ status: 404, body: { error: 'thread not found: th_missing' } });
    const bad = await get(`/threads/${'x'.repeat(200)}`);
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid thread id in the path' } });
  });
});

describe('GET /threads', () => {
  it('filters by agent and status (repeated or comma-separated) and limits', async () => {
    const echoed = await launchAndWait(base, 'echo', 'list me');
    const asking = await launchAndWait(base, 'calculator', { ask: 'which number?' });
    expect(asking.status).toBe('awaiting_human');

    const byAgent = await get<{ threads: { id: string; agent: string }[] }>('/threads?agent=echo&limit=10000');
    expect(byAgent.status).toBe(200);
    expect(byAgent.body.threads.map((t) => t.id)).toContain(echoed.id);
    expect(byAgent.body.threads.every((t) => t.agent === 'echo')).toBe(true);

    for (const query of ['status=done,awaiting_human', 'status=done&status=awaiting_human']) {
      const res = await get<{ threads: { id: string; status: string }[] }>(`/threads?${query}&limit=10000`);
      expect(res.body.threads.map((t) => t.id)).toEqual(expect.arrayContaining([echoed.id, asking.id]));
      expect(res.body.threads.every((t) => t.status === 'done' || t.status === 'awaiting_human')).toBe(true);
    }
    const waiting = await get<{ threads: { id: string }[] }>('/threads?status=awaiting_human&agent=calculator');
    expect(waiting.body.threads.map((t) => t.id)).toContain(asking.id);
    expect(waiting.body.threads.map((t) => t.id)).not.toContain(echoed.id);
    expect((await get('/threads?agent=nobody')).body).toEqual({ threads: [] });
    expect((await get('/threads?limit=1')).body.threads).toHaveLength(1);
  });

  it("carries each waiting thread's pending request (an inbox needs no GET per thread), and none once it is answered", async () => {
    const approval = await launchAndWait(base, 'calculator', { op: 'divide', a: 6, b: 2 });
    const question = await launchAndWait(base, 'calculator', { ask: 'which number?' });
    type Row = { id: string; pending?: Record<string, unknown> };
    const rows = async (query: string): Promise<Map<string, Row>> => new Map((await get<{ threads: Row[] }>(`/threads?agent=calculator&limit=10000${query}`)).body.threads.map((t) => [t.id, t]));
    for (const query of ['&status=awaiting_human', '', '&after=']) {
      const listed = await rows(query);
      expect(listed.get(approval.id)?.pending).toEqual({
        requestId: approval.pendingRequest!.requestId,
        kind: 'approval',
        question: approval.pendingRequest!.question,
        urgency: approval.pendingRequest!.urgency,
        format: 'yes_no',
        tool: 'divide',
        args: approval.pendingRequest!.args,
        at: approval.events.find((e) => e.type === 'human_request')!.at,
      });
      expect(listed.get(question.id)?.pending).toMatchObject({ requestId: question.pendingRequest!.requestId, kind: 'input', question: 'which number?' });
      expect(listed.get(question.id)?.pending).not.toHaveProperty('tool');
    }
    await post(`/threads/${approval.id}/respond`, { requestId: approval.pendingRequest!.requestId, approved: true });
    expect((await get<ThreadView>(`/threads/${approval.id}/wait`)).body.status).toBe('done');
    const after = await rows('');
    expect(after.get(approval.id)).toMatchObject({ status: 'done' });
    expect(after.get(approval.id)).not.toHaveProperty('pending');
  });

  it("says when the open request was asked in GET /threads/:id's pendingRequest and the TS API's view, as the row's pending does, also when a pause followed it", async () => {
    const approval = await launchAndWait(base, 'calculator', { op: 'divide', a: 8, b: 2 });
    const askedAt = approval.events.findLast((e) => e.type === 'human_request')!.at;
    expect(approval.pendingRequest).toMatchObject({ kind: 'approval', at: askedAt });
    expect((await post<ThreadView>(`/threads/${approval.id}/pause`)).body.status).toBe('paused');
    const paused = (await get<ThreadView>(`/threads/${approval.id}`)).body;
    expect(paused.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'pause' } });
    expect(paused.pendingRequest).toMatchObject({ requestId: approval.pendingRequest!.requestId, at: askedAt });
    expect((await h.runtime.get(approval.id))?.pendingRequest).toMatchObject({ at: askedAt });
    const row = (await get<{ threads: { id: string; pending?: { at: string } }[] }>('/threads?agent=calculator&limit=10000')).body.threads.find((t) => t.id === approval.id);
    expect(row?.pending?.at).toBe(askedAt);
    await post(`/threads/${approval.id}/cancel`);
  });

  it('pages a walk with after and next: every thread once, in creation order', async () => {
    const launched: string[] = [];
    for (let i = 0; i < 5; i++) launched.push((await launchAndWait(base, 'echo', `page ${i}`)).id);
    const seen: string[] = [];
    let after = '';
    for (let page = 0; page < 100; page++) {
      const res = await get<{ threads: { id: string; cursor?: string }[]; next?: string }>(`/threads?agent=echo&limit=2&after=${encodeURIComponent(after)}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.threads.map((t) => t.id));
      if (res.body.next === undefined) break;
      expect(res.body.threads).toHaveLength(2);
      after = res.body.next;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => launched.includes(id))).toEqual(launched);
    const bad = await get('/threads?after=nonsense');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid list cursor');
  });

  it('updatedBefore lists only the threads last updated strictly before that instant, paged or not; 400 for one it cannot read', async () => {
    const echoed = await launchAndWait(base, 'echo', 'before');
    const plus = (ms: number): string => encodeURIComponent(new Date(Date.parse(echoed.updatedAt!) + ms).toISOString());
    for (const paging of ['', '&after=']) {
      const ids = async (ms: number): Promise<string[]> => (await get<{ threads: { id: string }[] }>(`/threads?agent=echo&limit=10000&updatedBefore=${plus(ms)}${paging}`)).body.threads.map((t) => t.id);
      expect(await ids(0)).not.toContain(echoed.id);
      expect(await ids(1)).toContain(echoed.id);
      expect(await ids(-60_000)).not.toContain(echoed.id);
    }
    const bad = await get('/threads?updatedBefore=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('updatedBefore');
  });

  it('answers 400 for an unknown status or a bad limit', async () => {
    const res = await get('/threads?status=done,snoozing');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unknown thread status: snoozing');
    expect(res.body.issues[0]).toContain('awaiting_human');
    expect((await get('/threads?limit=-1')).status).toBe(400);
    expect((await get('/threads?limit=ten')).body.issues[0]).toContain('limit');
  });
});

describe('POST /threads/:id/respond', () => {
  it('approves a division, which then runs to done', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 6, b: 3 });
    expect(waiting.status).toBe('awaiting_human');
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'divide', format: 'yes_no' });
    const res = await post<ThreadView>(`/threads/${waiting.id}/respond`, { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'ana' });
    expect(res.status).toBe(200);
    expect(res.body.pendingRequest).toBeNull();
    const done = (await get<ThreadView>(`/threads/${waiting.id}/wait`)).body;
    expect(done).toMatchObject({ status: 'done', output: 'result 2' });
    expect(done.events.find((e) => e.type === 'human_response')).toMatchObject({ data: { approved: true, by: 'ana' } });
    expect(done.events.some((e) => e.type === 'tool_result')).toBe(true);
  });

  it('denies a division: no tool runs', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 1, b: 0 });
    const res = await post(`/threads/${waiting.id}/respond`, { requestId: waiting.pendingRequest!.requestId, approved: false, comment: 'no' });
    expect(res.status).toBe(200);
    const done = (await get<ThreadView>(`/threads/${waiting.id}/wait`)).body;
    expect(done).toMatchObject({ status: 'done', output: 'denied' });
    expect(done.events.some((e) => e.type === 'tool_call')).toBe(false);
  });

  it('answers an input request with text', async () => {
    const waiting = await launchAndWait(base, 'calculator', { ask: 'which number?' });
    const requestId = waiting.pendingRequest!.requestId;
    const noAnswer = await post(`/threads/${waiting.id}/respond`, { requestId });
    expect(noAnswer).toMatchObject({ status: 400, body: { error: 'this request needs an "answer"' } });
    expect((await post(`/threads/${waiting.id}/respond`, { requestId, answer: '42' })).status).toBe(200);
    expect((await get<ThreadView>(`/threads/${waiting.id}/wait`)).body).toMatchObject({ status: 'done', output: 'you said 42' });
  });

  it('answers 409 for a stale or forged requestId and leaves the thread waiting', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 8, b: 2 });
    const res = await post(`/threads/${waiting.id}/respond`, { requestId: 'req_forged', approved: true });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('request req_forged is not the open request of this thread');
    const after = (await get<ThreadView>(`/threads/${waiting.id}`)).body;
    expect(after.status).toBe('awaiting_human');
    expect(after.version).toBe(waiting.version);
  });

  it('answers 409 to an answer repeated after the thread ended, saying it was answered already', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 8, b: 4 });
    const answer = { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'ana' };
    expect((await post(`/threads/${waiting.id}/respond`, answer)).status).toBe(200);
    const done = (await get<ThreadView>(`/threads/${waiting.id}/wait`)).body;
    expect(done.status).toBe('done');
    const at = done.events.find((e) => e.type === 'human_response')!.at;

    const repeated = await post(`/threads/${waiting.id}/respond`, answer);
    expect(repeated.status).toBe(409);
    expect(repeated.body.error).toBe(`thread ${waiting.id} is done; request ${answer.requestId} was already answered (approved by ana at ${at})`);
  });

  it('answers 400 for a bad body: approval without "approved", no requestId, unknown keys, wrong types', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 9, b: 3 });
    const path = `/threads/${waiting.id}/respond`;
    const requestId = waiting.pendingRequest!.requestId;
    expect(await post(path, { requestId, answer: 'sure' })).toMatchObject({
      status: 400,
      body: { error: 'an approval request needs "approved": true or false' },
    });
    const noId = await post(path, { approved: true });
    expect(noId.status).toBe(400);
    expect(noId.body.issues[0]).toMatch(/^requestId: /);
    expect((await post(path, { requestId, approved: true, admin: true })).body.issues[0]).toContain('admin');
    expect((await post(path, { requestId, approved: 'yes' })).body.issues[0]).toMatch(/^approved: /);
    expect((await post(path, 'nope')).body.error).toBe('body is not valid JSON');
    expect((await get<ThreadView>(`/threads/${waiting.id}`)).body.status).toBe('awaiting_human');
  });

  it('answers 400 for "approved" beside an "answer" (as the CLI refuses --answer with --approve or --deny), for an approval and a question alike, and the runtime refuses it with the same rule', async () => {
    // The field is named once, before the rule (not `answer: "answer" cannot ...`).
    const rule = 'cannot be combined with "approved": answer a question or an escalation with "answer", an approval with "approved" (and "comment")';
    const approval = await launchAndWait(base, 'calculator', { op: 'divide', a: 8, b: 2 });
    const question = await launchAndWait(base, 'calculator', { ask: 'which one?' });
    for (const [waiting, approved] of [[approval, true], [question, false]] as const) {
      const requestId = waiting.pendingRequest!.requestId;
      const res = await post(`/threads/${waiting.id}/respond`, { requestId, approved, answer: 'x' });
      expect(res).toMatchObject({ status: 400, body: { issues: [`answer: ${rule}`] } });
      // What the NATS surface calls: the same rule, in the same words.
      await expect(h.runtime.respond(waiting.id, { requestId, approved, answer: 'x' })).rejects.toMatchObject({ name: 'InvalidInputError', issues: [`answer: ${rule}`] });
      const after = (await get<ThreadView>(`/threads/${waiting.id}`)).body;
      expect(after).toMatchObject({ status: 'awaiting_human', version: waiting.version });
    }
  });

  it('answers 404 for an unknown thread and 409 once the thread is done', async () => {
    expect((await post('/threads/th_missing/respond', { requestId: 'r', approved: true })).status).toBe(404);
    const done = await launchAndWait(base, 'echo', 'finished');
    const res = await post(`/threads/${done.id}/respond`, { requestId: 'r', approved: true });
    expect(res).toMatchObject({ status: 409, body: { error: `thread ${done.id} is done` } });
  });

  it('of two concurrent answers to one request, exactly one wins and the other gets 409', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 10, b: 5 });
    const requestId = waiting.pendingRequest!.requestId;
    const results = await Promise.all([
      post(`/threads/${waiting.id}/respond`, { requestId, approved: true, by: 'a' }),
      post(`/threads/${waiting.id}/respond`, { requestId, approved: false, by: 'b' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.error).toEqual(expect.any(String));
    const done = (await get<ThreadView>(`/threads/${waiting.id}/wait`)).body;
    const responses = done.events.filter((e) => e.type === 'human_response');
    expect(responses).toHaveLength(1);
    const winner = results.findIndex((r) => r.status === 200) === 0 ? 'a' : 'b';
    expect(responses[0]!.data).toMatchObject({ by: winner });
    expect(done.output).toBe(winner === 'a' ? 'result 2' : 'denied');
  });
});

describe('POST /threads/:id/pause, resume, cancel', () => {
  it('pauses, resumes and cancels a waiting thread; 409 for pause or resume once ended', async () => {
    const waiting = await launchAndWait(base, 'calculator', { ask: 'hold on?' });
    const paused = await post<ThreadView>(`/threads/${waiting.id}/pause`, { reason: 'lunch', by: 'ops' });
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    expect(paused.body.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'pause', reason: 'lunch', by: 'ops' } });
    expect((await post<ThreadView>(`/threads/${waiting.id}/pause`)).body.status).toBe('paused');

    const resumed = await post<ThreadView>(`/threads/${waiting.id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('awaiting_human');
    expect((await get<ThreadView>(`/threads/${waiting.id}/wait`)).body.status).toBe('awaiting_human');

    const cancelled = await post<ThreadView>(`/threads/${waiting.id}/cancel`, { reason: 'not needed' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await post(`/threads/${waiting.id}/cancel`)).status).toBe(200);

    const pauseEnded = await post(`/threads/${waiting.id}/pause`);
    expect(pauseEnded).toMatchObject({ status: 409, body: { error: `thread ${waiting.id} is cancelled; it cannot be paused` } });
    expect((await post(`/threads/${waiting.id}/resume`)).status).toBe(409);
    const respond = await post(`/threads/${waiting.id}/respond`, { requestId: waiting.pendingRequest!.requestId, answer: 'x' });
    expect(respond.status).toBe(409);
  });

  it('cancels a thread that is still deciding', async () => {
    const launched = await post<ThreadView>('/threads', { agent: 'calculator', input: { hang: true } });
    const cancelled = await post<ThreadView>(`/threads/${launched.body.id}/cancel`, { by: 'ops' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
  });

  it('answers 409 for cancelling a done thread, 404 for an unknown one, 400 for a bad body', async () => {
    const done = await launchAndWait(base, 'echo', 'x');
    expect((await post(`/threads/${done.id}/cancel`)).status).toBe(409);
    expect((await post('/threads/th_missing/pause')).status).toBe(404);
    const waiting = await launchAndWait(base, 'calculator', { ask: 'q?' });
    const wrongType = await post(`/threads/${waiting.id}/pause`, { reason: 5 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.issues).toEqual(['reason: must be a string']);
    // Each field named once, and a value too long said so (not "must be a string").
    for (const [body, issues] of [
      [{ reason: 'x'.repeat(2001) }, ['reason: must be at most 2000 characters']],
      [{ by: 5 }, ['by: must be a string']],
      [{ by: 'x'.repeat(201) }, ['by: must be at most 200 characters']],
    ] as const) {
      expect(await post(`/threads/${waiting.id}/pause`, body)).toMatchObject({ status: 400, body: { error: 'invalid request body', issues } });
    }
    expect((await post(`/threads/${waiting.id}/cancel`, { force: true })).body.issues[0]).toContain('force');
    expect((await post(`/threads/${waiting.id}/resume`, '{')).body.error).toBe('body is not valid JSON');
    expect((await get<ThreadView>(`/threads/${waiting.id}`)).body.status).toBe('awaiting_human');
  });
});

describe('GET /threads/:id/wait', () => {
  it('answers 202 with the thread when it is still moving at the timeout', async () => {
    const launched = await post<ThreadView>('/threads', { agent: 'calculator', input: { hang: true } });
    const res = await get<ThreadView>(`/threads/${launched.body.id}/wait?timeoutMs=50`);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: launched.body.id, status: 'running' });
    await post(`/threads/${launched.body.id}/cancel`);
  });

  it("names the child a pipeline waits on and what it waits for, in /wait and GET /threads/:id (QA19 pipelines #6)", async () => {
    const asks = pipeline({ name: 'asks', description: 'has the calculator ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'ask', agent: 'calculator', input: () => ({ ask: 'which unit?' }) })
      .finish(({ results }) => results.ask);
    const runtime = createRuntime({ agents: [calculator, echo], pipelines: [asks], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
    try {
      const app = createHttpApp(runtime, { token: '' });
      await runtime.launch('asks', {}, { threadId: 'p-asks' });
      await vi.waitFor(async () => expect((await runtime.get('p-asks--ask'))?.status).toBe('awaiting_human'));
      const waited = (await (await app.request('/threads/p-asks/wait?timeoutMs=5000')).json()) as ThreadView & { waitingOn?: unknown };
      expect(waited.status).toBe('running');
      expect(waited.waitingOn).toEqual({
        threadId: 'p-asks--ask',
        agent: 'calculator',
        status: 'awaiting_human',
        pendingRequest: expect.objectContaining({ kind: 'input', question: 'which unit?' }),
      });
      const shown = (await (await app.request('/threads/p-asks')).json()) as { waitingOn?: unknown };
      expect(shown.waitingOn).toEqual(waited.waitingOn);
      // An agent's thread, or a pipeline that ended, names none.
      expect(((await (await app.request('/threads/p-asks--ask')).json()) as { waitingOn?: unknown }).waitingOn).toBeUndefined();
      const child = (await runtime.get('p-asks--ask'))!;
      await runtime.respond('p-asks--ask', { requestId: child.pendingRequest!.requestId, answer: 'metres' });
      expect((await runtime.settled('p-asks')).status).toBe('done');
      expect(((await (await app.request('/threads/p-asks')).json()) as { waitingOn?: unknown }).waitingOn).toBeUndefined();
    } finally {
      await runtime.close();
    }
  });

  it('names, for a nested pipeline, the thread down its chain that waits for a human, and a respond to the pipeline names that thread and its request (QA24 pipelines #5, #6)', async () => {
    const asks = pipeline({ name: 'asks', description: 'has the calculator ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'ask', agent: 'calculator', input: () => ({ ask: 'which unit?' }) })
      .finish(({ results }) => results.ask);
    const nest = pipeline({ name: 'nest', description: 'has asks ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'inner', agent: 'asks', input: () => ({}) })
      .finish(({ results }) => results.inner);
    const runtime = createRuntime({ agents: [calculator, echo], pipelines: [asks, nest], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
    try {
      const app = createHttpApp(runtime, { token: '' });
      await runtime.launch('nest', {}, { threadId: 'p-nest' });
      await vi.waitFor(async () => expect((await runtime.get('p-nest--inner--ask'))?.status).toBe('awaiting_human'));
      const request = (await runtime.get('p-nest--inner--ask'))!.pendingRequest!;
      const waited = (await (await app.request('/threads/p-nest/wait?timeoutMs=5000')).json()) as ThreadView & { waitingOn?: unknown };
      expect(waited.status).toBe('running');
      expect(waited.waitingOn).toEqual({
        threadId: 'p-nest--inner--ask',
        agent: 'calculator',
        status: 'awaiting_human',
        pendingRequest: request,
        through: [{ threadId: 'p-nest--inner', agent: 'asks' }],
      });
      const refused = await app.request('/threads/p-nest/respond', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: 'req_x', answer: 'metres' }) });
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({
        code: 'not_waiting',
        error: `thread p-nest is a pipeline waiting on calculator thread p-nest--inner--ask (through asks thread p-nest--inner), which waits for a human (input ${request.requestId}): answer it there`,
      });
    } finally {
      await runtime.close();
    }
  });

  it('answers 400 for a bad timeout and 404 for an unknown thread', async () => {
    expect((await get('/threads/th_missing/wait')).status).toBe(404);
    const res = await get('/threads/th_missing/wait?timeoutMs=300001');
    expect(res.status).toBe(400);
    expect(res.body.issues[0]).toContain('timeoutMs: must be an integer from 0 to 300000');
  });
});

/** The event frames of a stream (comments and the end marker left out). */
const eventFrames = (frames: SseFrame[]) => frames.filter((f) => f.comment === undefined && f.event !== 'end');

describe('GET /threads/:id/events', () => {
  it('streams stored then live events in order with ids, and ends with the thread', async () => {
    const waiting = await launchAndWait(base, 'calculator', { op: 'divide', a: 12, b: 4 });
    const sse = await openSse(`${base}/threads/${waiting.id}/events`);
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const before = await sse.until((f) => f.event === 'human_request');
    expect(eventFrames(before).map((f) => f.event)).toEqual(['input', 'decision', 'human_request']);

    const answered = await post(`/threads/${waiting.id}/respond`, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const after = await sse.until((f) => f.event === 'end');
    expect(after.at(-1)).toEqual({ event: 'end', data: '{"status":"done"}' });
    expect(await sse.next()).toBeUndefined();

    const frames = eventFrames([...before, ...after]);
    const events = frames.map((f) => JSON.parse(f.data!) as ThreadEvent);
    // `<incarnation>:<seq>`: the incarnation of the thread's creation, as its deliveries name it.
    expect(frames.map((f) => f.id)).toEqual(events.map((_, i) => `${incarnationOf(events[0]!.at)}:${i + 1}`));
    expect(frames.map((f) => f.event)).toEqual(events.map((e) => e.type));
    const stored = (await get<ThreadView>(`/threads/${waiting.id}`)).body.events;
    expect(events).toEqual(stored);
    expect(events.map((e) => e.type)).toEqual(['input', 'decision', 'human_request', 'human_response', 'tool_call', 'tool_result', 'decision', 'final']);
  });

  it('resumes after Last-Event-ID or ?after=, and answers 204 when nothing is left of an ended thread', async () => {
    const done = await launchAndWait(base, 'calculator', { op: 'add', a: 1, b: 1 });
    for (const [path, headers] of [
      [`/threads/${done.id}/events`, { 'last-event-id': '3' }],
      [`/threads/${done.id}/events?after=3`, {}],
    ] as const) {
      const sse = await openSse(`${base}${path}`, headers);
      const frames = await sse.until((f) => f.event === 'end');
      expect(eventFrames(frames).map((f) => f.id)).toEqual(done.events.slice(3).map((e) => `${incarnationOf(done.createdAt!)}:${e.seq}`));
      expect(await sse.next()).toBeUndefined();
    }
    const rest = await fetch(`${base}/threads/${done.id}/events`, { headers: { 'last-event-id': String(done.version) } });
    expect(rest.status).toBe(204);
  });

  it('answers 400 for a bad Last-Event-ID and 404 for an unknown thread', async () => {
    const bad = await get('/threads/th_missing/events', { 'last-event-id': 'abc' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]).toContain('Last-Event-ID');
    expect((await get('/threads/th_missing/events?after=-2')).status).toBe(400);
    expect(await get('/threads/th_missing/events')).toMatchObject({ status: 404, body: { error: 'thread not found: th_missing' } });
  });

  it('sends heartbeats and stops watching when the client disconnects', async () => {
    const watched: AbortSignal[] = [];
    const runtime: Runtime = {
      ...h.runtime,
      watch: (id, options) => {
        watched.push(options!.signal!);
        return h.runtime.watch(id, options);
      },
    };
    const local = await startHttpServer(runtime, { port: 0, token: '', heartbeatMs: 10 });
    try {
      const waiting = await launchAndWait(local.url, 'calculator', { ask: 'still there?' });
      const sse = await openSse(`${local.url}/threads/${waiting.id}/events`);
      const frames = await sse.until((f) => f.comment === 'heartbeat');
      expect(frames.at(-1)).toEqual({ comment: 'heartbeat' });
      expect(watched).toHaveLength(1);
      expect(watched[0]!.aborted).toBe(false);
      sse.close();
      await new Promise((resolve) => (watched[0]!.aborted ? resolve(null) : watched[0]!.addEventListener('abort', resolve)));
      expect(watched[0]!.aborted).toBe(true);
    } finally {
      await local.close();
    }
  });

  it('holds many streams open at once without a "possible memory leak" warning on stderr', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const local = await startHttpServer(h.runtime, { port: 0, token: '' });
    const streams: Awaited<ReturnType<typeof openSse>>[] = [];
    try {
      const waiting = await launchAndWait(local.url, 'calculator', { ask: 'so many watchers?' });
      // Each stream is open (its lifetime set up) once its first event arrives.
      for (let i = 0; i < 12; i++) {
        const sse = await openSse(`${local.url}/threads/${waiting.id}/events`);
        streams.push(sse);
        await sse.until((f) => f.event === 'input');
      }
      // process.emitWarning reports on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      for (const sse of streams) sse.close();
      process.off('warning', onWarning);
      await local.close();
    }
  });

  it('lets an app built with createHttpApp hold many streams open on the caller\'s signal without a warning, leaving that signal as it was', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const stopping = new AbortController();
    // Node 20 gives an AbortSignal a limit of 10 listeners, Node 22 none (0): whichever, it is kept.
    const limit = getMaxListeners(stopping.signal);
    const app = createHttpApp(h.runtime, { token: '', signal: stopping.signal });
    const local = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await once(local, 'listening');
    const url = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
    const streams: Awaited<ReturnType<typeof openSse>>[] = [];
    try {
      const waiting = await launchAndWait(url, 'calculator', { ask: 'watched by an embedded app?' });
      for (let i = 0; i < 12; i++) {
        const sse = await openSse(`${url}/threads/${waiting.id}/events`);
        streams.push(sse);
        await sse.until((f) => f.event === 'input');
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
      // The caller's signal keeps its own limit, and aborting it still ends every stream.
      expect(getMaxListeners(stopping.signal)).toBe(limit);
      stopping.abort();
      // Each stream ends (its frames left, then the end): one left open would hang here.
      await Promise.all(streams.map((sse) => sse.until(() => false)));
      expect(await Promise.all(streams.map((sse) => sse.next()))).toEqual(streams.map(() => undefined));
    } finally {
      for (const sse of streams) sse.close();
      process.off('warning', onWarning);
      if ('closeAllConnections' in local) local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
    }
  });

  it('ends open streams when the server closes', async () => {
    const local = await startHttpServer(h.runtime, { port: 0, token: '' });
    const waiting = await launchAndWait(local.url, 'calculator', { ask: 'closing?' });
    const sse = await openSse(`${local.url}/threads/${waiting.id}/events`);
    await sse.until((f) => f.event === 'human_request');
    await local.close();
    // The last frame says why, so a client reading with fetch tells it from a cut connection.
    expect(await sse.until(() => false)).toEqual([{ event: 'error', data: JSON.stringify({ error: 'the server is shutting down; reconnect with Last-Event-ID' }) }]);
  });
});

describe('bearer token', () => {
  it('requires the token everywhere but /health', async () => {
    const local = await startHttpServer(h.runtime, { port: 0, token: 'tok-123' });
    try {
      expect((await call(local.url, 'GET', '/health')).status).toBe(200);
      const none = await call(local.url, 'GET', '/agents');
      expect(none).toMatchObject({ status: 401, body: { error: 'unauthorized: send Authorization: Bearer <token>' } });
      expect(none.headers.get('www-authenticate')).toContain('Bearer');
      const wrong = await call(local.url, 'GET', '/threads', undefined, { authorization: 'Bearer tok-124' });
      expect(wrong).toMatchObject({ status: 401, body: { error: 'unauthorized: the bearer token is wrong' } });
      const launch = await call(local.url, 'POST', '/threads', { agent: 'echo', input: 1 }, { authorization: 'Bearer nope' });
      expect(launch.status).toBe(401);
      const basic = await call(local.url, 'GET', '/threads', undefined, { authorization: 'Basic dTpw' });
      expect(basic).toMatchObject({ status: 400, body: { error: 'the Authorization header must be "Bearer <token>"' } });
      const ok = await call(local.url, 'GET', '/threads', undefined, { authorization: 'Bearer tok-123' });
      expect(ok.status).toBe(200);
      const launched = await call(local.url, 'POST', '/threads', { agent: 'echo', input: 1 }, { authorization: 'Bearer tok-123' });
      expect(launched.status).toBe(201);
    } finally {
      await local.close();
    }
  });

  it('takes the token from SWITCHYARD_TOKEN by default', async () => {
    vi.stubEnv('SWITCHYARD_TOKEN', 'from-env');
    try {
      const app = createHttpApp(h.runtime);
      expect((await app.request('/agents')).status).toBe(401);
      expect((await app.request('/agents', { headers: { authorization: 'Bearer from-env' } })).status).toBe(200);
      expect((await app.request('/health')).status).toBe(200);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('the server', () => {
  it('listens on 127.0.0.1 by default', async () => {
    const local = await startHttpServer(h.runtime, { port: 0, token: '' });
    try {
      expect(local.host).toBe('127.0.0.1');
      expect(local.url).toBe(`http://127.0.0.1:${local.port}`);
      expect(local.port).toBeGreaterThan(0);
      expect((await call(local.url, 'GET', '/health')).body).toEqual({ ok: true });
    } finally {
      await local.close();
    }
  });

  it('answers 500 with a generic message and logs the details', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const broken: Runtime = { ...h.runtime, get: () => Promise.reject(new Error('store down: password=hunter2')) };
    const app = createHttpApp(broken, { token: '', logger });
    const res = await app.request('/threads/th_1');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'internal server error; the details are in the server log', code: 'internal' });
    expect(text).not.toContain('hunter2');
    expect(lines.some((line) => line.includes('store down') && line.includes('/threads/th_1'))).toBe(true);
  });
});
