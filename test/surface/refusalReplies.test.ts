// A client that sends all its triggers with one `replyTo` can tell which one an error reply
// answers: the reply names the trigger (its thread id, agent and msg id, in the fields a result
// names them by), and carries the msg id it is stored under, the same on every path (qa23 #2).
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER, TRIGGER_ID_HEADER } from '../../src/surface/subjects.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { collector } from '../nats/natsTestKit.js';

interface Heard {
  readonly body: Record<string, unknown>;
  readonly msgId: string | undefined;
}

describe('error replies to refused triggers on a shared replyTo', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(): Promise<{ bus: ReturnType<typeof createMemoryBus>; runtime: Runtime; heard: ReturnType<typeof collector<Heard>> }> {
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1' });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    const heard = collector<Heard>();
    bus.subscribe('app.results', (msg) => {
      const json = msg.json();
      if (json.success) heard.push({ body: json.data as Record<string, unknown>, msgId: msg.headers[MSG_ID_HEADER] });
    });
    return { bus, runtime, heard };
  }

  const trigger = (bus: ReturnType<typeof createMemoryBus>, agent: string, payload: unknown, msgId?: string) =>
    bus.publish(`switchyard.trigger.${agent}`, payload as Record<string, unknown>, msgId === undefined ? undefined : { headers: { [MSG_ID_HEADER]: msgId } });

  it('names the trigger an invalid body came with: its msg id and the thread id it would have had, or the thread id it names', async () => {
    const { bus, heard } = await start();
    await trigger(bus, 'calculator', { inputx: 'a', replyTo: 'app.results' }, 'bad-8');
    await trigger(bus, 'calculator', { inputx: 'b', threadId: 'order-7', replyTo: 'app.results' });
    const [first, second] = await heard.until(2, 5_000, 'two error replies');
    expect(first!.body).toEqual({
      error: 'invalid trigger for calculator',
      code: 'bad_request',
      kind: 'bad_request',
      issues: expect.any(Array),
      threadId: 'trg-bad-8',
      agent: 'calculator',
      msgId: 'bad-8',
    });
    expect(first!.msgId).toBe('refused.switchyard.trigger.calculator.bad-8');
    expect(second!.body).toEqual({ error: 'invalid trigger for calculator', code: 'bad_request', kind: 'bad_request', issues: expect.any(Array), threadId: 'order-7', agent: 'calculator' });
    expect(second!.body).not.toHaveProperty('msgId');
    // Neither a msg id nor a thread id: the thread id it would have had, from its place in the queue.
    await bus.publish('switchyard.trigger.calculator', 'not json', { headers: { 'Switchyard-Reply-To': 'app.results' } });
    const [, , third] = await heard.until(3, 5_000, 'the third error reply');
    expect(third!.body).toMatchObject({ code: 'bad_request', agent: 'calculator', threadId: expect.stringMatching(/^trg-switchyard_calculator-\d+$/) });
    expect(third!.msgId).toMatch(/^refused\.switchyard_calculator:\d+$/);
  });

  it('names the thread a trigger was refused for (another input), with its msg id', async () => {
    const { bus, runtime, heard } = await start();
    await runtime.launch('calculator', 'what is 3 + 4', { threadId: 'sum-1' });
    await trigger(bus, 'calculator', { input: 'what is 5 + 6', threadId: 'sum-1', replyTo: 'app.results' }, 'retry-2');
    const [reply] = await heard.until(1, 5_000, 'the error reply');
    expect(reply!.body).toMatchObject({ code: 'thread_exists_other_input', kind: 'conflict', threadId: 'sum-1', agent: 'calculator', msgId: 'retry-2' });
    // In a trigger's words (the launch's own refusal speaks of a launch), whichever found the thread first.
    expect(reply!.body['error']).toMatch(/a trigger does not change it: send another threadId \(or Nats-Msg-Id\) for a new thread$/);
    expect(reply!.msgId).toBe('refused.switchyard.trigger.calculator.retry-2');
  });

  it('names a copy a stopping worker handed back as its original trigger: its msg id, else its place in the queue', async () => {
    const { bus, runtime, heard } = await start();
    await runtime.launch('calculator', 'what is 3 + 4', { threadId: 'trg-orig-1' });
    await runtime.launch('calculator', 'what is 3 + 4', { threadId: 'trg-switchyard_calculator-7' });
    const copy = (threadId: string, original: string, seq: number) =>
      bus.publish('switchyard.trigger.calculator', { input: 'what is 5 + 6', threadId, replyTo: 'app.results' }, {
        headers: { [MSG_ID_HEADER]: `handback.switchyard_calculator:${seq}`, [TRIGGER_ID_HEADER]: original },
      });
    await copy('trg-orig-1', 'orig-1', 3);
    const [named] = await heard.until(1, 5_000, 'the error reply to the copy of a trigger with a msg id');
    expect(named!.body).toMatchObject({ code: 'thread_exists_other_input', threadId: 'trg-orig-1', agent: 'calculator', msgId: 'orig-1' });
    expect(named!.msgId).toBe('refused.switchyard.trigger.calculator.orig-1');
    await copy('trg-switchyard_calculator-7', 'switchyard_calculator:7', 9);
    const [, placed] = await heard.until(2, 5_000, 'the error reply to the copy of a trigger without one');
    expect(placed!.body).toMatchObject({ code: 'thread_exists_other_input', threadId: 'trg-switchyard_calculator-7', agent: 'calculator' });
    expect(placed!.body).not.toHaveProperty('msgId');
    expect(placed!.msgId).toBe('refused.switchyard_calculator:7');
  });

  it('names the trigger of an unknown agent: the agent it named, its msg id and the thread id it would have had', async () => {
    const { bus, heard } = await start();
    await trigger(bus, 'nosuch', { input: 1, replyTo: 'app.results' }, 'bad-9');
    const [reply] = await heard.until(1, 5_000, 'the error reply');
    expect(reply!.body).toEqual({ error: 'unknown agent "nosuch" (known: calculator)', code: 'not_found', kind: 'not_found', threadId: 'trg-bad-9', agent: 'nosuch', msgId: 'bad-9' });
    expect(reply!.msgId).toBe('refused.switchyard.trigger.nosuch.bad-9');
  });

  it('derives the stored msg id of a msg id that is not a plain token from its hash, as its thread id', async () => {
    const { bus, heard } = await start();
    await trigger(bus, 'calculator', { inputx: 1, replyTo: 'app.results' }, 'order.1 retry');
    await trigger(bus, 'nosuch', { input: 1, replyTo: 'app.results' }, 'order.1 retry');
    const replies = await heard.until(2, 5_000, 'two error replies');
    const worker = replies.find((r) => r.body.agent === 'calculator');
    const guard = replies.find((r) => r.body.agent === 'nosuch');
    expect(worker!.body).toMatchObject({ msgId: 'order.1 retry', threadId: expect.stringMatching(/^trg-[0-9a-f]{40}$/) });
    expect(worker!.msgId).toBe(`refused.switchyard.trigger.calculator.${(worker!.body.threadId as string).slice(4)}`);
    expect(guard!.msgId).toBe(`refused.switchyard.trigger.nosuch.${(worker!.body.threadId as string).slice(4)}`);
  });
});
