import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { multiplyPipeline } from './fixtures/multiplyPipeline.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// A passive subscriber on the whole prefix (`nats sub '<prefix>.>'` while debugging) must change
// nothing switchyard does: hand-offs and forwarded requests may not depend on who listens.
const bed = useNatsTestBed();
const model = createDemoModel();

function fresh(): { prefix: string; bucket: string } {
  return { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
}

describe('a passive observer on <prefix>.>', () => {
  it('does not stop a respond request for a thread no process runs', async () => {
    const names = fresh();
    const observed = bed.client.watch(`${names.prefix}.>`);
    const first = await bed.node({ ...names, agents: [calculator], model, processId: 'first' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.calculator`, { input: 'what is 8 / 2', replyTo: subject }, { msgId: 'obs-div' });
    const [waiting] = await messages.until(1, 15_000, 'the awaiting_human result');
    expect(waiting).toMatchObject({ threadId: 'trg-obs-div', status: 'awaiting_human' });
    // The process that ran the thread is gone, so nobody answers for it any more.
    await bed.closeNode(first);
    await bed.node({ ...names, agents: [calculator], model, processId: 'second' });

    const reply = await bed.client.request<ThreadReply>(
      `${names.prefix}.thread.trg-obs-div.respond`,
      { requestId: waiting!.pendingRequest!.requestId, approved: true, by: 'tester' },
      10_000,
    );
    expect(reply).toMatchObject({ ok: true, thread: { id: 'trg-obs-div', status: 'running' } });
    const [, done] = await messages.until(2, 15_000, 'the final result');
    expect(done).toMatchObject({ threadId: 'trg-obs-div', status: 'done', output: '8 / 2 = 4' });
    expect(observed.items.length).toBeGreaterThan(0); // the observer did see the traffic
  });

  it('does not dead-letter a pipeline’s child job: the pipeline finishes', async () => {
    const names = fresh();
    const observed = bed.client.watch(`${names.prefix}.>`);
    const worker = await bed.node({ ...names, agents: [calculator], pipelines: [multiplyPipeline], model, processId: 'both' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.times`, { input: { a: 6, b: 7 }, replyTo: subject }, { msgId: 'obs-pipe' });
    const [result] = await messages.until(1, 20_000, 'the pipeline result');
    expect(result).toMatchObject({ threadId: 'trg-obs-pipe', agent: 'times', status: 'done', output: '6 * 7 = 42' });
    expect(await (await worker.queues.queue('calculator')).deadLetters()).toEqual([]);
    expect(await (await worker.queues.queue('times')).deadLetters()).toEqual([]);
    expect(observed.items.some((m) => m.subject.startsWith(`${names.prefix}.events.calculator.`))).toBe(true);
  });

  it('with a subscriber on every subject (`>`), a respond and its continuation still go through', async () => {
    const names = fresh();
    // Last in the file: this watch stays until the client closes.
    const everything = bed.client.watch('>');
    await bed.node({ ...names, agents: [calculator], model, processId: 'only' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.calculator`, { input: 'what is 9 / 3', replyTo: subject }, { msgId: 'obs-all' });
    const [waiting] = await messages.until(1, 15_000, 'the awaiting_human result');
    const reply = await bed.client.request<ThreadReply>(
      `${names.prefix}.thread.trg-obs-all.respond`,
      { requestId: waiting!.pendingRequest!.requestId, approved: true, by: 'tester' },
      10_000,
    );
    expect(reply).toMatchObject({ ok: true, thread: { id: 'trg-obs-all' } });
    const [, done] = await messages.until(2, 20_000, 'the final result');
    expect(done).toMatchObject({ threadId: 'trg-obs-all', status: 'done', output: '9 / 3 = 3' });
    expect(everything.items.some((m) => m.subject.startsWith('_SWITCHYARD.'))).toBe(true);
  });
});
