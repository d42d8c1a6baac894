import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isBusError } from '../../src/bus/bus.js';
import { connectNats, createNatsBus } from '../../src/nats/natsBus.js';
import { muxRequests } from '../../src/nats/requestMux.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { uniqueToken } from '../bus/waiting.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

/** Whether nats.js's own request mux was ever set up on the connection (its internals). */
function natsMuxUsed(nc: NatsConnection): boolean {
  const mux = (nc as unknown as { protocol: { muxSubscriptions: { baseInbox?: string } } }).protocol.muxSubscriptions;
  return mux.baseInbox !== undefined;
}

describe('muxRequests', () => {
  const open: NatsConnection[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((nc) => nc.close().catch(() => undefined)));
  });
  async function connected(options: { inboxPrefix?: string } = {}): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url, ...options });
    open.push(nc);
    muxRequests(nc, options.inboxPrefix);
    muxRequests(nc, options.inboxPrefix); // idempotent
    return nc;
  }

  it('gives each of many concurrent requests its own reply, without nats.js\'s mux', async () => {
    const nc = await connected();
    const subject = `echo.${uniqueToken()}`;
    nc.subscribe(subject, { callback: (_e, msg) => void msg.respond(`re:${msg.string()}`) });
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => nc.request(subject, String(i), { timeout: 5_000 })));
    expect(replies.map((m) => m.string())).toEqual(Array.from({ length: 200 }, (_, i) => `re:${i}`));
    expect(natsMuxUsed(nc)).toBe(false);
  });

  it('sends the request headers and replies under the connection\'s inbox prefix', async () => {
    const prefix = `_R_${uniqueToken()}`;
    const nc = await connected({ inboxPrefix: prefix });
    const subject = `hdr.${uniqueToken()}`;
    let reply = '';
    nc.subscribe(subject, {
      callback: (_e, msg) => {
        reply = msg.reply ?? '';
        msg.respond(msg.headers?.get('X-Test') ?? 'none');
      },
    });
    const h = headers();
    h.set('X-Test', 'yes');
    const answer = await nc.request(subject, '', { timeout: 5_000, headers: h });
    expect(answer.string()).toBe('yes');
    expect(reply.startsWith(`${prefix}.`)).toBe(true);
  });

  it('rejects as nats.js does: no responders, timeout, closed connection', async () => {
    const nc = await connected();
    const none = await nc.request(`nobody.${uniqueToken()}`, '', { timeout: 5_000 }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(errors.RequestError);
    expect((none as InstanceType<typeof errors.RequestError>).isNoResponders()).toBe(true);

    const silent = `silent.${uniqueToken()}`;
    let late: (() => void) | undefined;
    nc.subscribe(silent, {
      callback: (_e, msg) => {
        late = () => void msg.respond('too late');
      },
    });
    const timedOut = await nc.request(silent, '', { timeout: 50 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(errors.TimeoutError);
    late?.(); // a reply after the timeout is dropped
    await nc.flush();

    const pending = nc.request(silent, '', { timeout: 60_000 }).catch((e: unknown) => e);
    await nc.flush();
    await nc.close();
    const closed = await pending;
    expect(closed).toBeInstanceOf(errors.RequestError);
    expect((closed as Error).message).toBe('connection closed');
  });

  it('leaves requests with a reply subject of their own to nats.js', async () => {
    const nc = await connected();
    const subject = `own.${uniqueToken()}`;
    nc.subscribe(subject, { callback: (_e, msg) => void msg.respond(msg.reply ?? '') });
    const reply = createInbox();
    const answer = await nc.request(subject, '', { timeout: 5_000, noMux: true, reply });
    expect(answer.string()).toBe(reply);
  });

  it('carries JetStream publishes: acks, duplicates, and the reason a publish fails', async () => {
    const nc = await connected();
    const stream = `MUX_${uniqueToken()}`;
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`], duplicate_window: 60_000_000_000 });
    const js = jetstream(nc);
    const first = await js.publish(`${stream}.a`, 'one', { msgID: 'm1' });
    const again = await js.publish(`${stream}.a`, 'one', { msgID: 'm1' });
    expect(first.seq).toBe(1);
    expect(again).toMatchObject({ seq: 1, duplicate: true });
    const wrong = await js.publish(`${stream}.a`, 'two', { expect: { lastSequence: 7 } }).catch((e: unknown) => e);
    expect(String(wrong)).toMatch(/wrong last sequence/);
    expect(natsMuxUsed(nc)).toBe(false);
  });

  it('is on in createNatsBus, which maps its errors as before', async () => {
    const bus = await createNatsBus({ servers: server.url });
    try {
      const subject = `bus.${uniqueToken()}`;
      bus.subscribe(subject, (msg) => bus.respond(msg, { got: msg.json() }));
      const reply = await bus.request(subject, { n: 1 });
      expect(reply.json()).toEqual({ success: true, data: { got: { success: true, data: { n: 1 } } } });
      const none = await bus.request(`nobody.${uniqueToken()}`, '').catch((e: unknown) => e);
      expect(isBusError(none, 'no_responders')).toBe(true);
      const slow = await bus.request(`${subject}.none`, '', { timeoutMs: 30 }).catch((e: unknown) => e);
      expect(isBusError(slow, 'no_responders') || isBusError(slow, 'timeout')).toBe(true);
      expect(natsMuxUsed(bus.nc)).toBe(false);
    } finally {
      await bus.close();
    }
  });

  it('is on in connectNats (the KV store\'s background connection opens through it) unless turned off', async () => {
    const on = await connectNats({ servers: server.url });
    const off = await connectNats({ servers: server.url, muxRequests: false });
    open.push(on, off);
    const subject = `echo.${uniqueToken()}`;
    on.subscribe(subject, { callback: (_e, msg) => void msg.respond('pong') });
    await on.flush();
    expect((await on.request(subject, 'ping')).string()).toBe('pong');
    expect((await off.request(subject, 'ping')).string()).toBe('pong');
    expect(natsMuxUsed(on)).toBe(false);
    expect(natsMuxUsed(off)).toBe(true);
  });
});
