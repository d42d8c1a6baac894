import { Writable } from 'node:stream';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/bus/bus.js';
import { isBusError } from '../../src/bus/bus.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { natsServerVersion } from '../support/ensureNatsServer.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { runBusConformance } from '../bus/bus.conformance.js';
import { collector, eventually, uniqueToken } from '../bus/waiting.js';

let server: NatsServerHandle;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

/** Fast reconnects so a server restart costs the tests a fraction of a second. */
const connectOptions = { reconnectTimeWait: 100, reconnectJitter: 0 };

runBusConformance('nats', async (options) => {
  const bus = await createNatsBus({ servers: server.url, name: 'conformance', connectOptions, ...options });
  return { bus, cleanup: () => bus.close() };
});

describe('NATS bus', () => {
  const open: NatsBus[] = [];
  async function connectBus(): Promise<NatsBus> {
    const bus = await createNatsBus({ servers: server.url, connectOptions });
    open.push(bus);
    return bus;
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((bus) => bus.close()));
  });

  /** Resolves once the bus's connection has reconnected after a restart. */
  async function reconnected(bus: NatsBus): Promise<void> {
    // flush() rejects while disconnected and resolves once a server answers again.
    await eventually(() => bus.nc.flush().then(() => true, () => undefined), 10_000, 'reconnect', 100);
  }

  it('runs against nats-server 2.9', () => {
    expect(natsServerVersion()).toMatch(/v2\.9\./);
  });

  it('sends the current headers of every publish, frozen (encoded once) or not', async () => {
    const bus = await connectBus();
    const subject = `hdrs.${uniqueToken()}`;
    const got = collector<Record<string, string>>();
    bus.subscribe(subject, (msg) => got.push({ ...msg.headers }));
    await bus.flush();
    const frozen = Object.freeze({ 'X-Process': 'p1' });
    const mutable: Record<string, string> = { 'X-Step': 'one' };
    await bus.publish(subject, 'a', { headers: frozen });
    await bus.publish(subject, 'b', { headers: mutable });
    mutable['X-Step'] = 'two';
    await bus.publish(subject, 'c', { headers: frozen });
    await bus.publish(subject, 'd', { headers: mutable });
    expect(await got.until(4, 5_000)).toEqual([{ 'X-Process': 'p1' }, { 'X-Step': 'one' }, { 'X-Process': 'p1' }, { 'X-Step': 'two' }]);
  });

  it("stores a publish in any stream that captures its subject (publishStored), and rejects when the stream refuses it", async () => {
    const bus = await connectBus();
    const jsm = await jetstreamManager(bus.nc);
    const base = `kept${uniqueToken()}`;
    await jsm.streams.add({ name: base, subjects: [`${base}.>`], max_msgs: 2, discard: DiscardPolicy.New });
    const frozen = Object.freeze({ 'X-Process': 'p1' }); // shared, encoded once: never written to
    expect(await bus.publishStored(`${base}.a`, { n: 1 }, { msgId: 'a', headers: frozen })).toBe(true);
    expect(await bus.publishStored(`${base}.a`, { n: 1 }, { msgId: 'a', headers: frozen })).toBe(true); // a repeat: stored once
    expect((await jsm.streams.info(base)).state.messages).toBe(1);
    const first = await jsm.streams.getMessage(base, { seq: (await jsm.streams.info(base)).state.first_seq });
    expect([first?.header.get('X-Process'), first?.header.get('Nats-Msg-Id')]).toEqual(['p1', 'a']);
    expect(await bus.publishStored(`${base}.b`, { n: 2 }, { msgId: 'b' })).toBe(true);
    await expect(bus.publishStored(`${base}.c`, { n: 3 }, { msgId: 'c' })).rejects.toSatisfy((e) => isBusError(e, 'unavailable') && /maximum messages/.test(String(e)));
    expect(await bus.publishStored(`other${base}.x`, { n: 4 }, { msgId: 'x' })).toBe(false);
    expect((await jsm.streams.info(base)).state.messages).toBe(2);
  });

  it('deduplicates an enqueue by its msg id when its headers are frozen (shared, encoded once)', async () => {
    const bus = await connectBus();
    const name = `frozen_${uniqueToken()}`;
    const q = await bus.jobQueue(name);
    const headers = Object.freeze({ 'X-Process': 'p1' });
    const first = await q.enqueue(`${name}.x`, 'once', { msgId: `${name}-1`, headers });
    expect(await q.enqueue(`${name}.x`, 'twice', { msgId: `${name}-1`, headers })).toEqual({ duplicate: true, seq: first.seq });
  });

  it('fails fast with a BusError when no server answers the first connect', async () => {
    const error = await createNatsBus({ servers: 'nats://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(isBusError(error)).toBe(true);
  });

  it('creates the streams and consumer idempotently, updating changed options', async () => {
    const bus = await connectBus();
    const name = `idem_${uniqueToken()}`;
    await bus.jobQueue(name, { ackWaitMs: 1_000, maxDeliver: 3 });
    await bus.jobQueue(name, { ackWaitMs: 1_000, maxDeliver: 3 });
    await bus.jobQueue(name, { ackWaitMs: 2_000, maxDeliver: 4, dedupWindowMs: 60_000 });
    const jsm = await jetstreamManager(bus.nc);
    const stream = await jsm.streams.info(name);
    expect(stream.config.retention).toBe('workqueue');
    expect(stream.config.storage).toBe('file');
    expect(stream.config.subjects).toEqual([`${name}.>`]);
    expect(stream.config.duplicate_window).toBe(60_000 * 1_000_000);
    const consumer = await jsm.consumers.info(name, `${name}_workers`);
    expect(consumer.config.ack_wait).toBe(2_000 * 1_000_000);
    expect(consumer.config.max_deliver).toBe(4);
    expect(consumer.config.ack_policy).toBe('explicit');
    expect((await jsm.streams.info(`${name}_DLQ`)).config.retention).toBe('limits');
  });

  it("keeps a limit an operator set on a dead-letter stream (nats stream edit --max-age) when the queue is set up again, as the README says", async () => {
    const bus = await connectBus();
    const name = `dlqage_${uniqueToken()}`;
    await bus.jobQueue(name);
    const jsm = await jetstreamManager(bus.nc);
    const day = 24 * 3600 * 1_000_000_000;
    await jsm.streams.update(`${name}_DLQ`, { max_age: 30 * day, max_bytes: 1 << 20 });
    await bus.jobQueue(name, { maxDeliver: 4 });
    const dlq = await jsm.streams.info(`${name}_DLQ`);
    expect(dlq.config.max_age).toBe(30 * day);
    expect(dlq.config.max_bytes).toBe(1 << 20);
  });

  it('removes terminated and exhausted jobs from the work-queue stream', async () => {
    const bus = await connectBus();
    const name = `gone_${uniqueToken()}`;
    const q = await bus.jobQueue(name, { maxDeliver: 1, ackWaitMs: 300 });
    await q.enqueue(`${name}.a`, 'term me');
    await q.enqueue(`${name}.b`, 'fail me');
    q.consume(async (job) => {
      if (job.subject.endsWith('.a')) await job.term('nope');
      else throw new Error('no');
    });
    await eventually(async () => ((await q.deadLetters()).length === 2 ? true : undefined), 5_000, 'two dead letters');
    const jsm = await jetstreamManager(bus.nc);
    await eventually(async () => ((await jsm.streams.info(name)).state.messages === 0 ? true : undefined), 5_000, 'an empty stream');
  });

  it('shares a queue across connections: each job handled by exactly one process', async () => {
    const [one, two] = [await connectBus(), await connectBus()];
    const name = `shared_${uniqueToken()}`;
    const [q1, q2] = [await one.jobQueue(name, { ackWaitMs: 2_000 }), await two.jobQueue(name, { ackWaitMs: 2_000 })];
    const done = collector<{ who: string; id: string }>();
    const handler = (who: string) => async (job: Job) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      done.push({ who, id: job.id });
    };
    q1.consume(handler('one'), { concurrency: 2 });
    q2.consume(handler('two'), { concurrency: 2 });
    for (let n = 0; n < 30; n++) await (n % 2 ? q1 : q2).enqueue(`${name}.x`, n);
    await done.until(30, 10_000);
    expect(new Set(done.items.map((d) => d.id)).size).toBe(30);
    expect(new Set(done.items.map((d) => d.who))).toEqual(new Set(['one', 'two']));
  });

  it('delivers across connections once the subscription is flushed', async () => {
    const [sender, receiver] = [await connectBus(), await connectBus()];
    const got = collector<string>();
    receiver.subscribe('cross.conn', (msg) => got.push(msg.text()));
    await receiver.flush();
    await sender.publish('cross.conn', 'hello');
    expect(await got.until(1, 5_000)).toEqual(['hello']);
  });

  it('handles a request the server routed to a subscription before its unsubscribe (a process that stops answering a thread)', async () => {
    const bus = await connectBus();
    const subject = `owner.${uniqueToken()}.control`;
    const responder = bus.subscribe(subject, (msg) => bus.respond(msg, { answered: msg.text() }));
    await bus.flush();
    // The request goes out first, its responder's unsubscribe right after: the server routes the
    // request to the responder, then takes the unsubscribe. The requester gets no "no responders",
    // so a request dropped by the responder would wait for its whole timeout.
    const reply = bus.request(subject, 'pause', { timeoutMs: 3_000 });
    const stopped = responder.unsubscribe();
    expect((await reply).json()).toEqual({ success: true, data: { answered: 'pause' } });
    await stopped;
    // Stopped all the same: a later request finds nobody.
    await expect(bus.request(subject, 'again', { timeoutMs: 3_000 })).rejects.toSatisfy((e) => isBusError(e, 'no_responders'));
  });

  describe('server restarts', () => {
    it('keeps queued jobs across a nats-server crash and restart', async () => {
      const bus = await connectBus();
      const name = `durable_${uniqueToken()}`;
      const q = await bus.jobQueue(name);
      for (const n of [1, 2, 3]) await q.enqueue(`${name}.job`, { n }, { msgId: `${name}-${n}` });
      await server.kill(); // SIGKILL: no graceful shutdown
      await server.restart();
      await reconnected(bus);
      // Dedup survives for jobs still queued: the server rebuilds it from the stored messages (so
      // the msg ids of jobs acked before a restart are forgotten).
      expect((await q.enqueue(`${name}.job`, { n: 1 }, { msgId: `${name}-1` })).duplicate).toBe(true);
      const got = collector<Job>();
      q.consume(async (job) => got.push(job));
      const jobs = await got.until(3, 10_000);
      expect(jobs.map((j) => j.json())).toEqual([1, 2, 3].map((n) => ({ success: true, data: { n } })));
    });

    it('logs one warn line when its connection drops and one info line when it is back, and nothing when it closes', async () => {
      const lines: { level: number; msg: string; server?: string }[] = [];
      const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
      const bus = await createNatsBus({ servers: server.url, connectOptions, logger });
      open.push(bus);
      await server.restart();
      await reconnected(bus);
      await eventually(async () => (lines.some((line) => line.level === 30) ? true : undefined), 5_000, 'the info line');
      const hostPort = server.url.replace('nats://', '');
      expect(lines.map(({ level, msg, server }) => ({ level, msg, server }))).toEqual([
        { level: 40, msg: 'NATS connection lost; reconnecting', server: hostPort },
        { level: 30, msg: 'NATS connection is back', server: hostPort },
      ]);
      await bus.close();
      expect(lines).toHaveLength(2);
    });

    it('keeps publishing, subscriptions and a running consumer alive across a restart, and says it reconnected', async () => {
      const bus = await connectBus();
      const reconnects = collector<true>();
      const stop = bus.onReconnect(() => reconnects.push(true));
      const name = `alive_${uniqueToken()}`;
      const q = await bus.jobQueue(name);
      const jobs = collector<string>();
      q.consume(async (job) => jobs.push(job.text()));
      const msgs = collector<string>();
      bus.subscribe(`${name}_events.>`, (msg) => msgs.push(msg.text()));
      await bus.publish(`${name}_events.a`, 'before');
      await msgs.until(1, 5_000);

      await server.restart();
      await reconnected(bus);
      await reconnects.until(1, 5_000, 'onReconnect'); // what subscriptions missed is worth reading again
      stop();

      await bus.publish(`${name}_events.a`, 'after');
      expect(await msgs.until(2, 10_000)).toEqual(['before', 'after']);
      const reply = bus.subscribe(`${name}_svc`, (msg) => bus.respond(msg, 'pong'));
      expect((await bus.request(`${name}_svc`, 'ping')).text()).toBe('pong');
      await reply.unsubscribe();
      await q.enqueue(`${name}.after`, 'job after restart');
      expect(await jobs.until(1, 15_000)).toEqual(['job after restart']);
    });
  });
});
