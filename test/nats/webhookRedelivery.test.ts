/**
 * Webhooks on NATS at least once: a thread that ends while no API process sends webhooks (none is
 * connected to the events) gets its webhook when one attaches again, from the deliveries recorded
 * in a KV bucket beside the threads; one delivered before is not sent again. A start after a
 * complete walk does not read the ledger once per resting thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { createWebhookNotifier, type WebhookPayload } from '../../src/server/webhooks.js';
import type { DeliveryLedger } from '../../src/store/deliveryLedger.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { signedWith, startReceiver, type Receiver } from '../server/receiver.js';
import { startNode, uniqueToken } from './natsTestKit.js';

const SECRET = 'whsec_nats_webhook_redelivery';
const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
let server: NatsServerHandle;
let api: NatsNode;
let worker: NatsNode;
let origin: Receiver;

beforeAll(async () => {
  server = await startNatsServer();
  const common = { ...names, agents: [calculator], model: createDemoModel(), queue: { ackWaitMs: 3_000, retryDelayMs: 200 } };
  api = await startNode(server.url, { ...common, processId: 'api', worker: false, callbacks: false });
  worker = await startNode(server.url, { ...common, processId: 'worker', observe: false, callbacks: false });
  origin = await startReceiver(200);
});

afterAll(async () => {
  await origin?.close();
  await Promise.all([api?.close({ drainMs: 1_000 }), worker?.close({ drainMs: 1_000 })]);
  await server?.stop();
});

const payloadOf = (r: { body: string }): WebhookPayload => JSON.parse(r.body) as WebhookPayload;

/**
 * An API process's webhooks to `receiver` (at `url`, its own by default): from the events' queue
 * group, deliveries recorded in the node's ledger, whose reads are counted (`reads`: the keys
 * read, in order).
 */
async function webhooks(receiver: Receiver = origin, clock: Clock = systemClock, url = receiver.url) {
  const webhooks = [{ url, secret: SECRET, events: ['finished' as const] }];
  const shared = await api.deliveryLedger();
  const reads: string[] = [];
  const ledger: DeliveryLedger = {
    ...shared,
    get(key) {
      reads.push(key);
      return shared.get(key);
    },
  };
  const notifier = createWebhookNotifier({ webhooks, retries: { attempts: 2, initialDelayMs: 1 }, clock, ledger, threads: api.runtime });
  const detach = notifier.attach(api.surface.webhookSource([url]));
  return {
    notifier,
    reads,
    async stop() {
      detach();
      await notifier.close();
    },
  };
}

/** A clock an hour ahead: a process that starts an hour after what the test did before it. */
const HOUR = 3_600_000;
const hourLater: Clock = { ...systemClock, now: () => Date.now() + HOUR };

describe('webhooks on NATS', () => {
  it('sends the webhook of a thread that ended while no API process was sending them when one attaches, and none twice', async () => {
    const first = await webhooks();
    const heard = await api.runtime.launch('calculator', 'multiply 6 by 7');
    const [delivered] = await origin.waitFor(1);
    expect(payloadOf(delivered!)).toMatchObject({ type: 'thread.finished', threadId: heard.id, status: 'done' });
    await first.notifier.idle();
    await first.stop();

    // No API process listens to the events while this one ends.
    const missed = await api.runtime.launch('calculator', 'multiply 3 by 5');
    const ended = await api.runtime.settled(missed.id);
    expect(ended.status).toBe('done');
    expect(origin.received).toHaveLength(1);

    const second = await webhooks();
    const [, late] = await origin.waitFor(2);
    await second.notifier.idle();
    await second.stop();
    expect(payloadOf(late!)).toMatchObject({ type: 'thread.finished', threadId: missed.id, status: 'done', output: '3 * 5 = 15' });
    expect(late!.headers['x-switchyard-delivery']).toBe(`${incarnateId(missed.id, missed.createdAt)}:${ended.version}`);
    expect(signedWith(late!, SECRET)).toBe(true);
    // The first thread's webhook was recorded when delivered: not sent again.
    expect(origin.received.map((r) => payloadOf(r).threadId)).toEqual([heard.id, missed.id]);
  });
});

describe('the walk of owed webhooks on the shared KV ledger', () => {
  it('reads the ledger per receiver, not per resting thread, at a start after a complete walk found every rest delivered', async () => {
    const N = 24;
    const receiver = await startReceiver(200);
    try {
      // The threads end while a process sends their webhooks, each recorded as delivered.
      const live = await webhooks(receiver);
      const launched = await Promise.all(Array.from({ length: N }, (_, i) => api.runtime.launch('calculator', `multiply ${i + 2} by 3`)));
      await Promise.all(launched.map((thread) => api.runtime.settled(thread.id)));
      await receiver.waitFor(N);
      await live.notifier.idle();
      await live.stop();
      const keys = new Set(launched.map((thread) => `webhook ${receiver.url} ${thread.id}`));

      // An hour later a start walks the rests since the last mark: each is read, found delivered.
      const first = await webhooks(receiver, hourLater);
      await first.notifier.idle();
      await first.stop();
      expect(first.reads.filter((key) => keys.has(key))).toHaveLength(N);

      // The next start reads none of them again.
      const second = await webhooks(receiver, hourLater);
      await second.notifier.idle();
      await second.stop();
      expect(second.reads.filter((key) => keys.has(key))).toEqual([]);
      expect(second.reads.length).toBeLessThan(N / 4);
      expect(receiver.received).toHaveLength(N);
    } finally {
      await receiver.close();
    }
  });

  it('sends a webhook one process gave up, though a later start, its clock ahead, marked a time after its rest', async () => {
    const statuses = [503];
    const receiver = await startReceiver(statuses);
    try {
      // A sends the webhooks as threads end; its first walk is over.
      const a = await webhooks(receiver);
      await a.notifier.idle();
      // B, its clock an hour ahead (more than any margin), starts and stops: a complete walk.
      const b = await webhooks(receiver, hourLater);
      await b.notifier.idle();
      await b.stop();
      // A thread ends: the receiver refuses A's two attempts (503) and A gives up.
      const thread = await api.runtime.launch('calculator', 'multiply 4 by 5');
      const ended = await api.runtime.settled(thread.id);
      await receiver.waitFor(2);
      await a.notifier.idle();
      await a.stop();
      const id = `${incarnateId(thread.id, thread.createdAt)}:${ended.version}`;
      const key = `webhook ${receiver.url} ${thread.id}`;
      const ledger = await api.deliveryLedger();
      expect((await ledger.owed()).filter((owed) => owed.key === key)).toEqual([{ key, id, threadId: thread.id }]);

      statuses[0] = 200; // the receiver is back
      const c = await webhooks(receiver);
      await c.notifier.idle();
      await c.stop();
      expect(receiver.received.map((r) => r.headers['x-switchyard-delivery'])).toEqual([id, id, id]);
      // Delivered: no longer owed.
      expect((await ledger.owed()).filter((owed) => owed.key === key)).toEqual([]);
      expect(payloadOf(receiver.received[2]!)).toEqual(payloadOf(receiver.received[0]!));
      expect(signedWith(receiver.received[2]!, SECRET)).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('keeps a receiver URL’s password and query token out of the ledger, and sends its userinfo as Authorization: Basic', async () => {
    const statuses = [503];
    const receiver = await startReceiver(statuses);
    try {
      const url = receiver.url.replace('http://', 'http://kv%20user:pw-KV-1@') + '?token=qtok-KV-2';
      const a = await webhooks(receiver, systemClock, url);
      await a.notifier.idle();
      // A thread ends: the receiver refuses both attempts (503), and the webhook is owed.
      const thread = await api.runtime.launch('calculator', 'multiply 5 by 5');
      const ended = await api.runtime.settled(thread.id);
      await receiver.waitFor(2);
      await a.notifier.idle();
      await a.stop();
      const ledger = await api.deliveryLedger();
      const owed = (await ledger.owed()).filter((record) => record.threadId === thread.id);
      expect(owed).toEqual([expect.objectContaining({ id: `${incarnateId(thread.id, thread.createdAt)}:${ended.version}` })]);
      expect(JSON.stringify(owed)).not.toMatch(/pw-KV-1|qtok-KV-2|kv%20user/);

      statuses[0] = 200; // the receiver is back: the owed webhook is sent
      const b = await webhooks(receiver, systemClock, url);
      await receiver.waitFor(3);
      await b.notifier.idle();
      await b.stop();
      const basic = `Basic ${Buffer.from('kv user:pw-KV-1').toString('base64')}`;
      expect(receiver.received.map((r) => [r.path, r.headers.authorization])).toEqual(Array.from({ length: 3 }, () => ['/hook?token=qtok-KV-2', basic]));
      expect(payloadOf(receiver.received[2]!)).toMatchObject({ type: 'thread.finished', threadId: thread.id });
      expect((await ledger.owed()).filter((record) => record.threadId === thread.id)).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});
