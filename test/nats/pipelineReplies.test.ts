import { StorageType, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { childThreadId } from '../../src/pipeline/pipeline.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { halve, outer } from '../support/nestedPipelines.js';
import { jobsSettled, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// A NATS client that triggers a pipeline hears on its replyTo when a child of the pipeline waits
// for a human, as a pipeline's callbackUrl does: which thread to answer, and its request.
const bed = useNatsTestBed();
const WAIT_MS = 20_000;

describe('a pipeline triggered over NATS', () => {
  it('tells its replyTo when a child at any depth waits for a human, naming the child, once per rest and under the child rest’s msg id', async () => {
    const prefix = `sy${uniqueToken()}`;
    const jsm = await jetstreamManager(bed.client.nc);
    // The client captures its replyTo in a stream of its own (created before the worker starts, so it is seen).
    const base = `preply${uniqueToken()}`;
    const streamName = `replies_${uniqueToken()}`;
    await jsm.streams.add({ name: streamName, subjects: [`${base}.>`], storage: StorageType.File });
    const replyTo = `${base}.reply`;
    const replies = bed.client.watch<TriggerResult>(replyTo);
    const node = await bed.node({ agents: [calculator], pipelines: [halve, outer], model: createDemoModel(), prefix, bucket: `threads_${uniqueToken()}` });
    /** Every job of the calculator settled (a report is stored before its job's ack), and the client has read what came before. */
    const settled = (): Promise<void> => jobsSettled(bed.client, prefix, ['calculator'], WAIT_MS);

    const token = uniqueToken();
    await bed.client.trigger(`${prefix}.trigger.outer`, { input: {}, replyTo }, { msgId: token });
    const id = `trg-${token}`;
    const waiting = childThreadId(childThreadId(id, 'half'), 'divide');
    const [asked] = await replies.until(1, WAIT_MS, 'the child’s request on the pipeline’s replyTo');
    const child = await node.runtime.get(waiting);
    expect(child).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'approval' } });
    // The pipeline's own fields, the child's request, and the child that holds it.
    expect(asked!.data).toEqual({
      threadId: id,
      agent: 'outer',
      status: 'running',
      version: (await node.runtime.get(id))!.version,
      pendingRequest: child!.pendingRequest,
      childThreadId: waiting,
      childAgent: 'calculator',
      msgId: token,
    });
    await settled();
    expect(replies.items).toHaveLength(1);

    // The child's job comes back (as after a crash before its ack): reported again, stored once.
    await createAgentQueues({ bus: node.bus, prefix }).guard('calculator', waiting, child!.version - 1);
    const [, again] = await replies.until(2, WAIT_MS, 'the child’s request reported again');
    expect(again!.data).toEqual(asked!.data);
    await settled();

    // Answered where the result says (childThreadId), the pipeline finishes and its replyTo hears that too.
    const answered = await bed.client.request<ThreadReply>(`${prefix}.thread.${waiting}.respond`, { requestId: asked!.data.pendingRequest!.requestId, approved: true });
    expect(answered).toMatchObject({ ok: true });
    const [, , finished] = await replies.until(3, WAIT_MS, 'the pipeline’s final result');
    const done = await node.runtime.get(id);
    expect(finished!.data).toEqual({ threadId: id, agent: 'outer', status: 'done', version: done!.version, output: '8 / 2 = 4', msgId: token });

    const { state } = await jsm.streams.info(streamName);
    const stored = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(streamName, { seq });
      stored.push({ msgId: msg!.header.get('Nats-Msg-Id'), data: msg!.json<TriggerResult>() });
    }
    expect(stored).toEqual([
      { msgId: `rest.${incarnateId(waiting, child!.createdAt)}.${child!.version}`, data: asked!.data },
      { msgId: `rest.${incarnateId(id, done!.createdAt)}.${done!.version}`, data: finished!.data },
    ]);
  });
});
