// The agent tested without a network or an API key: a scripted model, a memory store, and the
// judge's step as a pure function of a thread (`stepEvents`). Run with `npm test`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRuntime, stepEvents, type Thread } from 'switchyard';
import { createMemoryStore, scriptedModel } from 'switchyard/testing';
import config from '../switchyard.config.js';
import { refunds } from '../agents/refunds/index.js';
import { offlineModel } from '../model.js';

const signal = () => AbortSignal.timeout(10_000);

describe('refunds', () => {
  it('is what the config serves', () => {
    assert.deepEqual(config.agents?.map((a) => a.name), ['refunds']);
  });

  it('looks the order up, is held to the total by its judge, and refunds once a human approves', async () => {
    const runtime = createRuntime({ agents: [refunds], store: createMemoryStore(), model: offlineModel() });
    try {
      const launched = await runtime.launch('refunds', 'Please refund $60 on order A-1001, it arrived broken.');
      const waiting = await runtime.settled(launched.id, { signal: signal() });
      assert.equal(waiting.status, 'awaiting_human');
      assert.equal(waiting.pendingRequest?.kind, 'approval');
      assert.match(waiting.pendingRequest?.question ?? '', /"amount":40/);
      const verdicts = waiting.events.flatMap((e) => (e.type === 'custom' && e.data.step === 'within_total' ? [e.data.verdict] : []));
      assert.deepEqual(verdicts, ['accept', 'reject', 'accept']);

      await runtime.respond(launched.id, { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'test' });
      const done = await runtime.settled(launched.id, { signal: signal() });
      assert.equal(done.status, 'done');
      assert.equal(done.output, 'Your refund on order A-1001 is on its way.');
    } finally {
      await runtime.close();
    }
  });

  it('follows a script: a denied refund ends the run without refunding', async () => {
    const model = scriptedModel([
      { intent: 'lookup_order', args: { orderId: 'A-1002' } },
      { intent: 'refund', args: { orderId: 'A-1002', amount: 20, reason: 'late' } },
      { intent: 'done_for_now', args: { message: 'not refunded' } },
    ]);
    const runtime = createRuntime({ agents: [refunds], store: createMemoryStore(), model });
    try {
      const launched = await runtime.launch('refunds', 'refund $20 on A-1002');
      const waiting = await runtime.settled(launched.id, { signal: signal() });
      await runtime.respond(launched.id, { requestId: waiting.pendingRequest!.requestId, approved: false, comment: 'no' });
      const done = await runtime.settled(launched.id, { signal: signal() });
      assert.equal(done.status, 'done');
      assert.equal(done.events.some((e) => e.type === 'tool_result' && e.data.tool === 'refund'), false);
      assert.equal(model.remaining(), 0);
    } finally {
      await runtime.close();
    }
  });

  it('runs the judge alone, as a pure function of a thread', async () => {
    const thread: Thread = {
      id: 't1',
      agent: 'refunds',
      events: [
        { seq: 1, at: new Date(0).toISOString(), type: 'input', data: { input: 'refund A-1001' } },
        { seq: 2, at: new Date(0).toISOString(), type: 'decision', data: decision('refund', { orderId: 'A-1001', amount: 5, reason: 'x' }) },
      ],
    };
    // The refund names an order the thread never looked up: the judge sends it back.
    const [event, ...rest] = await stepEvents(refunds, 'within_total', thread);
    assert.equal(rest.length, 0);
    assert.ok(event !== undefined && event.type === 'custom');
    assert.equal(event.data.verdict, 'reject');
    assert.equal(event.data.feedback, 'look order A-1001 up first');
  });
});

function decision(intent: string, args: Record<string, string | number>) {
  return { step: 1, intent, args, callId: 'c1', model: 'test', promptHash: 'sha256:0', tokens: { prompt: 0, completion: 0 }, latencyMs: 0 };
}
