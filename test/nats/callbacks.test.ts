import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import type { CallbackPayload } from '../../src/surface/callbacks.js';
import { incarnateId } from '../../src/thread/incarnation.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually } from '../bus/waiting.js';
import { call } from '../server/harness.js';
import { signedWith, startReceiver, type Receiver } from '../server/receiver.js';
import { plainClient, startNode, uniqueToken } from './natsTestKit.js';

// An HTTP launch's callback in a NATS deployment: the API process takes no jobs and sends no
// callbacks; the worker that brings the thread to rest calls the origin back, signed.
const SECRET = 'whsec_nats_callbacks';
const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
let server: NatsServerHandle;
let api: NatsNode;
let worker: NatsNode;
let http: HttpServer;
let origin: Receiver;

/** One agent step: the calculator divides, which needs an approval. */
const halve = pipeline({ name: 'halve', description: 'asks the calculator to divide', input: z.object({}), output: z.unknown() })
  .agent({ name: 'divide', agent: 'calculator', input: () => 'what is 8 / 2' })
  .finish(({ results }) => results.divide);

beforeAll(async () => {
  server = await startNatsServer();
  const common = { ...names, agents: [calculator], pipelines: [halve], model: createDemoModel(), queue: { ackWaitMs: 3_000, retryDelayMs: 200 } };
  api = await startNode(server.url, { ...common, processId: 'api', worker: false, callbacks: false });
  worker = await startNode(server.url, { ...common, processId: 'worker', observe: false, callbacks: { secret: SECRET, initialDelayMs: 10 } });
  http = await startHttpServer(api.runtime, { port: 0, token: '', callbackSecret: SECRET });
  origin = await startReceiver();
});

afterAll(async () => {
  await origin?.close();
  await http?.close();
  await Promise.all([api?.close({ drainMs: 1_000 }), worker?.close({ drainMs: 1_000 })]);
  await server?.stop();
});

const payloadOf = (r: { body: string }): CallbackPayload => JSON.parse(r.body) as CallbackPayload;

describe('callbackUrl on NATS', () => {
  it('is called by the worker that runs the thread, when it needs a human and when it ends', async () => {
    const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'calculator', input: 'what is 8 / 2', callbackUrl: origin.url });
    expect(launched.status).toBe(201);
    const [asked] = await origin.waitFor(1);
    expect(signedWith(asked!, SECRET)).toBe(true);
    const request = payloadOf(asked!);
    expect(request).toMatchObject({ type: 'thread.human_request', threadId: launched.body.id, pendingRequest: { kind: 'approval' } });

    const answered = await call(http.url, 'POST', `/threads/${launched.body.id}/respond`, { requestId: request.pendingRequest!.requestId, approved: true });
    expect(answered.status).toBe(200);
    const [, finished] = await origin.waitFor(2);
    expect(signedWith(finished!, SECRET)).toBe(true);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, status: 'done', output: '8 / 2 = 4' });
  });

  it('with credentials (userinfo and a query token): the KV holds them sealed, and the worker opens them to call the URL given with Authorization: Basic', async () => {
    const own = await startReceiver();
    try {
      const url = new URL(own.url);
      url.username = 'nats-cb';
      url.password = 'pw-NATS-SEALED-1';
      url.search = '?b=1&token=qtok-NATS-SEALED-2';
      const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 21', callbackUrl: url.href });
      expect(launched.status).toBe(201);
      const [finished] = await own.waitFor(1);
      expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, output: '2 * 21 = 42' });
      expect(finished!.headers.authorization).toBe(`Basic ${Buffer.from('nats-cb:pw-NATS-SEALED-1').toString('base64')}`);
      expect(finished!.path).toBe('/hook?b=1&token=qtok-NATS-SEALED-2');
      const stored = await worker.runtime.get(launched.body.id);
      for (const secret of ['pw-NATS-SEALED-1', 'qtok-NATS-SEALED-2']) {
        expect(JSON.stringify(stored)).not.toContain(secret);
        expect(JSON.stringify(launched.body)).not.toContain(secret);
      }
    } finally {
      await own.close();
    }
  });

  it('recorded in clear by an earlier version: still sent with Basic, and a NATS get request shows it masked', async () => {
    const own = await startReceiver();
    const client = await plainClient(server.url);
    try {
      const url = new URL(own.url);
      url.username = 'old';
      url.password = 'pw-NATS-LEGACY-1';
      await api.runtime.launch('calculator', 'multiply 3 by 3', { threadId: 'cb-legacy-clear', source: { kind: 'http', replyTo: url.href } });
      const [finished] = await own.waitFor(1);
      expect(finished!.headers.authorization).toBe(`Basic ${Buffer.from('old:pw-NATS-LEGACY-1').toString('base64')}`);
      const got = await client.request<{ ok: boolean; thread: ThreadView }>(`${names.prefix}.thread.cb-legacy-clear.get`, '');
      expect(got.ok).toBe(true);
      expect(got.thread.events[0]).toMatchObject({ data: { source: { replyTo: `http://old:***@127.0.0.1:${url.port}/hook` } } });
      expect(JSON.stringify(got)).not.toContain('pw-NATS-LEGACY-1');
    } finally {
      await client.close();
      await own.close();
    }
  });

  it('is called by the worker that runs a pipeline’s child when the child waits for a human, naming the child', async () => {
    const own = await startReceiver();
    try {
      const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'halve', input: {}, callbackUrl: own.url });
      expect(launched.status).toBe(201);
      const childId = childThreadId(launched.body.id, 'divide');
      const [asked] = await own.waitFor(1);
      expect(signedWith(asked!, SECRET)).toBe(true);
      const request = payloadOf(asked!);
      expect(request).toMatchObject({ type: 'thread.human_request', threadId: launched.body.id, agent: 'halve', status: 'running', childThreadId: childId, childAgent: 'calculator', pendingRequest: { kind: 'approval' } });
      expect(request.id).toMatch(new RegExp(`^${childId}@[0-9a-z]+:\\d+$`));

      const answered = await call(http.url, 'POST', `/threads/${childId}/respond`, { requestId: request.pendingRequest!.requestId, approved: true });
      expect(answered.status).toBe(200);
      const finished = await eventually(async () => own.received.map(payloadOf).find((p) => p.type === 'thread.finished'), 20_000, 'the pipeline’s thread.finished');
      expect(finished).toMatchObject({ threadId: launched.body.id, status: 'done', output: '8 / 2 = 4' });
    } finally {
      await own.close();
    }
  });

  it('is called again, with the same delivery id, when the job that reported a rest comes back', async () => {
    const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'calculator', input: 'multiply 6 by 7', callbackUrl: origin.url });
    const before = origin.received.length;
    const [finished] = (await origin.waitFor(before + 1)).slice(before);
    expect(payloadOf(finished!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, output: '6 * 7 = 42' });
    // A continuation of the ended thread, as a redelivery after a crash would be.
    const queues = createAgentQueues({ bus: api.bus, prefix: names.prefix });
    await queues.guard('calculator', launched.body.id, 1);
    const [again] = (await origin.waitFor(before + 2)).slice(before + 1);
    expect(again!.headers['x-switchyard-delivery']).toBe(finished!.headers['x-switchyard-delivery']);
    expect(payloadOf(again!)).toEqual(payloadOf(finished!));
  });

  it('is sent again on a later delivery of the job when its attempts all failed (the receiver was down)', async () => {
    // Four attempts per delivery (the sender's default): the first delivery's all fail, the job
    // comes back, and the next delivery's second attempt gets through.
    const down = await startReceiver([503, 503, 503, 503, 503, 200]);
    try {
      const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'calculator', input: 'multiply 3 by 5', callbackUrl: down.url });
      const received = await down.waitFor(6);
      const ids = new Set(received.map((r) => r.headers['x-switchyard-delivery']));
      expect([...ids]).toEqual([`${incarnateId(launched.body.id, launched.body.createdAt)}:${payloadOf(received[5]!).version}`]);
      expect(payloadOf(received[5]!)).toMatchObject({ type: 'thread.finished', threadId: launched.body.id, output: '3 * 5 = 15' });
      expect(await (await worker.queues.queue('calculator')).deadLetters()).toEqual([]);
    } finally {
      await down.close();
    }
  });

  it('dead-letters the job, saying why, when every delivery\'s attempts failed', async () => {
    const down = await startReceiver(503);
    try {
      const launched = await call<ThreadView>(http.url, 'POST', '/threads', { agent: 'calculator', input: 'multiply 4 by 5', callbackUrl: down.url });
      const letters = await eventually(async () => {
        const found = (await (await worker.queues.queue('calculator')).deadLetters()).filter((l) => l.reason.includes(launched.body.id));
        return found.length > 0 ? found : undefined;
      }, 20_000, 'the dead letter');
      expect(letters).toEqual([expect.objectContaining({ cause: 'max_deliver', reason: expect.stringMatching(/callback .* not delivered.*HTTP 503/) })]);
      // Five deliveries of four attempts each.
      expect(down.received.length).toBe(20);
      expect((await worker.runtime.get(launched.body.id))?.status).toBe('done');
    } finally {
      await down.close();
    }
  });
});

describe('a worker without a webhook secret', () => {
  it('does not acknowledge a job whose callback it cannot sign: the job comes back, then is dead-lettered naming the missing secret', async () => {
    const receiver = await startReceiver();
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}`, agents: [calculator], model: createDemoModel(), queue: { ackWaitMs: 3_000, retryDelayMs: 200 } };
    const unsigned = await startNode(server.url, { ...own, processId: 'unsigned', observe: false, callbacks: { secret: '', initialDelayMs: 10 } });
    try {
      await unsigned.runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'cb-unsigned', source: { kind: 'http', replyTo: receiver.url } });
      const letters = await eventually(async () => {
        const found = (await (await unsigned.queues.queue('calculator')).deadLetters()).filter((l) => l.reason.includes('cb-unsigned'));
        return found.length > 0 ? found : undefined;
      }, 20_000, 'the dead letter');
      expect(letters).toEqual([expect.objectContaining({ cause: 'max_deliver', reason: expect.stringMatching(/callback cb-unsigned@[0-9a-z]+:\d+ not delivered.*SWITCHYARD_WEBHOOK_SECRET/) })]);
      expect(receiver.received).toEqual([]);
      expect((await unsigned.runtime.get('cb-unsigned'))?.status).toBe('done');
    } finally {
      await unsigned.close({ drainMs: 1_000 });
      await receiver.close();
    }
  });
});

describe('a worker stopped while a callback is in flight', () => {
  it('stops within its drain time and hands the job back, and another worker sends the callback', async () => {
    // The receiver holds its first request without answering, and takes the ones after it.
    const arrived: string[] = [];
    const held: ServerResponse[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        arrived.push(String(req.headers['x-switchyard-delivery']));
        if (arrived.length === 1) held.push(res);
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}`, agents: [calculator], model: createDemoModel(), queue: { ackWaitMs: 3_000, retryDelayMs: 200 } };
    const callbacks = { secret: SECRET, initialDelayMs: 10, timeoutMs: 60_000 };
    const first = await startNode(server.url, { ...own, processId: 'first', observe: false, callbacks });
    let second: NatsNode | undefined;
    try {
      await first.runtime.launch('calculator', 'multiply 5 by 5', { threadId: 'cb-stop', source: { kind: 'http', replyTo: url } });
      await eventually(async () => (arrived.length === 1 ? true : undefined), 10_000, 'the first attempt');
      const started = performance.now();
      await first.close({ drainMs: 300 });
      // Not held for the callback's own timeout (60 s).
      expect(performance.now() - started).toBeLessThan(10_000);
      second = await startNode(server.url, { ...own, processId: 'second', observe: false, callbacks });
      await eventually(async () => (arrived.length >= 2 ? true : undefined), 15_000, 'the callback from the second worker');
      const stopped = (await second.runtime.get('cb-stop'))!;
      expect(new Set(arrived)).toEqual(new Set([`${incarnateId('cb-stop', stopped.createdAt)}:${stopped.version}`]));
      expect(await (await second.queues.queue('calculator')).deadLetters()).toEqual([]);
    } finally {
      await second?.close({ drainMs: 1_000 });
      await first.close({ drainMs: 0 });
      for (const res of held) res.destroy();
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
