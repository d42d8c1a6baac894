import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/bus/bus.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { startJobPuller, type Delivery } from '../../src/nats/jobPuller.js';
import { natsQueueNames } from '../../src/nats/natsQueueSetup.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { collector, deferred, delay, uniqueToken, within } from '../bus/waiting.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

/** Records the pull requests sent to a consumer (a spy connection on the server). */
async function spyOnPulls(nc: NatsConnection, stream: string): Promise<{ batch: number }[]> {
  const pulls: { batch: number }[] = [];
  nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${stream}.>`, {
    callback: (_e, msg) => {
      pulls.push(msg.json<{ batch: number }>());
    },
  });
  await nc.flush();
  return pulls;
}


/**
 * Holds a job in a consumer's socket: the spy learns the consumer's inbox from its pull request
 * (`start` begins the pulling), the job is published through `other`, and the consumer's
 * connection `nc` reads nothing until `resume`: the job is on its way to it, not yet delivered.
 */
async function holdJobInSocket(options: {
  nc: NatsConnection;
  spy: NatsConnection;
  other: NatsConnection;
  stream: string;
  durable: string;
  subject: string;
  start: () => void;
}): Promise<{ resume: () => void }> {
  const { nc, spy, other, stream, durable, subject, start } = options;
  const inbox = deferred<string>();
  spy.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, { callback: (_e, msg) => inbox.resolve(msg.reply!) });
  await spy.flush();
  start();
  const seen = deferred();
  spy.subscribe(await within(inbox.promise, 5_000, 'the pull request'), { callback: () => seen.resolve() });
  await spy.flush();
  const socket = (nc as unknown as { protocol: { transport: { socket: import('node:net').Socket } } }).protocol.transport.socket;
  socket.pause();
  await jetstream(other).publish(subject, 'in flight');
  await within(seen.promise, 5_000, 'the job sent to the inbox');
  while (socket.readableLength === 0) await new Promise((resolve) => setImmediate(resolve));
  return { resume: () => socket.resume() };
}

describe('job puller', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
  });

  it('asks for the jobs of every free slot in one pull request, and runs at most one job per slot', async () => {
    const bus = await createNatsBus({ servers: server.url });
    const spy = await connect({ servers: server.url });
    open.push(bus, spy);
    const name = `pull_${uniqueToken()}`;
    const pulls = await spyOnPulls(spy, name);
    const queue = await bus.jobQueue(name, { subjects: [`${name}.jobs`] });
    let running = 0;
    let most = 0;
    const done = collector<string>();
    const consumer = queue.consume(
      async (job) => {
        running++;
        most = Math.max(most, running);
        await delay(20);
        running--;
        done.push(job.text());
      },
      { concurrency: 8 },
    );
    await bus.flush();
    await spy.flush();
    // Eight idle slots: one request for eight jobs (fetch per slot sent eight requests of one).
    expect(pulls).toEqual([expect.objectContaining({ batch: 8 })]);
    for (let i = 0; i < 30; i++) await queue.enqueue(`${name}.jobs`, `job ${i}`);
    const got = await done.until(30, 10_000, 'all jobs');
    expect(new Set(got).size).toBe(30);
    expect(most).toBeLessThanOrEqual(8);
    expect(pulls.reduce((n, p) => n + p.batch, 0)).toBeLessThan(30 + 8 + 8);
    await consumer.stop();
  });

  it('renews expired requests and hands back what arrives after it stopped', async () => {
    const nc = await connect({ servers: server.url });
    open.push(nc);
    const stream = `exp_${uniqueToken()}`;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'w', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
    const errors: Error[] = [];
    const puller = startJobPuller({ nc, stream, durable: 'w', expiresMs: 200, heartbeatMs: 100, retryMs: 50, onError: (e) => errors.push(e) });
    const next = puller.next();
    await delay(700); // several requests expire meanwhile
    await jetstream(nc).publish(`${stream}.a`, 'late job');
    const delivery = (await within(next, 5_000, 'the job')) as Delivery;
    expect(new TextDecoder().decode(delivery.data)).toBe('late job');
    expect(delivery).toMatchObject({ subject: `${stream}.a`, deliveryCount: 1, seq: 1 });
    expect(errors).toEqual([]);

    const waiting = puller.next();
    puller.stop();
    expect(await waiting).toBeUndefined();
    expect(await puller.next()).toBeUndefined();
  });

  it("hands a job nak'ed after its consumer stopped to the next consumer, past the pull requests the stopped one left waiting on the server", async () => {
    const bus = await createNatsBus({ servers: server.url });
    open.push(bus);
    const name = `back_${uniqueToken()}`;
    // No ack wait runs out during the test: the job comes back only if the nak hands it back.
    const queue = await bus.jobQueue(name, { subjects: [`${name}.jobs`], ackWaitMs: 600_000 });
    const taken = deferred<Job>();
    const settle = deferred();
    // Sixteen slots ask in one request for sixteen jobs: fifteen are still asked for when it stops.
    const first = queue.consume(
      async (job) => {
        taken.resolve(job);
        await settle.promise;
      },
      { concurrency: 16 },
    );
    await bus.flush();
    await queue.enqueue(`${name}.jobs`, 'the job');
    const job = await within(taken.promise, 5_000, 'the first delivery');
    // As a stopping worker hands back a trigger whose thread was never created: it stops pulling, then naks.
    const stopping = first.stop();
    await job.nak();
    settle.resolve();
    await stopping;

    const got = collector<string>();
    const second = queue.consume(async (again) => got.push(again.text()), { concurrency: 1 });
    expect(await got.until(1, 20_000, 'the job handed back to the second consumer')).toEqual(['the job']);
    expect(await queue.deadLetters()).toEqual([]);
    await second.stop();
  });

  it('hands back a job that was on its way to it when it stopped, instead of dropping it until its ack wait', async () => {
    const nc = await connect({ servers: server.url });
    const spy = await connect({ servers: server.url });
    const other = await connect({ servers: server.url });
    open.push(nc, spy, other);
    const stream = `flight_${uniqueToken()}`;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    // A minute's ack wait: a job dropped on the way comes back only after the test gave up.
    await jsm.consumers.add(stream, { durable_name: 'w', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
    // Long expiry and heartbeat: nothing but the job reaches the puller during the test.
    const options = { stream, durable: 'w', expiresMs: 30_000, heartbeatMs: 10_000, retryMs: 50, onError: () => undefined };
    let puller: ReturnType<typeof startJobPuller> | undefined;
    const held = await holdJobInSocket({ nc, spy, other, stream, durable: 'w', subject: `${stream}.a`, start: () => {
      puller = startJobPuller({ nc, ...options });
      void puller.next();
    } });

    void puller!.stop();
    held.resume();

    const next = startJobPuller({ nc: other, ...options });
    open.push({ close: async () => next.stop() });
    const delivery = await within(next.next(), 10_000, 'the job handed back to another puller');
    expect(new TextDecoder().decode(delivery!.data)).toBe('in flight');
    expect(delivery!.deliveryCount).toBe(2);
  });

  // A raw nak of a job on its last delivery does not hand it back: the server delivers it no more
  // (nats-server 2.9.10 sends the max-deliveries advisory instead), so on a queue of one delivery
  // per job a job on its way to a consumer as it stopped was lost to its stop.
  it('runs a job on its last delivery that was on its way to a consumer when it stopped, instead of nak-ing it away', async () => {
    const bus = await createNatsBus({ servers: server.url });
    const spy = await connect({ servers: server.url });
    const other = await connect({ servers: server.url });
    open.push(bus, spy, other);
    const name = `last_${uniqueToken()}`;
    const queue = await bus.jobQueue(name, { subjects: [`${name}.jobs`], maxDeliver: 1, ackWaitMs: 600_000 });
    const got = collector<string>();
    let consumer: ReturnType<typeof queue.consume> | undefined;
    const held = await holdJobInSocket({ nc: bus.nc, spy, other, ...natsQueueNames(name), subject: `${name}.jobs`, start: () => {
      consumer = queue.consume(async (job) => got.push(job.text()), { concurrency: 1 });
    } });

    const stopping = consumer!.stop();
    held.resume();
    await within(stopping, 10_000, 'the consumer to stop');
    expect(got.items).toEqual(['in flight']);
    expect(await queue.deadLetters()).toEqual([]);
  });

  // The bus's close halts its consumers without stopping them: a job run then would run against
  // a closing connection, with nobody awaiting it.
  it('hands back, and does not run, a job on its last delivery that reaches a consumer as the bus closes', async () => {
    const bus = await createNatsBus({ servers: server.url });
    const spy = await connect({ servers: server.url });
    const other = await connect({ servers: server.url });
    open.push(bus, spy, other);
    const name = `closing_${uniqueToken()}`;
    const queue = await bus.jobQueue(name, { subjects: [`${name}.jobs`], maxDeliver: 1, ackWaitMs: 600_000 });
    const names = natsQueueNames(name);
    // What the consumer answers the job with: a nak hands it back.
    const answers = collector<string>();
    spy.subscribe(`$JS.ACK.${names.stream}.>`, { callback: (_e, msg) => answers.push(msg.string()) });
    const got = collector<string>();
    const held = await holdJobInSocket({ nc: bus.nc, spy, other, ...names, subject: `${name}.jobs`, start: () => {
      queue.consume(async (job) => got.push(job.text()), { concurrency: 1 });
    } });

    const closing = bus.close();
    held.resume();
    await within(closing, 10_000, 'the bus to close');
    expect(got.items).toEqual([]);
    expect(await answers.until(1, 5_000, 'the job handed back')).toEqual(['-NAK']);
  });

  it('reports a pull the server cannot answer and keeps the slots waiting', async () => {
    const nc = await connect({ servers: server.url });
    open.push(nc);
    const errors = collector<Error>();
    const puller = startJobPuller({ nc, stream: `none_${uniqueToken()}`, durable: 'w', expiresMs: 400, heartbeatMs: 100, retryMs: 50, onError: (e) => errors.push(e) });
    const next = deferred<Delivery | undefined>();
    void puller.next().then(next.resolve);
    // Nobody answers a pull of a missing consumer (no heartbeat either): it is reported, and asked again.
    const [first] = await errors.until(2, 5_000, 'unanswered pulls to be reported twice');
    expect(first!.message).toMatch(/no heartbeat/);
    puller.stop();
    expect(await next.promise).toBeUndefined();
  });

  it('backs off a pull the server keeps refusing (no JetStream), reporting it at the 1st, 2nd, 4th, 8th... refusal and saying what the 503 means', async () => {
    // A server restarted without JetStream answers every pull with 503 (no responders): a worker
    // asked again every 250 ms and logged each one, 4 warn lines a second for as long as it lasted.
    const bare = await startNatsServer({ jetstream: false });
    try {
      const nc = await connect({ servers: bare.url });
      open.push(nc);
      const errors = collector<Error>();
      const puller = startJobPuller({ nc, stream: 'jobs', durable: 'w', expiresMs: 5_000, heartbeatMs: 2_500, retryMs: 10, maxRetryMs: 100, onError: (e) => errors.push(e) });
      const next = deferred<Delivery | undefined>();
      void puller.next().then(next.resolve);
      const reported = await errors.until(5, 10_000, 'refused pulls to be reported five times');
      await puller.stop();
      expect(await next.promise).toBeUndefined();
      expect(reported.map((e) => e.message.replace(/^.*?; /, ''))).toEqual([
        'refused 1 time in a row; asking again in 10 ms',
        'refused 2 times in a row; asking again in 20 ms',
        'refused 4 times in a row; asking again in 80 ms',
        'refused 8 times in a row; asking again in 100 ms',
        'refused 16 times in a row; asking again in 100 ms',
      ]);
      expect(reported[0]!.message).toMatch(/^pull from jobs: 503 .*JetStream is not enabled on the NATS server, or not ready yet/);
    } finally {
      await bare.stop();
    }
  });
  it('says nothing of a refusal that arrives after stop', async () => {
    // The pull goes out, then stop's drain (UNSUB, flush): the server answers the pull (503, no
    // JetStream) before it reads the UNSUB, so the refusal comes in while the inbox drains.
    const bare = await startNatsServer({ jetstream: false });
    try {
      const nc = await connect({ servers: bare.url });
      open.push(nc);
      const errors: Error[] = [];
      const puller = startJobPuller({ nc, stream: 'jobs', durable: 'w', expiresMs: 5_000, heartbeatMs: 2_500, retryMs: 10, onError: (e) => errors.push(e) });
      const next = puller.next();
      await new Promise((resolve) => setImmediate(resolve)); // the pull is sent (at the end of the turn)
      await puller.stop();
      expect(await next).toBeUndefined();
      expect(errors.map((e) => e.message)).toEqual([]);
    } finally {
      await bare.stop();
    }
  });
});
