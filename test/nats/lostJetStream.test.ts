/**
 * A nats-server that comes back without its JetStream data (an emptied store directory): the
 * processes still connected recreate what they use (queues, buckets, the index) and carry on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { agent } from '../../src/agent/agent.js';
import type { Model } from '../../src/model/model.js';
import { ASSETS_RECREATED } from '../../src/nats/natsBus.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { busSubjects } from '../../src/surface/subjects.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually, plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

/** Finishes every thread on its first decision. */
const doneModel: Model = {
  name: 'done',
  async complete() {
    return {
      success: true,
      data: { toolCall: { name: 'done_for_now', arguments: JSON.stringify({ message: 'finished' }) }, usage: { prompt: 1, completion: 1 }, model: 'done' },
    };
  },
};
const finisher = agent({ name: 'finisher', description: 'finishes at once', prompt: 'You are {{agent}}.\n{{tools}}', tools: [], model: doneModel, maxSteps: 3 });

let server: NatsServerHandle | undefined;
let node: NatsNode | undefined;
let client: PlainClient | undefined;

afterEach(async () => {
  await client?.close();
  await node?.close({ drainMs: 1_000 });
  await server?.stop();
  client = node = server = undefined;
});

/** A worker for `finisher`, logging into `out`; the server restarted without its data. */
async function wipedDeployment(): Promise<{ prefix: string; bucket: string; out: { lines: LogLine[] }; client: PlainClient; node: NatsNode }> {
  const prefix = `sy${uniqueToken()}`;
  const bucket = `threads_${uniqueToken()}`;
  const { logger, out } = capturingLogger('warn');
  server = await startNatsServer();
  node = await startNode(server.url, { agents: [finisher], model: doneModel, prefix, bucket, logger, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } });
  client = await plainClient(server.url);
  // A first thread, so every asset was in use before the data went.
  const before = client.inbox<TriggerResult>();
  await client.trigger(`${prefix}.trigger.finisher`, { input: 'first', replyTo: before.subject }, { msgId: 'first' });
  expect((await before.messages.until(1, 15_000, 'the first thread to finish'))[0]?.status).toBe('done');

  await server.restart({ emptyStore: true });
  const { nc } = client;
  await eventually(() => nc.flush().then(() => true, () => undefined), 15_000, 'the client to reconnect', 100);
  await eventually(() => node!.bus.flush().then(() => true, () => undefined), 15_000, 'the worker to reconnect', 100);
  return { prefix, bucket, out, client, node };
}

/** Publishes a trigger once its stream is there again (the client's publish fails until then). */
async function triggerWhenStored(client: PlainClient, subject: string, payload: unknown, msgId: string): Promise<number> {
  const ack = await eventually(() => client.trigger(subject, payload, { msgId }).then((a) => a, () => undefined), 20_000, 'the trigger to be stored', 200);
  return ack.seq;
}

const recreatedLines = (out: { lines: LogLine[] }): LogLine[] => out.lines.filter((line) => line.msg === ASSETS_RECREATED);

describe('a nats-server that comes back with an empty JetStream store', () => {
  it('has the worker recreate its queue and take the next trigger, with one warn line for the queue', async () => {
    const { prefix, out, client } = await wipedDeployment();
    const queue = busSubjects(prefix).queueName('finisher');

    const seq = await triggerWhenStored(client, `${prefix}.trigger.finisher`, { input: 'second' }, 'second');
    const jsm = await jetstreamManager(client.nc);
    const consumer = await eventually(
      async () => {
        const info = await jsm.consumers.info(queue, `${queue}_workers`).catch(() => undefined);
        return info !== undefined && info.delivered.stream_seq >= seq ? info : undefined;
      },
      20_000,
      'the worker to take the trigger',
      200,
    );
    expect(consumer.delivered.stream_seq).toBeGreaterThanOrEqual(seq);
    const queueLines = recreatedLines(out).filter((line) => (line.assets as string[] | undefined)?.includes(queue));
    expect(queueLines).toHaveLength(1);
  }, 60_000);

  it('has the node recreate its buckets and index on reconnect: the next trigger finishes and is listed, with one warn line each', async () => {
    const { prefix, bucket, out, client, node } = await wipedDeployment();
    const queue = busSubjects(prefix).queueName('finisher');

    const { subject, messages } = client.inbox<TriggerResult>();
    await triggerWhenStored(client, `${prefix}.trigger.finisher`, { input: 'second', replyTo: subject }, 'second');
    const [result] = await messages.until(1, 20_000, 'the second thread to finish');
    expect(result?.status).toBe('done');
    expect(result?.threadId).toBe('trg-second');
    const listed = await eventually(
      async () => {
        const threads = await node.runtime.list().catch(() => undefined);
        return threads?.some((thread) => thread.id === 'trg-second') ? threads : undefined;
      },
      10_000,
      'the second thread to be listed',
      200,
    );
    expect(listed.map((thread) => thread.id)).toContain('trg-second');
    const lines = recreatedLines(out);
    expect(lines.filter((line) => (line.assets as string[] | undefined)?.includes(`KV_${bucket}`))).toHaveLength(1);
    expect(lines.filter((line) => (line.assets as string[] | undefined)?.includes(queue))).toHaveLength(1);
  }, 60_000);

  it('has a worker whose queue is deleted while it stays connected recreate it when its pulls go unanswered', async () => {
    const prefix = `sy${uniqueToken()}`;
    const { logger, out } = capturingLogger('warn');
    server = await startNatsServer();
    node = await startNode(server.url, { agents: [finisher], model: doneModel, prefix, bucket: `threads_${uniqueToken()}`, logger, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } });
    client = await plainClient(server.url);
    const queue = busSubjects(prefix).queueName('finisher');
    const jsm = await jetstreamManager(client.nc);
    // No reconnect tells the worker: only its unanswered pulls do.
    await jsm.streams.delete(queue);
    await jsm.streams.delete(`${queue}_DLQ`);

    const { subject, messages } = client.inbox<TriggerResult>();
    await triggerWhenStored(client, `${prefix}.trigger.finisher`, { input: 'after', replyTo: subject }, 'after');
    expect((await messages.until(1, 20_000, 'the thread to finish'))[0]?.status).toBe('done');
    expect(recreatedLines(out).filter((line) => (line.assets as string[] | undefined)?.includes(`${queue}_workers`))).toHaveLength(1);
  }, 60_000);
});
