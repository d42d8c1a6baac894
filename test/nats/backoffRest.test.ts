import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// A thread waiting out a long rate limit rests as a sleeping one does: the worker acks its job once
// a wake-up job, due at the retry time, is enqueued, and whichever worker takes that one retries it.
const bed = useNatsTestBed();

/** Longer than the backoff an actor waits out itself (5 s), short enough for a test. */
const RETRY_AFTER_MS = 6_000;

const answerer = agent({
  name: 'answerer',
  description: 'answers at once',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  tools: [],
});

/** Rate limits a thread whose input starts with `limited` until its context shows that error; answers any other at once. */
function rateLimitedModel() {
  return scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply => {
      const input = /<input>\n(.*)\n<\/input>/.exec(request.context)?.[1] ?? '';
      if (input.startsWith('limited') && !request.context.includes('<error')) {
        return { error: { kind: 'http', status: 429, message: 'too many requests', retryAfterMs: RETRY_AFTER_MS } };
      }
      return { intent: 'done_for_now', args: { message: `answered ${input}` } };
    },
  });
}

/** Whether the thread waits out its rate limit with no actor of `node` holding it. */
async function restsOnBackoff(node: NatsNode, threadId: string): Promise<boolean> {
  const view = await node.runtime.get(threadId);
  return view?.status === 'backing_off' && view.events.some((e) => e.type === 'error') && node.runtime.activeCount() === 0;
}

/** The retry time its error recorded, and when its next decision was made. */
async function retryTimes(node: NatsNode, threadId: string): Promise<{ retryAt: number; decidedAt: number }> {
  const events = (await node.runtime.get(threadId))!.events;
  const error = events.find((e) => e.type === 'error');
  const decision = events.find((e) => e.type === 'decision');
  return { retryAt: Date.parse(error?.type === 'error' ? error.data.retryAt! : ''), decidedAt: Date.parse(decision!.at) };
}

describe('a thread rate limited on a worker', () => {
  // In review: the worker kept the job in flight, heartbeating, for the whole wait (up to 10
  // minutes), so a worker of concurrency N took nothing more while N of its threads were limited.
  it('frees its worker slot while it waits: a worker of concurrency 1 runs the next thread meanwhile', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await bed.node({ ...names, agents: [answerer], model: rateLimitedModel(), processId: 'one-slot', concurrency: 1 });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const [limited, other] = [uniqueToken(), uniqueToken()];
    await bed.client.trigger(`${names.prefix}.trigger.answerer`, { input: 'limited one', replyTo: subject }, { msgId: limited });
    await expect.poll(() => restsOnBackoff(node, `trg-${limited}`), { timeout: 3_000, interval: 20 }).toBe(true);
    await bed.client.trigger(`${names.prefix}.trigger.answerer`, { input: 'other one', replyTo: subject }, { msgId: other });
    // The other thread ends first, then the limited one once retried; neither is reported while one waits.
    const results = await messages.until(2, 20_000, 'both results');
    expect(results.map((r) => [r.threadId, r.status, r.output])).toEqual([
      [`trg-${other}`, 'done', 'answered other one'],
      [`trg-${limited}`, 'done', 'answered limited one'],
    ]);
    const { retryAt, decidedAt } = await retryTimes(node, `trg-${limited}`);
    expect(decidedAt).toBeGreaterThanOrEqual(retryAt);
  }, 30_000);

  it('is retried by another worker when the one it backed off on is gone', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const first = await bed.node({ ...names, agents: [answerer], model: rateLimitedModel(), processId: 'gone' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    const decisions = bed.client.watch(`${names.prefix}.events.answerer.trg-${id}.decision`);
    await bed.client.trigger(`${names.prefix}.trigger.answerer`, { input: 'limited', replyTo: subject }, { msgId: id });
    await expect.poll(() => restsOnBackoff(first, `trg-${id}`), { timeout: 3_000, interval: 20 }).toBe(true);
    await bed.closeNode(first);
    const next = await bed.node({ ...names, agents: [answerer], model: rateLimitedModel(), processId: 'next' });
    const [result] = await messages.until(1, 20_000, 'the result after the wait');
    expect(result).toMatchObject({ threadId: `trg-${id}`, status: 'done', output: 'answered limited' });
    // The retry was made by the worker that took the wake-up job, not before the recorded time.
    const [decided] = await decisions.until(1, 5_000, 'the decision after the wait');
    expect(decided!.headers['Switchyard-Process']).toBe('next');
    const { retryAt, decidedAt } = await retryTimes(next, `trg-${id}`);
    expect(decidedAt).toBeGreaterThanOrEqual(retryAt);
    expect(await (await next.queues.queue('answerer')).deadLetters()).toEqual([]);
  }, 30_000);

  it('is paused on the control subject while it rests, and a resume goes on at the retry time', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await bed.node({ ...names, agents: [answerer], model: rateLimitedModel(), processId: 'worker' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const token = uniqueToken();
    const id = `trg-${token}`;
    await bed.client.trigger(`${names.prefix}.trigger.answerer`, { input: 'limited', replyTo: subject }, { msgId: token });
    await expect.poll(() => restsOnBackoff(node, id), { timeout: 3_000, interval: 20 }).toBe(true);
    expect(await bed.client.request<ThreadReply>(`${names.prefix}.thread.${id}.control`, { action: 'pause', by: 'ops' })).toMatchObject({ ok: true, thread: { status: 'paused' } });
    const [paused] = await messages.until(1, 10_000, 'the paused rest');
    expect(paused).toMatchObject({ threadId: id, status: 'paused' });
    await eventually(async () => (node.surface.activeJobs() === 0 ? true : undefined), 10_000, 'the worker to let go of its jobs');
    expect((await node.runtime.get(id))!.status).toBe('paused');

    expect(await bed.client.request<ThreadReply>(`${names.prefix}.thread.${id}.control`, { action: 'resume', by: 'ops' })).toMatchObject({ ok: true });
    const [, done] = await messages.until(2, 20_000, 'the result after the resume');
    expect(done).toMatchObject({ threadId: id, status: 'done', output: 'answered limited' });
    const events = (await node.runtime.get(id))!.events;
    expect(events.map((e) => e.type)).toEqual(['input', 'error', 'control', 'control', 'decision', 'final']);
    const { retryAt, decidedAt } = await retryTimes(node, id);
    expect(decidedAt).toBeGreaterThanOrEqual(retryAt);
  }, 30_000);
});
