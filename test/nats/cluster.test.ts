import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { startNatsCluster, type NatsClusterHandle } from '../support/natsServer.js';
import { plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

const prefix = `sy${uniqueToken()}`;
const bucket = `threads_${uniqueToken()}`;
let cluster: NatsClusterHandle;
let worker: NatsNode;
let client: PlainClient;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  worker = await startNode(cluster.urls, {
    agents: [calculator],
    model: createDemoModel(),
    prefix,
    bucket,
    replicas: 3,
    queue: { ackWaitMs: 5_000, retryDelayMs: 200 },
  });
  // The client talks to the last server, which stays up.
  client = await plainClient(cluster.urls[2]!);
});

afterAll(async () => {
  await client?.close();
  await worker?.close({ drainMs: 1_000 });
  await cluster?.stop();
});

describe('a 3-node JetStream cluster', () => {
  it('replicates the queue and the bucket, and keeps working when one node is killed', async () => {
    const jsm = await jetstreamManager(client.nc);
    expect((await jsm.streams.info(`${prefix}_calculator`)).config.num_replicas).toBe(3);
    expect((await (await new Kvm(client.nc).open(bucket)).status()).replicas).toBe(3);

    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 6 by 7', replyTo: subject }, { msgId: 'cluster-1' });
    expect((await messages.until(1, 20_000, 'the first result'))[0]).toMatchObject({ status: 'done', output: '6 * 7 = 42' });

    await cluster.servers[0]!.kill();

    // JetStream may be electing new leaders for a moment: the publish retries until it is stored.
    let stored = false;
    for (const deadline = Date.now() + 20_000; !stored && Date.now() < deadline; ) {
      stored = await client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 7 by 8', replyTo: subject }, { msgId: 'cluster-2' }).then(
        () => true,
        () => false,
      );
    }
    expect(stored).toBe(true);
    const second = await messages.untilSome((m) => m.threadId === 'trg-cluster-2', 30_000, 'the result after the kill');
    expect(second).toMatchObject({ status: 'done', output: '7 * 8 = 56' });
    // The first job's ack may die with the node (it is answered once the ack is replicated): its
    // job then comes again, and is answered again from its thread, not run again.
    for (const again of messages.items.filter((m) => m.threadId === 'trg-cluster-1')) {
      expect(again).toMatchObject({ status: 'done', output: '6 * 7 = 42' });
    }
    const first = await worker.runtime.get('trg-cluster-1');
    expect(first?.status).toBe('done');
    expect(first?.events.filter((e) => e.type === 'tool_call')).toHaveLength(1);
    // Both threads are in the replicated bucket.
    expect((await worker.runtime.list({ agent: 'calculator' })).map((s) => s.id).sort()).toEqual(['trg-cluster-1', 'trg-cluster-2']);
    // Its own bounds (20 s + 20 s + 30 s) decide, not the suite's 30 s: beside the chaos test on 2
    // cores, a failover with leader elections once took longer than 30 s in all.
  }, 75_000);
});
