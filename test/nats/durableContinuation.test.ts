import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus, type BusSurface } from '../../src/surface/attachBus.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import type { Thread } from '../../src/thread/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { collector, eventually, FAST_RECONNECT, plainClient, uniqueToken, type PlainClient } from './natsTestKit.js';

// A write from outside a job (a response, a resume) is followed by its continuation job. A process
// that dies between the two (found by the chaos run: a SIGKILL right after the human_response was
// stored) must not leave the thread `running` with no job, for good.
let server: NatsServerHandle;
let client: PlainClient;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/**
 * A worker whose process "dies" right after it stores a write from outside: once `dropAfterWrite`
 * names a thread, the runtime's own continuation of it is never enqueued (the enqueue hangs, as a
 * SIGKILLed process's would never happen).
 */
interface FragileNode {
  readonly runtime: Runtime;
  readonly surface: BusSurface;
  readonly bus: NatsBus;
  /** Threads whose next write's continuation this process never enqueues. */
  readonly dropAfterWrite: Set<string>;
}

async function fragileNode(names: { prefix: string; bucket: string }): Promise<FragileNode> {
  const bus = await createNatsBus({ servers: server.url, connectOptions: FAST_RECONNECT });
  const store = await createNatsKvStore({ nc: bus.nc, bucket: names.bucket });
  const queues = createAgentQueues({ bus, prefix: names.prefix, ackWaitMs: 3_000, retryDelayMs: 200, maxDeliver: 5 });
  const dropAfterWrite = new Set<string>();
  const schedule = (thread: Thread, reason?: Parameters<typeof queues.schedule>[1]): Promise<void> =>
    dropAfterWrite.has(thread.id) ? new Promise<void>(() => {}) : queues.schedule(thread, reason);
  const runtime = createRuntime({ agents: [calculator], store, model: createDemoModel(), schedule });
  const surface = await attachBus(runtime, { queues, processId: `fragile-${uniqueToken()}` });
  cleanups.push(async () => {
    await surface.close({ drainMs: 500 });
    await runtime.close();
    await bus.close();
  });
  return { runtime, surface, bus, dropAfterWrite };
}

/** A fragile node on fresh subjects, a trigger from the plain client, and its first result. */
async function triggered(msgId: string, input: string): Promise<{ node: FragileNode; first: TriggerResult; messages: ReturnType<typeof collector<TriggerResult>> }> {
  const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
  const node = await fragileNode(names);
  const { subject, messages } = client.inbox<TriggerResult>();
  await client.trigger(`${names.prefix}.trigger.calculator`, { input, replyTo: subject }, { msgId });
  const [first] = await messages.until(1, 15_000, 'the first result');
  return { node, first: first!, messages };
}

describe('a write from outside a job, by a process that dies before it enqueues the continuation', () => {
  it('a response over NATS still continues the thread', async () => {
    const { node, first: waiting, messages } = await triggered('lost-cont', 'what is 8 / 2');
    expect(waiting).toMatchObject({ threadId: 'trg-lost-cont', status: 'awaiting_human' });

    node.dropAfterWrite.add('trg-lost-cont');
    const reply = await client.request<ThreadReply>(
      `${node.surface.subjects.prefix}.thread.trg-lost-cont.respond`,
      { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'tester' },
      10_000,
    );
    expect(reply).toMatchObject({ ok: true });
    const [, done] = await messages.until(2, 20_000, 'the final result after the lost continuation');
    expect(done).toMatchObject({ threadId: 'trg-lost-cont', status: 'done', output: '8 / 2 = 4' });
  });

  it('a launch through surface.runtime (what an HTTP server on the node uses) still runs', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await fragileNode(names);
    node.dropAfterWrite.add('http-lost');
    await node.surface.runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'http-lost', source: { kind: 'http' } });
    const done = await eventually(
      async () => ((await node.runtime.get('http-lost'))?.status === 'done' ? node.runtime.get('http-lost') : undefined),
      20_000,
      'the launched thread to finish',
      100,
    );
    expect(done).toMatchObject({ status: 'done', output: '6 * 7 = 42' });
  });

  it('a guard whose write never lands goes away after a few deliveries, never to the dead letters', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await fragileNode(names);
    const queues = node.surface.subjects;
    const jsm = await jetstreamManager(node.bus.nc);
    // The process died before its launch was written: only the guard is there.
    const guards = createAgentQueues({ bus: node.bus, prefix: names.prefix, ackWaitMs: 3_000, retryDelayMs: 200, maxDeliver: 5 });
    await guards.guard('calculator', 'never-written', 0);
    const stream = queues.queueName('calculator');
    await eventually(
      async () => {
        const info = await jsm.consumers.info(stream, `${stream}_workers`);
        return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0 ? info : undefined;
      },
      20_000,
      'the guard job to be settled',
      100,
    );
    expect(await (await guards.queue('calculator')).deadLetters()).toEqual([]);
    expect(await node.runtime.get('never-written')).toBeUndefined();
  });

  it('a guard job that finds its thread ended since (its run died before replying) still replies', async () => {
    const { node, first, messages } = await triggered('ended-guard', 'multiply 6 by 7');
    expect(first).toMatchObject({ status: 'done' });
    // The guard of a write at version 1, delivered again once a run that died took the thread to its end.
    const guards = createAgentQueues({ bus: node.bus, prefix: node.surface.subjects.prefix, ackWaitMs: 3_000, retryDelayMs: 200, maxDeliver: 5 });
    await guards.guard('calculator', 'trg-ended-guard', 1);
    const [, again] = await messages.until(2, 15_000, 'the result replied by the guard job');
    expect(again).toEqual(first);
  });
});
