/**
 * Webhooks at least once across a stop of the process (embedded, file store): a thread's current
 * rest whose webhook has no delivery recorded beside the store is sent when the notifier is
 * attached again, with the same id and body; what was delivered is not sent again.
 */
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createLogger, silentLogger, type Logger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createWebhookNotifier, type WebhookPayload, type WebhookTarget } from '../../src/server/webhooks.js';
import { decide, echo } from './harness.js';
import { signedWith } from './receiver.js';
import { serveKilledWhileRefused, useRedeliveryKit } from './redeliveryKit.js';

const SECRET = 'whsec_webhook_redelivery';
const kit = useRedeliveryKit('switchyard-webhook-redelivery-');
const { tempDir, receiver } = kit;

const payloadOf = (r: { body: string }): WebhookPayload => JSON.parse(r.body) as WebhookPayload;

/** One life of an embedded process: a runtime over the file store in `dir`, its webhooks recorded beside it. */
async function life(dir: string, webhooks: readonly WebhookTarget[], options: { logger?: Logger; shared?: boolean } = {}) {
  const { logger = silentLogger(), shared = false } = options;
  const file = fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
  const store = await createFileStore({ dir: join(dir, 'threads') });
  const runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
  const notifier = createWebhookNotifier({ webhooks, retries: { attempts: 2, initialDelayMs: 1 }, ledger: shared ? { ...file, exclusive: false } : file, threads: runtime, logger });
  const detach = notifier.attach(runtime);
  const stop = kit.stopOnce(detach, () => notifier.close(), () => runtime.close());
  return { runtime, notifier, stop };
}

describe('webhooks across a restart (embedded, file store)', () => {
  it('sends after a restart what the last process did not deliver, with the same id and body, once; nothing delivered is sent again', async () => {
    const dir = tempDir();
    const finishedDown = await receiver([503, 503, 200]); // the first life's two attempts fail
    const requestsUp = await receiver(200);
    const webhooks: WebhookTarget[] = [
      { url: finishedDown.url, secret: SECRET, events: ['finished'] },
      { url: requestsUp.url, secret: SECRET, events: ['human_request'] },
    ];

    const first = await life(dir, webhooks);
    const ended = await first.runtime.launch('echo', 'ended', { source: { kind: 'http' } });
    const waiting = await first.runtime.launch('calculator', { op: 'divide', a: 8, b: 2 }, { source: { kind: 'http' } });
    await Promise.all([finishedDown.waitFor(2), requestsUp.waitFor(1)]);
    await first.notifier.idle();
    await first.stop();
    expect(payloadOf(requestsUp.received[0]!)).toMatchObject({ type: 'thread.human_request', threadId: waiting.id });

    const second = await life(dir, webhooks);
    const [, , again] = await finishedDown.waitFor(3);
    await second.notifier.idle();
    expect(payloadOf(again!)).toEqual(payloadOf(finishedDown.received[0]!));
    expect(payloadOf(again!)).toMatchObject({ type: 'thread.finished', threadId: ended.id, status: 'done' });
    expect(again!.headers['x-switchyard-delivery']).toBe(payloadOf(again!).id);
    expect(signedWith(again!, SECRET)).toBe(true);
    // The request, delivered before the stop, is not sent again.
    expect(requestsUp.received).toHaveLength(1);
    await second.stop();

    const third = await life(dir, webhooks);
    await third.notifier.idle();
    await third.stop();
    expect([finishedDown.received.length, requestsUp.received.length]).toEqual([3, 1]);
  });
});

describe('a receiver added to the configuration', () => {
  it('is not sent the webhooks of the rests already there, only those of the rests after it was added', async () => {
    const dir = tempDir();
    const kept = await receiver(200);
    const added = await receiver(200);
    const before = await life(dir, [{ url: kept.url, secret: SECRET, events: ['finished'] }]);
    const old = await before.runtime.launch('echo', 'old', { source: { kind: 'http' } });
    const [first] = await kept.waitFor(1);
    expect(payloadOf(first!)).toMatchObject({ threadId: old.id });
    await before.notifier.idle();
    await before.stop();

    const after = await life(dir, [
      { url: kept.url, secret: SECRET, events: ['finished'] },
      { url: added.url, secret: SECRET, events: ['finished'] },
    ]);
    await after.notifier.idle();
    const fresh = await after.runtime.launch('echo', 'fresh', { source: { kind: 'http' } });
    const [heard] = await added.waitFor(1);
    expect(payloadOf(heard!)).toMatchObject({ type: 'thread.finished', threadId: fresh.id });
    await kept.waitFor(2);
    await after.notifier.idle();
    await after.stop();
    expect(added.received.map((r) => payloadOf(r).threadId)).toEqual([fresh.id]);
    expect(kept.received.map((r) => payloadOf(r).threadId)).toEqual([old.id, fresh.id]);
  });
});

describe('a receiver removed from the configuration', () => {
  /** A first life that gives up two webhooks to `gone` (delivered to `kept`), and a callback owed in the same ledger. */
  async function owedToGone(dir: string) {
    const gone = await receiver(503);
    const kept = await receiver(200);
    const before = await life(dir, [
      { url: gone.url, secret: SECRET, events: ['finished'] },
      { url: kept.url, secret: SECRET, events: ['finished'] },
    ]);
    await before.runtime.launch('echo', 'one', { source: { kind: 'http' } });
    await before.runtime.launch('echo', 'two', { source: { kind: 'http' } });
    await kept.waitFor(2);
    await before.notifier.idle();
    await before.stop();
    const ledger = fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
    const goneKeys = (await ledger.owed()).filter((owed) => owed.key.startsWith(`webhook ${gone.url} `));
    expect(goneKeys).toHaveLength(2);
    // A callback given up (another sender's record in the same ledger).
    await ledger.owe({ key: 'th-callback', id: 'th-callback:3', threadId: 'th-callback' });
    await ledger.close();
    return { gone, kept };
  }

  it('has the webhooks owed to it cleared at the next start, logged once, while what others are owed stays', async () => {
    const dir = tempDir();
    const { gone, kept } = await owedToGone(dir);
    const lines: Record<string, unknown>[] = [];
    const destination = new PassThrough();
    destination.setEncoding('utf8').on('data', (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const after = await life(dir, [{ url: kept.url, secret: SECRET, events: ['finished'] }], { logger: createLogger({ level: 'warn', destination }) });
    await after.notifier.idle();
    await after.stop();

    const left = await fileDeliveryLedger(join(dir, 'deliveries.jsonl')).owed();
    expect(left.map((owed) => owed.key)).toEqual(['th-callback']);
    expect(lines.filter((line) => line.receiver === gone.url)).toEqual([expect.objectContaining({ receiver: gone.url, count: 2 })]);
    expect(gone.received).toHaveLength(4); // two attempts of each, before the stop; nothing since
  });

  it('keeps them on a ledger processes share (another process may still send to it)', async () => {
    const dir = tempDir();
    const { gone, kept } = await owedToGone(dir);
    const after = await life(dir, [{ url: kept.url, secret: SECRET, events: ['finished'] }], { shared: true });
    await after.notifier.idle();
    await after.stop();

    const left = await fileDeliveryLedger(join(dir, 'deliveries.jsonl')).owed();
    expect(left.filter((owed) => owed.key.startsWith(`webhook ${gone.url} `))).toHaveLength(2);
    expect(gone.received).toHaveLength(4);
  });
});

describe('switchyard serve killed while a webhook is refused', () => {
  it('sends it when it starts again on the same directory, with the same id and body', async () => {
    const run = await serveKilledWhileRefused(kit, {
      env: (url) => ({ SWITCHYARD_WEBHOOK_SECRET: SECRET, SWITCHYARD_WEBHOOK_URL: url }),
      launch: () => ({}),
    });
    expect(run.delivered.headers['x-switchyard-delivery']).toBe(run.refused.headers['x-switchyard-delivery']);
    expect(payloadOf(run.delivered)).toEqual(payloadOf(run.refused));
    expect(payloadOf(run.delivered)).toMatchObject({ type: 'thread.finished', threadId: run.threadId, status: 'done' });
    expect(signedWith(run.delivered, SECRET)).toBe(true);
    expect(run.stopCode).toBe(0);
    expect(run.sentAfterRestart).toBe(1);
  });
});
