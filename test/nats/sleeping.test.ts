import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// A thread in a durable sleep holds no actor and no worker slot: the worker acks its job once a
// wake-up job, due at the deadline, is enqueued, and whichever worker takes that one moves it on.
const bed = useNatsTestBed();

/** A pipeline that sleeps `ms`, then answers 'rested'. */
function napFor(name: string, ms: number) {
  return pipeline({ name, description: `sleep ${ms} ms, then answer`, input: z.object({}), output: z.string() })
    .sleep({ name: 'wait', ms })
    .code({ name: 'answer', run: () => 'rested' })
    .finish(({ results }) => results.answer);
}
const nap = napFor('nap', 400);

/** Whether the thread is asleep: its sleep journaled, its end not yet. */
async function asleep(node: NatsNode, threadId: string): Promise<boolean> {
  const types = (await node.runtime.get(threadId))?.events.map((e) => e.type) ?? [];
  return types.includes('tool_call') && !types.includes('tool_result');
}

describe('a thread sleeping on a worker', () => {
  it('finishes after its deadline, holding no actor while it sleeps', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await bed.node({ ...names, agents: [], pipelines: [nap], model: scriptedModel([]), processId: 'sleeper' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    const started = Date.now();
    await bed.client.trigger(`${names.prefix}.trigger.nap`, { input: {}, replyTo: subject }, { msgId: id });
    let sawSleep = false;
    for (let i = 0; i < 100 && !sawSleep; i++) {
      const thread = await node.runtime.get(`trg-${id}`);
      const types = thread?.events.map((e) => e.type) ?? [];
      // Asleep (the deadline journaled, no result yet) with no actor in memory.
      sawSleep = types.includes('tool_call') && !types.includes('tool_result') && node.runtime.activeCount() === 0;
      if (!sawSleep) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sawSleep).toBe(true);
    const [result] = await messages.until(1, 10_000, 'the result after the sleep');
    expect(result).toMatchObject({ threadId: `trg-${id}`, agent: 'nap', status: 'done', output: 'rested' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  // In the wild: a worker kept the job of each sleeping thread, heartbeating, for the whole sleep,
  // so a worker of concurrency N took nothing more while N of its threads slept.
  it('frees its worker slot while it sleeps: a worker of concurrency 1 starts the next thread meanwhile', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await bed.node({ ...names, agents: [], pipelines: [napFor('longnap', 3_000)], model: scriptedModel([]), processId: 'one-slot', concurrency: 1 });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const [first, second] = [uniqueToken(), uniqueToken()];
    await bed.client.trigger(`${names.prefix}.trigger.longnap`, { input: {}, replyTo: subject }, { msgId: first });
    await expect.poll(() => asleep(node, `trg-${first}`), { timeout: 2_000, interval: 20 }).toBe(true);
    const firstAsleep = Date.now();
    await bed.client.trigger(`${names.prefix}.trigger.longnap`, { input: {}, replyTo: subject }, { msgId: second });
    // Before the first one's deadline, the second is asleep too.
    await expect.poll(() => asleep(node, `trg-${second}`), { timeout: 2_000, interval: 20 }).toBe(true);
    expect(Date.now() - firstAsleep).toBeLessThan(3_000);
    expect(await asleep(node, `trg-${first}`)).toBe(true);
    // Both wake at their deadlines and finish, each reported once it ends (not while it sleeps).
    const results = await messages.until(2, 10_000, 'both results');
    expect(results.map((r) => [r.threadId, r.status]).sort()).toEqual([
      [`trg-${first}`, 'done'],
      [`trg-${second}`, 'done'],
    ].sort());
  }, 20_000);

  it('is woken by another worker when the one it fell asleep on is gone', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const midNap = napFor('midnap', 1_500);
    const first = await bed.node({ ...names, agents: [], pipelines: [midNap], model: scriptedModel([]), processId: 'gone' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    const results = bed.client.watch(`${names.prefix}.events.midnap.trg-${id}.tool_result`);
    await bed.client.trigger(`${names.prefix}.trigger.midnap`, { input: {}, replyTo: subject }, { msgId: id });
    await expect.poll(() => asleep(first, `trg-${id}`), { timeout: 2_000, interval: 10 }).toBe(true);
    await bed.closeNode(first);
    await bed.node({ ...names, agents: [], pipelines: [midNap], model: scriptedModel([]), processId: 'next' });
    const [result] = await messages.until(1, 10_000, 'the result after the sleep');
    expect(result).toMatchObject({ threadId: `trg-${id}`, status: 'done', output: 'rested' });
    // The sleep's end was written by the worker that took the wake-up job.
    const [ended] = await results.until(1, 5_000, 'the end of the sleep');
    expect(ended!.headers['Switchyard-Process']).toBe('next');
  });

  // A queue of one delivery per job: the stopping worker held the wake-up job, and its hand-back
  // (a nak on the last delivery) dead-lettered it, so the thread slept for good.
  it('is woken by another worker when the one holding its wake-up job stops, on a queue of one delivery per job', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const midNap = napFor('midnap', 2_500);
    const first = await bed.node({ ...names, agents: [], pipelines: [midNap], model: scriptedModel([]), processId: 'gone', queue: { maxDeliver: 1 } });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    await bed.client.trigger(`${names.prefix}.trigger.midnap`, { input: {}, replyTo: subject }, { msgId: id });
    await expect.poll(() => asleep(first, `trg-${id}`), { timeout: 2_000, interval: 10 }).toBe(true);
    await bed.closeNode(first);
    const next = await bed.node({ ...names, agents: [], pipelines: [midNap], model: scriptedModel([]), processId: 'next', queue: { maxDeliver: 1 } });
    const [result] = await messages.until(1, 10_000, 'the result after the sleep');
    expect(result).toMatchObject({ threadId: `trg-${id}`, status: 'done', output: 'rested' });
    expect(await (await next.queues.queue('midnap')).deadLetters()).toEqual([]);
  });

  it('waits out its deadline on a queue of one delivery per job without spinning', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const single = await bed.node({ ...names, agents: [], pipelines: [nap], model: scriptedModel([]), processId: 'single', queue: { maxDeliver: 1 } });
    const jobs = bed.client.watch(`${names.prefix}.jobs.nap`);
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    await bed.client.trigger(`${names.prefix}.trigger.nap`, { input: {}, replyTo: subject }, { msgId: id });
    const [result] = await messages.until(1, 10_000, 'the result after the sleep');
    expect(result).toMatchObject({ threadId: `trg-${id}`, status: 'done', output: 'rested' });
    // One wake-up job: a job that cannot be handed back is not replaced by another at once, and again.
    expect(jobs.items.length).toBeLessThanOrEqual(2);
    expect(await (await single.queues.queue('nap')).deadLetters()).toEqual([]);
  });
});
