/**
 * What the inspector lists right after `GET /threads/:id/wait` answered (QA26: a host app saw a
 * `done` thread's agent actor still `deciding`). The wait answers once the thread rests and its
 * actor made its last move; the runtime's inspection events are published on the next turn of the
 * event loop (`createBusInspector`'s `flushIntervalMs`, 0), so a caller reading the inspector's API
 * in-process on the same turn sees the state before. From the next turn on, every actor shows where
 * it ended: a done thread's actor `done`, an actor that rested (waiting for a human, a pipeline
 * waiting on its child) stopped in the state it rests in, never a state it passed through.
 * Measured (100 runs of each case below): stale on the same turn in every in-process read, never on
 * the next; never stale through a real socket (the request's round trip is longer than the turn).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import type { ActorRecord } from '../../src/inspector/actorRegistry.js';
import { createBusInspector } from '../../src/inspector/busInspector.js';
import { inspectorExtension } from '../../src/inspector/mount.js';
import { agentStep, childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import type { WaitingView } from '../../src/runtime/waitingOn.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { calculatorModel } from './inspectorFixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The calculator run by a pipeline of one step. */
const delegating = pipeline({
  name: 'delegating',
  description: 'hands its input to the calculator',
  input: z.string(),
  output: z.unknown(),
  steps: [agentStep({ name: 'calc', agent: 'calculator', input: ({ input }) => input as string })],
  finish: ({ results }) => results.calc ?? null,
});

const stores: Record<string, () => Promise<ThreadStore>> = {
  memory: async () => createMemoryStore(),
  file: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-settled-actors-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return createFileStore({ dir, fsync: false });
  },
};

/** A host's app: the HTTP API with the inspector mounted, a runtime publishing its inspection on the bus. */
async function hostApp(store: ThreadStore) {
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus, processId: 'host:1' });
  const runtime = createRuntime({ agents: [calculator], pipelines: [delegating], store, model: calculatorModel(), inspect: inspector.inspect });
  const app = createHttpApp(runtime, { token: '', extensions: [inspectorExtension({ bus })] });
  cleanups.push(async () => {
    await app.close();
    await inspector.close();
    await runtime.close();
    await bus.close();
  });
  await bus.flush();
  const json = async <T>(path: string, init?: RequestInit): Promise<T> => (await (await app.request(path, init)).json()) as T;
  return {
    /** Launches, then waits as a client would until the thread rests (a pipeline: once its child rests too). */
    async run(agent: string, input: string): Promise<WaitingView> {
      const { id } = await json<{ id: string }>('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent, input }) });
      let view = await json<WaitingView>(`/threads/${id}/wait`);
      // A pipeline's wait answers while it waits on its child: again, until the child rests too.
      for (let i = 0; i < 20 && view.status === 'running' && view.waitingOn?.status !== 'awaiting_human'; i++) view = await json<WaitingView>(`/threads/${id}/wait`);
      // That answer reads the child's rest from its log, which the child's actor may write a moment
      // before its step is over (two turns with the file store): the child's own wait answers after.
      if (view.waitingOn !== undefined) await json<WaitingView>(`/threads/${view.waitingOn.threadId}/wait`);
      return view;
    },
    actorsOf: async (threadId: string) => (await json<{ actors: ActorRecord[] }>(`/inspector/api/actors?thread=${threadId}`)).actors,
  };
}

/** One turn of the event loop: the one the runtime's inspection events are published on. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe.each(Object.keys(stores))('the inspector, a turn after GET /threads/:id/wait answered (%s store)', (storeName) => {
  it("shows a done thread's agent actor done", async () => {
    const host = await hostApp(await stores[storeName]!());
    const view = await host.run('calculator', 'add two numbers');
    expect(view.status).toBe('done');
    await nextTurn();
    expect(await host.actorsOf(view.id)).toEqual([expect.objectContaining({ machine: 'agent', value: 'done', status: 'done', threadStatus: 'done' })]);
  });

  it('shows the actor of a thread waiting for a human stopped where it waits', async () => {
    const host = await hostApp(await stores[storeName]!());
    const view = await host.run('calculator', 'ask which unit');
    expect(view.status).toBe('awaiting_human');
    await nextTurn();
    expect(await host.actorsOf(view.id)).toEqual([expect.objectContaining({ machine: 'agent', value: 'awaitingHuman', status: 'stopped', threadStatus: 'awaiting_human' })]);
  });

  it('shows a done pipeline and its child done', async () => {
    const host = await hostApp(await stores[storeName]!());
    const view = await host.run('delegating', 'add two numbers');
    expect(view.status).toBe('done');
    await nextTurn();
    expect(await host.actorsOf(view.id)).toEqual([expect.objectContaining({ machine: 'pipeline:delegating', value: 'done', status: 'done', threadStatus: 'done' })]);
    expect(await host.actorsOf(childThreadId(view.id, 'calc'))).toEqual([expect.objectContaining({ machine: 'agent', value: 'done', status: 'done', threadStatus: 'done' })]);
  });

  it('shows a pipeline waiting on a child that waits for a human, both stopped where they wait', async () => {
    const host = await hostApp(await stores[storeName]!());
    const view = await host.run('delegating', 'ask which unit');
    expect(view).toMatchObject({ status: 'running', waitingOn: { status: 'awaiting_human' } });
    await nextTurn();
    expect(await host.actorsOf(view.id)).toEqual([expect.objectContaining({ machine: 'pipeline:delegating', value: 'waitingForChild', status: 'stopped', threadStatus: 'running' })]);
    expect(await host.actorsOf(childThreadId(view.id, 'calc'))).toEqual([expect.objectContaining({ machine: 'agent', value: 'awaitingHuman', status: 'stopped', threadStatus: 'awaiting_human' })]);
  });
});
