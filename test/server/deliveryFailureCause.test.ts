// What a webhook's or callback's failure says when its receiver gave no answer: why (the
// connection refused, with the address; the attempt's timeout), not only `fetch failed`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookNotifier, type WebhookDelivery } from '../../src/server/webhooks.js';
import { createCallbackSender } from '../../src/surface/callbacks.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { createHarness, finishedThread } from './harness.js';
import { REFUSED_PORT } from '../support/refusedPort.js';

const SECRET = 'whsec_failure_cause';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A receiver that is down (see {@link REFUSED_PORT}: no process of the suite can take its port). */
function downUrl(): { url: string; port: number } {
  return { url: `http://127.0.0.1:${REFUSED_PORT}/hook`, port: REFUSED_PORT };
}

/**
 * Time allowed for an attempt whose refusal is awaited: it comes at once, but a loaded machine
 * (and a process's first fetch, which loads undici) can take longer than the 200 ms a silent
 * receiver is given, and the attempt then ends as timed out.
 */
const REFUSAL_TIMEOUT_MS = 20_000;

/** A receiver that takes the request and never answers. */
async function silentUrl(): Promise<string> {
  const server: Server = createServer((req) => req.resume());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** The errors a webhook to `url` ends with, logged and told, its thread finished once. */
async function webhookErrors(url: string, timeoutMs: number): Promise<{ attempts: unknown[]; givenUp: unknown; states: unknown[]; delivery: WebhookDelivery | undefined }> {
  const h = createHarness();
  cleanups.push(() => h.runtime.close());
  const { logger, out } = capturingLogger('warn');
  const deliveries: WebhookDelivery[] = [];
  const notifier = createWebhookNotifier({ webhooks: [{ url, secret: SECRET }], retries: { attempts: 1 }, timeoutMs, logger, onDelivery: (d) => deliveries.push(d) });
  cleanups.push(notifier.close);
  notifier.attach(h.runtime);
  const thread = await h.runtime.launch('echo', 'hi');
  await h.runtime.settled(thread.id);
  await notifier.idle();
  return {
    attempts: out.lines.filter((line) => line.msg === 'webhook attempt failed').map((line) => line.err),
    givenUp: out.lines.find((line) => line.msg === 'webhook given up')?.err,
    states: out.lines.filter((line) => (line.msg ?? '').startsWith('webhook ')).map((line) => [line.agent, line.state]),
    delivery: deliveries[0],
  };
}

describe('a webhook whose receiver gives no answer', () => {
  it('logs and tells why: the connection refused, with the address', async () => {
    const { url, port } = downUrl();
    const refused = `fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`;
    const { attempts, givenUp, states, delivery } = await webhookErrors(url, REFUSAL_TIMEOUT_MS);
    // Named `err`, as every other line names its error; with the thread's agent and state.
    expect(attempts).toEqual([refused]);
    expect(givenUp).toBe(refused);
    expect(states).toEqual([
      ['echo', 'done'],
      ['echo', 'done'],
    ]);
    expect(delivery).toMatchObject({ ok: false, attempts: 1, error: refused });
  });

  it("says an attempt ran out of time, and how long it had", async () => {
    const { attempts, delivery } = await webhookErrors(await silentUrl(), 200);
    expect(attempts).toEqual(['timed out: no answer within 200 ms']);
    expect(delivery).toMatchObject({ ok: false, error: 'timed out: no answer within 200 ms' });
  });
});

describe('a callback whose receiver gives no answer', () => {
  it('logs and tells why: the connection refused, with the address; an attempt out of time', async () => {
    const { logger, out } = capturingLogger('warn');
    // Two senders, one log: the refusal awaited with time to spare, the silent receiver given 200 ms.
    const sender = createCallbackSender({ secret: SECRET, attempts: 1, timeoutMs: REFUSAL_TIMEOUT_MS, logger });
    cleanups.push(() => sender.close());
    const impatient = createCallbackSender({ secret: SECRET, attempts: 1, timeoutMs: 200, logger });
    cleanups.push(() => impatient.close());
    const { url, port } = downUrl();
    const refused = `fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`;
    expect(await sender.send(finishedThread('cb-down', url))).toMatchObject({ ok: false, attempts: 1, error: refused });
    expect(await impatient.send(finishedThread('cb-silent', await silentUrl()))).toMatchObject({ ok: false, attempts: 1, error: 'timed out: no answer within 200 ms' });
    const failed = out.lines.filter((line) => line.msg === 'callback attempt failed');
    expect(failed.map((line) => [line.threadId, line.err, line.state])).toEqual([
      ['cb-down', refused, 'done'],
      ['cb-silent', 'timed out: no answer within 200 ms', 'done'],
    ]);
    expect(out.lines.filter((line) => line.msg === 'callback given up').map((line) => line.err)).toEqual([refused, 'timed out: no answer within 200 ms']);
  });
});
