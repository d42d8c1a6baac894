/**
 * A thread deleted while a tool call of it still ran somewhere (its cancel came from another
 * process, whose wait for the call's outcome ran out), then launched again under its id: the late
 * outcome belongs to the deleted thread, never to the new one.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent, type Agent } from '../../src/agent/agent.js';
import { controlStep } from '../../src/agent/controlStep.js';
import { tool } from '../../src/agent/tool.js';
import { silentLogger } from '../../src/logger.js';
import { createAgentActor, whenSettled } from '../../src/runtime/agentActor.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createClock, T0, threadOf } from '../support/agentHarness.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { heldPublishTool, holdingDecisionWrites, publisherModel } from '../support/heldTool.js';

describe('a thread deleted while its tool call ran, then launched again under its id', () => {
  it("the call's late outcome is not written into the new thread, an error log names the lost outcome, and the old actor stops", async () => {
    const { model, asked } = publisherModel();
    const clock = createClock();
    const store = createMemoryStore({ clock });
    const other = { store, clock, model, logger: silentLogger() };
    // The process that deletes: its wait for the call's outcome ran out long ago.
    const laterClock = createClock(T0 + 10 * 60_000);
    let publisher: Agent | undefined;
    const publish = tool({
      name: 'publish',
      description: 'publishes the post',
      input: z.object({ post: z.string() }),
      run: async (_args, { threadId }) => {
        await controlStep(other, threadId, { action: 'cancel', by: 'qa' });
        const elsewhere = createRuntime({ agents: [publisher!], store, model: scriptedModel([]), clock: laterClock });
        await elsewhere.delete(threadId);
        await store.create(threadOf(threadId, 'publisher', [{ type: 'input', data: { input: 'second life' } }], clock.now() + 10));
        return 'receipt of the first thread';
      },
    });
    publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const { logger, out } = capturingLogger();
    const thread = await store.create(threadOf('order-1', 'publisher', [{ type: 'input', data: { input: 'publish hello' } }], clock.now()));
    const actor = createAgentActor({ agent: publisher, thread, model, store, clock, logger });
    const end = await whenSettled(actor).catch((error: unknown) => error);

    const now = (await store.get('order-1'))!;
    expect(now.events.map((e) => e.type)).toEqual(['input']);
    // The old actor did not go on with the new thread: one decision was asked for, the first thread's.
    expect(asked).toEqual(['publisher']);
    expect(end).toMatchObject({ stopped: expect.any(String) });
    const lost = out.lines.filter((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('deleted'));
    expect(lost).toEqual([expect.objectContaining({ threadId: 'order-1', tool: 'publish', callId: expect.any(String) })]);
  });

  it('a call recorded with its decision is not run, nor its not-run written, when the thread read before it runs is one launched again under its id', async () => {
    const tools = heldPublishTool();
    const { model, asked } = publisherModel();
    const clock = createClock();
    const inner = createMemoryStore({ clock });
    const { store, appended, hold } = holdingDecisionWrites(inner);
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const thread = await inner.create(threadOf('order-1', 'publisher', [{ type: 'input', data: { input: 'publish hello' } }], clock.now()));
    const { logger, out } = capturingLogger();
    const actor = createAgentActor({ agent: publisher, thread, model, store, clock, otherWriters: true, logger });
    const settling = whenSettled(actor).catch((error: unknown) => error);
    await appended.promise;

    // Meanwhile another process cancels and deletes the thread, and it is launched again.
    const cancelled = await controlStep({ store: inner, clock, model, logger: silentLogger() }, 'order-1', { action: 'cancel', by: 'qa' });
    await inner.delete!('order-1', cancelled.events.length);
    await inner.create(threadOf('order-1', 'publisher', [{ type: 'input', data: { input: 'second life' } }], clock.now() + 10));
    hold.resolve();
    const end = await settling;

    expect(tools.runs()).toBe(0);
    expect((await inner.get('order-1'))!.events.map((e) => e.type)).toEqual(['input']);
    expect(asked).toEqual(['publisher']);
    expect(end).toMatchObject({ stopped: expect.any(String) });
    // Said as it is: deleted, not controlled from elsewhere.
    expect(out.lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['thread deleted before its recorded call ran; the call is not run']);
  });
});
