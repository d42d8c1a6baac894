/**
 * A runtime that closed: what waited on its threads (`settled`, `watch`) is released with a clear
 * error instead of waiting for ever, once the close has stopped its actors (a call it drained has
 * its result seen first); a `drain` alone keeps them waiting, as it documents. And it refuses new
 * work itself, whatever its store.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { SystemError } from '../../src/errors.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { heldPublishTool, publisherModel, type HeldTool } from '../support/heldTool.js';
import { expectNewWorkRefused, threadsAtRest } from './fixtures/threadsAtRest.js';

type Outcome = { pending: true } | { value: unknown } | { error: unknown };

/**
 * Follows a promise from now on (so its rejection is handled); `now()` says how it stands once
 * every callback already queued has run: pending, or how it settled.
 */
function tracked(promise: Promise<unknown>): { now(): Promise<Outcome> } {
  let outcome: Outcome = { pending: true };
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  return {
    async now() {
      await new Promise((resolve) => setImmediate(resolve));
      return outcome;
    },
  };
}

/** The error the waiters of a closed runtime end with, as `tracked` reports it. */
function closedOutcome(): { error: unknown } {
  return { error: expect.objectContaining({ name: 'RuntimeClosedError', message: 'the runtime is closed' }) };
}

/** A runtime whose publisher thread runs its (held) call, with a `settled` and a `watch` on it. */
async function followedCall(): Promise<{ rt: Runtime; tools: HeldTool; settled: { now(): Promise<Outcome> }; watching: { now(): Promise<Outcome> }; seen: string[] }> {
  const tools = heldPublishTool();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model: publisherModel().model });
  const { id } = await rt.launch('publisher', 'publish hello');
  await tools.started.promise;
  const settled = tracked(rt.settled(id));
  const seen: string[] = [];
  const watching = tracked(
    (async () => {
      for await (const event of rt.watch(id)) seen.push(event.type);
    })(),
  );
  // Both follow the thread (the watch has read it and waits for what comes next).
  await new Promise((resolve) => setImmediate(resolve));
  expect(rt.watchedThreads()).toEqual([id]);
  return { rt, tools, settled, watching, seen };
}

describe('closing a runtime while something waits on a thread', () => {
  it('rejects a pending settled and ends a watch with "the runtime is closed", after the drained call was journaled', async () => {
    const { rt, tools, settled, watching, seen } = await followedCall();

    const closing = rt.close({ drainMs: 3_600_000 });
    tools.release.resolve('published');
    await closing;

    expect(await settled.now()).toEqual({ error: expect.any(SystemError) });
    expect(await settled.now()).toEqual(closedOutcome());
    expect(await watching.now()).toEqual(closedOutcome());
    // The watch saw the result the drain journaled before it ended.
    expect(seen).toEqual(['input', 'decision', 'tool_call', 'tool_result']);
    expect(rt.watchedThreads()).toEqual([]);
  });

  it('keeps them waiting through a drain, as drain documents, and releases them at the close after it', async () => {
    const { rt, tools, settled, watching } = await followedCall();

    const draining = rt.drain({ drainMs: 3_600_000 });
    tools.release.resolve('published');
    await draining;
    expect(await settled.now()).toEqual({ pending: true });
    expect(await watching.now()).toEqual({ pending: true });

    await rt.close();
    expect(await settled.now()).toEqual(closedOutcome());
    expect(await watching.now()).toEqual(closedOutcome());
  });
});

/** Expects the call refused as a closed runtime refuses it. */
async function refused(call: Promise<unknown>): Promise<void> {
  await expect(call).rejects.toBeInstanceOf(SystemError);
  await expect(call).rejects.toThrow(/^the runtime is closed$/);
}

describe('a closed runtime', () => {
  it('refuses new work itself, with a store of your own that stays usable after its close: nothing is written', async () => {
    // A store shared with the app: the runtime's close leaves it open.
    const shared = Object.assign(Object.create(createMemoryStore()) as ThreadStore, { close: async () => {} });
    const threads = await threadsAtRest(shared);
    const { rt, tools, asked, asking } = threads;
    const before = await shared.list({ limit: 10 });
    const decisions = asked.length;

    await rt.close();

    await expectNewWorkRefused(threads, 'after-close', refused);
    await refused(rt.settled(asking.id));
    await refused(
      (async () => {
        for await (const event of rt.watch(asking.id)) void event;
      })(),
    );
    // Nothing was written, run or asked.
    expect(await shared.list({ limit: 10 })).toEqual(before);
    expect(await shared.get('after-close')).toBeUndefined();
    expect(asked.length).toBe(decisions);
    expect(tools.runs()).toBe(0);
    expect(rt.activeCount()).toBe(0);
  });
});
