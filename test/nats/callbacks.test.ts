import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import type { CallbackPayload } from '../../src/surface/callbacks.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { call } from '../server/harness.js';
import { signedWith, startReceiver, type Receiver } from '../server/receiver.js';
import { startNode, uniqueToken } from './natsTestKit.js';

// An HTTP launch's callback in a NATS deployment: the API process takes no jobs and sends no
// callbacks; the worker that brings the thread to rest calls the origin back, signed.
const SECRET = 'whsec_nats_callbacks';
const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
let server: NatsServerHandle;
let api: NatsNode;
let worker: NatsNode;
let http: HttpServer;
let origin: Receiver;

beforeAll(async () => {
  server = await startNatsServer();
  const common = { ...names, agents: [calculator], model: createDemoModel(), queue: { ackWaitMs: 3_000, retryDelayMs: 200 } };
  api = await startNode(server.url, { ...common, processId: 'api', worker: false, callbacks: false });
  worker = await startNode(server.url, { ...common, processId: 'worker', observe: false, callbacks: { secret: SECRET, initialDelayMs: 10 } });
  http = await startHttpServer(api.runtime, { port: 0, token: '' });
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
});
