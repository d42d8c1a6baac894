/**
 * A callbackUrl's credentials (`https://user:pass@host/hook`, `?token=...`) never rest in the
 * thread in clear: the launch records the URL with its userinfo and the values of its secret-named
 * query parameters sealed under a key derived from the webhook secret, the process that calls back
 * opens them (after a restart, on any process with the same secret) to send `Authorization: Basic`
 * to the URL the launch gave, and what the server shows of a thread holds no password nor token,
 * also for a thread recorded in clear before.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { inspectorExtension } from '../../src/inspector/mount.js';
import { createLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { fileDeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createCallbackSender, type CallbackDelivery, type CallbackOptions, type CallbackPayload } from '../../src/surface/callbacks.js';
import { call, decide, echo } from './harness.js';
import type { Receiver } from './receiver.js';
import { useRedeliveryKit } from './redeliveryKit.js';

const SECRET = 'whsec_sealed_callback_credentials';
const kit = useRedeliveryKit('switchyard-sealed-credentials-');
const { tempDir, receiver } = kit;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const payloadOf = (r: { body: string }): CallbackPayload => JSON.parse(r.body) as CallbackPayload;
const DIVIDE = { op: 'divide', a: 8, b: 2 }; // asks for an approval, then ends

/** `to`'s URL with `user:password` (percent-encoded). */
function withCredentials(to: Receiver, user: string, password: string): string {
  const url = new URL(to.url);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
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

/** Every file under `dir`, concatenated. */
function filesUnder(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path, 'utf8'))
    .join('\n');
}

interface Process {
  readonly url: string;
  readonly store: ThreadStore;
  readonly runtime: ReturnType<typeof createRuntime>;
  readonly deliveries: CallbackDelivery[];
  stop(): Promise<void>;
}

/** An embedded `serve` on `dir`: a file store, a runtime, its callbacks and the HTTP server. */
async function start(dir: string, options: { secret: string; callbacks?: CallbackOptions; inspector?: boolean }): Promise<Process> {
  const store = await createFileStore({ dir: join(dir, 'threads') });
  const runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
  const deliveries: CallbackDelivery[] = [];
  const callbacks = createCallbackSender({ secret: options.secret, initialDelayMs: 1, attempts: 2, onDelivery: (d) => deliveries.push(d), ...options.callbacks });
  const detach = callbacks.attach(runtime);
  const extensions = options.inspector ? [inspectorExtension({ bus: createMemoryBus() })] : [];
  const server = await startHttpServer(runtime, { port: 0, token: '', callbackSecret: options.secret, extensions });
  const stop = kit.stopOnce(() => server.close(), detach, () => callbacks.close(), () => runtime.close());
  await callbacks.idle();
  return { url: server.url, store, runtime, deliveries, stop };
}

describe('an HTTP launch whose callbackUrl has credentials', () => {
  it('records no password (store, file on disk, GET /threads/:id), and is called back with Authorization: Basic, also after a restart', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const callbackUrl = withCredentials(origin, 'cb user', 'pw-SEALED-1');
    const first = await start(dir, { secret: SECRET });

    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    expect(launched.status).toBe(201);
    const [asked] = await origin.waitFor(1);
    expect(asked!.headers.authorization).toBe(basic('cb user', 'pw-SEALED-1'));
    expect(asked!.path).toBe('/hook');
    const request = payloadOf(asked!);
    expect(request).toMatchObject({ type: 'thread.human_request', threadId: launched.body.id });

    const shown = await call<ThreadView>(first.url, 'GET', `/threads/${launched.body.id}`);
    const stored = await first.store.get(launched.body.id);
    const replyTo = stored!.events[0]!.type === 'input' ? stored!.events[0]!.data.source?.replyTo : undefined;
    const secrets = ['pw-SEALED-1', basic('cb user', 'pw-SEALED-1').slice(6)];
    for (const secret of secrets) {
      expect(filesUnder(dir)).not.toContain(secret);
      expect(JSON.stringify(shown.body)).not.toContain(secret);
      expect(JSON.stringify(stored)).not.toContain(secret);
      expect(JSON.stringify(launched.body)).not.toContain(secret);
    }
    // The receiver is still named; its userinfo is a sealed token.
    expect(replyTo).toMatch(/^http:\/\/sealed\.v1\.[A-Za-z0-9_-]+@127\.0\.0\.1:\d+\/hook$/);
    await first.stop();

    // Another process on the same directory, with the same secret, answers the request: the
    // thread ends and that process calls back, with the credentials.
    const second = await start(dir, { secret: SECRET });
    await second.runtime.respond(launched.body.id, { requestId: request.pendingRequest!.requestId, approved: true });
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: 'result 4' });
    expect(finished!.headers.authorization).toBe(basic('cb user', 'pw-SEALED-1'));
    for (const secret of secrets) expect(filesUnder(dir)).not.toContain(secret);
  });

  it('is refused (400) by a server without a webhook secret, naming how to fix it; without the credentials it is taken', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const unsealed = await start(dir, { secret: '' });
    const refused = await call(unsealed.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: 'no-secret', callbackUrl: withCredentials(origin, 'cb', 'pw-NOSECRET-1') });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/SWITCHYARD_WEBHOOK_SECRET/);
    expect(refused.body.error).toMatch(/without (its|the) credentials/);
    expect(JSON.stringify(refused.body)).not.toContain('pw-NOSECRET-1');
    expect(await unsealed.runtime.get('no-secret')).toBeUndefined();
    expect(filesUnder(dir)).not.toContain('pw-NOSECRET-1');
  });

  it('fails to be called back, with a warning and recorded as owed (no crash), when the secret changed; the right secret sends it', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const first = await start(dir, { secret: SECRET });
    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl: withCredentials(origin, 'cb', 'pw-ROTATED-1') });
    const [asked] = await origin.waitFor(1);
    await first.stop();

    const ledgerPath = join(dir, 'deliveries.jsonl');
    const log = capturedLogger();
    const rotated = await start(dir, { secret: 'another-secret', callbacks: { ledger: fileDeliveryLedger(ledgerPath), logger: log.logger } });
    await rotated.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    await expect.poll(() => rotated.deliveries.length).toBe(1);
    expect(rotated.deliveries[0]).toMatchObject({ threadId: launched.body.id, ok: false, attempts: 0, error: expect.stringMatching(/sealed/) });
    expect(rotated.deliveries[0]!.refused ?? false).toBe(false);
    const warned = log.lines().find((line) => line.level === 40 && typeof line.msg === 'string' && /sealed/.test(line.msg));
    expect(warned).toMatchObject({ url: origin.url, threadId: launched.body.id });
    expect(origin.received).toHaveLength(1);
    expect((await rotated.runtime.get(launched.body.id))?.status).toBe('done');
    await rotated.stop();
    expect(log.text()).not.toContain('pw-ROTATED-1');
    expect(log.text()).not.toContain('sealed.v1.');
    expect((await fileDeliveryLedger(ledgerPath).owed()).map((owed) => owed.threadId)).toEqual([launched.body.id]);

    // Back on the right secret: what is owed is sent.
    await start(dir, { secret: SECRET, callbacks: { ledger: fileDeliveryLedger(ledgerPath) } });
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id });
    expect(finished!.headers.authorization).toBe(basic('cb', 'pw-ROTATED-1'));
  });

  it('is relaunched (200) with the same callbackUrl; another one is refused (409) without naming a credential', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const running = await start(dir, { secret: SECRET });
    const callbackUrl = withCredentials(origin, 'cb', 'pw-RELAUNCH-1');
    const launch = (url: string) => call<ThreadView & { error?: string }>(running.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: 'relaunched', callbackUrl: url });
    expect((await launch(callbackUrl)).status).toBe(201);

    const again = await launch(callbackUrl);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe('relaunched');
    expect(JSON.stringify(again.body)).not.toContain('pw-RELAUNCH-1');

    for (const other of [withCredentials(origin, 'cb', 'pw-RELAUNCH-2'), withCredentials(origin, 'someone', 'pw-RELAUNCH-1'), origin.url]) {
      const refused = await launch(other);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatch(/another callbackUrl/);
      expect(refused.body.error).not.toMatch(/pw-RELAUNCH|sealed\.v1/);
    }
  });
});

describe('a thread whose callbackUrl was recorded in clear (before credentials were sealed)', () => {
  it('is still called back with its credentials, and the server shows it without the password (views, events stream, relaunch, inspector)', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const running = await start(dir, { secret: SECRET, inspector: true });
    const clear = withCredentials(origin, 'old user', 'pw-LEGACY-1');
    await running.runtime.launch('calculator', DIVIDE, { threadId: 'legacy', source: { kind: 'http', replyTo: clear } });
    const [asked] = await origin.waitFor(1);
    expect(asked!.headers.authorization).toBe(basic('old user', 'pw-LEGACY-1'));

    const relaunched = await call<ThreadView>(running.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: 'legacy', callbackUrl: clear });
    expect(relaunched.status).toBe(200);
    const shown = await call<ThreadView>(running.url, 'GET', '/threads/legacy');
    expect(shown.body.events[0]).toMatchObject({ data: { source: { kind: 'http', replyTo: `http://old%20user:***@127.0.0.1:${new URL(origin.url).port}/hook` } } });
    const answered = await call<ThreadView>(running.url, 'POST', '/threads/legacy/respond', { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(finished!.headers.authorization).toBe(basic('old user', 'pw-LEGACY-1'));
    const waited = await call<ThreadView>(running.url, 'GET', '/threads/legacy/wait');
    const streamed = await (await fetch(`${running.url}/threads/legacy/events`)).text();
    const inspected = await call<ThreadView>(running.url, 'GET', '/inspector/api/threads/legacy');
    expect(inspected.body.events[0]).toMatchObject({ data: { source: { replyTo: expect.stringContaining('old%20user:***@') } } });
    expect(streamed).toContain('event: end');
    expect(streamed).toContain('old%20user:***@');
    for (const text of [JSON.stringify(relaunched.body), JSON.stringify(shown.body), JSON.stringify(answered.body), JSON.stringify(waited.body), JSON.stringify(inspected.body), streamed]) {
      expect(text).not.toContain('pw-LEGACY-1');
    }
  });
});

/**
 * A callbackUrl whose query carries secrets among other parameters, already in the form `new URL`
 * writes (so what the receiver gets can be compared byte for byte): a name percent-encoded, a value
 * with an `=`, `+` and `%2B` kept apart, an empty value, a name without a value, a repeated name.
 */
const QUERY = '?b=1&token=qtok-SEALED-1&x=%2Fa+b%2B&api_key=qtok-SEALED-2&empty=&flag&sig=qtok-SEALED-3=&%74oken=qtok-SEALED-4&b=2&code=qtok-SEALED-5';
const QUERY_SECRETS = ['qtok-SEALED-1', 'qtok-SEALED-2', 'qtok-SEALED-3', 'qtok-SEALED-4', 'qtok-SEALED-5'];

const replyToOf = (thread: { events: readonly ThreadView['events'][number][] } | undefined): string | undefined => {
  const first = thread?.events[0];
  return first?.type === 'input' ? first.data.source?.replyTo : undefined;
};

describe('an HTTP launch whose callbackUrl has secrets in its query', () => {
  it('records none of them (store, file on disk, GET /threads/:id), and calls back the exact URL given, also after a restart', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const callbackUrl = `${origin.url}${QUERY}`;
    expect(new URL(callbackUrl).href).toBe(callbackUrl); // the test's premise: nothing for the URL parser to rewrite
    const first = await start(dir, { secret: SECRET });

    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    expect(launched.status).toBe(201);
    const [asked] = await origin.waitFor(1);
    expect(asked!.path).toBe(`/hook${QUERY}`);
    expect(asked!.headers.authorization).toBeUndefined();
    const request = payloadOf(asked!);

    const shown = await call<ThreadView>(first.url, 'GET', `/threads/${launched.body.id}`);
    const stored = await first.store.get(launched.body.id);
    for (const secret of QUERY_SECRETS) {
      expect(filesUnder(dir)).not.toContain(secret);
      expect(JSON.stringify(shown.body)).not.toContain(secret);
      expect(JSON.stringify(stored)).not.toContain(secret);
      expect(JSON.stringify(launched.body)).not.toContain(secret);
    }
    // The other parameters are kept as given, in their order; each secret value is a sealed token.
    const token = 'sealed\\.v1\\.[A-Za-z0-9_-]+';
    expect(replyToOf(stored)).toMatch(new RegExp(`^${origin.url.replace(/[.]/g, '\\.')}\\?b=1&token=${token}&x=%2Fa\\+b%2B&api_key=${token}&empty=&flag&sig=${token}&%74oken=${token}&b=2&code=${token}$`));
    expect(replyToOf(shown.body)).toBe(replyToOf(stored));
    await first.stop();

    const second = await start(dir, { secret: SECRET });
    await second.runtime.respond(launched.body.id, { requestId: request.pendingRequest!.requestId, approved: true });
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: 'result 4' });
    expect(finished!.path).toBe(`/hook${QUERY}`);
    for (const secret of QUERY_SECRETS) expect(filesUnder(dir)).not.toContain(secret);
  });

  it('with credentials in its userinfo too: both sealed, both sent', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const callbackUrl = `${withCredentials(origin, 'cb', 'pw-BOTH-1')}?token=qtok-BOTH-2&page=3`;
    const running = await start(dir, { secret: SECRET });
    const launched = await call<ThreadView>(running.url, 'POST', '/threads', { agent: 'echo', input: 'both', callbackUrl });
    expect(launched.status).toBe(201);
    const [finished] = await origin.waitFor(1);
    expect(finished!.path).toBe('/hook?token=qtok-BOTH-2&page=3');
    expect(finished!.headers.authorization).toBe(basic('cb', 'pw-BOTH-1'));
    expect(replyToOf(await running.store.get(launched.body.id))).toMatch(/^http:\/\/sealed\.v1\.[A-Za-z0-9_-]+@127\.0\.0\.1:\d+\/hook\?token=sealed\.v1\.[A-Za-z0-9_-]+&page=3$/);
    for (const secret of ['pw-BOTH-1', 'qtok-BOTH-2']) expect(filesUnder(dir)).not.toContain(secret);
    // What onDelivery is told (and send() returns) names the receiver without either credential.
    await expect.poll(() => running.deliveries.length).toBe(1);
    expect(running.deliveries[0]).toMatchObject({ ok: true, url: origin.url });
    for (const secret of ['pw-BOTH-1', 'qtok-BOTH-2']) expect(JSON.stringify(running.deliveries)).not.toContain(secret);
  });

  it('is refused (400) by a server without a webhook secret, naming how to fix it; a query without a secret-named parameter is taken', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const unsealed = await start(dir, { secret: '' });
    for (const [n, query] of ['?token=qtok-NOSECRET-1', '?b=1&apiKey=qtok-NOSECRET-1', '?access_token=qtok-NOSECRET-1&x', '?signature=qtok-NOSECRET-1'].entries()) {
      const refused = await call(unsealed.url, 'POST', '/threads', { agent: 'echo', input: 'x', threadId: `no-secret-${n}`, callbackUrl: `${origin.url}${query}` });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/SWITCHYARD_WEBHOOK_SECRET/);
      expect(refused.body.error).toMatch(/without (its|the) credentials/);
      expect(JSON.stringify(refused.body)).not.toContain('qtok-NOSECRET-1');
      expect(await unsealed.runtime.get(`no-secret-${n}`)).toBeUndefined();
    }
    expect(filesUnder(dir)).not.toContain('qtok-NOSECRET-1');
    const taken = await call(unsealed.url, 'POST', '/threads', { agent: 'echo', input: 'x', callbackUrl: `${origin.url}?page=2&format=json` });
    expect(taken.status).toBe(201);
  });

  it('is refused (400) when a secret-named value is already a sealed token (as a thread shows it), as a sealed userinfo is', async () => {
    const origin = await receiver(200);
    const running = await start(tempDir(), { secret: SECRET });
    for (const callbackUrl of [`${origin.url}?token=sealed.v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, origin.url.replace('//', '//sealed.v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@')]) {
      const refused = await call(running.url, 'POST', '/threads', { agent: 'echo', input: 'x', callbackUrl });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/sealed/);
    }
  });

  it('fails to be called back, with a warning and recorded as owed (no crash), when the secret changed; the right secret sends the exact URL', async () => {
    const dir = tempDir();
    const origin = await receiver(200);
    const first = await start(dir, { secret: SECRET });
    const callbackUrl = `${origin.url}?b=1&token=qtok-ROTATED-1`;
    const launched = await call<ThreadView>(first.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, callbackUrl });
    const [asked] = await origin.waitFor(1);
    await first.stop();

    const ledgerPath = join(dir, 'deliveries.jsonl');
    const log = capturedLogger();
    const rotated = await start(dir, { secret: 'another-secret', callbacks: { ledger: fileDeliveryLedger(ledgerPath), logger: log.logger } });
    await rotated.runtime.respond(launched.body.id, { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    await expect.poll(() => rotated.deliveries.length).toBe(1);
    expect(rotated.deliveries[0]).toMatchObject({ threadId: launched.body.id, ok: false, attempts: 0, error: expect.stringMatching(/sealed/) });
    expect(rotated.deliveries[0]!.refused ?? false).toBe(false);
    const warned = log.lines().find((line) => line.level === 40 && typeof line.msg === 'string' && /sealed/.test(line.msg));
    expect(warned).toMatchObject({ url: origin.url, threadId: launched.body.id });
    expect(origin.received).toHaveLength(1);
    expect((await rotated.runtime.get(launched.body.id))?.status).toBe('done');
    await rotated.stop();
    expect(log.text()).not.toContain('qtok-ROTATED-1');
    expect(log.text()).not.toContain('sealed.v1.');
    expect((await fileDeliveryLedger(ledgerPath).owed()).map((owed) => owed.threadId)).toEqual([launched.body.id]);

    await start(dir, { secret: SECRET, callbacks: { ledger: fileDeliveryLedger(ledgerPath) } });
    const [, finished] = await origin.waitFor(2);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id });
    expect(finished!.path).toBe('/hook?b=1&token=qtok-ROTATED-1');
  });

  it('is relaunched (200) with the same callbackUrl; another one is refused (409) without naming a credential', async () => {
    const origin = await receiver(200);
    const running = await start(tempDir(), { secret: SECRET });
    const callbackUrl = `${origin.url}?b=1&token=qtok-RELAUNCH-1`;
    const launch = (url: string) => call<ThreadView & { error?: string }>(running.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: 'relaunched-q', callbackUrl: url });
    expect((await launch(callbackUrl)).status).toBe(201);

    const again = await launch(callbackUrl);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe('relaunched-q');
    expect(JSON.stringify(again.body)).not.toContain('qtok-RELAUNCH-1');

    for (const other of [`${origin.url}?b=1&token=qtok-RELAUNCH-2`, `${origin.url}?token=qtok-RELAUNCH-1&b=1`, `${origin.url}?b=1`, origin.url]) {
      const refused = await launch(other);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatch(/another callbackUrl/);
      expect(refused.body.error).not.toMatch(/qtok-RELAUNCH|sealed\.v1/);
    }
  });
});

describe('a thread whose callbackUrl was recorded with a query secret in clear (before they were sealed)', () => {
  it('is still called back at that URL, and the server shows it with the secret values masked (views, events stream, relaunch, inspector)', async () => {
    const origin = await receiver(200);
    const running = await start(tempDir(), { secret: SECRET, inspector: true });
    const clear = `${origin.url}?b=1&token=qtok-LEGACY-Q1&api_key=qtok-LEGACY-Q2`;
    await running.runtime.launch('calculator', DIVIDE, { threadId: 'legacy-q', source: { kind: 'http', replyTo: clear } });
    const [asked] = await origin.waitFor(1);
    expect(asked!.path).toBe('/hook?b=1&token=qtok-LEGACY-Q1&api_key=qtok-LEGACY-Q2');

    const relaunched = await call<ThreadView>(running.url, 'POST', '/threads', { agent: 'calculator', input: DIVIDE, threadId: 'legacy-q', callbackUrl: clear });
    expect(relaunched.status).toBe(200);
    const shown = await call<ThreadView>(running.url, 'GET', '/threads/legacy-q');
    expect(shown.body.events[0]).toMatchObject({ data: { source: { kind: 'http', replyTo: `${origin.url}?b=1&token=***&api_key=***` } } });
    const answered = await call<ThreadView>(running.url, 'POST', '/threads/legacy-q/respond', { requestId: payloadOf(asked!).pendingRequest!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(finished!.path).toBe('/hook?b=1&token=qtok-LEGACY-Q1&api_key=qtok-LEGACY-Q2');
    const waited = await call<ThreadView>(running.url, 'GET', '/threads/legacy-q/wait');
    const streamed = await (await fetch(`${running.url}/threads/legacy-q/events`)).text();
    const inspected = await call<ThreadView>(running.url, 'GET', '/inspector/api/threads/legacy-q');
    expect(streamed).toContain('event: end');
    expect(streamed).toContain('token=***&api_key=***');
    expect(inspected.body.events[0]).toMatchObject({ data: { source: { replyTo: expect.stringContaining('?b=1&token=***&api_key=***') } } });
    for (const text of [JSON.stringify(relaunched.body), JSON.stringify(shown.body), JSON.stringify(answered.body), JSON.stringify(waited.body), JSON.stringify(inspected.body), streamed]) {
      expect(text).not.toMatch(/qtok-LEGACY-Q/);
    }
  });
});
