import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { encodeThread } from '../../src/nats/kvThread.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import type { ErrorReply, TriggerResult } from '../../src/surface/payloads.js';
import { ROOT, runCli } from '../cli/cliProcess.js';
import { call } from '../server/harness.js';
import { at, controlEvent, finalEvent, inputEvent } from '../store/fixtures/events.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// On NATS a thread is one KV value, so it is bounded by the server's max_payload. A server with a
// small one (64 KiB) keeps the payloads of these tests small: what does not fit is refused up front
// with a typed error, and a step whose events do not fit brings its thread to rest, failed, saying
// why, instead of failing every delivery of its job into a dead letter.
const MAX_PAYLOAD = 64 * 1024;
const bed = useNatsTestBed({ maxPayload: MAX_PAYLOAD });

/** More text than a thread on this server can hold. */
const TOO_MUCH = 'x'.repeat(40 * 1024);

const names = () => ({ prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` });

/** What a write was refused with (a failure printed without the huge thread a write that succeeded would print). */
async function refusalOf(write: Promise<unknown>): Promise<Record<string, unknown> | string> {
  try {
    await write;
    return 'written';
  } catch (error) {
    const { name, message, threadId, size, limit } = error as Error & Record<string, unknown>;
    return { name, message, threadId, size, limit };
  }
}

describe('the NATS KV store at the server’s max_payload', () => {
  it('refuses an append or a create that would not fit, naming the thread, the size and the limit, and writes nothing', async () => {
    const store = await createNatsKvStore({ nc: bed.client.nc, bucket: `threads_${uniqueToken()}` });
    try {
      await store.create({ id: 't-big', agent: 'triage', events: [inputEvent(1, at(1), 'hello')] });
      const refused = await refusalOf(store.append('t-big', 1, [finalEvent(2, at(2), 'x'.repeat(MAX_PAYLOAD))]));
      expect(refused).toMatchObject({ name: 'ThreadTooLargeError', threadId: 't-big' });
      const { size, limit, message } = refused as { size: number; limit: number; message: string };
      expect(size).toBeGreaterThan(MAX_PAYLOAD);
      expect(limit).toBeLessThan(MAX_PAYLOAD);
      expect(message).toContain('t-big');
      expect(message).toContain(String(size));
      expect(message).toContain(String(limit));
      expect((await store.get('t-big'))?.events).toHaveLength(1);

      // What fits the server but not the thread's share of it (a reserve) is refused too, and so
      // is a thread created too large.
      expect(await refusalOf(store.append('t-big', 1, [finalEvent(2, at(2), 'x'.repeat(MAX_PAYLOAD - 1024))]))).toMatchObject({ name: 'ThreadTooLargeError', threadId: 't-big', limit });
      expect(await refusalOf(store.create({ id: 't-huge', agent: 'triage', events: [inputEvent(1, at(1), TOO_MUCH + TOO_MUCH)] }))).toMatchObject({ name: 'ThreadTooLargeError', threadId: 't-huge', limit });
      expect(await store.get('t-huge')).toBeUndefined();
      // A thread that fits is appended to as ever.
      expect((await store.append('t-big', 1, [finalEvent(2, at(2), 'done')])).events).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('keeps a reserve for the events that end a thread: a control and a failure still fit a thread nothing else fits', async () => {
    const store = await createNatsKvStore({ nc: bed.client.nc, bucket: `threads_${uniqueToken()}` });
    try {
      const { limit } = (await refusalOf(store.create({ id: 't-probe', agent: 'triage', events: [inputEvent(1, at(1), 'x'.repeat(MAX_PAYLOAD))] }))) as { limit: number };
      // A thread 50 bytes short of its limit.
      const empty = Buffer.byteLength(encodeThread('triage', JSON.stringify([inputEvent(1, at(1), '')]), at(1)));
      await store.create({ id: 't-full', agent: 'triage', events: [inputEvent(1, at(1), 'y'.repeat(limit - 50 - empty))] });
      expect(await refusalOf(store.append('t-full', 1, [finalEvent(2, at(2), 'z'.repeat(400))]))).toMatchObject({ name: 'ThreadTooLargeError', threadId: 't-full', limit });
      expect((await store.append('t-full', 1, [controlEvent(2, 'pause')])).events).toHaveLength(2);
      const failed = { seq: 3, at: at(3), type: 'failed', data: { reason: 'r'.repeat(1000) } } as const;
      expect((await store.append('t-full', 2, [failed])).events.map((e) => e.type)).toEqual(['input', 'control', 'failed']);
    } finally {
      await store.close();
    }
  });

  it('takes a smaller limit from its options than the server’s', async () => {
    const store = await createNatsKvStore({ nc: bed.client.nc, bucket: `threads_${uniqueToken()}`, maxPayload: 16 * 1024 });
    try {
      await store.create({ id: 't-small', agent: 'triage', events: [inputEvent(1, at(1), 'hello')] });
      const refused = await refusalOf(store.append('t-small', 1, [finalEvent(2, at(2), 'x'.repeat(16 * 1024))]));
      expect(refused).toMatchObject({ name: 'ThreadTooLargeError', threadId: 't-small' });
      expect((refused as { limit: number }).limit).toBeLessThan(16 * 1024);
    } finally {
      await store.close();
    }
    await expect(createNatsKvStore({ nc: bed.client.nc, bucket: `threads_${uniqueToken()}`, maxPayload: 100 })).rejects.toThrow(/maxPayload must be .*at least 8192; got 100/);
  });
});

describe('a step whose events would not fit the thread on NATS', () => {
  const echo = agent({ name: 'echo', description: 'answers', prompt: 'Answer.', tools: [] });

  it('brings the thread to rest, failed, naming the size limit: replyTo hears of it, the model is asked once and nothing is dead-lettered', async () => {
    // The model answers so every time it is asked.
    const huge = { intent: 'done_for_now', args: { message: TOO_MUCH } };
    const model = scriptedModel([huge], { whenExhausted: huge });
    const named = names();
    const node = await bed.node({ ...named, agents: [echo], model, processId: 'huge-answer' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${named.prefix}.trigger.echo`, { input: 'hi', replyTo: subject }, { msgId: 'huge-1' });
    const [result] = await messages.until(1, 15_000, 'the failed result');
    expect(result).toMatchObject({ threadId: 'trg-huge-1', agent: 'echo', status: 'failed' });
    expect(result!.failure).toMatch(/trg-huge-1.*\d+ bytes.*limit of \d+ bytes/);
    const stored = await node.store.get('trg-huge-1');
    expect(stored?.events.map((e) => e.type)).toEqual(['input', 'failed']);
    expect(model.requests).toHaveLength(1);
    expect(await (await node.queues.queue('echo')).deadLetters()).toEqual([]);
  });

  it('says a tool ran and its result could not be recorded when its outcome does not fit', async () => {
    let runs = 0;
    const fetchAll = tool({
      name: 'fetch_all',
      description: 'returns a lot',
      input: z.object({}),
      idempotent: true,
      run: () => {
        runs++;
        return 'x'.repeat(MAX_PAYLOAD);
      },
    });
    const reader = agent({ name: 'reader', description: 'reads', prompt: 'Read.', tools: [fetchAll] });
    const call = { intent: 'fetch_all', args: {} };
    const model = scriptedModel([call], { whenExhausted: call });
    const named = names();
    const node = await bed.node({ ...named, agents: [reader], model, processId: 'huge-result' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${named.prefix}.trigger.reader`, { input: 'read', replyTo: subject }, { msgId: 'huge-2' });
    const [result] = await messages.until(1, 15_000, 'the failed result');
    expect(result).toMatchObject({ threadId: 'trg-huge-2', status: 'failed' });
    expect(result!.failure).toMatch(/fetch_all ran .*its result could not be recorded/);
    expect(result!.failure).toMatch(/limit of \d+ bytes/);
    const stored = await node.store.get('trg-huge-2');
    expect(stored?.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'failed']);
    expect(runs).toBe(1);
    expect(await (await node.queues.queue('reader')).deadLetters()).toEqual([]);
  });
});

describe('a launch input or a human answer that would not fit the thread on NATS', () => {
  // Asks a question first, and answers done once it has the human's answer.
  const asker = agent({ name: 'asker', description: 'asks, then answers', prompt: 'Ask.', tools: [] });
  const model = scriptedModel([], {
    whenExhausted: (request): ScriptedReply =>
      request.context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'thanks' } } : { intent: 'request_human_input', args: { question: 'Which order?' } },
  });

  /** A node serving `asker` (closed after the test) with the HTTP API on it; `run` gets the API's URL. */
  async function withApi(run: (url: string, prefix: string, node: NatsNode) => Promise<void>): Promise<void> {
    const named = names();
    const node = await bed.node({ ...named, agents: [asker], model, processId: 'api-and-worker' });
    const http: HttpServer = await startHttpServer(node.runtime, { port: 0, token: '' });
    try {
      await run(http.url, named.prefix, node);
    } finally {
      await http.close();
    }
  }

  it('refuses an HTTP launch whose input would not fit with a 413 naming the limit, creating nothing', async () => {
    await withApi(async (url) => {
      const threadId = `big-${uniqueToken()}`;
      const refused = await call<ErrorReply>(url, 'POST', '/threads', { agent: 'asker', input: TOO_MUCH + TOO_MUCH, threadId });
      expect(refused.status).toBe(413);
      expect(refused.body.error).toMatch(new RegExp(`thread ${threadId} would be \\d+ bytes, over the limit of \\d+ bytes`));
      expect(refused.body.error).toContain('max_payload');
      expect((await call(url, 'GET', `/threads/${threadId}`)).status).toBe(404);
    });
  });

  it('dead-letters a trigger whose input would not fit, and tells replyTo why', async () => {
    const named = names();
    const node = await bed.node({ ...named, agents: [asker], model, processId: 'trigger-taker' });
    const { subject, messages } = bed.client.inbox<ErrorReply>();
    // Under the server's max_payload, so the trigger is taken; over what the thread may hold.
    await bed.client.trigger(`${named.prefix}.trigger.asker`, { input: 'x'.repeat(MAX_PAYLOAD - 4096), replyTo: subject }, { msgId: 'big-trigger' });
    const [reply] = await messages.until(1, 15_000, 'the error reply');
    expect(reply!.error).toMatch(/thread trg-big-trigger would be \d+ bytes, over the limit of \d+ bytes/);
    const [dead] = await (await node.queues.queue('asker')).deadLetters();
    expect(dead?.reason).toMatch(/would be \d+ bytes, over the limit of \d+ bytes/);
    expect(await node.store.get('trg-big-trigger')).toBeUndefined();
  });

  it('refuses an answer that would not fit (HTTP 413, a NATS request, the CLI), and the thread stays answerable with a smaller one', async () => {
    await withApi(async (url, prefix, node) => {
      const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'asker', input: TOO_MUCH });
      expect(launched.status).toBe(201);
      const thread = (await call<ThreadView>(url, 'GET', `/threads/${launched.body.id}/wait`)).body;
      expect(thread).toMatchObject({ status: 'awaiting_human' });
      const requestId = thread.pendingRequest!.requestId;
      const answer = 'a'.repeat(20_000);
      const limit = /would be \d+ bytes, over the limit of \d+ bytes/;

      const overHttp = await call<ErrorReply>(url, 'POST', `/threads/${thread.id}/respond`, { requestId, answer });
      expect(overHttp.status).toBe(413);
      expect(overHttp.body.error).toMatch(limit);

      const overNats = await bed.client.request<ErrorReply>(`${prefix}.thread.${thread.id}.respond`, { requestId, answer });
      expect(overNats.error).toMatch(limit);

      const overCli = await runCli(['respond', thread.id, '--answer', answer, '--no-follow', '--url', url], { cwd: ROOT });
      expect(overCli.code).toBe(1);
      expect(overCli.stderr).toMatch(new RegExp(`error: thread ${thread.id} ${limit.source}`));

      expect((await node.runtime.get(thread.id))?.events.map((e) => e.type)).toEqual(['input', 'decision', 'human_request']);
      const answered = await call<ThreadView>(url, 'POST', `/threads/${thread.id}/respond`, { requestId, answer: 'order B-7' });
      expect(answered.status).toBe(200);
      const done = await call<ThreadView>(url, 'GET', `/threads/${thread.id}/wait`);
      expect(done.body).toMatchObject({ status: 'done', output: 'thanks' });
    });
  });
});
