import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createLogger } from '../../src/logger.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime, type ThreadChange } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { busSubjects, ENDED_HEADER } from '../../src/surface/subjects.js';
import { busWebhookSource } from '../../src/surface/webhookSource.js';
import { agent } from '../../src/agent/agent.js';
import type { NewEvent } from '../../src/thread/events.js';
import { eventually } from '../bus/waiting.js';
import { threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publishCallStarted, publisherModel } from '../support/heldTool.js';
import { controlStep } from '../../src/agent/controlStep.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A bus, a runtime whose thread asked for approval then ended, and a logger whose lines are kept. */
async function setUp() {
  const bus = createMemoryBus();
  const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel() });
  cleanups.push(async () => {
    await runtime.close();
    await bus.close();
  });
  const { id } = await runtime.launch('calculator', 'what is 8 / 2');
  const asked = await runtime.settled(id);
  await runtime.respond(id, { requestId: asked.pendingRequest!.requestId, approved: true });
  const thread = await runtime.settled(id);
  const lines: Record<string, unknown>[] = [];
  const destination = new PassThrough();
  destination.setEncoding('utf8').on('data', (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const ctx = { bus, runtime, subjects: busSubjects('hooks'), logger: createLogger({ level: 'warn', destination }) };
  return { bus, thread, ctx, lines };
}

describe('busWebhookSource', () => {
  it('hands each notifying event to one source of a group of receivers, as the thread stood at that event', async () => {
    const { bus, thread, ctx } = await setUp();
    const heard: Array<{ by: string; change: ThreadChange }> = [];
    const listen = (by: string, receivers: string[]) => busWebhookSource(ctx, receivers).subscribe((change) => heard.push({ by, change }));
    const stops = [listen('a', ['https://x/hook', 'https://y/hook']), listen('b', ['https://y/hook', 'https://x/hook']), listen('other', ['https://z/hook'])];
    cleanups.push(async () => stops.forEach((stop) => stop()));
    // What a process's fan-out publishes: every event of the thread.
    for (const event of thread.events) await bus.publish(ctx.subjects.events(thread.agent, thread.id, event.type), event);

    const notifying = thread.events.filter((e) => ['human_request', 'human_response', 'final'].includes(e.type));
    await eventually(async () => (heard.length === notifying.length * 2 ? true : undefined), 5_000, 'the changes');
    await bus.flush();
    expect(heard).toHaveLength(notifying.length * 2);
    // The two sources with the same receivers (in any order) share the work; the other hears it all.
    expect(heard.filter((h) => h.by !== 'other').map((h) => h.change.events[0]!.seq).sort()).toEqual(notifying.map((e) => e.seq));
    const other = heard.filter((h) => h.by === 'other').map((h) => h.change);
    expect(other.map((c) => [c.events[0]!.type, c.status, c.thread.events.length])).toEqual([
      ['human_request', 'awaiting_human', notifying[0]!.seq],
      ['human_response', 'running', notifying[1]!.seq],
      ['final', 'done', thread.events.length],
    ]);
    expect(other.every((c) => c.ingested === true && c.thread.id === thread.id)).toBe(true);
  });

  it('logs and skips events it cannot use, and lets the ones after them through', async () => {
    const { bus, thread, ctx, lines } = await setUp();
    const heard: ThreadChange[] = [];
    const stop = busWebhookSource(ctx, ['https://x/hook']).subscribe((change) => heard.push(change));
    cleanups.push(async () => stop());
    const final = thread.events.at(-1)!;
    const subject = ctx.subjects.events(thread.agent, thread.id, 'final');
    await bus.publish(subject, new TextEncoder().encode('not json'));
    await bus.publish(subject, { ...final, seq: 'x' });
    await bus.publish(subject, { ...final, seq: thread.events.length + 5 });
    await bus.publish(ctx.subjects.events(thread.agent, 'no-such-thread', 'final'), final);
    await bus.publish(ctx.subjects.events(thread.agent, thread.id, 'tool_call'), thread.events[2]!);
    await bus.publish(subject, final);
    await eventually(async () => (heard.length === 1 && lines.length === 4 ? true : undefined), 5_000, 'one change and four warnings');
    expect(heard[0]).toMatchObject({ status: 'done', events: [{ seq: final.seq, type: 'final' }] });
    expect(lines.map((l) => l.msg)).toEqual(Array(4).fill('no webhook for this event'));
    expect(lines.map((l) => l.err)).toEqual([
      expect.stringMatching(/without a valid seq/),
      expect.stringMatching(/without a valid seq/),
      expect.stringMatching(/has no final event at seq/),
      expect.stringMatching(/no-such-thread has no final event/),
    ]);
  });

  it('hands on the outcome of a call recorded after the thread’s cancel (its final view), as the thread stood at it', async () => {
    const { bus, ctx } = await setUp();
    const store = createMemoryStore();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
    const runtime = createRuntime({ agents: [publisher], store, model: publisherModel().model });
    cleanups.push(() => runtime.close());
    // Cancelled by one process while its call ran in another, which recorded the result after it.
    const events: NewEvent[] = [
      ...publishCallStarted('th-c'),
      { type: 'control', data: { action: 'cancel', by: 'qa' } },
      { type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } },
    ];
    const thread = await store.create(threadOf('th-c', 'publisher', events));
    const heard: ThreadChange[] = [];
    const stop = busWebhookSource({ ...ctx, runtime }, ['https://x/hook']).subscribe((change) => heard.push(change));
    cleanups.push(async () => stop());
    // As the fan-out of the process that wrote them publishes them: marked once the thread has ended.
    for (const event of thread.events) {
      const headers: Record<string, string> = event.seq >= 4 ? { [ENDED_HEADER]: 'cancelled' } : {};
      await bus.publish(ctx.subjects.events(thread.agent, thread.id, event.type), event, { headers });
    }

    await eventually(async () => (heard.length === 2 ? true : undefined), 5_000, 'the cancel and the outcome');
    await bus.flush();
    expect(heard.map((c) => [c.events[0]!.type, c.status, c.thread.events.length])).toEqual([
      ['control', 'cancelled', 4],
      ['tool_result', 'cancelled', 5],
    ]);
  });
  it('reads no thread for the outcome of a call whose thread had not ended when it was published', async () => {
    const { bus, thread, ctx } = await setUp();
    let reads = 0;
    const counting = { ...ctx.runtime, get: (id: string) => (reads++, ctx.runtime.get(id)) } as typeof ctx.runtime;
    const heard: ThreadChange[] = [];
    const stop = busWebhookSource({ ...ctx, runtime: counting }, ['https://x/hook']).subscribe((change) => heard.push(change));
    cleanups.push(async () => stop());
    const outcomes = thread.events.filter((e) => e.type === 'tool_result');
    expect(outcomes.length).toBeGreaterThan(0);
    for (const event of outcomes) await bus.publish(ctx.subjects.events(thread.agent, thread.id, event.type), event);
    // The final after them is read (and handed on): the outcomes before it were not.
    const final = thread.events.at(-1)!;
    await bus.publish(ctx.subjects.events(thread.agent, thread.id, final.type), final);
    await eventually(async () => (heard.length === 1 ? true : undefined), 5_000, 'the final');
    await bus.flush();
    expect(heard.map((c) => c.events[0]!.type)).toEqual(['final']);
    expect(reads).toBe(1);
  });

  it('hears, from the fan-out of the process that recorded it, the outcome of a call recorded after another process’s cancel', async () => {
    const bus = createMemoryBus();
    const store = createMemoryStore();
    const tools = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const { model } = publisherModel();
    const running = createRuntime({ agents: [publisher], store, model });
    const api = createRuntime({ agents: [publisher], store, model });
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const surface = await attachBus(running, { queues, processId: 'p-worker', worker: false, observe: false });
    cleanups.push(() => bus.close(), () => api.close(), () => running.close(), () => surface.close({ drainMs: 1_000 }));
    const subjects = busSubjects('switchyard');
    const heard: ThreadChange[] = [];
    const stop = busWebhookSource({ bus, subjects, runtime: api, logger: silentLogger() }, ['https://x/hook']).subscribe((change) => heard.push(change));
    cleanups.push(async () => stop());

    const { id } = await running.launch('publisher', 'publish hello');
    await tools.started.promise;
    await controlStep({ store, clock: systemClock, model, logger: silentLogger() }, id, { action: 'cancel', by: 'qa' });
    tools.release.resolve('published');

    await eventually(async () => (heard.length === 1 ? true : undefined), 5_000, 'the outcome recorded after the cancel');
    await bus.flush();
    expect(heard.map((c) => [c.events[0]!.type, c.status, c.thread.events.length])).toEqual([['tool_result', 'cancelled', 5]]);
  });
});
