/**
 * `runtime.watch` and `runtime.settled` of a thread another process cancelled while a tool call of
 * it ran there (a worker on NATS): that process records the call's outcome after the cancel, and
 * the watch goes on (the wait for the end goes on) until it is read back. Here the other process is the test, writing to the store beneath the
 * runtime and telling it with `ingest`, as the NATS surface does when the worker's events arrive.
 */
import { describe, expect, it } from 'vitest';
import type { SimulatedClock } from 'xstate';
import { agent } from '../../src/agent/agent.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { OUTCOME_GRACE_MS, UNKNOWN_TOOL_OUTCOME_WAIT_MS } from '../../src/runtime/watchThread.js';
import { appendEvents } from '../../src/store/appendEvents.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { deferred, within } from '../bus/waiting.js';
import { createClock, T0, threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

const ID = 'th-1';
const decision: NewEvent = {
  type: 'decision',
  data: { callId: 'c1', step: 1, intent: 'publish', args: { post: 'hello' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
};
const toolCall: NewEvent = { type: 'tool_call', data: { callId: 'c1', tool: 'publish', args: { post: 'hello' }, idempotencyKey: 'th-1:c1', attempt: 1 } };
const cancel: NewEvent = { type: 'control', data: { action: 'cancel', by: 'qa' } };
const result: NewEvent = { type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } };

/**
 * A runtime over a store that holds a thread cancelled (at T0, as its call started) while its
 * publish call ran elsewhere: a runtime of the publisher agent, or (`knowsAgent: false`) of none.
 */
async function cancelledDuringCall({ knowsAgent = true, events = [decision, toolCall, cancel], clock = createClock() }: { knowsAgent?: boolean; events?: readonly NewEvent[]; clock?: SimulatedClock } = {}) {
  const store = createMemoryStore({ clock });
  const tools = heldPublishTool();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const runtime = createRuntime({ agents: knowsAgent ? [publisher] : [], store, model: publisherModel().model, clock });
  const cancelled = await store.create(threadOf(ID, 'publisher', [{ type: 'input', data: { input: 'publish hello' } }, ...events]));
  /** What the worker does: appends the call's outcome after the cancel, and the runtime reads it back. */
  const recordOutcome = async (outcome: NewEvent): Promise<void> => {
    await appendEvents({ store, clock }, cancelled, [outcome]);
    await runtime.ingest(ID);
  };
  return { clock, runtime, recordOutcome, version: cancelled.events.length, timeoutMs: tools.publish.timeoutMs };
}

/** Everything the watch yields until it ends. */
async function collect(watch: AsyncIterable<ThreadEvent>): Promise<ThreadEvent[]> {
  const seen: ThreadEvent[] = [];
  for await (const event of watch) seen.push(event);
  return seen;
}

describe('watching a thread cancelled while a tool call of it ran in another process', () => {
  it('goes on past the cancel until the outcome of the call is recorded, then ends', async () => {
    const { runtime, recordOutcome } = await cancelledDuringCall();
    const fromStart = collect(runtime.watch(ID));
    const afterCancel = collect(runtime.watch(ID, { afterSeq: 4 }));

    await recordOutcome(result);

    expect((await fromStart).map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(await afterCancel).toMatchObject([{ seq: 5, type: 'tool_result', data: { result: 'published' } }]);
    await runtime.close();
  });

  it('takes an error of the call as its outcome too', async () => {
    const { runtime, recordOutcome } = await cancelledDuringCall();
    const watching = collect(runtime.watch(ID, { afterSeq: 4 }));

    await recordOutcome({ type: 'error', data: { kind: 'tool_error', message: 'publish failed: 503', callId: 'c1', tool: 'publish', attempt: 1 } });

    expect(await watching).toMatchObject([{ seq: 5, type: 'error', data: { kind: 'tool_error', callId: 'c1' } }]);
    await runtime.close();
  });

  it("is still open just before the tool's deadline: an outcome recorded then is yielded", async () => {
    const { clock, runtime, recordOutcome, timeoutMs } = await cancelledDuringCall();
    const watching = collect(runtime.watch(ID, { afterSeq: 4 }));

    clock.set(T0 + timeoutMs + OUTCOME_GRACE_MS - 1);
    await recordOutcome(result);

    expect(await watching).toMatchObject([{ seq: 5, type: 'tool_result' }]);
    await runtime.close();
  });

  it("stops waiting at the tool's timeout from the call's start plus the grace, with nothing more to yield", async () => {
    const { clock, runtime, timeoutMs } = await cancelledDuringCall();
    const watch = runtime.watch(ID)[Symbol.asyncIterator]();
    const stored: string[] = [];
    for (let i = 0; i < 4; i++) stored.push(((await watch.next()).value as ThreadEvent).type);
    expect(stored).toEqual(['input', 'decision', 'tool_call', 'control']);
    // The watch waits past the stored events (its timer armed by this call) ...
    const next = watch.next();

    clock.set(T0 + timeoutMs + OUTCOME_GRACE_MS);

    // ... and the deadline ends it.
    expect(await next).toEqual({ done: true, value: undefined });
    // Past that, a new watch ends at once.
    expect(await collect(runtime.watch(ID, { afterSeq: 4 }))).toEqual([]);
    await runtime.close();
  });

  it("waits the fixed maximum from the call's start when this runtime does not have the agent", async () => {
    const { clock, runtime, recordOutcome } = await cancelledDuringCall({ knowsAgent: false });
    const late = collect(runtime.watch(ID, { afterSeq: 4 }));
    clock.set(T0 + UNKNOWN_TOOL_OUTCOME_WAIT_MS - 1);
    await recordOutcome(result);
    expect(await late).toMatchObject([{ seq: 5, type: 'tool_result' }]);

    clock.set(T0 + UNKNOWN_TOOL_OUTCOME_WAIT_MS);
    expect(await collect(runtime.watch(ID, { afterSeq: 5 }))).toEqual([]);
    await runtime.close();
  });

  it('ends at the cancel when no call was running then: its result came before it, or a human was asked about it', async () => {
    const interrupted: NewEvent = {
      type: 'human_request',
      data: { requestId: 'r1', kind: 'interrupted', question: 'did it?', urgency: 'high', format: 'yes_no', callId: 'c1', tool: 'publish', args: { post: 'hello' } },
    };
    for (const events of [
      [decision, toolCall, result, cancel],
      [decision, toolCall, interrupted, cancel],
      [decision, cancel],
    ]) {
      const { runtime, version } = await cancelledDuringCall({ events });
      expect((await collect(runtime.watch(ID))).map((e) => e.seq)).toEqual(Array.from({ length: version }, (_, i) => i + 1));
      await runtime.close();
    }
  });
});

describe('runtime.settled of a thread cancelled while a tool call of it ran in another process', () => {
  it('resolves once the outcome of the call is recorded, with the thread holding it', async () => {
    const { runtime, recordOutcome } = await cancelledDuringCall();
    const settling = runtime.settled(ID);

    await recordOutcome(result);

    const settled = await settling;
    expect(settled).toMatchObject({ status: 'cancelled', version: 5 });
    expect(settled.events.at(-1)).toMatchObject({ type: 'tool_result', data: { callId: 'c1', result: 'published' } });
    await runtime.close();
  });

  it("stops waiting at the tool's timeout from the call's start plus the grace, and resolves with the thread as it is", async () => {
    // The clock tells the test when the wait has armed its deadline (nothing else here sets a timer).
    const clock = createClock();
    const armed = deferred<number>();
    const setTimer = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => {
      armed.resolve(ms);
      return setTimer(fn, ms);
    };
    const { runtime, timeoutMs } = await cancelledDuringCall({ clock });
    const settling = runtime.settled(ID);
    expect(await within(armed.promise, 5_000, 'the wait to arm its deadline')).toBe(timeoutMs + OUTCOME_GRACE_MS);

    clock.set(T0 + timeoutMs + OUTCOME_GRACE_MS);

    expect(await settling).toMatchObject({ status: 'cancelled', version: 4 });
    // Past that, it resolves at once.
    expect(await runtime.settled(ID)).toMatchObject({ status: 'cancelled', version: 4 });
    await runtime.close();
  });

  it('resolves at the cancel when no call was running then', async () => {
    const { runtime } = await cancelledDuringCall({ events: [decision, toolCall, result, cancel] });
    expect(await runtime.settled(ID)).toMatchObject({ status: 'cancelled', version: 5 });
    await runtime.close();
  });
});
