/**
 * A later trigger of a pipeline thread (the same `threadId` under another msg id: a client's retry
 * with request/reply) while the pipeline waits for a child. As a later trigger of an agent's
 * thread hears that thread's rest (its request, when it waits for a human), it hears where the
 * pipeline stands: the child's request the first trigger heard, or, while the child still runs,
 * the pipeline's status. It used to hear nothing, and a client waiting for its reply hung.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { Model } from '../../src/model/model.js';
import { childThreadId, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import type { Agent } from '../../src/agent/agent.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { collector } from '../bus/waiting.js';
import { halve, outer } from '../support/nestedPipelines.js';

const WAIT_MS = 10_000;

describe('a later trigger of a pipeline that waits for a child, on the in-process bus', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(agents: readonly Agent[], pipelines: readonly Pipeline[], model: Model) {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const runtime: Runtime = createRuntime({ agents, pipelines, store: createMemoryStore(), model, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    /** Results heard on `subject`. */
    const listen = (subject: string) => {
      const results = collector<TriggerResult>();
      bus.subscribe(subject, (msg) => {
        const json = msg.json();
        if (json.success) results.push(json.data as TriggerResult);
      });
      return results;
    };
    const trigger = (name: string, threadId: string, replyTo: string, msgId: string) =>
      bus.publish(`switchyard.trigger.${name}`, { input: {}, threadId, replyTo }, { headers: { [MSG_ID_HEADER]: msgId } });
    return { bus, runtime, listen, trigger };
  }

  it('hears the request of the child that waits for a human, as the first trigger did', async () => {
    const { bus, runtime, listen, trigger } = await start([calculator], [halve, outer], createDemoModel());
    const first = listen('app.first');
    const second = listen('app.second');
    await trigger('outer', 'order-1', 'app.first', 'first-1');
    const [asked] = await first.until(1, WAIT_MS, 'the child’s request on the first replyTo');
    const waiting = childThreadId(childThreadId('order-1', 'half'), 'divide');
    expect(asked).toMatchObject({ threadId: 'order-1', agent: 'outer', status: 'running', childThreadId: waiting, pendingRequest: { kind: 'approval' } });

    // The client sends it again (another msg id, the same thread): its replyTo hears where it stands.
    await trigger('outer', 'order-1', 'app.second', 'first-2');
    const [again] = await second.until(1, WAIT_MS, 'a reply to the later trigger');
    // The same result, naming the trigger it answers.
    expect(again).toEqual({ ...asked, msgId: 'first-2' });
    expect(first.items).toHaveLength(1);

    // Answered, the pipeline ends; its end goes to the replyTo its launch recorded.
    const reply = await bus.request(`switchyard.thread.${waiting}.respond`, { requestId: asked!.pendingRequest!.requestId, approved: true });
    expect(reply.json()).toMatchObject({ success: true, data: { ok: true } satisfies Partial<ThreadReply> });
    const [, done] = await first.until(2, WAIT_MS, 'the pipeline’s end');
    expect(done).toMatchObject({ threadId: 'order-1', status: 'done', output: '8 / 2 = 4' });
    expect((await runtime.get('order-1'))!.status).toBe('done');
  });

  it('hears where the pipeline stands too when it races the first trigger (both sent at once): the trigger that did not launch the thread is a later one', async () => {
    const { bus, runtime, listen, trigger } = await start([calculator], [halve, outer], createDemoModel());
    const first = listen('app.first');
    const second = listen('app.second');
    await Promise.all([trigger('outer', 'order-2', 'app.first', 'race-1'), trigger('outer', 'order-2', 'app.second', 'race-2')]);
    const [one] = await first.until(1, WAIT_MS, 'a reply to the first trigger');
    const [two] = await second.until(1, WAIT_MS, 'a reply to the second trigger');
    // Each hears the pipeline running: the launching trigger's replyTo the child's request, the
    // other where the pipeline stands (that request, or its status while the child still decides).
    for (const reply of [one, two]) expect(reply).toMatchObject({ threadId: 'order-2', agent: 'outer', status: 'running' });
    const waiting = childThreadId(childThreadId('order-2', 'half'), 'divide');
    const asked = await runtime.settled(waiting);
    expect(asked.pendingRequest).toMatchObject({ kind: 'approval' });
    expect([one, two]).toContainEqual(expect.objectContaining({ childThreadId: waiting, pendingRequest: asked.pendingRequest }));

    const reply = await bus.request(`switchyard.thread.${waiting}.respond`, { requestId: asked.pendingRequest!.requestId, approved: true });
    expect(reply.json()).toMatchObject({ success: true });
    // Not settled(): a pipeline waiting on a child (halve, running on after the answer) rests, as
    // embedded, now that settled tells it from the log where no actor of it rests here.
    await vi.waitFor(async () => expect(await runtime.get('order-2')).toMatchObject({ status: 'done', output: '8 / 2 = 4' }), { timeout: WAIT_MS, interval: 20 });
  });

  it('hears that the pipeline runs while its child is still at work', async () => {
    const tools = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const relay = pipeline({ name: 'relay', description: 'publishes through the publisher', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'post', agent: 'publisher', input: () => 'publish hello' })
      .finish(({ results }) => results.post);
    const { runtime, listen, trigger } = await start([publisher], [relay], publisherModel().model);
    const first = listen('app.first');
    const second = listen('app.second');
    await trigger('relay', 'relay-1', 'app.first', 'relay-first');
    await tools.started.promise;

    await trigger('relay', 'relay-1', 'app.second', 'relay-again');
    const [standing] = await second.until(1, WAIT_MS, 'a reply to the later trigger');
    const view = await runtime.get('relay-1');
    expect(standing).toEqual({ threadId: 'relay-1', agent: 'relay', status: 'running', version: view!.version, msgId: 'relay-again' });
    expect(first.items).toEqual([]);

    tools.release.resolve('published');
    const [done] = await first.until(1, WAIT_MS, 'the pipeline’s end');
    expect(done).toMatchObject({ threadId: 'relay-1', status: 'done', output: 'after published' });
    expect(tools.runs()).toBe(1);
  });
});
