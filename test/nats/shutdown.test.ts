/**
 * A NATS worker closed (`close({ drainMs })`) while a job's tool call runs stops moving threads at
 * once, as a closing runtime does: it pulls no more jobs, lets the tool calls in progress finish and
 * journal their results (nothing is left for a human to be asked about), starts no new step (a
 * decision in progress is dropped, to be made again from the log), and hands every job it was
 * running back to the queue, due at once, so another worker carries the threads on.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { Model, ModelRequest, ModelResult } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { heldPublishTool } from '../support/heldTool.js';
import { deferred, doneOn, failingCreates, plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

const prefix = `sy${uniqueToken()}`;
const bucket = `threads_${uniqueToken()}`;
let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((node) => node.close({ drainMs: 1_000 })));
  await server?.stop();
});

/** The jobs waiting in the publisher's work queue (of the file's prefix, or `ownPrefix`). */
async function queuedJobs(ownPrefix = prefix): Promise<{ subject: string; data: string }[]> {
  const jsm = await jetstreamManager(client.nc);
  const stream = `${ownPrefix}_publisher`;
  const { state } = await jsm.streams.info(stream);
  const jobs: { subject: string; data: string }[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (stored) jobs.push({ subject: stored.subject, data: stored.string() });
  }
  return jobs;
}

/** Publishes, then is done. */
const publishThenDone = (): Model =>
  scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply =>
      request.context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
  });

describe('a NATS worker closed while a tool call runs', () => {
  it('journals the call, starts no new step, and hands its threads back for another worker to finish', async () => {
    const { publish, started, release, runs } = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    // Worker A's model: thread trg-d-1 stays deciding until its step is aborted, or until A decides
    // anything after its close began (then it answers too, so a worker that keeps going ends); the
    // others publish.
    const scripted = publishThenDone();
    const deciding = deferred<AbortSignal>();
    const decidedAfterClose = deferred();
    let closeBegan = false;
    const decisionsAfterClose: string[] = [];
    const modelA: Model = {
      name: 'model-a',
      complete(request): Promise<ModelResult> {
        if (closeBegan) {
          decisionsAfterClose.push(request.threadId);
          decidedAfterClose.resolve();
        }
        if (request.threadId !== 'trg-d-1') return scripted.complete(request);
        deciding.resolve(request.signal);
        return new Promise((resolve) => {
          request.signal.addEventListener('abort', () => resolve({ success: false, error: { kind: 'timeout', message: 'aborted' } }), { once: true });
          void decidedAfterClose.promise.then(() => resolve(scripted.complete(request)));
        });
      },
    };
    // No ack wait runs out during the test: a job comes back only if the worker hands it back.
    const common = { agents: [publisher], prefix, bucket, observe: false, queue: { ackWaitMs: 600_000, retryDelayMs: 200 } };
    const workerA = await startNode(server.url, { ...common, model: modelA, processId: 'worker-a' });
    const acks = client.watch<string>('$JS.ACK.>');
    await client.trigger(`${prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'p-1' });
    const callSignal = await started.promise;
    await client.trigger(`${prefix}.trigger.publisher`, { input: 'publish this too' }, { msgId: 'd-1' });
    const decisionSignal = await deciding.promise;

    closeBegan = true;
    const closing = workerA.close({ drainMs: 3_600_000 });
    const callAbortedAtClose = callSignal.aborted;
    release.resolve('published');
    await closing;

    const reader = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'reader', worker: false });
    nodes.push(reader);
    const published = (await reader.store.get('trg-p-1'))!;
    // The call finished and its result is journaled; A decided nothing after it.
    expect(published.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result']);
    expect(published.events[3]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(callAbortedAtClose).toBe(false);
    // The decision in progress was dropped, not recorded.
    expect(decisionSignal.aborted).toBe(true);
    expect((await reader.store.get('trg-d-1'))!.events.map((e) => e.type)).toEqual(['input']);
    expect(decisionsAfterClose).toEqual([]);
    // Both jobs were handed back, due at once: replaced by a continuation job each (no delay, no
    // wake-up time) that the next worker to ask takes.
    expect(acks.items.filter((ack) => String(ack.data).startsWith('-NAK'))).toEqual([]);
    expect((await queuedJobs()).sort((a, b) => a.data.localeCompare(b.data))).toEqual([
      { subject: `${prefix}.jobs.publisher`, data: JSON.stringify({ threadId: 'trg-d-1' }) },
      { subject: `${prefix}.jobs.publisher`, data: JSON.stringify({ threadId: 'trg-p-1' }) },
    ]);

    // Worker B takes both jobs and finishes the threads from their logs.
    const workerB = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-b' });
    nodes.push(workerB);
    const [first, second] = await Promise.all([workerB.runtime.settled('trg-p-1'), workerB.runtime.settled('trg-d-1')]);
    expect(first.status).toBe('done');
    expect(first.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(second.status).toBe('done');
    expect(runs()).toBe(2); // publish ran once per thread: B did not run trg-p-1's call again
  });
});

describe('a NATS worker closed while it launches a trigger whose thread is never created', () => {
  it('hands the trigger back as a copy that the next worker takes, past the pull requests the closing worker left on the server', async () => {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const { publish, release } = heldPublishTool();
    release.resolve('published');
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    // No ack wait runs out during the test: the trigger comes back only if the worker hands it back.
    const common = { agents: [publisher], ...own, observe: false, queue: { ackWaitMs: 600_000, retryDelayMs: 200 } };
    // Worker A (16 slots: its pull request still asks for 15 jobs when it stops) logs when it hands its jobs back.
    const handingBack = deferred();
    const logs = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (chunk.toString().includes('handing the running jobs back to the queue')) handingBack.resolve();
        done();
      },
    });
    const workerA = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-a', concurrency: 16, logger: pino({ level: 'info' }, logs) });
    // A's store cannot create the thread: the create waits until A hands its jobs back, then fails.
    const { creating, fail: failCreate } = failingCreates(workerA);
    const acks = client.watch<string>('$JS.ACK.>');
    await client.trigger(`${own.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'never-created' });
    await creating;

    const closing = workerA.close({ drainMs: 60_000 });
    await handingBack.promise;
    failCreate();
    await closing;
    // Handed back at once as a copy, the original acknowledged (a nak would cost it a delivery).
    expect(acks.items.map((ack) => String(ack.data)).filter((data) => data.startsWith('-NAK'))).toEqual([]);
    expect(acks.items.map((ack) => String(ack.data)).filter((data) => data.startsWith('+ACK'))).toEqual(['+ACK']);

    const workerB = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-b' });
    nodes.push(workerB);
    const done = await doneOn(workerB, 'trg-never-created', 20_000, 'worker B to run the trigger handed back');
    expect(done.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(done.events[0]).toMatchObject({ data: { source: { kind: 'nats', triggerId: 'never-created' } } });
  });
});

describe('a NATS worker closed while a tool call outlasts the drain time', () => {
  /** Closes a worker whose call of `publish` (idempotent or not) ignores its abort past the drain time; the job it hands back. */
  async function handedBack(idempotent: boolean): Promise<{ threadId: string; wakeAt?: number; closedAt: number; ackWaitMs: number }> {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const started = deferred<AbortSignal>();
    const release = deferred<string>();
    const publish = tool({
      name: 'publish',
      description: 'publishes the post',
      input: z.object({ post: z.string() }),
      idempotent,
      run: (_args, { signal }) => {
        started.resolve(signal);
        return release.promise;
      },
    });
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const ackWaitMs = 600_000;
    const common = { agents: [publisher], ...own, observe: false, queue: { ackWaitMs, retryDelayMs: 200 } };
    const worker = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker' });
    try {
      await client.trigger(`${own.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'held' });
      const signal = await started.promise;
      const closedAt = Date.now();
      await worker.close({ drainMs: 50 });
      expect(signal.aborted).toBe(true);
      // The tool still runs here: the runtime says so.
      expect(worker.runtime.abandonedCalls().calls).toEqual([{ threadId: 'trg-held', tool: 'publish', idempotent }]);
      const jobs = await queuedJobs(own.prefix);
      expect(jobs.map((j) => j.subject)).toEqual([`${own.prefix}.jobs.publisher`]);
      return { ...(JSON.parse(jobs[0]!.data) as { threadId: string; wakeAt?: number }), closedAt, ackWaitMs };
    } finally {
      release.resolve('published');
    }
  }

  it('hands back the job of a call of a tool that is not idempotent due only after the ack wait: no worker asks a human about it while it may still run here', async () => {
    const { threadId, wakeAt, closedAt, ackWaitMs } = await handedBack(false);
    expect(threadId).toBe('trg-held');
    expect(wakeAt).toBeGreaterThanOrEqual(closedAt + ackWaitMs);
  });

  it('hands back the job of an idempotent call due at once: the next worker runs it again, as after a crash', async () => {
    const { threadId, wakeAt } = await handedBack(true);
    expect(threadId).toBe('trg-held');
    expect(wakeAt).toBeUndefined();
  });
});
