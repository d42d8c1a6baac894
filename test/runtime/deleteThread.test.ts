/**
 * `runtime.delete(threadId)`: only a thread that ended goes, and only when no pipeline above it
 * still runs; a store that cannot delete says so; a version conflict (a late outcome landing) is
 * read again once; whoever follows the thread here (watch, settled) is let go.
 */
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { InvalidStateError, NotFoundError, VersionConflictError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { agent } from '../../src/agent/agent.js';
import { OUTCOME_GRACE_MS, UNKNOWN_TOOL_OUTCOME_WAIT_MS } from '../../src/runtime/watchThread.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { handClock, T0, threadOf } from '../support/agentHarness.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { heldPublishTool, publishCallStarted } from '../support/heldTool.js';

const input = (parentId?: string): NewEvent => ({ type: 'input', data: { input: 'x', ...(parentId === undefined ? {} : { source: { kind: 'pipeline', parentId } }) } });
const DONE: NewEvent[] = [input(), { type: 'final', data: { output: 'ok' } }];
const FAILED: NewEvent[] = [input(), { type: 'failed', data: { reason: 'broke' } }];
const CANCELLED: NewEvent[] = [input(), { type: 'control', data: { action: 'cancel', by: 'qa' } }];
const RUNNING: NewEvent[] = [input()];
const AWAITING: NewEvent[] = [input(), { type: 'human_request', data: { requestId: 'r1', kind: 'input', question: 'why?', urgency: 'low', format: 'free_text' } }];

function setup(store: ThreadStore = createMemoryStore()) {
  const { logger, out } = capturingLogger();
  const runtime = createRuntime({ agents: [calculator], store, model: scriptedModel([]), logger });
  return { runtime, store, out };
}

describe('runtime.delete', () => {
  it.each([
    ['done', DONE],
    ['failed', FAILED],
    ['cancelled', CANCELLED],
  ])('deletes a %s thread, answering what it deleted: get answers undefined, list leaves it out, one info line says so', async (status, events) => {
    const { runtime, store, out } = setup();
    await store.create(threadOf('t1', 'calculator', events));
    await store.create(threadOf('t2', 'calculator', DONE));

    expect(await runtime.delete('t1')).toEqual({ id: 't1', agent: 'calculator', status });

    expect(await runtime.get('t1')).toBeUndefined();
    expect((await runtime.list()).map((s) => s.id)).toEqual(['t2']);
    expect(out.lines.filter((l) => l.msg === 'thread deleted')).toEqual([expect.objectContaining({ threadId: 't1', agent: 'calculator', level: 30 })]);
  });

  it('an unknown thread is a NotFoundError', async () => {
    const { runtime } = setup();
    await expect(runtime.delete('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each([
    ['running', RUNNING],
    ['awaiting_human', AWAITING],
  ])('a %s thread is refused (InvalidStateError: it has not ended, cancel it first) and kept', async (status, events) => {
    const { runtime, store } = setup();
    await store.create(threadOf('t1', 'calculator', events));
    const refused = runtime.delete('t1');
    await expect(refused).rejects.toBeInstanceOf(InvalidStateError);
    await expect(refused).rejects.toThrow(`thread t1 is ${status}: it has not ended; cancel it first`);
    expect((await runtime.get('t1'))?.status).toBe(status);
  });

  it("names as children only the threads its delegations launched that are still stored; a plain agent's tool call with threadId and agent names none", async () => {
    const { runtime, store } = setup();
    const call = (seq: number, threadId: string): NewEvent => ({ type: 'tool_call', data: { callId: `c${seq}`, tool: 'step', args: { threadId, agent: 'calculator' }, idempotencyKey: `k${seq}`, attempt: 1 } });
    const done = { type: 'final', data: { output: 'ok' } } as const;
    await store.create(threadOf('p1', 'pipe', [input(), call(1, 'p1--a'), call(2, 'p1--b'), done]));
    await store.create(threadOf('p1--b', 'calculator', [input('p1'), done]));
    await store.create(threadOf('t1', 'calculator', [input(), call(1, 'other'), done]));
    await store.create(threadOf('other', 'calculator', [input(), done]));

    expect(await runtime.delete('p1')).toEqual({ id: 'p1', agent: 'pipe', status: 'done', children: ['p1--b'] });
    expect(await runtime.delete('t1')).toEqual({ id: 't1', agent: 'calculator', status: 'done' });
  });

  it("a pipeline's child that ended is refused while its pipeline has not ended, naming it; deleted once it has, or once it is gone", async () => {
    const { runtime, store } = setup();
    await store.create(threadOf('p1', 'pipe', RUNNING));
    await store.create(threadOf('c1', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('c2', 'calculator', [input('gone'), { type: 'final', data: { output: 'ok' } }]));

    const refused = runtime.delete('c1');
    await expect(refused).rejects.toBeInstanceOf(InvalidStateError);
    await expect(refused).rejects.toThrow('thread c1 belongs to pipeline p1, which is running and may still need its result; delete it once p1 has ended');
    expect(await runtime.get('c1')).toBeDefined();

    await store.append('p1', 1, [{ seq: 2, at: new Date().toISOString(), type: 'control', data: { action: 'cancel' } }]);
    await runtime.delete('c1');
    expect(await runtime.get('c1')).toBeUndefined();

    await runtime.delete('c2');
    expect(await runtime.get('c2')).toBeUndefined();
  });

  it("a child of a pipeline deleted and launched again under its id is not the new pipeline's: deleted while that one runs; the new one's own child is refused", async () => {
    const { runtime, store } = setup();
    const child = (createdAt: number): NewEvent => ({ type: 'input', data: { input: 'x', source: { kind: 'pipeline', parentId: 'p1', triggerId: incarnateId('p1', new Date(createdAt).toISOString()) } } });
    // The pipeline now under p1 was created after the one that launched old-child.
    await store.create(threadOf('p1', 'pipe', RUNNING, T0 + 60_000));
    await store.create(threadOf('old-child', 'calculator', [child(T0), { type: 'final', data: { output: 'first' } }]));
    await store.create(threadOf('new-child', 'calculator', [child(T0 + 60_000), { type: 'final', data: { output: 'second' } }]));

    await runtime.delete('old-child');
    expect(await runtime.get('old-child')).toBeUndefined();

    await expect(runtime.delete('new-child')).rejects.toThrow('thread new-child belongs to pipeline p1, which is running');
    expect(await runtime.get('new-child')).toBeDefined();
  });

  it('a store without delete is refused with a clear InvalidStateError, the thread kept', async () => {
    const inner = createMemoryStore();
    const { delete: _ignored, ...withoutDelete } = inner;
    const { runtime } = setup(withoutDelete as ThreadStore);
    await inner.create(threadOf('t1', 'calculator', DONE));
    const refused = runtime.delete('t1');
    await expect(refused).rejects.toBeInstanceOf(InvalidStateError);
    await expect(refused).rejects.toThrow('this store cannot delete threads');
    expect(await runtime.get('t1')).toBeDefined();
  });

  it('a version conflict (an event landed after the read) is read and checked again once; a second one is thrown', async () => {
    const inner = createMemoryStore();
    let conflicts = 1;
    const deletes: number[] = [];
    const store: ThreadStore = {
      ...inner,
      async delete(id, expectedVersion) {
        deletes.push(expectedVersion);
        if (conflicts-- > 0) {
          // The outcome of the call the cancel left running lands first (then, for t2, a conflict again).
          const at = new Date().toISOString();
          if (expectedVersion === 4) await inner.append(id, 4, [{ seq: 5, at, type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'posted', durationMs: 1 } }]);
          throw new VersionConflictError(id, expectedVersion, expectedVersion + 1);
        }
        return inner.delete!(id, expectedVersion);
      },
    };
    const { runtime } = setup(store);
    await inner.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }]));
    await runtime.delete('t1');
    expect(deletes).toEqual([4, 5]);
    expect(await runtime.get('t1')).toBeUndefined();

    conflicts = 2;
    deletes.length = 0;
    await inner.create(threadOf('t2', 'publisher', [...publishCallStarted('t2'), { type: 'control', data: { action: 'cancel' } }]));
    await expect(runtime.delete('t2')).rejects.toBeInstanceOf(VersionConflictError);
    expect(deletes).toEqual([4, 5]);
  });

  it("a cancelled thread whose call's outcome is still awaited is refused, naming until when (the tool's timeout + 10 s); deleted once that is past", async () => {
    const store = createMemoryStore();
    const clock = handClock(T0 + 1_000);
    const { publish } = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const runtime = createRuntime({ agents: [publisher], store, model: scriptedModel([]), clock });
    // Cancelled while its call ran in another process, whose outcome may still come.
    await store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], T0));
    const until = T0 + publish.timeoutMs + OUTCOME_GRACE_MS;

    const refused = runtime.delete('t1');
    await expect(refused).rejects.toBeInstanceOf(InvalidStateError);
    await expect(refused).rejects.toThrow(`thread t1 was cancelled while its call c1 of publish ran, and that call's outcome may still be recorded: delete it once it is, or after ${new Date(until).toISOString()}`);
    expect(await runtime.get('t1')).toBeDefined();

    clock.at = until - 1;
    await expect(runtime.delete('t1')).rejects.toBeInstanceOf(InvalidStateError);
    clock.at = until;
    await runtime.delete('t1');
    expect(await runtime.get('t1')).toBeUndefined();
  });

  it("logs a warning naming the call and its idempotency key, and answers that call, when the thread deleted was the only record of a call whose outcome was never recorded (QA21 durability F6)", async () => {
    const store = createMemoryStore();
    const { logger, out } = capturingLogger();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
    const runtime = createRuntime({ agents: [publisher], store, model: scriptedModel([]), clock: handClock(T0 + UNKNOWN_TOOL_OUTCOME_WAIT_MS), logger });
    await store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], T0));
    await store.create(threadOf('t2', 'publisher', CANCELLED, T0));

    expect(await runtime.delete('t1')).toEqual({ id: 't1', agent: 'publisher', status: 'cancelled', unrecordedCall: { callId: 'c1', tool: 'publish', idempotencyKey: 't1:c1' } });
    expect(await runtime.delete('t2')).toEqual({ id: 't2', agent: 'publisher', status: 'cancelled' });

    expect(out.lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({ threadId: 't1', agent: 'publisher', callId: 'c1', tool: 'publish', idempotencyKey: 't1:c1', msg: expect.stringContaining('may have taken effect') }),
    ]);
  });

  it('a watch that waits past a cancel for an outcome ends when the thread is deleted; settled rejects with NotFoundError', async () => {
    const store = createMemoryStore();
    const clock = handClock(T0 + 1_000);
    const runtime = createRuntime({ agents: [calculator], store, model: scriptedModel([]), clock });
    // Cancelled just now while its call ran in another process: followers wait for the call's outcome.
    await store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), { type: 'control', data: { action: 'cancel' } }], T0));
    const seen: ThreadEvent[] = [];
    const watching = (async () => {
      for await (const event of runtime.watch('t1')) seen.push(event);
    })();
    const settling = runtime.settled('t1');
    await expect.poll(() => seen.length).toBe(4);
    expect(runtime.watchedThreads()).toContain('t1');

    // The wait runs out (an agent this runtime lacks: 2 minutes), and the delete comes before the watch's timer runs.
    clock.at = T0 + UNKNOWN_TOOL_OUTCOME_WAIT_MS;
    await runtime.delete('t1');

    await watching;
    await expect(settling).rejects.toBeInstanceOf(NotFoundError);
    expect(runtime.watchedThreads()).not.toContain('t1');
  });

  it('the id is free again: a thread launched under it runs as a new one, and its watch sees its own events', async () => {
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'second' } }]);
    const store = createMemoryStore();
    const runtime = createRuntime({ agents: [calculator], store, model });
    await store.create(threadOf('t1', 'calculator', [input(), { type: 'final', data: { output: 'first' } }]));
    await runtime.delete('t1');

    await runtime.launch('calculator', 'again', { threadId: 't1' });
    const seen: string[] = [];
    for await (const event of runtime.watch('t1')) seen.push(event.type);
    expect(seen).toEqual(['input', 'decision', 'final']);
    expect((await runtime.get('t1'))?.output).toBe('second');
  });

  it('another process that had read the thread before its deletion hears of every event of a thread created again under its id', async () => {
    const store = createMemoryStore();
    const here = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
    const elsewhere = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
    await store.create(threadOf('t1', 'calculator', [input(), { type: 'decision', data: { callId: 'c1', step: 1, intent: 'done_for_now', args: { message: 'x' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } }, { type: 'final', data: { output: 'first' } }]));
    await elsewhere.ingest('t1');
    const heard: number[] = [];
    elsewhere.subscribe((change) => heard.push(...change.events.map((e) => e.seq)));

    await here.delete('t1');
    // Launched again under the same id by another process: the bus tells this one of each write.
    await store.create(threadOf('t1', 'calculator', [input()]));
    await elsewhere.ingest('t1');
    await store.append('t1', 1, [{ seq: 2, at: new Date().toISOString(), type: 'final', data: { output: 'second' } }]);
    await elsewhere.ingest('t1');

    expect(heard).toEqual([1, 2]);
  });
});
