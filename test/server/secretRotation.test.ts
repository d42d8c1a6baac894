/**
 * Rotating the two HMAC secrets without breaking what they protect: a thread sealed its
 * callbackUrl's credentials under the webhook secret of its launch, and waits (for days, on a
 * human); the runtime restarts with a new secret and the old one listed as previous
 * (`previousSecrets`, `callbackPreviousSecrets`): the callback still goes out, to the exact URL
 * with the right credentials, signed with the new secret only. Inbound hooks signed with the old
 * hook secret are taken while it is listed as previous (`hookPreviousSecrets`), and refused once
 * it is removed.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServerOptions } from '../../src/server/httpServer.js';
import { signWebhook, verifyWebhookSignature } from '../../src/server/webhooks.js';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createCallbackSender, type CallbackDelivery, type CallbackPayload } from '../../src/surface/callbacks.js';
import { call, decide, echo, type JsonResponse } from './harness.js';
import type { Received } from './receiver.js';
import { useRedeliveryKit } from './redeliveryKit.js';

const OLD = 'whsec_rotation_OLD_secret';
const NEW = 'whsec_rotation_NEW_secret';
const kit = useRedeliveryKit('switchyard-secret-rotation-');
const { tempDir, receiver } = kit;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const payloadOf = (r: { body: string }): CallbackPayload => JSON.parse(r.body) as CallbackPayload;
const DIVIDE = { op: 'divide', a: 8, b: 2 }; // asks for an approval, then ends

/** Whether `received` is signed with `secret`, as a receiver checks it. */
function signedWith(received: Received, secret: string): boolean {
  const header = (name: string): string | undefined => {
    const value = received.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  return verifyWebhookSignature(received.body, { timestamp: header('x-switchyard-timestamp'), signature: header('x-switchyard-signature') }, secret);
}

interface Process {
  readonly url: string;
  readonly runtime: ReturnType<typeof createRuntime>;
  readonly deliveries: CallbackDelivery[];
  stop(): Promise<void>;
}

/**
 * An embedded `serve` on `dir` signing with `secret`, opening what `previous` sealed too; without
 * `secret`, the sender and the server take theirs (and the previous ones) from the environment.
 */
async function start(dir: string, secret: string | undefined, previous?: readonly string[], http: HttpServerOptions = {}): Promise<Process> {
  const store = await createFileStore({ dir: join(dir, 'threads') });
  const runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
  const deliveries: CallbackDelivery[] = [];
  const callbacks = createCallbackSender({
    ...(secret === undefined ? {} : { secret }),
    ...(previous === undefined ? {} : { previousSecrets: previous }),
    ledger: fileDeliveryLedger(join(dir, 'deliveries.jsonl')),
    initialDelayMs: 1,
    attempts: 2,
    onDelivery: (d) => deliveries.push(d),
  });
  const detach = callbacks.attach(runtime);
  const server = await startHttpServer(runtime, { port: 0, token: '', ...(secret === undefined ? {} : { callbackSecret: secret }), ...(previous === undefined ? {} : { callbackPreviousSecrets: previous }), ...http });
  const stop = kit.stopOnce(() => server.close(), detach, () => callbacks.close(), () => runtime.close());
  await callbacks.idle();
  return { url: server.url, runtime, deliveries, stop };
}

describe('rotating the webhook secret (SWITCHYARD_WEBHOOK_SECRET_PREVIOUS)', () => {
  it('a thread sealed under the old secret is called back by a process on the new one that lists the old as previous: exact URL, Basic auth, signed with the new secret', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const url = new URL(origin.url);
    url.username = 'cb%20user';
    url.password = 'pw-ROTATE-1';
    const callbackUrl = `${url.href}?b=1&token=qtok-ROTATE-2&x=%2Fa+b`;
    const first = await start(dir, OLD);
    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    expect(launched.status).toBe(201);
    const [asked] = await origin.waitFor(1);
    expect(signedWith(asked!, OLD)).toBe(true);
    // Its delivery recorded before the stop (one cut short would be sent again at the next start).
    await expect.poll(() => first.deliveries.length).toBe(1);
    await first.stop();

    const rotated = await start(dir, NEW, [OLD]);
    // A relaunch with the same callbackUrl is the same launch, though it was sealed under the old secret.
    const again = await call<ThreadView>(rotated.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: launched.body.id, callbackUrl });
    expect(again.status).toBe(200);
    await rotated.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: 'result 4' });
    expect(finished!.path).toBe('/hook?b=1&token=qtok-ROTATE-2&x=%2Fa+b');
    expect(finished!.headers.authorization).toBe(basic('cb user', 'pw-ROTATE-1'));
    expect(signedWith(finished!, NEW)).toBe(true);
    expect(signedWith(finished!, OLD)).toBe(false);
    await expect.poll(() => rotated.deliveries.length).toBe(1);
    expect(rotated.deliveries[0]).toMatchObject({ ok: true, threadId: launched.body.id });
    // What onDelivery is told holds neither opened credential.
    expect(rotated.deliveries[0]!.url).toBe(origin.url);
    for (const secret of ['qtok-ROTATE-2', 'pw-ROTATE-1']) expect(JSON.stringify(rotated.deliveries)).not.toContain(secret);
  });

  it('without the old secret listed, the callback is not sent (as before), and it stays owed until a process that lists it starts', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const callbackUrl = `${origin.url}?token=qtok-ROTATE-3`;
    const first = await start(dir, OLD);
    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    const [asked] = await origin.waitFor(1);
    // Its delivery recorded before the stop (one cut short would be sent again at the next start).
    await expect.poll(() => first.deliveries.length).toBe(1);
    await first.stop();

    const forgot = await start(dir, NEW, ['whsec_some_other_one']);
    await forgot.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    await expect.poll(() => forgot.deliveries.length).toBe(1);
    expect(forgot.deliveries[0]).toMatchObject({ ok: false, attempts: 0, error: expect.stringMatching(/sealed credentials that do not open/) });
    expect(origin.received).toHaveLength(1);
    await forgot.stop();

    await start(dir, NEW, ['whsec_some_other_one', OLD]);
    const [, finished] = await origin.waitFor(2);
    expect(finished!.path).toBe('/hook?token=qtok-ROTATE-3');
    expect(signedWith(finished!, NEW)).toBe(true);
  });

  it('a launch on the rotated process seals under the new secret: a process without the old one still opens it', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const rotated = await start(dir, NEW, [OLD]);
    const launched = await call<ThreadView>(rotated.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl: `${origin.url}?token=qtok-ROTATE-4` });
    const [asked] = await origin.waitFor(1);
    await expect.poll(() => rotated.deliveries.length).toBe(1);
    await rotated.stop();

    const done = await start(dir, NEW);
    await done.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    const [, finished] = await origin.waitFor(2);
    expect(finished!.path).toBe('/hook?token=qtok-ROTATE-4');
  });
});

describe('rotating the hook secret (SWITCHYARD_HOOK_SECRET_PREVIOUS)', () => {
  const deliver = deliverHook;

  it('takes a delivery signed with the old secret while it is listed as previous, and refuses it (401) once removed', async () => {
    const dir = tempDir();
    const during = await start(dir, NEW, undefined, { hookSecret: 'hook-NEW', hookPreviousSecrets: ['hook-OLDER', 'hook-OLD'] });
    expect((await deliver(during.url, 'hook-OLD', 'd1')).status).toBe(201);
    expect((await deliver(during.url, 'hook-OLDER', 'd2')).status).toBe(201);
    expect((await deliver(during.url, 'hook-NEW', 'd3')).status).toBe(201);
    expect((await deliver(during.url, 'hook-UNKNOWN', 'd4')).status).toBe(401);
    await during.stop();

    const after = await start(dir, NEW, undefined, { hookSecret: 'hook-NEW', hookPreviousSecrets: [] });
    const refused = await deliver(after.url, 'hook-OLD', 'd5');
    expect(refused.status).toBe(401);
    expect(JSON.stringify(refused.body)).not.toContain('hook-');
    expect((await deliver(after.url, 'hook-NEW', 'd6')).status).toBe(201);
  });

  it('previous secrets do not turn hooks on without a current one (404)', async () => {
    const off = await start(tempDir(), NEW, undefined, { hookSecret: '', hookPreviousSecrets: ['hook-OLD'] });
    expect((await deliver(off.url, 'hook-OLD', 'd1')).status).toBe(404);
  });
});

describe('previous secrets in the environment', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('widen only a current secret that comes from the environment too, never one given explicitly (callbacks, relaunches)', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const callbackUrl = `${origin.url}?token=qtok-ENV-1`;
    const first = await start(dir, OLD);
    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    const [asked] = await origin.waitFor(1);
    await expect.poll(() => first.deliveries.length).toBe(1);
    await first.stop();

    // Another deployment's rotation in this process's environment: not the embedder's explicit NEW.
    vi.stubEnv('SWITCHYARD_WEBHOOK_SECRET', 'whsec_other_deployment');
    vi.stubEnv('SWITCHYARD_WEBHOOK_SECRET_PREVIOUS', OLD);
    const explicit = await start(dir, NEW);
    const relaunched = await call(explicit.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: launched.body.id, callbackUrl });
    expect(relaunched.status).toBe(409);
    await explicit.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    await expect.poll(() => explicit.deliveries.length).toBe(1);
    expect(explicit.deliveries[0]).toMatchObject({ ok: false, attempts: 0, error: expect.stringMatching(/sealed credentials that do not open/) });
    expect(origin.received).toHaveLength(1);
    await explicit.stop();

    // The current secret from the environment too: its previous ones are read with it.
    vi.stubEnv('SWITCHYARD_WEBHOOK_SECRET', NEW);
    const fromEnv = await start(dir, undefined);
    expect((await call(fromEnv.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: launched.body.id, callbackUrl })).status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(finished!.path).toBe('/hook?token=qtok-ENV-1');
    expect(signedWith(finished!, NEW)).toBe(true);
  });

  it('widen only a hook secret that comes from the environment too, never one given explicitly (inbound hooks)', async () => {
    vi.stubEnv('SWITCHYARD_HOOK_SECRET', 'hook-other-deployment');
    vi.stubEnv('SWITCHYARD_HOOK_SECRET_PREVIOUS', 'hook-ENV-OLD');
    const explicit = await start(tempDir(), NEW, undefined, { hookSecret: 'hook-NEW' });
    expect((await deliverHook(explicit.url, 'hook-NEW', 'e1')).status).toBe(201);
    expect((await deliverHook(explicit.url, 'hook-ENV-OLD', 'e2')).status).toBe(401);
    await explicit.stop();

    vi.stubEnv('SWITCHYARD_HOOK_SECRET', 'hook-NEW');
    const fromEnv = await start(tempDir(), NEW);
    expect((await deliverHook(fromEnv.url, 'hook-NEW', 'e3')).status).toBe(201);
    expect((await deliverHook(fromEnv.url, 'hook-ENV-OLD', 'e4')).status).toBe(201);
  });
});

/** POSTs a hook delivery for `echo`, signed with `secret`. */
function deliverHook(base: string, secret: string, delivery: string): Promise<JsonResponse> {
  const raw = JSON.stringify({ hello: delivery });
  const timestamp = String(Math.floor(Date.now() / 1000));
  return call(base, 'POST', '/hooks/echo', raw, {
    'content-type': 'application/json',
    'X-Switchyard-Timestamp': timestamp,
    'X-Switchyard-Signature': signWebhook(raw, secret, timestamp),
    'X-Switchyard-Delivery': delivery,
  });
}

describe('verifyWebhookSignature with a list of secrets', () => {
  const body = '{"id":"t:1"}';
  const now = 1_700_000_000_000;
  const timestamp = String(now / 1000);
  const signed = (secret: string) => ({ timestamp, signature: signWebhook(body, secret, timestamp) });

  it('accepts a signature made with any secret of the list, refuses others; a single secret works as before', () => {
    expect(verifyWebhookSignature(body, signed('b'), ['a', 'b'], 300, now)).toBe(true);
    expect(verifyWebhookSignature(body, signed('a'), ['a', 'b'], 300, now)).toBe(true);
    expect(verifyWebhookSignature(body, signed('c'), ['a', 'b'], 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, signed('a'), 'a', 300, now)).toBe(true);
    expect(verifyWebhookSignature(body, signed('a'), 'b', 300, now)).toBe(false);
  });

  it('verifies nothing with an empty list or empty secrets, and still checks the timestamp', () => {
    expect(verifyWebhookSignature(body, signed('a'), [], 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, signed(''), ['', ''], 300, now)).toBe(false);
    expect(verifyWebhookSignature(body, signed('a'), ['b', 'a'], 300, now + 301_000)).toBe(false);
  });
});
