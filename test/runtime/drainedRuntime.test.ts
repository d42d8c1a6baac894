/**
 * A runtime that drains (`runtime.drain()`) moves no thread any more, so it takes no new work: from
 * the start of the drain, `launch`, `respond`, `pause`, `resume`, `cancel`, `delete`, `run` and
 * `recover` are refused with a `RuntimeClosedError` that says it drains, and write nothing (before,
 * they were accepted: a launch stored a thread that nothing here would run). What waits on a
 * thread already (`settled`, `watch`) keeps waiting, as drain documents, and reading still works.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { RuntimeClosedError } from '../../src/errors.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { expectNewWorkRefused, threadsAtRest } from './fixtures/threadsAtRest.js';

/** Expects the call refused as a draining runtime refuses it. */
async function refused(call: Promise<unknown>): Promise<void> {
  await expect(call).rejects.toBeInstanceOf(RuntimeClosedError);
  await expect(call).rejects.toThrow(/^the runtime is draining and takes no new work$/);
}

/** Whether `promise` is still pending once every callback already queued has run. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return !done;
}

/** The threads a draining runtime is given, over a memory store. */
const runtimeWithThreads = () => threadsAtRest(createMemoryStore());

describe('a draining runtime', () => {
  it('refuses new work with a RuntimeClosedError that says it drains, and writes nothing', async () => {
    const store = createMemoryStore();
    const threads = await threadsAtRest(store);
    const { rt, tools, asked, asking } = threads;
    const before = await store.list({ limit: 10 });
    const decisions = asked.length;

    await rt.drain();

    await expectNewWorkRefused(threads, 'after-drain', refused);
    // Nothing was written, run or asked; the store stays readable through the runtime.
    expect(await store.list({ limit: 10 })).toEqual(before);
    expect(await store.get('after-drain')).toBeUndefined();
    expect(asked.length).toBe(decisions);
    expect(tools.runs()).toBe(0);
    expect((await rt.get(asking.id))?.status).toBe('awaiting_human');
    expect(await rt.list({ limit: 10 })).toEqual(before);
    await rt.close();
  });

  it('refuses from the start of the drain, while a call still finishes', async () => {
    const tools = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model: publisherModel().model });
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;

    const draining = rt.drain({ drainMs: 3_600_000 });
    await refused(rt.launch('publisher', 'publish again'));
    await refused(rt.cancel(id));
    tools.release.resolve('published');
    await draining;
    // The drained call was journaled.
    expect((await rt.get(id))?.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result']);
    await rt.close();
  });

  it('keeps settled and watch of a thread it had waiting, as drain documents, until the close', async () => {
    const { rt, asking } = await runtimeWithThreads();
    await rt.drain();
    // A thread that waits for a human is at rest: settled answers at once, as before the drain.
    expect((await rt.settled(asking.id)).status).toBe('awaiting_human');
    const watching = (async () => {
      const seen: string[] = [];
      for await (const event of rt.watch(asking.id)) seen.push(event.type);
      return seen;
    })();
    expect(await pending(watching)).toBe(true);
    await rt.close();
    await expect(watching).rejects.toThrow(/^the runtime is closed$/);
  });
});
