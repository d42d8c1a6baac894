/**
 * The inspector over NATS as `switchyard serve --no-worker` and `switchyard worker` run it
 * (`joinNats`): when a worker stops, the API process's inspector must stop showing its actors as live.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { joinNats, type JoinNatsOptions } from '../../src/cli/joinNats.js';
import type { ActorRecord } from '../../src/inspector/actorRegistry.js';
import { createBusInspector } from '../../src/inspector/busInspector.js';
import type { PresenceMessage } from '../../src/inspector/inspectionMessages.js';
import { inspectorRoutes } from '../../src/inspector/routes.js';
import { silentLogger } from '../../src/logger.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { calculatorModel } from './inspectorFixture.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const join = (prefix: string, worker: boolean, options: Pick<JoinNatsOptions, 'inspectHeartbeatMs'> = {}) =>
  joinNats({ natsUrl: server.url, agents: [calculator], pipelines: [], prefix, worker, observe: !worker, model: calculatorModel(), logger: silentLogger(), ...options });

describe('one name per process of a fleet', () => {
  it("a worker's actors in the inspector, its events' Switchyard-Process header and every line of its log carry the same process id", async () => {
    // An operator going from an inspector row or an event to the logs of the process that ran it:
    // the inspector named a worker `<host>:<pid>`, its events and start line `<host>-<pid>-<hex>`,
    // and its log lines neither.
    const api = await join('pn', false);
    const app = inspectorRoutes({ runtime: api.runtime, bus: api.bus, prefix: 'pn' });
    const { logger, out } = capturingLogger();
    const worker = await joinNats({ natsUrl: server.url, agents: [calculator], pipelines: [], prefix: 'pn', worker: true, observe: false, model: calculatorModel(), logger });
    try {
      await app.ready;
      const headers: string[] = [];
      const events = api.bus.subscribe('pn.events.calculator.named.>', (msg) => {
        const by = msg.headers['Switchyard-Process'];
        if (by !== undefined) headers.push(by);
      });
      await api.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'named' });
      await api.runtime.settled('named');
      const id = worker.surface.processId;
      await vi.waitFor(() => {
        expect(app.registry.list().find((a) => a.threadId === 'named')?.processId).toBe(id);
      }, 10_000);
      expect(headers).toContain(id);
      const threadLines = out.lines.filter((line) => line.threadId === 'named');
      expect(threadLines.length).toBeGreaterThan(0);
      expect(out.lines.filter((line) => line.processId !== id)).toEqual([]);
      await events.unsubscribe();
    } finally {
      await app.close();
      await worker.close();
      await api.close();
    }
  });
});

describe('the inspector over NATS, when a worker stops', () => {
  it('a worker closed cleanly leaves no live actors: its last inspection events are published', async () => {
    const api = await join('pc', false);
    const app = inspectorRoutes({ runtime: api.runtime, bus: api.bus, prefix: 'pc' });
    const worker = await join('pc', true);
    let workerClosed = false;
    try {
      await app.ready;
      // Its agent actor runs on the worker, which names the worker's process.
      await api.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'held' });
      const workerActors = (): ActorRecord[] => {
        const all = app.registry.list();
        const processId = all.find((a) => a.threadId === 'held')?.processId;
        return processId === undefined ? [] : all.filter((a) => a.processId === processId);
      };
      await vi.waitFor(() => {
        const live = workerActors().filter((a) => a.status === 'active' && a.value !== null);
        expect(live.map((a) => [a.machine, a.value])).toEqual([['supervisor', 'supervising']]);
      }, 10_000);

      await worker.close();
      workerClosed = true;
      await vi.waitFor(() => {
        expect(workerActors().filter((a) => a.status === 'active')).toEqual([]);
      }, 10_000);
    } finally {
      await app.close();
      if (!workerClosed) await worker.close();
      await api.close();
    }
  });

  it('a worker that stops publishing without a goodbye (killed) is gone after three missed heartbeats', async () => {
    const apiBus = await createNatsBus({ servers: server.url, name: 'api' });
    const workerBus = await createNatsBus({ servers: server.url, name: 'killed' });
    const inspector = createBusInspector({ bus: workerBus, processId: 'killed', prefix: 'pk', heartbeatMs: 50 });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: calculatorModel(), inspect: inspector.inspect });
    const app = inspectorRoutes({ runtime, bus: apiBus, prefix: 'pk' });
    const alive: PresenceMessage[] = [];
    const heard = apiBus.subscribe('pk.inspect.*', (msg) => {
      const parsed = msg.json();
      if (parsed.success && (parsed.data as PresenceMessage).type === '@switchyard.presence') alive.push(parsed.data as PresenceMessage);
    });
    try {
      await app.ready;
      await runtime.launch('calculator', 'divide 8 by 2', { threadId: 'held' });
      await runtime.settled('held');
      const live = () => app.registry.list().filter((a) => a.processId === 'killed' && a.status === 'active' && a.value !== null);
      await vi.waitFor(() => {
        expect(live().map((a) => a.machine)).toEqual(['supervisor']);
      }, 10_000);

      // The API learns a process's heartbeat interval from its heartbeats (the first, sent before
      // the API subscribed, may be lost): until it hears one it assumes the default (gone after
      // 15 s), so wait for one.
      await vi.waitFor(() => {
        expect(alive.some((m) => m.processId === 'killed' && m.state === 'alive' && m.intervalMs === 50)).toBe(true);
      }, 10_000);
      // As kill -9 does: the connection goes, nothing more is published, no goodbye.
      await workerBus.nc.close();
      await vi.waitFor(() => {
        expect(live()).toEqual([]);
        expect(app.registry.processes().find((p) => p.processId === 'killed')).toMatchObject({ live: false });
      }, 10_000);
    } finally {
      await heard.unsubscribe();
      await app.close();
      await inspector.close();
      await runtime.close();
      await apiBus.close();
    }
  });

  it('a worker joined with a shorter inspectHeartbeatMs is seen gone sooner when killed: three of its intervals, not 15 s', async () => {
    const api = await join('ph', false);
    const app = inspectorRoutes({ runtime: api.runtime, bus: api.bus, prefix: 'ph' });
    const heartbeats: PresenceMessage[] = [];
    const heard = api.bus.subscribe('ph.inspect.*', (msg) => {
      const parsed = msg.json();
      if (parsed.success) heartbeats.push(parsed.data as PresenceMessage);
    });
    await api.bus.flush();
    const worker = await join('ph', true, { inspectHeartbeatMs: 100 });
    try {
      await app.ready;
      await api.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'held' });
      const workerId = (): string | undefined => app.registry.list().find((a) => a.threadId === 'held')?.processId;
      await vi.waitFor(() => expect(app.registry.processes().find((p) => p.processId === workerId())).toMatchObject({ live: true }), 10_000);
      // It says how often it beats: the inspector counts it gone after three of those.
      expect(heartbeats.find((h) => h.processId === workerId() && h.state === 'alive')).toMatchObject({ intervalMs: 100 });

      // As kill -9 does: the connection goes, nothing more is published, no goodbye. With the
      // default (5 s) it would be gone only after 15 s: far past this wait.
      await worker.bus.nc.close();
      await vi.waitFor(() => expect(app.registry.processes().find((p) => p.processId === workerId())).toMatchObject({ live: false }), 5_000);
    } finally {
      await heard.unsubscribe();
      await app.close();
      await worker.close().catch(() => undefined);
      await api.close();
    }
  });
});
