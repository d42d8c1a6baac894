import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import type { DeliveryLedger } from '../../src/store/deliveryLedger.js';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import {
  createWebhookNotifier,
  signWebhook,
  verifyWebhookSignature,
  type WebhookDelivery,
  type WebhookPayload,
} from '../../src/server/webhooks.js';
import { eventually } from '../bus/waiting.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { call, createHarness, expectDeliveredInOrder, type Harness } from './harness.js';
import { signedWith, startReceiver, type Received } from './receiver.js';

const SECRET = 'whsec_test_secret';

const verify = (r: Received, secret = SECRET): boolean => signedWith(r, secret);
const payloadOf = (r: Received): WebhookPayload => JSON.parse(r.body) as WebhookPayload;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function harness(): Harness {
  const h = createHarness();
  cleanups.push(() => h.runtime.close());
  return h;
}

describe('webhooks from startHttpServer', () => {
  it('sends signed human_request and finished notifications, each to the receivers that asked', async () => {
    const h = harness();
    const all = await startReceiver();
    const finishedOnly = await startReceiver();
    cleanups.push(all.close, finishedOnly.close);
    const server = await startHttpServer(h.runtime, {
      port: 0,
      token: '',
      webhooks: [
        { url: all.url, secret: SECRET },
        { url: finishedOnly.url, secret: 'other-secret', events: ['finished'] },
      ],
    });
    cleanups.push(server.close);

    const launched = await call<ThreadView>(server.url, 'POST', '/threads', { agent: 'calculator', input: { op: 'divide', a: 6, b: 3 } });
    const [asked] = await all.waitFor(1);
    expect(verify(asked!)).toBe(true);
    expect(asked!.headers['content-type']).toBe('application/json');
    expect(asked!.headers['x-switchyard-event']).toBe('thread.human_request');
    const request = JSON.parse(asked!.body) as WebhookPayload;
    expect(request).toMatchObject({
      type: 'thread.human_request',
      threadId: launched.body.id,
      agent: 'calculator',
      status: 'awaiting_human',
      request: { kind: 'approval', tool: 'divide', args: { a: 6, b: 3 } },
    });
    expect(asked!.headers['x-switchyard-delivery']).toBe(request.id);

    // The webhook's requestId is what answers the thread.
    const answered = await call(server.url, 'POST', `/threads/${launched.body.id}/respond`, { requestId: request.request!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await all.waitFor(2);
    expect(verify(finished!)).toBe(true);
    expect(JSON.parse(finished!.body)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: 'result 2' });

    const [onlyFinished] = await finishedOnly.waitFor(1);
    expect(JSON.parse(onlyFinished!.body)).toMatchObject({ type: 'thread.finished', status: 'done' });
    expect(verify(onlyFinished!, 'other-secret')).toBe(true);
    expect(verify(onlyFinished!)).toBe(false);
    await server.close();
    expect(finishedOnly.received).toHaveLength(1);
    expect(all.received).toHaveLength(2);
  });

  it('tells a receiver when a thread is cancelled or fails', async () => {
    const h = harness();
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const deliveries: WebhookDelivery[] = [];
    const notifier = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET, events: ['finished'] }], onDelivery: (d) => deliveries.push(d) });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'anything?' });
    await h.runtime.settled(thread.id);
    await h.runtime.cancel(thread.id, { reason: 'stop', by: 'ops@example.com' });
    await h.runtime.cancel(thread.id); // already cancelled: no second notification
    await notifier.idle();
    // The cancel's reason and by, as a callback's body has them.
    expect(receiver.received.map((r) => JSON.parse(r.body))).toEqual([
      expect.objectContaining({ type: 'thread.finished', threadId: thread.id, status: 'cancelled', reason: 'stop', by: 'ops@example.com' }),
    ]);
    expect(deliveries).toEqual([expect.objectContaining({ ok: true, attempts: 1, status: 200, threadId: thread.id })]);
  });
});

describe('a webhook receiver whose URL carries credentials', () => {
  it('is named without them in what onDelivery is told (origin and path: no userinfo, no query)', async () => {
    const h = harness();
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const withToken = new URL(`${receiver.url}?b=1&token=wh-QTOKEN-1`);
    withToken.username = 'wh';
    withToken.password = 'wh-PASSWORD-1';
    const deliveries: WebhookDelivery[] = [];
    const notifier = createWebhookNotifier({ webhooks: [{ url: withToken.href, secret: SECRET, events: ['finished'] }], onDelivery: (d) => deliveries.push(d) });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'anything?' });
    await h.runtime.settled(thread.id);
    await h.runtime.cancel(thread.id, { reason: 'stop' });
    await notifier.idle();
    const [received] = await receiver.waitFor(1);
    expect(received!.path).toBe('/hook?b=1&token=wh-QTOKEN-1');
    expect(deliveries).toEqual([expect.objectContaining({ ok: true, url: receiver.url, threadId: thread.id })]);
    for (const secret of ['wh-QTOKEN-1', 'wh-PASSWORD-1']) expect(JSON.stringify(deliveries)).not.toContain(secret);
  });
});

describe('verifyWebhookSignature', () => {
  const body = JSON.stringify({ type: 'thread.finished', threadId: 't1' });
  const now = Date.UTC(2030, 0, 1);
  const timestamp = String(now / 1000);
  const signature = signWebhook(body, SECRET, timestamp);

  it('accepts the real signature and rejects a tampered body, a wrong secret and a stale or future timestamp', () => {
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(body, { timestamp, signature }, SECRET, 300, now)).toBe(true);
    expect(verifyWebhookSignature(body.replace('t1', 't2'), { timestamp, signature }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature }, 'wrong-secret', 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature }, SECRET, 300, now + 301_000)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature }, SECRET, 300, now - 301_000)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature }, SECRET, 300, now + 299_000)).toBe(true);
    // The timestamp is signed: moving it forward breaks the signature.
    expect(verifyWebhookSignature(body, { timestamp: String(now / 1000 + 100), signature }, SECRET, 300, now)).toBe(false);
  });

  it('rejects missing or malformed headers', () => {
    expect(verifyWebhookSignature(body, { timestamp: undefined, signature }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature: undefined }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature: signature.slice(7) }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature: `${signature}00` }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp: 'soon', signature }, SECRET, 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, { timestamp, signature }, '', 300, now)).toBe(false);
  });
});

describe('delivery failures', () => {
  it('retries a receiver that answers 500, then gives up without affecting the thread', async () => {
    const h = harness();
    const receiver = await startReceiver(500);
    cleanups.push(receiver.close);
    const deliveries: WebhookDelivery[] = [];
    const notifier = createWebhookNotifier({
      webhooks: [{ url: receiver.url, secret: SECRET }],
      retries: { attempts: 3, initialDelayMs: 1 },
      onDelivery: (d) => deliveries.push(d),
    });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);

    const thread = await h.runtime.launch('calculator', { op: 'divide', a: 9, b: 3 });
    const waiting = await h.runtime.settled(thread.id);
    expect(waiting.status).toBe('awaiting_human');
    await notifier.idle();
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.headers['x-switchyard-delivery'])).size).toBe(1);
    expect(receiver.received.every((r) => verify(r))).toBe(true);
    expect(deliveries).toEqual([expect.objectContaining({ ok: false, attempts: 3, status: 500, error: 'HTTP 500', type: 'thread.human_request' })]);

    await h.runtime.respond(thread.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await h.runtime.settled(thread.id);
    expect(done).toMatchObject({ status: 'done', output: 'result 3' });
    await notifier.idle();
    expect(deliveries.map((d) => [d.type, d.ok, d.attempts])).toEqual([
      ['thread.human_request', false, 3],
      ['thread.finished', false, 3],
    ]);
  });

  it('does not retry a 4xx, and survives a fetch that throws', async () => {
    const h = harness();
    const receiver = await startReceiver(401);
    cleanups.push(receiver.close);
    const deliveries: WebhookDelivery[] = [];
    const notifier = createWebhookNotifier({
      webhooks: [
        { url: receiver.url, secret: SECRET, events: ['human_request'] },
        { url: 'http://127.0.0.1:9/unreachable', secret: SECRET, events: ['human_request'] },
      ],
      retries: { attempts: 2, initialDelayMs: 1 },
      fetch: (input, init) => (String(input).includes('unreachable') ? Promise.reject(new Error('connect refused')) : fetch(input, init)),
      onDelivery: (d) => deliveries.push(d),
    });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'who?' });
    expect((await h.runtime.settled(thread.id)).status).toBe('awaiting_human');
    await notifier.idle();
    expect(receiver.received).toHaveLength(1);
    const byUrl = Object.fromEntries(deliveries.map((d) => [new URL(d.url).pathname, d]));
    expect(byUrl['/hook']).toMatchObject({ ok: false, attempts: 1, status: 401 });
    expect(byUrl['/unreachable']).toMatchObject({ ok: false, attempts: 2, error: 'connect refused' });
  });

  it('does not follow a redirect: a receiver answering 302 (a login page, a moved URL) has not taken the webhook', async () => {
    const h = harness();
    // The hook redirects to a page that answers any GET with 200, as a login page or a proxy would.
    const requests: string[] = [];
    const receiver = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      if (req.url === '/hook') res.writeHead(302, { location: '/login' }).end();
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>sign in</html>');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const { port } = receiver.address() as AddressInfo;
    const deliveries: WebhookDelivery[] = [];
    const notifier = createWebhookNotifier({
      webhooks: [{ url: `http://127.0.0.1:${port}/hook`, secret: SECRET, events: ['human_request'] }],
      retries: { attempts: 2, initialDelayMs: 1 },
      onDelivery: (d) => deliveries.push(d),
    });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'who?' });
    expect((await h.runtime.settled(thread.id)).status).toBe('awaiting_human');
    await notifier.idle();
    expect(deliveries).toEqual([expect.objectContaining({ ok: false, status: 302, error: `HTTP 302: redirected to http://127.0.0.1:${port}/login (not followed: configure that URL)` })]);
    expect(requests).toEqual(['POST /hook']);
  });

  it('names the thread, its agent and its state as fields in the warnings of an attempt, of giving up and of a delivery not recorded', async () => {
    const h = harness();
    const receiver = await startReceiver();
    cleanups.push(receiver.close);
    const lines: Array<Record<string, unknown> & { msg: string }> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown> & { msg: string });
        done();
      },
    });
    // A ledger whose writes fail (a full disk, NATS down).
    const ledger: DeliveryLedger = {
      get: async () => undefined,
      record: () => Promise.reject(new Error('disk full')),
      owe: () => Promise.reject(new Error('disk full')),
      owed: async () => [],
      clearOwed: async () => {},
      close: async () => {},
    };
    const notifier = createWebhookNotifier({
      webhooks: [
        { url: receiver.url, secret: SECRET, events: ['human_request'] },
        { url: 'http://127.0.0.1:9/unreachable', secret: SECRET, events: ['human_request'] },
      ],
      retries: { attempts: 2, initialDelayMs: 1 },
      fetch: (input, init) => (String(input).includes('unreachable') ? Promise.reject(new Error('connect refused')) : fetch(input, init)),
      logger: createLogger({ level: 'warn', destination }),
      ledger,
      threads: h.runtime,
    });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'who?' });
    expect((await h.runtime.settled(thread.id)).status).toBe('awaiting_human');
    await notifier.idle();
    const about = (msg: string) => lines.filter((l) => l.msg === msg);
    for (const msg of ['webhook attempt failed', 'webhook given up', 'webhook delivered but not recorded (it may be sent again)']) {
      expect(about(msg).length, msg).toBeGreaterThan(0);
      for (const line of about(msg)) expect(line, msg).toMatchObject({ threadId: thread.id, agent: 'calculator', state: 'awaiting_human' });
    }
  });

  it('rejects a bad configuration', () => {
    expect(() => createWebhookNotifier({ webhooks: [{ url: 'not a url', secret: SECRET }] })).toThrow(ConfigError);
    expect(() => createWebhookNotifier({ webhooks: [{ url: 'ftp://example.com/x', secret: SECRET }] })).toThrow(/http or https/);
    expect(() => createWebhookNotifier({ webhooks: [{ url: 'http://example.com/x', secret: '' }] })).toThrow(/needs a secret/);
    expect(() => createWebhookNotifier({ webhooks: [], retries: { attempts: 0 } })).toThrow(/attempts/);
  });
});

describe('the webhooks of one thread to one receiver', () => {
  /** A ledger in memory: what is recorded under each key. */
  function memoryLedger(): DeliveryLedger & { readonly records: Map<string, string> } {
    const records = new Map<string, string>();
    return {
      records,
      get: async (key) => records.get(key),
      record: async (key, id) => void records.set(key, id),
      owe: async () => {},
      owed: async () => [],
      clearOwed: async () => {},
      close: async () => {},
    };
  }

  it('never delivers a retry of a rest the thread has moved past after its later rest, nor records it over it', async () => {
    const h = harness();
    // Down for the human request's first attempt, then up.
    const receiver = await startReceiver([500, 200]);
    cleanups.push(receiver.close);
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const ledger = memoryLedger();
    const notifier = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET }], retries: { attempts: 4, initialDelayMs: 500 }, clock, ledger, threads: h.runtime });
    cleanups.push(notifier.close);
    notifier.attach(h.runtime);

    const thread = await h.runtime.launch('calculator', { op: 'divide', a: 8, b: 2 });
    const waiting = await h.runtime.settled(thread.id);
    await receiver.waitFor(1); // refused: its retry waits on the clock
    await h.runtime.respond(thread.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect((await h.runtime.settled(thread.id)).status).toBe('done');
    await receiver.waitFor(2);
    clock.increment(10_000); // the human request's retry is due
    await notifier.idle();

    // Nothing after the finish, and the ids arrive in the order of their seqs.
    const finished = expectDeliveredInOrder(receiver.received.map((r) => payloadOf(r)));
    expect(ledger.records.get([...ledger.records.keys()].find((key) => key.startsWith('webhook '))!)).toBe(finished.id);
  });
});

describe('a stop while a webhook waits to retry', () => {
  it('logs it as kept for the next start (not an error) when a ledger keeps it owed; a real give-up stays an error', async () => {
    const h = harness();
    const receiver = await startReceiver(500);
    cleanups.push(receiver.close);
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const owed: string[] = [];
    const ledger: DeliveryLedger = {
      get: async () => undefined,
      record: async () => {},
      owe: async ({ id }) => void owed.push(id),
      owed: async () => [],
      clearOwed: async () => {},
      close: async () => {},
    };
    const { logger, out } = capturingLogger('info');
    const notifier = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET, events: ['human_request'] }], retries: { attempts: 3 }, clock, logger, ledger, threads: h.runtime });
    notifier.attach(h.runtime);
    const thread = await h.runtime.launch('calculator', { ask: 'who?' });
    await h.runtime.settled(thread.id);
    await receiver.waitFor(1); // its retry waits on the clock
    await notifier.close(); // a normal stop (SIGTERM)

    expect(owed).toHaveLength(1);
    const about = out.lines.filter((line) => line.delivery === owed[0] && line.msg !== 'webhook attempt failed');
    expect(about.map((line) => [line.level, line.msg])).toEqual([[40, 'webhook not sent before the stop: kept as owed, sent at the next start']]);

    // Its retries exhausted, it is given up: an error.
    const { logger: giving, out: given } = capturingLogger('info');
    const exhausted = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET, events: ['human_request'] }], retries: { attempts: 1 }, logger: giving });
    cleanups.push(exhausted.close);
    exhausted.attach(h.runtime);
    await h.runtime.launch('calculator', { ask: 'again?' });
    await receiver.waitFor(2);
    await exhausted.idle();
    expect(given.lines.filter((line) => line.msg === 'webhook given up').map((line) => line.level)).toEqual([50]);
  });
});

describe('a retried thread.human_request whose request was answered elsewhere', () => {
  it('is not sent again: the thread read before the retry shows the request answered (another process moved it on)', async () => {
    const h = harness();
    const receiver = await startReceiver(500);
    cleanups.push(receiver.close);
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const deliveries: WebhookDelivery[] = [];
    // Not attached: it hears only the change it is given, as a process that wrote the request and not what followed.
    const notifier = createWebhookNotifier({ webhooks: [{ url: receiver.url, secret: SECRET }], retries: { attempts: 3, initialDelayMs: 500 }, clock, threads: h.runtime, ledger: undefined, onDelivery: (d) => deliveries.push(d) });
    cleanups.push(notifier.close);
    const thread = await h.runtime.launch('calculator', { op: 'divide', a: 8, b: 2 });
    const waiting = await h.runtime.settled(thread.id);
    const written = (await h.runtime.get(thread.id))!;
    const asked = written.events.findLast((event) => event.type === 'human_request')!;
    notifier.notify({ thread: written, events: [asked], status: waiting.status });
    await receiver.waitFor(1);
    await h.runtime.respond(thread.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect((await h.runtime.settled(thread.id)).status).toBe('done');
    // Time moves once the notifier waits on it (after it read the answer to the first attempt).
    await eventually(async () => {
      clock.increment(10_000);
      return deliveries.length > 0 ? true : undefined;
    }, 5_000, 'the retry', 5);
    await notifier.idle();
    expect(receiver.received).toHaveLength(1);
    expect(deliveries).toEqual([expect.objectContaining({ ok: false, attempts: 1, superseded: true, type: 'thread.human_request' })]);
  });
});
