import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { at, inputEvent, prefetchEvent } from '../store/fixtures/events.js';
import { startNatsCluster, type NatsClusterHandle } from '../support/natsServer.js';

const bucket = `threads_failover_${process.pid}`;
let cluster: NatsClusterHandle;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await cluster?.stop();
});

async function connectTo(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, reconnectTimeWait: 100 });
  connections.push(nc);
  return nc;
}

describe('the NATS KV store while a replicated bucket elects a new leader', () => {
  // In the wild: a worker launched a thread right after the node leading the bucket died; the
  // create met "no responders" (nobody led the stream yet), the job's five quick deliveries all
  // failed the same way, and the trigger was dead-lettered.
  it('a create and an append sent while no server leads the bucket wait for the new leader, and the index catches up', async () => {
    const first = await connectTo(cluster.urls[0]!);
    const opened = await createNatsKvStore({ nc: first, bucket, replicas: 3 });
    await opened.create({ id: 't-before', agent: 'triage', events: [inputEvent(1, at(1), 'before')] });
    await opened.close();

    const jsm = await jetstreamManager(first);
    const leaderOf = async (stream: string): Promise<string | undefined> => (await jsm.streams.info(stream)).cluster?.leader;
    const leader = await leaderOf(`KV_${bucket}`);
    // The index (its own stream) led by the same server, so the death hits both writes of a create.
    for (let tries = 0; tries < 20 && (await leaderOf(`${bucket}_index`)) !== leader; tries++) {
      await first.request(`$JS.API.STREAM.LEADER.STEPDOWN.${bucket}_index`, undefined, { timeout: 5_000 }).catch(() => undefined);
      await expect.poll(() => leaderOf(`${bucket}_index`), { timeout: 10_000 }).toBeDefined();
    }
    expect(await leaderOf(`${bucket}_index`)).toBe(leader);
    const dying = cluster.servers.find((server) => server.name === leader);
    expect(dying, `the bucket's leader ${leader} is one of the cluster's servers`).toBeDefined();
    // A store whose connection is to a server that stays up (the writes meet the election, not a reconnect).
    const survivor = cluster.servers.find((server) => server !== dying)!;
    const store: ThreadStore = await createNatsKvStore({ nc: await connectTo(survivor.url), bucket, replicas: 3 });

    await dying!.kill();
    const created = await store.create({ id: 't-during', agent: 'triage', events: [inputEvent(1, at(2), 'during')] });
    expect(created.events).toHaveLength(1);
    const appended = await store.append('t-before', 1, [prefetchEvent(2, 'docs', at(3))]);
    expect(appended.events).toHaveLength(2);
    expect((await store.get('t-during'))?.events).toEqual(created.events);
    // Its index entries land too (sent again if the first went to the dead server): a listing by status finds it.
    const running = async (): Promise<string[]> => (await store.list({ status: 'running' })).map((summary) => summary.id).sort();
    await expect.poll(running, { timeout: 30_000, interval: 500 }).toEqual(['t-before', 't-during']);
    await store.close();
  }, 60_000);
});
