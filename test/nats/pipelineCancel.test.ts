import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { eventually, jobsSettled, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// Cancelling a pipeline over NATS cancels the child that waits for an approval, as in-process.
const bed = useNatsTestBed();

/** One agent step: the calculator divides, which needs an approval. */
const halve = pipeline({ name: 'halve', description: 'asks the calculator to divide', input: z.object({}), output: z.unknown() })
  .agent({ name: 'divide', agent: 'calculator', input: () => 'what is 8 / 2' })
  .finish(({ results }) => results.divide);

type Got = { ok: true; thread: { status: string; events: ThreadEvent[]; pendingRequest: { requestId: string } | null } } | { ok: false; code: string; error: string };

describe('cancelling a pipeline over NATS', () => {
  it('cancels its child waiting for an approval; a response to the child is refused', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const common = { ...names, agents: [calculator], pipelines: [halve], model: createDemoModel() };
    await bed.node({ ...common, processId: 'worker' });
    await bed.node({ ...common, processId: 'api', worker: false });
    const token = uniqueToken();
    await bed.client.trigger(`${names.prefix}.trigger.halve`, { input: {} }, { msgId: token });
    const id = `trg-${token}`;
    const childId = childThreadId(id, 'divide');
    const get = (threadId: string) => bed.client.request<Got>(`${names.prefix}.thread.${threadId}.get`, '');
    const waiting = await eventually(async () => {
      const got = await get(childId);
      return got.ok && got.thread.status === 'awaiting_human' ? got.thread : undefined;
    }, 20_000, 'the child to ask for an approval');
    expect(await bed.client.request<ThreadReply>(`${names.prefix}.thread.${id}.control`, { action: 'cancel', by: 'qa' })).toMatchObject({ ok: true, thread: { status: 'cancelled' } });
    const child = await get(childId);
    expect(child).toMatchObject({ ok: true, thread: { status: 'cancelled' } });
    expect(child.ok && child.thread.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel', reason: `pipeline ${id} cancelled`, by: 'qa' } });
    const answer = await bed.client.request<ThreadReply>(`${names.prefix}.thread.${childId}.respond`, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect(answer).toMatchObject({ ok: false, code: 'thread_ended', kind: 'conflict', error: `thread ${childId} is cancelled` });
  });

  it('publishes its cancelled result once on replyTo, with the cancel’s reason and who cancelled', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const common = { ...names, agents: [calculator], pipelines: [halve], model: createDemoModel() };
    await bed.node({ ...common, processId: 'worker' });
    await bed.node({ ...common, processId: 'api', worker: false });
    const token = uniqueToken();
    const reply = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.halve`, { input: {}, replyTo: reply.subject }, { msgId: token });
    const id = `trg-${token}`;
    // The replyTo hears that the child asks for an approval (see pipelineReplies.test.ts).
    const [asked] = await reply.messages.until(1, 20_000, 'the child’s request');
    expect(asked).toMatchObject({ threadId: id, status: 'running', childThreadId: childThreadId(id, 'divide'), pendingRequest: { kind: 'approval' } });
    const cancel = { action: 'cancel', reason: 'the order was withdrawn', by: 'qa' };
    const cancelled = await bed.client.request<ThreadReply>(`${names.prefix}.thread.${id}.control`, cancel);
    expect(cancelled).toMatchObject({ ok: true, thread: { status: 'cancelled' } });
    const version = cancelled.ok ? cancelled.thread.version : -1;
    await reply.messages.until(2, 20_000, 'the cancelled result');
    // Every job of the pipeline and its child settled (a result is published before its job is
    // acknowledged), and the client has read everything sent to it before that.
    await jobsSettled(bed.client, names.prefix, ['halve', 'calculator']);
    expect(reply.messages.items).toEqual([asked, { threadId: id, agent: 'halve', status: 'cancelled', version, reason: 'the order was withdrawn', by: 'qa', msgId: token }]);
  });

  it('publishes only its cancelled result on replyTo when it is cancelled between its child’s request and the child’s report', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const common = { ...names, agents: [calculator], pipelines: [halve], model: createDemoModel() };
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['calculator'] });
    await bed.node({ ...common, processId: 'pipelines', serve: ['halve'] });
    const token = uniqueToken();
    const id = `trg-${token}`;
    const childId = childThreadId(id, 'divide');
    // Once the child's request is stored, the worker's first read of the pipeline (its report of
    // that request to the pipeline's replyTo) waits until the pipeline is cancelled.
    const append = worker.store.append.bind(worker.store);
    const get = worker.store.get.bind(worker.store);
    let requested = false;
    let cancelling = false;
    let cancelled: ThreadReply | undefined;
    worker.store.append = async (threadId, expectedVersion, events) => {
      const written = await append(threadId, expectedVersion, events);
      if (threadId === childId && events.some((e) => e.type === 'human_request')) requested = true;
      return written;
    };
    worker.store.get = async (threadId) => {
      if (threadId === id && requested && !cancelling) {
        cancelling = true;
        cancelled = await bed.client.request<ThreadReply>(`${names.prefix}.thread.${id}.control`, { action: 'cancel', by: 'qa' });
      }
      return get(threadId);
    };
    const reply = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.halve`, { input: {}, replyTo: reply.subject }, { msgId: token });

    const [result] = await reply.messages.until(1, 20_000, 'a result on replyTo');
    await jobsSettled(bed.client, names.prefix, ['halve', 'calculator']);
    expect(cancelled).toMatchObject({ ok: true, thread: { status: 'cancelled' } });
    const version = cancelled?.ok === true ? cancelled.thread.version : -1;
    expect(result).toEqual({ threadId: id, agent: 'halve', status: 'cancelled', version, by: 'qa', msgId: token });
    expect(reply.messages.items).toEqual([result]);
    expect((await worker.runtime.get(childId))!.status).toBe('cancelled');
  });
});
