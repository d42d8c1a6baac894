/**
 * The inspector over NATS: two worker processes (each its own NATS connection, inspector and
 * runtime over one shared store) and a server whose inspector routes see both.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import type { ActorRecord } from '../../src/inspector/actorRegistry.js';
import { createBusInspector } from '../../src/inspector/busInspector.js';
import { inspectorRoutes } from '../../src/inspector/routes.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { calculatorModel } from './inspectorFixture.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('the inspector over NATS', () => {
  it('lists the actors of every worker process, even those announced before it subscribed', async () => {
    const store = createMemoryStore();
    const buses: NatsBus[] = [];
    const connect = async (name: string) => {
      const bus = await createNatsBus({ servers: server.url, name });
      buses.push(bus);
      return bus;
    };
    const serverBus = await connect('inspector');
    const workers = await Promise.all(
      ['worker-a', 'worker-b'].map(async (processId) => {
        const bus = await connect(processId);
        const inspector = createBusInspector({ bus, processId, prefix: 'sy' });
        const runtime = createRuntime({ agents: [calculator], store, model: calculatorModel(), inspect: inspector.inspect });
        return { processId, inspector, runtime };
      }),
    );
    const [a, b] = workers as [(typeof workers)[number], (typeof workers)[number]];
    // This inspector subscribes after the workers' actors were announced: it learns them from snapshots.
    const app = inspectorRoutes({ runtime: a.runtime, bus: serverBus, prefix: 'sy', streamIntervalMs: 10 });
    try {
      await app.ready;
      await a.runtime.launch('calculator', 'add 2 and 3', { threadId: 'on-a' });
      await b.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'on-b' });
      await a.runtime.settled('on-a');
      await b.runtime.settled('on-b');
      await Promise.all(workers.map((w) => w.inspector.flush()));

      const actors = async () => ((await (await app.request('/inspector/api/actors')).json()) as { actors: ActorRecord[]; processes: { processId: string }[] });
      await vi.waitFor(async () => {
        const body = await actors();
        expect(body.actors.find((x) => x.threadId === 'on-a')).toMatchObject({ processId: 'worker-a', value: 'done', status: 'done' });
        expect(body.actors.find((x) => x.threadId === 'on-b')).toMatchObject({ processId: 'worker-b', value: 'awaitingHuman', threadStatus: 'awaiting_human' });
        expect(body.processes.map((p) => p.processId).sort()).toEqual(['worker-a', 'worker-b']);
      });
      const supervisors = (await actors()).actors.filter((x) => x.machine === 'supervisor');
      expect(supervisors.map((x) => [x.processId, x.name, x.value]).sort()).toEqual([
        ['worker-a', 'supervisor', 'supervising'],
        ['worker-b', 'supervisor', 'supervising'],
      ]);
      expect((await actors()).actors.find((x) => x.threadId === 'on-b')).toMatchObject({ name: 'on-b', machine: 'agent', parentKey: expect.stringMatching(/^worker-b\/x:\d+$/) });

      // The chart of a machine can come from a definition another process published.
      const graph = await app.request('/inspector/api/graph/agent');
      expect(graph.status).toBe(200);
    } finally {
      await app.close();
      for (const w of workers) {
        await w.inspector.close();
        await w.runtime.close();
      }
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });
});
