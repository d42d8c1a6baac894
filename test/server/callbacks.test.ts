import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import type { DeliveryLedger } from '../../src/store/deliveryLedger.js';
import type { Thread } from '../../src/thread/events.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createCallbackSender, PATIENT_CALLBACK_RETRIES, type CallbackDelivery, type CallbackPayload, type CallbackSender } from '../../src/surface/callbacks.js';
import { resultOf } from '../../src/surface/payloads.js';
import { eventually } from '../bus/waiting.js';
import { ROOT, startCli } from '../cli/cliProcess.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { call, createHarness, decide, echo, expectDeliveredInOrder, finishedThread, type Harness } from './harness.js';
import { signedWith, startReceiver, type Receiver } from './receiver.js';

// A per-thread callback for HTTP launches: the reply goes back to the origin, as NATS replyTo does.
const SECRET = 'whsec_callbacks';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function embedded(options: Parameters<typeof createCallbackSender>[0] = {}): Promise<{ url: string; h: Harness; deliveries: CallbackDelivery[]; callbacks: CallbackSender }> {
  const h = createHarness();
  const deliveries: CallbackDelivery[] = [];
  const callbacks = createCallbackSender({ secret: SECRET, initialDelayMs: 1, onDelivery: (d) => deliveries.push(d), ...options });
  const detach = callbacks.attach(h.runtime);
  const server = await startHttpServer(h.runtime, { port: 0, token: '' });
  cleanups.push(async () => {
    await server.close();
    detach();
    await callbacks.close();
    await h.runtime.close();
  });
  return { url: server.url, h, deliveries, callbacks };
}

async function receiver(statuses?: number | number[]): Promise<Receiver> {
  const started = await startReceiver(statuses);
  cleanups.push(started.close);
  return started;
}

const payloadOf = (r: { body: string }): CallbackPayload => JSON.parse(r.body) as CallbackPayload;

describe('POST /threads with a callbackUrl', () => {
  it('calls it, signed, when the thread needs a human and when it ends', async () => {
    const { url } = await embedded();
    const origin = await receiver();
    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'calculator', input: { op: 'divide', a: 8, b: 2 }, callbackUrl: origin.url });
    expect(launched.status).toBe(201);
    expect(launched.body.events[0]).toMatchObject({ data: { source: { kind: 'http', replyTo: origin.url } } });

    const [asked] = await origin.waitFor(1);
    expect(signedWith(asked!, SECRET)).toBe(true);
    expect(signedWith(asked!, 'another-secret')).toBe(false);
    const request = payloadOf(asked!);
    expect(request).toMatchObject({ type: 'thread.human_request', threadId: launched.body.id, status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'divide' } });
    expect(asked!.headers['x-switchyard-delivery']).toBe(request.id);
    expect(asked!.headers['x-switchyard-event']).toBe('thread.human_request');

    await call(url, 'POST', `/threads/${launched.body.id}/respond`, { requestId: request.pendingRequest!.requestId, approved: true });
    const [, finished] = await origin.waitFor(2);
    expect(signedWith(finished!, SECRET)).toBe(true);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: 'result 4' });
  });

  it('calls it when the thread is cancelled, with the body a NATS result has: the cancel’s reason and by', async () => {
    const { url } = await embedded();
    const origin = await receiver();
    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'calculator', input: { op: 'divide', a: 8, b: 2 }, callbackUrl: origin.url });
    await origin.waitFor(1);
    const cancelled = await call<ThreadView>(url, 'POST', `/threads/${launched.body.id}/cancel`, { reason: 'the order was withdrawn', by: 'qa' });
    expect(cancelled.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    const { id, at, ...result } = payloadOf(finished!);
    expect({ id, at }).toEqual({ id: `${incarnateId(launched.body.id, cancelled.body.createdAt)}:${cancelled.body.version}`, at: cancelled.body.updatedAt });
    expect(result).toEqual({ ...resultOf(cancelled.body), type: 'thread.finished' });
    expect(result).toMatchObject({ status: 'cancelled', reason: 'the order was withdrawn', by: 'qa' });
  });

  it('calls only the thread’s own callback, and none for a thread launched without one', async () => {
    const { url, h } = await embedded();
    const mine = await receiver();
    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'hi', callbackUrl: mine.url });
    const other = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'no callback' });
    await h.runtime.settled(other.body.id);
    const [finished] = await mine.waitFor(1);
    expect(payloadOf(finished!)).toMatchObject({ threadId: launched.body.id, type: 'thread.finished' });
    await h.runtime.settled(launched.body.id);
    expect(mine.received).toHaveLength(1);
  });

  it('retries with backoff until the origin takes it, and gives up after a bounded number of attempts', async () => {
    const { url, deliveries } = await embedded({ attempts: 3 });
    const flaky = await receiver([503, 500, 200]);
    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'flaky', callbackUrl: flaky.url });
    const attempts = await flaky.waitFor(3);
    // One delivery id for every attempt, so the origin can drop repeats.
    expect(new Set(attempts.map((r) => r.headers['x-switchyard-delivery']))).toEqual(new Set([payloadOf(attempts[0]!).id]));
    expect(payloadOf(attempts[0]!).id).toMatch(new RegExp(`^${launched.body.id}@[0-9a-z]+:\\d+$`));
    expect(attempts.every((r) => signedWith(r, SECRET))).toBe(true);

    const down = await receiver(500);
    const second = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'down', callbackUrl: down.url });
    await down.waitFor(3);
    await expect.poll(() => deliveries.length).toBe(2);
    expect(deliveries).toEqual([
      expect.objectContaining({ threadId: launched.body.id, ok: true, attempts: 3, status: 200 }),
      expect.objectContaining({ threadId: second.body.id, ok: false, attempts: 3, status: 500 }),
    ]);
    expect(down.received).toHaveLength(3);
  });

  it('tells a worker how each callback ended: delivered, refused by the receiver, failed (sent again later) or cut by close', async () => {
    const endedWith = (replyTo: string): Thread => finishedThread(`t-${replyTo.length}`, replyTo);
    const sender = createCallbackSender({ secret: SECRET, attempts: 2, initialDelayMs: 1 });
    cleanups.push(() => sender.close());
    const [taken, gone, down] = await Promise.all([receiver(200), receiver(404), receiver(503)]);
    expect(await sender.send(endedWith(taken.url))).toMatchObject({ ok: true, attempts: 1, status: 200 });
    const refused = await sender.send(endedWith(gone.url));
    expect(refused).toMatchObject({ ok: false, attempts: 1, status: 404, refused: true });
    const failed = await sender.send(endedWith(down.url));
    expect(failed).toMatchObject({ ok: false, attempts: 2, status: 503 });
    expect(failed?.refused ?? false).toBe(false);
    expect(failed?.stopped ?? false).toBe(false);
    expect(await sender.send({ ...endedWith(taken.url), events: endedWith(taken.url).events.slice(0, 1) })).toBeUndefined();

    const slow = createCallbackSender({ secret: SECRET, attempts: 5, initialDelayMs: 60_000 });
    const cut = slow.send(endedWith(down.url));
    await down.waitFor(3);
    await slow.close();
    expect(await cut).toMatchObject({ ok: false, attempts: 1, stopped: true });
  });

  // In review: a receiver configured as http:// whose host answers 308 to https took no callback
  // and the error said only "HTTP 308": it names where the redirect points (origin and path).
  it('does not follow a redirect, and its error names where it points: the URL to configure instead', async () => {
    const moved = createServer((req, res) => {
      req.resume();
      res.writeHead(308, { location: 'https://hooks.example.com/in?token=secret' }).end();
    });
    await new Promise<void>((resolve) => moved.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => moved.close(() => resolve())));
    const url = `http://127.0.0.1:${(moved.address() as AddressInfo).port}/hook`;
    const sender = createCallbackSender({ secret: SECRET, attempts: 2, initialDelayMs: 1 });
    cleanups.push(() => sender.close());
    const thread = finishedThread('moved', url);
    expect(await sender.send(thread)).toMatchObject({
      ok: false,
      attempts: 1,
      refused: true,
      status: 308,
      error: 'HTTP 308: redirected to https://hooks.example.com/in (not followed: configure that URL)',
    });
  });

  it('keeps trying for about a quarter of an hour where no job can send it again (the embedded server)', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.UTC(2026, 0, 1));
    const sender = createCallbackSender({ secret: SECRET, ...PATIENT_CALLBACK_RETRIES, clock });
    cleanups.push(() => sender.close());
    const down = await receiver([...Array<number>(PATIENT_CALLBACK_RETRIES.attempts - 1).fill(503), 200]);
    const thread = finishedThread('t-patient', down.url);
    const sent = sender.send(thread);
    for (let n = 1; n < PATIENT_CALLBACK_RETRIES.attempts; n++) {
      // Time moves only once the sender waits on it (after it read the answer to attempt n).
      await eventually(async () => {
        clock.increment(PATIENT_CALLBACK_RETRIES.maxDelayMs);
        return down.received.length > n ? true : undefined;
      }, 5_000, `attempt ${n + 1}`, 5);
    }
    expect(await sent).toMatchObject({ ok: true, attempts: PATIENT_CALLBACK_RETRIES.attempts, status: 200 });
    // The backoff doubles up to its ceiling: the attempts spread over 10 to 20 minutes of receiver outage.
    const delays = Array.from({ length: PATIENT_CALLBACK_RETRIES.attempts - 1 }, (_, i) => Math.min(PATIENT_CALLBACK_RETRIES.maxDelayMs, PATIENT_CALLBACK_RETRIES.initialDelayMs * 2 ** i));
    const span = delays.reduce((a, b) => a + b, 0);
    expect(span).toBeGreaterThanOrEqual(10 * 60_000);
    expect(span).toBeLessThanOrEqual(20 * 60_000);
  });

  it('tells a pipeline’s callback when a child of it, at any depth, waits for a human: which thread to answer, in the agent’s body shape', async () => {
    // outer -> halve (a pipeline) -> calculator, which asks for an approval of its division.
    const halve = pipeline({ name: 'halve', description: 'divides', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'divide', agent: 'calculator', input: () => ({ op: 'divide', a: 8, b: 2 }) })
      .finish(({ results }) => results.divide);
    const outer = pipeline({ name: 'outer', description: 'halves', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'half', agent: 'halve', input: () => ({}) })
      .finish(({ results }) => results.half);
    const runtime = createRuntime({ agents: [calculator, echo], pipelines: [halve, outer], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
    const callbacks = createCallbackSender({ secret: SECRET, initialDelayMs: 1 });
    const detach = callbacks.attach(runtime);
    const server = await startHttpServer(runtime, { port: 0, token: '' });
    cleanups.push(async () => {
      await server.close();
      detach();
      await callbacks.close();
      await runtime.close();
    });
    const origin = await receiver();
    const launched = await call<ThreadView>(server.url, 'POST', '/threads', { agent: 'outer', input: {}, callbackUrl: origin.url });
    expect(launched.status).toBe(201);
    const waiting = childThreadId(childThreadId(launched.body.id, 'half'), 'divide');

    const [asked] = await origin.waitFor(1);
    expect(signedWith(asked!, SECRET)).toBe(true);
    expect(asked!.headers['x-switchyard-event']).toBe('thread.human_request');
    const request = payloadOf(asked!);
    const child = await runtime.get(waiting);
    expect(child).toMatchObject({ status: 'awaiting_human' });
    // The pipeline's own fields, the child's request, and the child that holds it.
    expect(request).toEqual({
      id: `${incarnateId(waiting, child!.createdAt)}:${child!.version}`,
      type: 'thread.human_request',
      at: child!.events.at(-1)!.at,
      threadId: launched.body.id,
      agent: 'outer',
      status: 'running',
      version: (await runtime.get(launched.body.id))!.version,
      pendingRequest: child!.pendingRequest,
      childThreadId: waiting,
      childAgent: 'calculator',
    });
    expect(asked!.headers['x-switchyard-delivery']).toBe(request.id);

    // Answered where the body says, the pipeline finishes and its callback hears that too.
    const answered = await call(server.url, 'POST', `/threads/${request.childThreadId}/respond`, { requestId: request.pendingRequest!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, agent: 'outer', status: 'done', output: 'result 4' });
    expect(payloadOf(finished!).childThreadId).toBeUndefined();
    await runtime.settled(launched.body.id);
    expect(origin.received).toHaveLength(2);
  });

  it('refuses a relaunch naming another callbackUrl than the thread was launched with (409); the same one or none is a relaunch (200)', async () => {
    const { url, h } = await embedded();
    const origin = await receiver();
    const other = await receiver();
    // Launched without a callback: a relaunch cannot add one, it would never be called.
    expect((await call(url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'rl-1' })).status).toBe(201);
    const added = await call(url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'rl-1', callbackUrl: origin.url });
    expect(added.status).toBe(409);
    expect(added.body.error).toMatch(/^thread rl-1 exists with another callbackUrl \(none\); a relaunch does not change it/);
    expect(added.body.error).toMatch(/GET \/threads\/rl-1\/wait/);
    expect(added.body.code).toBe('thread_exists_other_callback_url');
    expect((await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'rl-1' })).status).toBe(200);

    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'y', threadId: 'rl-2', callbackUrl: origin.url });
    expect(launched.status).toBe(201);
    const same = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'y', threadId: 'rl-2', callbackUrl: origin.url });
    expect(same.status).toBe(200);
    expect(same.body.id).toBe('rl-2');
    const none = await call<ThreadView>(url, 'POST', '/threads', { agent: 'echo', input: 'y', threadId: 'rl-2' });
    expect(none.status).toBe(200);
    expect(none.body.events[0]).toMatchObject({ data: { source: { replyTo: origin.url } } });
    const moved = await call(url, 'POST', '/threads', { agent: 'echo', input: 'y', threadId: 'rl-2', callbackUrl: other.url });
    expect(moved.status).toBe(409);
    expect(moved.body.error).toContain(`thread rl-2 exists with another callbackUrl (${origin.url})`);

    // By Idempotency-Key alike.
    const key = { 'idempotency-key': 'rl-key' };
    expect((await call(url, 'POST', '/threads', { agent: 'echo', input: 'z', callbackUrl: origin.url }, key)).status).toBe(201);
    const keyed = await call(url, 'POST', '/threads', { agent: 'echo', input: 'z', callbackUrl: other.url }, key);
    expect(keyed.status).toBe(409);
    expect(keyed.body.error).toContain(`thread rl-key exists with another callbackUrl (${origin.url})`);
    expect((await call(url, 'POST', '/threads', { agent: 'echo', input: 'z', callbackUrl: origin.url }, key)).status).toBe(200);

    // Only the threads launched with a callback call it, once each when they end; the refused relaunches changed nothing.
    await Promise.all(['rl-1', 'rl-2', 'rl-key'].map((id) => h.runtime.settled(id)));
    const finished = await origin.waitFor(2);
    expect(finished.map((r) => payloadOf(r).threadId).sort()).toEqual(['rl-2', 'rl-key']);
    expect(other.received).toHaveLength(0);
  });

  it('refuses a callbackUrl that is not an http or https URL (400)', async () => {
    const { url } = await embedded();
    for (const callbackUrl of ['ftp://example.com/x', 'not a url', 42]) {
      const refused = await call(url, 'POST', '/threads', { agent: 'echo', input: 'x', callbackUrl });
      expect(refused.status).toBe(400);
      expect(refused.body.issues).toEqual(['callbackUrl: must be an http or https URL']);
    }
  });

  it('is refused (400, naming SWITCHYARD_WEBHOOK_SECRET) by a server that can send no callbacks, on a launch and on a relaunch alike', async () => {
    const h = createHarness();
    const server = await startHttpServer(h.runtime, { port: 0, token: '', callbackUrls: false });
    cleanups.push(async () => {
      await server.close();
      await h.runtime.close();
    });
    const origin = await receiver();
    const refused = await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'cb-refused', callbackUrl: origin.url });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/callbackUrl/);
    expect(refused.body.error).toMatch(/SWITCHYARD_WEBHOOK_SECRET/);
    expect(await h.runtime.get('cb-refused')).toBeUndefined();

    // Without a callbackUrl the same launch goes ahead; a relaunch that names one is refused the same way.
    expect((await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'cb-refused' })).status).toBe(201);
    const relaunch = await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'cb-refused', callbackUrl: origin.url });
    expect(relaunch.status).toBe(400);
    expect(relaunch.body.error).toBe(refused.body.error);
    expect((await call(server.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'cb-refused' })).status).toBe(200);
    expect(origin.received).toHaveLength(0);
  });
});

describe('switchyard serve and a callbackUrl', () => {
  it('refuses it at once without a webhook secret, and calls it back, signed, with one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-serve-callbacks-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const origin = await receiver();
    const plain = startCli(['serve', '--port', '0', '--dir', join(dir, 'plain'), '--no-demo'], { cwd: ROOT, env: { SWITCHYARD_WEBHOOK_SECRET: '' } });
    cleanups.push(async () => void (await plain.stop()));
    const [, plainUrl] = await plain.waitFor(/listening on (http:\/\/\S+)/);
    const refused = await call(plainUrl!, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 3', callbackUrl: origin.url });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/SWITCHYARD_WEBHOOK_SECRET/);
    expect((await call<{ threads: unknown[] }>(plainUrl!, 'GET', '/threads')).body.threads).toHaveLength(0);

    const signed = startCli(['serve', '--port', '0', '--dir', join(dir, 'signed'), '--no-demo'], { cwd: ROOT, env: { SWITCHYARD_WEBHOOK_SECRET: SECRET } });
    cleanups.push(async () => void (await signed.stop()));
    const [, signedUrl] = await signed.waitFor(/listening on (http:\/\/\S+)/);
    const launched = await call<ThreadView>(signedUrl!, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 3', callbackUrl: origin.url });
    expect(launched.status).toBe(201);
    const [finished] = await origin.waitFor(1);
    expect(signedWith(finished!, SECRET)).toBe(true);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done' });
  });
});

describe('the callbacks of one thread', () => {
  it('never delivers a retry of a rest the thread has moved past after its later rest, nor records it over it', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const records = new Map<string, string>();
    const ledger: DeliveryLedger = {
      get: async (key) => records.get(key),
      record: async (key, id) => void records.set(key, id),
      owe: async () => {},
      owed: async () => [],
      clearOwed: async () => {},
      close: async () => {},
    };
    const { url, h, callbacks } = await embedded({ clock, ledger, attempts: 4, initialDelayMs: 500 });
    // Down for the human request's first attempt, then up.
    const origin = await receiver([500, 200]);
    const launched = await call<ThreadView>(url, 'POST', '/threads', { agent: 'calculator', input: { op: 'divide', a: 8, b: 2 }, callbackUrl: origin.url });
    const waiting = await h.runtime.settled(launched.body.id);
    await origin.waitFor(1); // refused: its retry waits on the clock
    await h.runtime.respond(launched.body.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect((await h.runtime.settled(launched.body.id)).status).toBe('done');
    await origin.waitFor(2);
    clock.increment(10_000); // the human request's retry is due
    await callbacks.idle();

    const finished = expectDeliveredInOrder(origin.received.map((r) => payloadOf(r)));
    expect(records.get(launched.body.id)).toBe(finished.id);
  });
});

describe('a stop while a callback waits to retry', () => {
  it('logs it as kept for the next start (not an error) when a ledger keeps it owed', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.UTC(2026, 0, 1));
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
    const sender = createCallbackSender({ secret: SECRET, ...PATIENT_CALLBACK_RETRIES, clock, ledger, logger });
    const down = await receiver(503);
    const thread = finishedThread('t-stopped', down.url);
    const sent = sender.send(thread);
    await down.waitFor(1); // its retry waits on the clock
    await sender.close(); // a normal stop (SIGTERM)
    expect(await sent).toMatchObject({ ok: false, stopped: true });
    expect(owed).toHaveLength(1);
    const about = out.lines.filter((line) => line.delivery === owed[0] && line.msg !== 'callback attempt failed');
    expect(about.map((line) => [line.level, line.msg])).toEqual([[40, 'callback not sent before the stop: kept as owed, sent at the next start']]);
  });
});
