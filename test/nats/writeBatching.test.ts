import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { batchWrites } from '../../src/nats/writeBatching.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { collector, eventually, uniqueToken } from '../bus/waiting.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

const connectOptions = { reconnectTimeWait: 100, reconnectJitter: 0 };

/** Counts the socket writes of a connection's current transport (nats.js internals, as batchWrites uses). */
function countSocketWrites(nc: NatsConnection): () => number {
  const transport = (nc as unknown as { protocol: { transport: { socket: { write: (...args: unknown[]) => boolean } } } }).protocol.transport;
  const socket = transport.socket;
  const write = socket.write.bind(socket);
  let writes = 0;
  socket.write = (...args: unknown[]) => {
    writes++;
    return write(...args);
  };
  return () => writes;
}

/** The `i` of a message published by {@link publishOnSeparateTicks}. */
function indexOf(data: Uint8Array): number {
  return (JSON.parse(new TextDecoder().decode(data)) as { i: number }).i;
}

/** Publishes `count` messages, each on its own promise tick (as a run's steps do). */
async function publishOnSeparateTicks(bus: NatsBus, subject: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await Promise.resolve();
    await bus.publish(subject, { i });
  }
}

describe('batched socket writes', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('hooks the installed nats.js (its internals are still where batchWrites looks)', async () => {
    const nc = await connect({ servers: server.url });
    open.push(nc);
    expect(batchWrites(nc)).toBe(true);
    expect(batchWrites(nc)).toBe(true); // idempotent
  });

  it('writes what one turn of the event loop publishes in one socket write, in order', async () => {
    const [batched, plain, observer] = await Promise.all([
      createNatsBus({ servers: server.url, connectOptions }),
      createNatsBus({ servers: server.url, connectOptions, batchWrites: false }),
      createNatsBus({ servers: server.url, connectOptions }),
    ]);
    open.push(batched, plain, observer);
    const subject = `batch.${uniqueToken()}`;
    const seen = collector<{ subject: string; i: number }>();
    observer.subscribe(`${subject}.*`, (msg) => seen.push({ subject: msg.subject, i: indexOf(msg.data) }));
    await observer.flush();

    const batchedWrites = countSocketWrites(batched.nc);
    const plainWrites = countSocketWrites(plain.nc);
    await publishOnSeparateTicks(batched, `${subject}.a`, 20);
    await publishOnSeparateTicks(plain, `${subject}.b`, 20);
    await Promise.all([batched.flush(), plain.flush()]);
    // The flush's PING shares the publishes' write when batched; each publish is its own write when not.
    expect(batchedWrites()).toBeLessThanOrEqual(2);
    expect(plainWrites()).toBeGreaterThanOrEqual(20);
    await seen.until(40, 5_000);
    const fromBatched = seen.items.filter((m) => m.subject === `${subject}.a`).map((m) => m.i);
    expect(fromBatched).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('keeps batching and delivering after the server restarts (the new transport is hooked too)', async () => {
    const bus = await createNatsBus({ servers: server.url, connectOptions });
    const observer = await createNatsBus({ servers: server.url, connectOptions });
    open.push(bus, observer);
    const subject = `restart.${uniqueToken()}`;
    const seen = collector<number>();
    observer.subscribe(subject, (msg) => seen.push(indexOf(msg.data)));
    await observer.flush();
    await server.restart();
    for (const b of [bus, observer]) await eventually(() => b.nc.flush().then(() => true, () => undefined), 10_000, 'reconnect', 100);
    await observer.flush();
    const writes = countSocketWrites(bus.nc);
    await publishOnSeparateTicks(bus, subject, 10);
    await bus.flush();
    expect(writes()).toBeLessThanOrEqual(2);
    await seen.until(10, 5_000);
    expect(seen.items).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('sends what is buffered before the connection closes', async () => {
    const bus = await createNatsBus({ servers: server.url, connectOptions });
    const observer = await createNatsBus({ servers: server.url, connectOptions });
    open.push(observer);
    const subject = `close.${uniqueToken()}`;
    const seen = collector<number>();
    observer.subscribe(subject, (msg) => seen.push(indexOf(msg.data)));
    await observer.flush();
    for (let i = 0; i < 5; i++) await bus.publish(subject, { i });
    await bus.close(); // in the same turn as the publishes
    await seen.until(5, 5_000);
    expect(seen.items).toEqual([0, 1, 2, 3, 4]);
  });
});
