/**
 * On NATS, a thread deleted and launched again under its id within the queues' duplicate window
 * (JetStream drops a job whose `Nats-Msg-Id` it saw in the window): the new thread's jobs must not
 * carry the msg ids of its earlier self's, or they are dropped and the new thread stalls.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { createRuntime, type ThreadView } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus, type BusSurface } from '../../src/surface/attachBus.js';
import { delay, within } from '../bus/waiting.js';
import { decide, echo } from '../server/harness.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { FAST_RECONNECT, uniqueToken } from './natsTestKit.js';

let server: NatsServerHandle;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await server?.stop();
});

/** A worker on fresh subjects, its threads in a memory store, its queues deduplicating over two minutes (the default). */
async function workerNode(): Promise<BusSurface> {
  const bus = await createNatsBus({ servers: server.url, connectOptions: FAST_RECONNECT });
  const queues = createAgentQueues({ bus, prefix: `sy${uniqueToken()}`, ackWaitMs: 5_000, retryDelayMs: 200, maxDeliver: 3 });
  const runtime = createRuntime({ agents: [echo], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }), schedule: queues.schedule });
  const surface = await attachBus(runtime, { queues, processId: `incarnations-${uniqueToken()}` });
  cleanups.push(async () => {
    await surface.close({ drainMs: 500 });
    await runtime.close();
    await bus.close();
  });
  return surface;
}

/** Launches thread `id` through the surface (as HTTP does: the write guarded by its job) and waits for it to rest. */
async function launchedToRest(surface: BusSurface, id: string, input: string): Promise<ThreadView> {
  await surface.runtime.launch('echo', input, { threadId: id });
  return within(surface.runtime.settled(id), 15_000, `thread ${id} (${input}) to rest`);
}

describe('a thread deleted and launched again under its id, on NATS', () => {
  it('runs to its end though its earlier self’s jobs are still in the duplicate window', async () => {
    const surface = await workerNode();
    const first = await launchedToRest(surface, 'order-1234', 'first');
    expect(first.status).toBe('done');
    await surface.runtime.delete('order-1234');
    // Another instant of creation (two creations in one millisecond are one).
    while (Date.now() <= Date.parse(first.createdAt!)) await delay(2);

    const again = await launchedToRest(surface, 'order-1234', 'again');
    expect(again).toMatchObject({ status: 'done', output: '"again"' });
  });
});
