import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadReply } from '../../src/surface/payloads.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';

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
    expect(answer).toMatchObject({ ok: false, code: 'conflict', error: `thread ${childId} is cancelled` });
  });
});
