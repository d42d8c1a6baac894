import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDeploybot } from '../../agents/deploybot/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ErrorReply, HumanRequestNotice, ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { PROCESS_HEADER, REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually, plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

const prefix = `sy${uniqueToken()}`;
const bucket = `threads_${uniqueToken()}`;
let server: NatsServerHandle;
let worker: NatsNode;
let api: NatsNode;
let client: PlainClient;

beforeAll(async () => {
  server = await startNatsServer();
  const common = { agents: [calculator, createDeploybot()], model: createDemoModel(), prefix, bucket };
  worker = await startNode(server.url, { ...common, processId: 'worker-1', observe: false, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } });
  // An API process: serves requests and follows events, takes no jobs.
  api = await startNode(server.url, { ...common, processId: 'api-1', worker: false, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } });
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await Promise.all([worker?.close({ drainMs: 1_000 }), api?.close({ drainMs: 1_000 })]);
  await server?.stop();
});

const trigger = (agent: string): string => `${prefix}.trigger.${agent}`;

describe('NATS surface: triggers', () => {
  it('launches an agent from a plain NATS client and sends the result to replyTo', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    const events = client.watch<ThreadEvent>(`${prefix}.events.calculator.trg-order-1.>`);
    const ack = await client.trigger(trigger('calculator'), { input: 'multiply 6 by 7', replyTo: subject }, { msgId: 'order-1' });
    expect(ack.duplicate).toBe(false);
    const [result] = await messages.until(1, 15_000, 'the result');
    expect(result).toMatchObject({ threadId: 'trg-order-1', agent: 'calculator', status: 'done', output: '6 * 7 = 42' });
    // Every event is in the KV bucket, and was published as it was appended.
    const stored = await api.store.get('trg-order-1');
    expect(stored?.events.map((e) => e.seq)).toEqual(stored?.events.map((_, i) => i + 1));
    expect(stored?.events.at(-1)).toMatchObject({ type: 'final', seq: result!.version });
    expect(stored?.events[0]).toMatchObject({ type: 'input', data: { source: { kind: 'nats', replyTo: subject, triggerId: 'order-1' } } });
    const published = await events.until(stored!.events.length, 10_000, 'the published events');
    expect(published.map((m) => m.data)).toEqual(stored?.events);
    expect(published.map((m) => m.subject)).toEqual(stored?.events.map((e) => `${prefix}.events.calculator.trg-order-1.${e.type}`));
    expect(published[0]?.headers[PROCESS_HEADER]).toBe('worker-1');
  });

  it('deduplicates a trigger by its msg id: one stored job, one thread', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    const payload = { input: 'multiply 2 by 3', replyTo: subject };
    const first = await client.trigger(trigger('calculator'), payload, { msgId: 'dup-1' });
    const second = await client.trigger(trigger('calculator'), payload, { msgId: 'dup-1' });
    expect(second).toMatchObject({ duplicate: true, seq: first.seq });
    const [result] = await messages.until(1, 15_000);
    expect(result).toMatchObject({ threadId: 'trg-dup-1', status: 'done', output: '2 * 3 = 6' });
    const thread = await api.runtime.get('trg-dup-1');
    expect(thread?.events.filter((e) => e.type === 'input')).toHaveLength(1);
  });

  it('takes the reply subject from the Switchyard-Reply-To header and a caller-chosen thread id', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    const threadId = `mine-${uniqueToken()}`;
    await client.trigger(trigger('calculator'), { input: 'multiply 3 by 3', threadId }, { headers: { [REPLY_TO_HEADER]: subject } });
    expect((await messages.until(1, 15_000))[0]).toMatchObject({ threadId, status: 'done', output: '3 * 3 = 9' });
  });

  it('reports when a thread needs a human, and a respond request continues it as a job to the end', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    const humans = client.watch<HumanRequestNotice>(`${prefix}.human.calculator.>`);
    await client.trigger(trigger('calculator'), { input: 'what is (3 + 4) / 2', replyTo: subject }, { msgId: 'div-1' });
    const [waiting] = await messages.until(1, 15_000, 'the awaiting_human result');
    expect(waiting).toMatchObject({ threadId: 'trg-div-1', status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'divide' } });
    const [notice] = await humans.until(1, 5_000, 'the human notice');
    expect(notice).toMatchObject({ subject: `${prefix}.human.calculator.trg-div-1`, data: { threadId: 'trg-div-1', agent: 'calculator', kind: 'approval', at: waiting!.pendingRequest!.at } });
    // When it was asked, as the result's pendingRequest says it (the request's own event's time).
    expect(waiting!.pendingRequest!.at).toMatch(/^\d{4}-\d\d-\d\dT/);

    const reply = await client.request<ThreadReply>(`${prefix}.thread.trg-div-1.respond`, {
      requestId: waiting!.pendingRequest!.requestId,
      approved: true,
      by: 'tester',
    });
    expect(reply).toMatchObject({ ok: true, thread: { id: 'trg-div-1', status: 'running' } });
    const [, done] = await messages.until(2, 15_000, 'the final result');
    expect(done).toMatchObject({ threadId: 'trg-div-1', status: 'done', output: '(3 + 4) / 2 = 3.5' });
  });

  it('lets an API process without workers launch and follow threads that workers run', async () => {
    const launched = await api.runtime.launch('calculator', 'multiply 4 by 5');
    const settled = await api.runtime.settled(launched.id, { signal: AbortSignal.timeout(15_000) });
    expect(settled).toMatchObject({ status: 'done', output: '4 * 5 = 20' });
    const seen: string[] = [];
    for await (const event of api.runtime.watch(launched.id, { signal: AbortSignal.timeout(5_000) })) seen.push(event.type);
    expect(seen.at(-1)).toBe('final');
    expect(api.surface.activeJobs()).toBe(0);
  });
});

describe('NATS surface: thread requests', () => {
  async function awaitingThread(): Promise<TriggerResult> {
    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'what is 8 / 2', replyTo: subject }, { msgId: `ctl-${uniqueToken()}` });
    const [waiting] = await messages.until(1, 15_000);
    expect(waiting?.status).toBe('awaiting_human');
    return waiting!;
  }

  it('gets, pauses, resumes and cancels a thread', async () => {
    const waiting = await awaitingThread();
    const id = waiting.threadId;
    const got = await client.request<ThreadReply>(`${prefix}.thread.${id}.get`, '');
    expect(got).toMatchObject({ ok: true, thread: { id, status: 'awaiting_human', version: waiting.version } });
    expect((got as unknown as { thread: { events: unknown[] } }).thread.events).toHaveLength(waiting.version);
    expect(await client.request(`${prefix}.thread.${id}.control`, { action: 'pause', by: 'ops' })).toMatchObject({ ok: true, thread: { status: 'paused' } });
    expect(await client.request(`${prefix}.thread.${id}.control`, { action: 'resume' })).toMatchObject({ ok: true });
    await eventually(async () => ((await api.runtime.get(id))?.status === 'awaiting_human' ? true : undefined), 10_000, 'the resumed thread to ask again');
    expect(await client.request(`${prefix}.thread.${id}.control`, { action: 'cancel', reason: 'test' })).toMatchObject({
      ok: true,
      thread: { id, status: 'cancelled', pendingRequest: null },
    });
    // Ended: a control is answered with a conflict that says so, and nothing is appended.
    expect(await client.request(`${prefix}.thread.${id}.control`, { action: 'pause' })).toMatchObject({ ok: false, code: 'thread_ended', kind: 'conflict', error: `thread ${id} is cancelled; it cannot be paused` });
    expect(await client.request(`${prefix}.thread.${id}.control`, { action: 'resume' })).toMatchObject({ ok: false, code: 'thread_ended', kind: 'conflict' });
    const ended = (await api.runtime.get(id))!;
    expect(ended.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel', reason: 'test' } });
  });

  it('answers bad requests with an error code, never a crash', async () => {
    const waiting = await awaitingThread();
    const id = waiting.threadId;
    const ask = (op: string, payload: unknown, threadId = id) => client.request<ThreadReply>(`${prefix}.thread.${threadId}.${op}`, payload);
    expect(await ask('control', { action: 'explode' })).toMatchObject({ ok: false, code: 'bad_request', issues: [expect.stringMatching(/^action/)] });
    expect(await ask('respond', 'not json')).toMatchObject({ ok: false, code: 'bad_request', error: expect.stringMatching(/not JSON/) });
    expect(await ask('respond', { requestId: 'req_stale', approved: true })).toMatchObject({ ok: false, code: 'not_open_request', kind: 'conflict' });
    expect(await ask('respond', { requestId: waiting.pendingRequest!.requestId })).toMatchObject({ ok: false, code: 'bad_request' });
    expect(await ask('get', '', 'no-such-thread')).toMatchObject({ ok: false, code: 'not_found' });
    expect(await ask('frobnicate', {})).toMatchObject({ ok: false, code: 'bad_request', error: expect.stringMatching(/unknown thread operation/) });
    expect(await ask('respond', { requestId: waiting.pendingRequest!.requestId, approved: false, comment: 'no' })).toMatchObject({ ok: true });
  });
});

describe('NATS surface: a refusal carries the code HTTP gives it', () => {
  it('names a request that is not the open one, an answer that landed already, a thread that ended', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'what is 8 / 2', replyTo: subject }, { msgId: `codes-${uniqueToken()}` });
    const [waiting] = await messages.until(1, 15_000, 'the approval request');
    const id = waiting!.threadId;
    const requestId = waiting!.pendingRequest!.requestId;
    const ask = (op: string, payload: unknown) => client.request<ThreadReply>(`${prefix}.thread.${id}.${op}`, payload);
    // As test/server/errorBodies.test.ts expects of HTTP; `kind` stays the coarse `conflict`.
    expect(await ask('respond', { requestId: 'req_1_deadbeef', approved: true })).toEqual({
      ok: false,
      code: 'not_open_request',
      kind: 'conflict',
      error: 'request req_1_deadbeef is not the open request of this thread',
    });
    // Not a conflict: the kind is the code.
    expect(await ask('respond', { requestId })).toMatchObject({ ok: false, code: 'bad_request', kind: 'bad_request' });
    expect(await ask('respond', { requestId, approved: true, by: 'tester' })).toMatchObject({ ok: true });
    expect((await messages.until(2, 15_000, 'the final result'))[1]).toMatchObject({ status: 'done' });
    // The answer sent again after a lost reply: it landed.
    const again = await ask('respond', { requestId, approved: true, by: 'tester' });
    expect(again).toMatchObject({ ok: false, code: 'already_answered', kind: 'conflict' });
    expect(again.ok ? '' : again.error).toMatch(new RegExp(`^thread ${id} is done; request ${requestId} was already answered`));
    expect(await ask('control', { action: 'cancel' })).toEqual({ ok: false, code: 'thread_ended', kind: 'conflict', error: `thread ${id} is done; it cannot be cancelled` });
  });

  it('names a relaunch of a thread id for another agent', async () => {
    const threadId = `relaunch-${uniqueToken()}`;
    const results = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'multiply 2 by 2', threadId, replyTo: results.subject });
    expect((await results.messages.until(1, 15_000, 'the result'))[0]).toMatchObject({ threadId, status: 'done' });
    const refusals = client.inbox<ErrorReply>();
    await client.trigger(trigger('deploybot'), { input: 'deploy', threadId, replyTo: refusals.subject });
    const [refused] = await refusals.messages.until(1, 15_000, 'the refusal');
    // It names the trigger as a result would: the thread and the agent it was for.
    expect(refused).toEqual({ error: `thread ${threadId} belongs to calculator, not deploybot`, code: 'thread_exists_other_agent', kind: 'conflict', threadId, agent: 'deploybot' });
  });
});

describe('NATS surface: a trigger naming a thread launched with another input', () => {
  it('is refused as HTTP refuses such a relaunch (thread_exists_other_input); the same input is not', async () => {
    const threadId = `reinput-${uniqueToken()}`;
    const results = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'multiply 2 by 2', threadId, replyTo: results.subject });
    expect((await results.messages.until(1, 15_000, 'the result'))[0]).toMatchObject({ threadId, status: 'done', output: '2 * 2 = 4' });
    const refusals = client.inbox<ErrorReply>();
    await client.trigger(trigger('calculator'), { input: 'multiply 3 by 3', threadId, replyTo: refusals.subject });
    const [refused] = await refusals.messages.until(1, 15_000, 'the refusal');
    expect(refused).toMatchObject({ code: 'thread_exists_other_input', kind: 'conflict', error: expect.stringMatching(new RegExp(`^thread ${threadId} already exists and was launched with another input`)) });
    // Nothing was run with the other input.
    expect((await api.runtime.get(threadId))?.events.filter((e) => e.type === 'input')).toEqual([expect.objectContaining({ data: expect.objectContaining({ input: 'multiply 2 by 2' }) })]);
    // The same input hears the thread's rest, as a later trigger does.
    const again = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'multiply 2 by 2', threadId, replyTo: again.subject });
    expect((await again.messages.until(1, 15_000, 'the stored result'))[0]).toMatchObject({ threadId, status: 'done', output: '2 * 2 = 4' });
  });
});

describe('NATS surface: bad input', () => {
  it('refuses bad triggers with an error reply and a dead letter, and keeps serving', async () => {
    const { subject, messages } = client.inbox<ErrorReply>();
    const withReply = { headers: { [REPLY_TO_HEADER]: subject } };
    await client.trigger(trigger('calculator'), 'this is not json', { msgId: 'bad-1', ...withReply });
    await client.trigger(trigger('calculator'), { inputt: 'typo', replyTo: subject }, { msgId: 'bad-2' });
    await client.trigger(trigger('calculator'), { input: 'x'.repeat(300 * 1024) }, { msgId: 'bad-3', ...withReply });
    // A thread id that belongs to another agent.
    await client.trigger(trigger('deploybot'), { input: 'deploy', threadId: 'trg-order-1', replyTo: subject }, { msgId: 'bad-4' });
    const errors = await messages.until(4, 15_000, 'four error replies');
    expect(errors).toEqual(
      expect.arrayContaining([
        // Each names its trigger: its msg id, the thread id it names or would have had, its agent.
        { error: expect.stringMatching(/not JSON/), code: 'bad_request', kind: 'bad_request', threadId: 'trg-bad-1', agent: 'calculator', msgId: 'bad-1' },
        {
          error: 'invalid trigger for calculator',
          code: 'bad_request',
          kind: 'bad_request',
          issues: expect.arrayContaining([expect.stringMatching(/^input/), expect.stringMatching(/inputt/)]),
          threadId: 'trg-bad-2',
          agent: 'calculator',
          msgId: 'bad-2',
        },
        { error: expect.stringMatching(/307\d+ bytes; the limit is 262144/), code: 'payload_too_large', kind: 'payload_too_large', threadId: 'trg-bad-3', agent: 'calculator', msgId: 'bad-3' },
        { error: expect.stringMatching(/belongs to calculator/), code: 'thread_exists_other_agent', kind: 'conflict', threadId: 'trg-order-1', agent: 'deploybot', msgId: 'bad-4' },
      ]),
    );

    // Unknown agent: the publisher's ack request fails with the reason, and replyTo hears it too.
    const unknown = await client.trigger(trigger('nosuch'), { input: 1, replyTo: subject }).catch((e: unknown) => e);
    expect(String(unknown)).toMatch(/unknown agent "nosuch"/);
    expect((await messages.until(5, 10_000))[4]).toMatchObject({ error: expect.stringMatching(/unknown agent "nosuch"/), code: 'not_found' });

    const calculatorQueue = await worker.queues.queue('calculator');
    const letters = await calculatorQueue.deadLetters();
    expect(letters.map((l) => l.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/not JSON/), expect.stringMatching(/^invalid trigger/), expect.stringMatching(/bytes; the limit/)]),
    );
    expect(letters.every((l) => l.cause === 'term')).toBe(true);
    expect((await (await worker.queues.queue('deploybot')).deadLetters())[0]?.reason).toMatch(/belongs to calculator/);

    // Still serving.
    const good = client.inbox<TriggerResult>();
    await client.trigger(trigger('calculator'), { input: 'multiply 5 by 5', replyTo: good.subject }, { msgId: 'after-bad' });
    expect((await good.messages.until(1, 15_000))[0]).toMatchObject({ status: 'done', output: '5 * 5 = 25' });
  });

  it('answers a trigger over 256 KiB on the replyTo of its body, and dead-letters it', async () => {
    const { subject, messages } = client.inbox<ErrorReply>();
    const msgId = `big-${uniqueToken()}`;
    await client.trigger(trigger('calculator'), { input: 'x'.repeat(300 * 1024), replyTo: subject }, { msgId });
    const [refused] = await messages.until(1, 15_000, 'the error reply of the oversized trigger');
    expect(refused).toEqual({
      error: expect.stringMatching(/^trigger payload is 307\d+ bytes; the limit is 262144$/),
      code: 'payload_too_large',
      kind: 'payload_too_large',
      threadId: `trg-${msgId}`,
      agent: 'calculator',
      msgId,
    });
    const letters = await (await worker.queues.queue('calculator')).deadLetters();
    expect(letters).toEqual(expect.arrayContaining([expect.objectContaining({ cause: 'term', reason: refused!.error })]));
  });

  it('names a missing input as the HTTP launch does', async () => {
    const { subject, messages } = client.inbox<ErrorReply>();
    const msgId = `no-input-${uniqueToken()}`;
    await client.trigger(trigger('calculator'), { replyTo: subject }, { msgId });
    const [refused] = await messages.until(1, 15_000, 'the error reply of the trigger without input');
    expect(refused).toEqual({ error: 'invalid trigger for calculator', code: 'bad_request', kind: 'bad_request', issues: ['input: is required (any JSON value)'], threadId: `trg-${msgId}`, agent: 'calculator', msgId });
  });
});
