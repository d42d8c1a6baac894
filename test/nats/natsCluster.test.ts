import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/bus/bus.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { startNatsCluster, type NatsClusterHandle } from '../support/natsServer.js';
import { collector } from '../bus/waiting.js';

describe('NATS bus on a 3-node JetStream cluster', () => {
  let cluster: NatsClusterHandle;
  let bus: NatsBus;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    bus = await createNatsBus({
      servers: cluster.urls,
      name: 'cluster-test',
      connectOptions: { reconnectTimeWait: 100, reconnectJitter: 0 },
    });
  });

  afterAll(async () => {
    await bus?.close();
    await cluster?.stop();
  });

  it('keeps a replicated job queue working when one server dies', async () => {
    const q = await bus.jobQueue('replicated', { replicas: 3 });
    for (const n of [1, 2, 3]) await q.enqueue('replicated.job', n);
    const messages = collector<string>();
    bus.subscribe('cluster.events.>', (msg) => messages.push(msg.text()));

    await cluster.servers[0]!.kill();
    await cluster.servers[0]!.kill(); // idempotent

    const got = collector<Job>();
    q.consume(async (job) => got.push(job));
    const jobs = await got.until(3, 20_000, 'the replicated jobs');
    expect(jobs.map((j) => j.text())).toEqual(['1', '2', '3']);
    await q.enqueue('replicated.job', 4);
    expect((await got.until(4, 20_000))[3]!.text()).toBe('4');
    await bus.publish('cluster.events.a', 'still routing');
    expect(await messages.until(1, 10_000)).toEqual(['still routing']);
  });
});
