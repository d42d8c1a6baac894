/**
 * Receivers whose URL holds credentials (`https://user:pass@host/path?token=...`, a common way to
 * protect a webhook or callback receiver): the userinfo is sent as `Authorization: Basic`, the
 * request goes to the URL without it (fetch refuses a URL with userinfo), and neither the password
 * nor the query (a token is a credential too) shows in a log line or in the delivery ledger.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { webhooksFromEnv } from '../../src/cli/env.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createWebhookNotifier, type WebhookPayload } from '../../src/server/webhooks.js';
import { createCallbackSender } from '../../src/surface/callbacks.js';
import { call, createHarness, decide, echo } from './harness.js';
import { signedWith, type Receiver } from './receiver.js';
import { useRedeliveryKit } from './redeliveryKit.js';

const SECRET = 'whsec_receiver_credentials';
const kit = useRedeliveryKit('switchyard-receiver-credentials-');
const { tempDir, receiver } = kit;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** `receiver`'s URL with `user:password` (percent-encoded) and a query token. */
function withCredentials(to: Receiver, user: string, password: string, query: string): string {
  const url = new URL(to.url);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  url.search = query;
  return url.href;
}

/** A warn-level pino logger whose lines are kept, raw and parsed. */
function capturedLogger() {
  const raw: string[] = [];
  const destination = new PassThrough();
  destination.setEncoding('utf8').on('data', (chunk: string) => raw.push(chunk));
  const lines = (): Record<string, unknown>[] =>
    raw
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger: createLogger({ level: 'warn', destination }), text: () => raw.join(''), lines };
}

async function embeddedRuntime(dir: string) {
  const store = await createFileStore({ dir: join(dir, 'threads') });
  return createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
}

describe('a webhook URL with credentials and a query token', () => {
  it('is delivered with the userinfo as Authorization: Basic, and neither the password nor the token is logged or recorded', async () => {
    const dir = tempDir();
    const flaky = await receiver([503, 200]);
    const down = await receiver(503);
    const flakyUrl = withCredentials(flaky, 'hook user', 'p@ss-HOOK-1', '?token=qtok-HOOK-2');
    const downUrl = withCredentials(down, 'ops', 'pw-HOOK-3', '?token=qtok-HOOK-4');
    const log = capturedLogger();
    const runtime = await embeddedRuntime(dir);
    const ledgerPath = join(dir, 'deliveries.jsonl');
    const notifier = createWebhookNotifier({
      webhooks: [
        { url: flakyUrl, secret: SECRET, events: ['finished'] },
        { url: downUrl, secret: SECRET, events: ['finished'] },
      ],
      retries: { attempts: 2, initialDelayMs: 1 },
      ledger: fileDeliveryLedger(ledgerPath),
      threads: runtime,
      logger: log.logger,
    });
    const detach = notifier.attach(runtime);
    kit.stopOnce(detach, () => notifier.close(), () => runtime.close());
    await notifier.idle(); // the first walk, before the thread

    const ended = await runtime.launch('echo', 'done', { source: { kind: 'http' } });
    const [, delivered] = await flaky.waitFor(2);
    await down.waitFor(2);
    await notifier.idle();
    await notifier.close();

    expect(delivered!.headers.authorization).toBe(basic('hook user', 'p@ss-HOOK-1'));
    expect(delivered!.path).toBe('/hook?token=qtok-HOOK-2');
    expect(signedWith(delivered!, SECRET)).toBe(true);
    expect(JSON.parse(delivered!.body) as WebhookPayload).toMatchObject({ type: 'thread.finished', threadId: ended.id });
    expect(down.received[0]!.headers.authorization).toBe(basic('ops', 'pw-HOOK-3'));

    // Each attempt that failed is logged, naming the receiver by origin and path.
    const failed = log.lines().filter((line) => line.msg === 'webhook attempt failed');
    expect(failed.map((line) => line.url).sort()).toEqual([down.url, down.url, flaky.url].sort());
    expect(log.lines().some((line) => line.msg === 'webhook given up' && line.url === down.url)).toBe(true);
    const ledger = readFileSync(ledgerPath, 'utf8');
    expect(ledger).toContain('owed webhook '); // the one given up is owed
    for (const secret of ['p@ss-HOOK-1', 'p%40ss-HOOK-1', 'qtok-HOOK-2', 'pw-HOOK-3', 'qtok-HOOK-4', 'hook%20user']) {
      expect(log.text()).not.toContain(secret);
      expect(ledger).not.toContain(secret);
    }
  });

  it('keeps what a ledger recorded under a URL with a query before (delivered: not sent again; owed: sent and cleared)', async () => {
    const dir = tempDir();
    const to = await receiver(200);
    const url = `${to.url}?token=qtok-LEGACY-1`;
    const runtime = await embeddedRuntime(dir);
    kit.cleanups.push(() => runtime.close());
    const delivered = await runtime.launch('echo', 'delivered', { source: { kind: 'http' } });
    const owed = await runtime.launch('echo', 'owed', { source: { kind: 'http' } });
    await Promise.all([runtime.settled(delivered.id), runtime.settled(owed.id)]); // ended before the notifier is attached
    const idOf = async (threadId: string): Promise<string> => `${threadId}:${(await runtime.get(threadId))!.events.at(-1)!.seq}`;
    // What a ledger of a version that kept the whole URL in its keys holds.
    const ledgerPath = join(dir, 'deliveries.jsonl');
    const before = fileDeliveryLedger(ledgerPath);
    await before.record(`walked webhook ${url}`, new Date(0).toISOString());
    await before.record(`webhook ${url} ${delivered.id}`, await idOf(delivered.id));
    await before.owe({ key: `webhook ${url} ${owed.id}`, id: await idOf(owed.id), threadId: owed.id });
    await before.close();

    const notifier = createWebhookNotifier({ webhooks: [{ url, secret: SECRET, events: ['finished'] }], retries: { attempts: 1 }, ledger: fileDeliveryLedger(ledgerPath), threads: runtime });
    kit.cleanups.push(() => notifier.close());
    notifier.attach(runtime);
    await to.waitFor(1);
    await notifier.idle();
    await notifier.close();

    expect(to.received.map((r) => (JSON.parse(r.body) as WebhookPayload).threadId)).toEqual([owed.id]);
    expect(to.received[0]!.path).toBe('/hook?token=qtok-LEGACY-1');
    expect(await fileDeliveryLedger(ledgerPath).owed()).toEqual([]);
  });
});

describe('a callbackUrl with credentials and a query token', () => {
  it('is called with the userinfo as Authorization: Basic, and neither the password nor the token is logged or recorded', async () => {
    const dir = tempDir();
    const flaky = await receiver([503, 200]);
    const down = await receiver(503);
    const log = capturedLogger();
    const runtime = await embeddedRuntime(dir);
    const ledgerPath = join(dir, 'deliveries.jsonl');
    const callbacks = createCallbackSender({ secret: SECRET, attempts: 2, initialDelayMs: 1, ledger: fileDeliveryLedger(ledgerPath), logger: log.logger });
    const detach = callbacks.attach(runtime);
    kit.stopOnce(detach, () => callbacks.close(), () => runtime.close());
    await callbacks.idle();

    const flakyUrl = withCredentials(flaky, 'cb user', 'pw-CBURL-3', '?sig=CBURL-4');
    const downUrl = withCredentials(down, 'cb', 'pw-CBURL-5', '?sig=CBURL-6');
    const called = await runtime.launch('echo', 'called', { source: { kind: 'http', replyTo: flakyUrl } });
    await runtime.launch('echo', 'not called', { source: { kind: 'http', replyTo: downUrl } });
    const [, delivered] = await flaky.waitFor(2);
    await down.waitFor(2);
    await callbacks.idle();
    await callbacks.close();

    expect(delivered!.headers.authorization).toBe(basic('cb user', 'pw-CBURL-3'));
    expect(delivered!.path).toBe('/hook?sig=CBURL-4');
    expect(signedWith(delivered!, SECRET)).toBe(true);
    expect(JSON.parse(delivered!.body)).toMatchObject({ type: 'thread.finished', threadId: called.id });

    const failed = log.lines().filter((line) => line.msg === 'callback attempt failed');
    expect(failed.map((line) => line.url).sort()).toEqual([down.url, down.url, flaky.url].sort());
    const ledger = readFileSync(ledgerPath, 'utf8');
    expect(ledger).toContain('owed ');
    for (const secret of ['pw-CBURL-3', 'CBURL-4', 'pw-CBURL-5', 'CBURL-6', 'cb%20user']) {
      expect(log.text()).not.toContain(secret);
      expect(ledger).not.toContain(secret);
    }
  });
});

describe('credentials that cannot be sent', () => {
  it('are refused at launch: 400 naming callbackUrl (userinfo whose percent-encoding does not decode)', async () => {
    const h = createHarness();
    const server = await startHttpServer(h.runtime, { port: 0, token: '', callbackSecret: SECRET });
    kit.cleanups.push(() => h.runtime.close(), server.close);
    const refused = await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', callbackUrl: 'https://user:%E0%A4%A@example.com/cb' });
    expect(refused.status).toBe(400);
    expect(refused.body.issues).toEqual([expect.stringMatching(/^callbackUrl: .*userinfo/)]);
    // Credentials that decode are taken (sealed with the secret).
    const taken = await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', callbackUrl: 'https://user:p%40ss@example.com/cb' });
    expect(taken.status).toBe(201);
  });

  it('are refused at start in SWITCHYARD_WEBHOOK_URL (a ConfigError: exit 2), without the password in the message', () => {
    const env = { SWITCHYARD_WEBHOOK_SECRET: SECRET, SWITCHYARD_WEBHOOK_URL: 'https://user:pw-ENV-1%zz@example.com/wh?token=qtok-ENV-2' };
    expect(() => webhooksFromEnv(env)).toThrow(ConfigError);
    expect(() => webhooksFromEnv(env)).toThrow(/SWITCHYARD_WEBHOOK_URL: https:\/\/example\.com\/wh .*userinfo/);
    expect(() => webhooksFromEnv(env)).not.toThrow(/pw-ENV-1|qtok-ENV-2/);
    expect(webhooksFromEnv({ ...env, SWITCHYARD_WEBHOOK_URL: 'https://user:p%40ss@example.com/wh' })).toEqual([{ url: 'https://user:p%40ss@example.com/wh', secret: SECRET }]);
  });
});
