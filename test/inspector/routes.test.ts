import { afterEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { agent, type Agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { ActorRecord } from '../../src/inspector/actorRegistry.js';
import { createBusInspector } from '../../src/inspector/busInspector.js';
import type { GraphLayout, MachineGraph } from '../../src/inspector/chartTypes.js';
import { serializeDefinition } from '../../src/inspector/summaries.js';
import { inspectorRoutes } from '../../src/inspector/routes.js';
import { codeStep, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { calculatorModel, judgedAgent, startInspectorServer } from './inspectorFixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { maxActors?: number; agents?: readonly Agent[]; streamIntervalMs?: number } = {}) {
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus, processId: 'local:1' });
  const sums = pipeline({
    name: 'sums',
    description: 'adds, then doubles, in code',
    input: z.string(),
    output: z.unknown(),
    steps: [codeStep({ name: 'add', run: () => 5 }), codeStep({ name: 'double', run: ({ results }) => Number(results.add) * 2 })],
    finish: ({ results }) => results.double,
  });
  const runtime = createRuntime({ agents: [calculator, ...(options.agents ?? [])], pipelines: [sums], store: createMemoryStore(), model: calculatorModel(), inspect: inspector.inspect });
  const lamp = createMachine({ id: 'lamp', initial: 'off', states: { off: { on: { ON: 'on' } }, on: { on: { OFF: 'off' } } } });
  const app = inspectorRoutes({ runtime, bus, machines: { lamp }, streamIntervalMs: options.streamIntervalMs ?? 10, ...(options.maxActors ? { maxActors: options.maxActors } : {}) });
  await app.ready;
  cleanups.push(async () => {
    await app.close();
    await inspector.close();
    await runtime.close();
    await bus.close();
  });
  const settle = async () => {
    await inspector.flush();
    await bus.flush();
  };
  return { bus, inspector, runtime, app, settle };
}

/**
 * Publishes an actor under `parent` (one a user's machine might spawn under a thread's actor): it
 * names no thread, so only its parent ties it to one. Switchyard's own machines spawn none.
 */
async function publishChildOf(bus: ReturnType<typeof createMemoryBus>, parent: ActorRecord, machine: string): Promise<void> {
  const processId = parent.key.slice(0, parent.key.lastIndexOf('/'));
  const parentId = parent.key.slice(parent.key.lastIndexOf('/') + 1);
  const sessionId = `${parentId}.child`;
  await bus.publish(`switchyard.inspect.${processId}.${sessionId}`, {
    type: '@xstate.actor', sessionId, rootId: parentId, parentId, createdAt: String(Date.now()), id: `${processId}:${sessionId}`, _version: '0.7.2',
    name: machine, machine, definition: undefined, snapshot: { status: 'active', value: 'watching' },
  });
  await bus.flush();
}

const get = async (app: { request: (path: string) => Response | Promise<Response> }, path: string) => {
  const res = await app.request(path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** `GET /inspector/stream`, read as text as it arrives. */
async function openStream(app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> }) {
  const abort = new AbortController();
  const res = await app.request('/inspector/stream', { signal: abort.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  return {
    /** Reads until `predicate` holds of all that arrived. */
    async until(predicate: (text: string) => boolean): Promise<void> {
      while (!predicate(text)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`the stream ended early: ${text}`);
        text += decoder.decode(chunk.value, { stream: true });
      }
    },
    /** The events that arrived, parsed. */
    events: () =>
      text
        .split('\n\n')
        .filter((block) => block.startsWith('event: '))
        .map((block) => {
          const [event, data] = block.split('\n');
          return { event: event!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) as unknown };
        }),
    async close(): Promise<void> {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}

describe('inspectorRoutes', () => {
  it('serves the page and its modules from this server only: no CDN, no inline script or style', async () => {
    const { app } = await setup();
    const res = await app.request('/inspector');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    // Its approve and deny buttons are not framed by a page of another origin (qa27 security D7).
    expect(csp).toContain("frame-ancestors 'self'");
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    for (const id of ['thread-list', 'filter-status', 'filter-agent', 'timeline', 'actors', 'detail', 'launch', 'machine-picker']) expect(html).toContain(`id="${id}"`);
    expect(html).not.toMatch(/https?:\/\/|<style|<script>|style="/);
    // Every file the page and its modules load is served, with its type.
    const referenced = [...html.matchAll(/(?:src|href)="(inspector\/ui\/[^"]+)"/g)].map((m) => `/${m[1]}`);
    expect(referenced.sort()).toEqual(['/inspector/ui/main.js', '/inspector/ui/styles.css']);
    const seen = new Set<string>();
    const load = async (path: string): Promise<void> => {
      if (seen.has(path)) return;
      seen.add(path);
      const file = await app.request(path);
      expect(file.status, path).toBe(200);
      expect(file.headers.get('content-type')).toMatch(path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      const body = await file.text();
      for (const m of body.matchAll(/^import .* from '\.\/([\w.]+)';$/gm)) await load(`/inspector/ui/${m[1]}`);
    };
    for (const path of referenced) await load(path);
    expect([...seen]).toEqual(expect.arrayContaining(['/inspector/ui/statechart.js', '/inspector/ui/detail.js', '/inspector/ui/api.js']));
    // Only the page's own files: nothing else under the folder, and no way out of it.
    for (const path of ['/inspector/ui/tsconfig.json', '/inspector/ui/..%2Fassets.ts', '/inspector/ui/nope.js']) expect((await app.request(path)).status, path).toBe(404);
  });

  it('lists threads with filters, and shows one', async () => {
    const { app, runtime } = await setup();
    const done = await runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-add' });
    const waiting = await runtime.launch('calculator', 'divide 8 by 2', { threadId: 'th-div' });
    await runtime.settled(done.id);
    await runtime.settled(waiting.id);

    const all = await get(app, '/inspector/api/threads');
    expect((all.body.threads as { id: string }[]).map((t) => t.id).sort()).toEqual(['th-add', 'th-div']);
    const filtered = await get(app, '/inspector/api/threads?status=awaiting_human&agent=calculator&limit=5');
    expect(filtered.body.threads).toEqual([expect.objectContaining({ id: 'th-div', agent: 'calculator', status: 'awaiting_human' })]);
    expect((await get(app, '/inspector/api/threads?status=snoozing')).status).toBe(400);
    expect((await get(app, '/inspector/api/threads?limit=-1')).status).toBe(400);

    const one = await get(app, '/inspector/api/threads/th-div');
    expect(one.body).toMatchObject({ id: 'th-div', status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'divide' } });
    expect((one.body.events as unknown[]).length).toBeGreaterThan(2);
    expect(await get(app, '/inspector/api/threads/nope')).toEqual({ status: 404, body: { error: 'thread not found: nope', code: 'not_found' } });
  });

  it('draws the agent, the supervisor, machines passed in, and machines only seen on the bus', async () => {
    const { app, bus } = await setup();
    const agent = await get(app, '/inspector/api/graph/agent');
    expect(agent.status).toBe(200);
    const graph = agent.body.graph as { id: string; nodes: unknown[]; edges: { kind: string }[] };
    expect(graph.id).toBe('agent');
    expect(graph.edges.filter((e) => e.kind === 'always')).toHaveLength(11);
    const layout = agent.body.layout as { boxes: unknown[]; routes: unknown[]; width: number };
    expect(layout.boxes).toHaveLength(graph.nodes.length);
    expect(layout.routes.length).toBeGreaterThan(20);
    expect((await get(app, '/inspector/api/graph/supervisor')).body).toMatchObject({ graph: { id: 'supervisor' } });
    expect((await get(app, '/inspector/api/graph/lamp')).body).toMatchObject({ graph: { id: 'lamp' } });
    expect((await get(app, '/inspector/api/graph/toString')).status).toBe(404);
    const pipelineGraph = await get(app, '/inspector/api/graph/pipeline:sums');
    expect((pipelineGraph.body.graph as { nodes: { key: string }[] }).nodes.map((n) => n.key)).toEqual(expect.arrayContaining(['step_add', 'step_double', 'routing']));
    expect((await get(app, '/inspector/api/machines')).body).toEqual({
      machines: ['agent', 'supervisor', 'pipeline:sums', 'lamp'],
      threadMachines: { calculator: 'agent', sums: 'pipeline:sums' },
    });

    // Another process runs a machine this one does not know: its published definition is enough.
    const pipeline = createMachine({ id: 'pipeline', initial: 'extract', states: { extract: { on: { NEXT: 'load' } }, load: { type: 'final' } } });
    expect((await get(app, '/inspector/api/graph/pipeline')).status).toBe(404);
    await bus.publish('switchyard.inspect.other-host:7.x:0', {
      type: '@xstate.actor',
      sessionId: 'x:0',
      rootId: 'x:0',
      createdAt: String(Date.now()),
      id: 'other-host:7:1',
      _version: '0.7.2',
      name: 'pipeline',
      machine: 'pipeline',
      parentId: undefined,
      definition: serializeDefinition(pipeline.config),
      snapshot: { status: 'active', value: 'extract' },
    });
    await bus.flush();
    const remote = await get(app, '/inspector/api/graph/pipeline');
    expect(remote.body).toMatchObject({ graph: { id: 'pipeline', edges: [expect.objectContaining({ label: 'NEXT' })] } });
  });

  it('draws the machine of an agent with steps of its author, by its id with a colon', async () => {
    const { app, runtime } = await setup({ agents: [judgedAgent()] });
    expect(runtime.machineOf('judged')).toBe('agent:judged');
    const machines = await get(app, '/inspector/api/machines');
    expect(machines.body).toMatchObject({ machines: expect.arrayContaining(['agent:judged']), threadMachines: { judged: 'agent:judged', calculator: 'agent' } });
    for (const path of ['/inspector/api/graph/agent:judged', '/inspector/api/graph/agent%3Ajudged']) {
      const { status, body } = await get(app, path);
      expect(status, path).toBe(200);
      const graph = body.graph as MachineGraph;
      expect(graph.id).toBe('agent:judged');
      expect(graph.nodes.filter((n) => n.invokes.includes('custom')).map((n) => n.key).sort()).toEqual(['no_devil', 'pace', 'wait_for_a_while']);
      expect((body.layout as GraphLayout).boxes.find((b) => b.id === 'agent:judged.no_devil')?.caption?.text).toBe('custom step');
    }
  });

  it('lists live and recent actors of every process from the bus', async () => {
    const { app, runtime, settle, bus } = await setup();
    const { id } = await runtime.launch('calculator', 'divide 8 by 2');
    await runtime.settled(id);
    await settle();
    const { body } = await get(app, '/inspector/api/actors');
    const actors = body.actors as ActorRecord[];
    expect(actors.find((a) => a.name === 'supervisor')).toMatchObject({ processId: 'local:1', machine: 'supervisor', status: 'active', value: 'supervising' });
    expect(actors.find((a) => a.threadId === id)).toMatchObject({
      processId: 'local:1',
      machine: 'agent',
      name: id,
      value: 'awaitingHuman',
      status: 'stopped',
      agent: 'calculator',
      threadStatus: 'awaiting_human',
    });
    // The thread's actor runs its steps itself: no actor under it.
    expect(actors.filter((a) => a.parentKey === actors.find((b) => b.threadId === id)!.key)).toEqual([]);

    await bus.publish('switchyard.inspect.worker-b:9.x:5', {
      type: '@xstate.snapshot',
      sessionId: 'x:5',
      rootId: 'x:0',
      createdAt: String(Date.now() + 1000),
      id: 'worker-b:9:12',
      _version: '0.7.2',
      event: { type: 'xstate.done.actor.0.agent.deciding' },
      snapshot: { status: 'active', value: 'executing', context: { threadId: 'th-remote', agent: 'calculator', status: 'running', version: 3 } },
    });
    await bus.flush();
    const after = await get(app, '/inspector/api/actors?thread=th-remote');
    expect(after.body.actors).toEqual([expect.objectContaining({ processId: 'worker-b:9', value: 'executing', threadId: 'th-remote', lastEvent: 'xstate.done.actor.0.agent.deciding' })]);
    expect((after.body.processes as { processId: string }[]).map((p) => p.processId)).toEqual(['worker-b:9', 'local:1']);
    expect((await get(app, '/inspector/api/actors?machine=supervisor')).body.actors).toHaveLength(1);
    expect((await get(app, '/inspector/api/actors?limit=x')).status).toBe(400);
  });

  it('lists a thread once, as its latest actor, after its actor was evicted at rest and a new one resumed it', async () => {
    const { app, runtime, settle } = await setup();
    const { id } = await runtime.launch('calculator', 'ask for the unit', { threadId: 'th-resumed' });
    const asked = await runtime.settled(id);
    expect(asked.status).toBe('awaiting_human');
    await settle();
    await runtime.respond(id, { requestId: asked.pendingRequest!.requestId, answer: 'metres' });
    expect((await runtime.settled(id)).status).toBe('done');
    await settle();
    const all = (await get(app, '/inspector/api/actors')).body.actors as ActorRecord[];
    expect(all.filter((a) => a.threadId === id).map((a) => [a.value, a.threadStatus])).toEqual([['done', 'done']]);
    expect((await get(app, `/inspector/api/actors?thread=${id}`)).body.actors).toEqual([expect.objectContaining({ value: 'done', threadStatus: 'done' })]);
  });

  it('forgets the actors of a thread it deletes, so a page opened after the delete does not list the thread', async () => {
    const { app, bus, runtime, settle } = await setup();
    const gone = await runtime.launch('calculator', 'divide 8 by 2', { threadId: 'th-deleted' });
    const kept = await runtime.launch('calculator', 'divide 9 by 3', { threadId: 'th-kept' });
    expect((await runtime.settled(gone.id)).status).toBe('awaiting_human');
    expect((await runtime.settled(kept.id)).status).toBe('awaiting_human');
    await settle();
    const [agentActor] = (await get(app, '/inspector/api/actors?thread=th-deleted')).body.actors as ActorRecord[];
    const childrenOf = (actors: ActorRecord[]) => actors.filter((a) => a.parentKey === agentActor!.key);
    await publishChildOf(bus, agentActor!, 'watcher');
    expect(childrenOf((await get(app, '/inspector/api/actors')).body.actors as ActorRecord[]).map((a) => a.machine)).toEqual(['watcher']);

    await runtime.cancel(gone.id);
    await runtime.delete(gone.id);
    await settle();
    // The page builds its rows from these actors (the stream's first `actors` event lists the same).
    const all = (await get(app, '/inspector/api/actors')).body.actors as ActorRecord[];
    expect(all.filter((a) => a.threadId === 'th-deleted')).toEqual([]);
    expect((await get(app, '/inspector/api/actors?thread=th-deleted')).body.actors).toEqual([]);
    // So do the actors under it, which name no thread.
    expect(childrenOf(all)).toEqual([]);
    expect(all.filter((a) => a.threadId === 'th-kept')).toEqual([expect.objectContaining({ value: 'awaitingHuman', threadStatus: 'awaiting_human' })]);
  });

  it('names pipeline actors by their thread', async () => {
    const { app, runtime, settle } = await setup();
    const { id } = await runtime.launch('sums', 'go', { threadId: 'th-sums' });
    const done = await runtime.settled(id);
    expect(done.status).toBe('done');
    await settle();
    const { body } = await get(app, '/inspector/api/actors?thread=th-sums');
    expect((body.actors as ActorRecord[])[0]).toMatchObject({ machine: 'pipeline:sums', agent: 'sums', value: 'done', threadStatus: 'done' });
  });

  it('keeps only the most recent actors', async () => {
    const { app, bus } = await setup({ maxActors: 50 });
    for (let i = 0; i < 120; i++) {
      await bus.publish(`switchyard.inspect.p:1.x:${i}`, {
        type: '@xstate.actor', sessionId: `x:${i}`, rootId: 'x:0', createdAt: String(1000 + i), id: `p:1:${i}`, _version: '0.7.2',
        name: `t${i}`, machine: 'agent', parentId: 'x:0', definition: undefined, snapshot: { status: 'active', value: 'deciding' },
      });
    }
    await bus.flush();
    expect(app.registry.size).toBe(50);
    const { body } = await get(app, '/inspector/api/actors?limit=1000');
    const names = (body.actors as ActorRecord[]).map((a) => a.name);
    expect(names[0]).toBe('t119');
    expect(names).toHaveLength(50);
    expect(names).not.toContain('t69');
  });

  it('streams actor and thread changes as server-sent events', async () => {
    const { app, runtime, settle } = await setup();
    const abort = new AbortController();
    const res = await app.request('/inspector/stream', { signal: abort.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (predicate: () => boolean) => {
      while (!predicate()) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`the stream ended early: ${text}`);
        text += decoder.decode(chunk.value, { stream: true });
      }
    };
    await until(() => text.includes('event: actors'));
    expect(text).toMatch(/^event: hello\ndata: \{"processes":/);

    const { id } = await runtime.launch('calculator', 'divide 8 by 2', { threadId: 'th-streamed' });
    await runtime.settled(id);
    await settle();
    await until(() => text.includes('"threadStatus":"awaiting_human"') && /event: threads\ndata: .*"status":"awaiting_human"/.test(text));
    const events = text.split('\n\n').filter(Boolean).map((block) => {
      const [event, data] = block.split('\n');
      return { event: event!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) as unknown };
    });
    const threads = events.filter((e) => e.event === 'threads').flatMap((e) => e.data as { id: string; status: string; version: number }[]);
    expect(threads.filter((t) => t.id === id).map((t) => t.status)).toContain('awaiting_human');
    const actors = events.filter((e) => e.event === 'actors').flatMap((e) => e.data as ActorRecord[]);
    // Coalesced: no batch names an actor twice.
    for (const e of events.filter((x) => x.event === 'actors')) {
      const keys = (e.data as ActorRecord[]).map((a) => a.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(actors.filter((a) => a.threadId === id).at(-1)).toMatchObject({ value: 'awaitingHuman', processId: 'local:1' });
    abort.abort();
    await reader.cancel().catch(() => undefined);
  });
});

describe("the inspector API's input checks", () => {
  it('refuses a query parameter a route does not take with 400, naming it and what the route takes, in the HTTP API\'s error body', async () => {
    const { app } = await setup();
    const routes: [path: string, route: string, takes: string][] = [
      ['/inspector/api/actors?limt=5', 'GET /inspector/api/actors', 'limit, machine, thread'],
      ['/inspector/api/graph/agent?x=1', 'GET /inspector/api/graph/:machine', 'no query parameter'],
      ['/inspector/api/machines?x=1', 'GET /inspector/api/machines', 'no query parameter'],
      ['/inspector/api/threads?stauts=done', 'GET /inspector/api/threads', 'limit, status, agent'],
      ['/inspector/api/threads/nope?missing=null&x=1', 'GET /inspector/api/threads/:id', 'missing'],
    ];
    for (const [path, route, takes] of routes) {
      const name = [...new URL(path, 'http://x').searchParams.keys()].find((key) => key !== 'missing')!;
      expect(await get(app, path), path).toEqual({ status: 400, body: { error: `unknown query parameter: ${name}`, code: 'bad_request', issues: [`${name}: ${route} takes ${takes}`] } });
    }
    const stream = await app.request('/inspector/stream?after=3');
    expect(stream.status).toBe(400);
    expect(await stream.json()).toEqual({ error: 'unknown query parameter: after', code: 'bad_request', issues: ['after: GET /inspector/stream takes no query parameter'] });
  });

  it('answers every error with a code: a bad value, a thread or a machine not found', async () => {
    const { app } = await setup();
    expect(await get(app, '/inspector/api/threads?status=snoozing')).toMatchObject({ status: 400, body: { error: 'unknown thread status: snoozing', code: 'bad_request' } });
    expect(await get(app, '/inspector/api/threads?limit=-1')).toMatchObject({ status: 400, body: { code: 'bad_request' } });
    expect(await get(app, '/inspector/api/actors?limit=x')).toMatchObject({ status: 400, body: { code: 'bad_request' } });
    expect(await get(app, '/inspector/api/graph/nosuch')).toEqual({ status: 404, body: { error: 'no machine named nosuch', code: 'not_found' } });
    // `missing` takes one value: another is a typo, not a request for the 404.
    expect(await get(app, '/inspector/api/threads/nope?missing=nul')).toMatchObject({ status: 400, body: { code: 'bad_request', issues: ['missing: must be null (got "nul")'] } });
  });

  it('takes the parameters the page sends, as before', async () => {
    const { app, runtime } = await setup();
    const done = await runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-add' });
    await runtime.settled(done.id);
    expect(await get(app, '/inspector/api/threads/nope?missing=null')).toEqual({ status: 200, body: null });
    expect((await get(app, '/inspector/api/threads/th-add?missing=null')).body).toMatchObject({ id: 'th-add' });
    expect((await get(app, '/inspector/api/threads?limit=10000')).body.threads).toEqual([expect.objectContaining({ id: 'th-add' })]);
    expect((await get(app, '/inspector/api/threads?limit=5&status=done&agent=calculator')).status).toBe(200);
    expect((await get(app, '/inspector/api/actors?limit=5&machine=agent&thread=th-add')).status).toBe(200);
    expect((await get(app, '/inspector/api/machines')).status).toBe(200);
    expect((await get(app, '/inspector/api/graph/agent')).status).toBe(200);
  });

  it('answers the same body mounted on the HTTP API, behind its token', async () => {
    const server = await startInspectorServer({ token: 'sekret' });
    cleanups.push(() => server.close());
    const authorization = { authorization: 'Bearer sekret' };
    expect((await fetch(`${server.url}/inspector/api/machines?x=1`)).status).toBe(401);
    const refused = await fetch(`${server.url}/inspector/api/machines?x=1`, { headers: authorization });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'unknown query parameter: x', code: 'bad_request', issues: ['x: GET /inspector/api/machines takes no query parameter'] });
    // The page is opened with ?token=: the page stays a page, whatever its query.
    expect((await fetch(`${server.url}/inspector?token=sekret`)).status).toBe(200);
  });
});

describe('GET /inspector/stream', () => {
  it('holds many pages open at once without a "possible memory leak" warning on stderr', async () => {
    const { app } = await setup();
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const streams: Awaited<ReturnType<typeof openStream>>[] = [];
    try {
      // Each stream is open (its lifetime set up) once its first `actors` event arrives.
      for (let i = 0; i < 12; i++) {
        const stream = await openStream(app);
        streams.push(stream);
        await stream.until((text) => text.includes('event: actors'));
      }
      // process.emitWarning reports on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      for (const stream of streams) await stream.close();
      process.off('warning', onWarning);
    }
  });

  it('sends a process\'s actors active again, before its `live` notice, when a process counted gone is heard from again', async () => {
    const { app, bus } = await setup();
    const stream = await openStream(app);
    cleanups.push(() => stream.close());
    await stream.until((text) => text.includes('event: actors'));
    const at = String(Date.now());
    await bus.publish('switchyard.inspect.w:1.x:5', {
      type: '@xstate.actor', sessionId: 'x:5', rootId: 'x:5', createdAt: at, id: 'w:1:1', _version: '0.7.2',
      name: 'th-waiting', machine: 'agent', definition: undefined, snapshot: { status: 'active', value: 'awaitingHuman' },
    });
    // Counted gone (a goodbye here, three missed intervals alike), then heard from again.
    await bus.publish('switchyard.inspect.w:1', { type: '@switchyard.presence', processId: 'w:1', state: 'gone', intervalMs: 60_000, createdAt: at, worker: null });
    await bus.flush();
    expect(app.registry.get('w:1/x:5')?.status).toBe('stopped');
    await bus.publish('switchyard.inspect.w:1', { type: '@switchyard.presence', processId: 'w:1', state: 'alive', intervalMs: 60_000, createdAt: at, worker: null });
    await bus.flush();
    await stream.until((text) => text.includes('"processId":"w:1","live":true'));

    const events = stream.events();
    const backAt = events.findIndex((e) => e.event === 'processes' && (e.data as { live: boolean }[]).some((p) => p.live));
    const actors = events.slice(0, backAt).filter((e) => e.event === 'actors').flatMap((e) => e.data as ActorRecord[]);
    expect(actors.filter((a) => a.key === 'w:1/x:5').at(-1)).toMatchObject({ status: 'active', value: 'awaitingHuman' });
    expect(app.registry.get('w:1/x:5')).toMatchObject({ status: 'active', value: 'awaitingHuman' });
  });

  it('sends no actor of a deleted thread\'s tree (an actor under it included) after the deletion, when it changed in the same gathering', async () => {
    // An agent whose tool runs until the thread is cancelled: its actor is live, and one under it.
    let began!: () => void;
    const started = new Promise<void>((resolve) => (began = resolve));
    const hanging = agent({
      name: 'hanging',
      description: 'adds, slowly',
      prompt: 'You are {{agent}}.\n{{tools}}',
      tools: [
        tool({
          name: 'add',
          description: 'Add two numbers, until cancelled',
          input: z.object({ a: z.number(), b: z.number() }),
          run: (_input, { signal }) => {
            began();
            return new Promise<number>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('cancelled')), { once: true }));
          },
        }),
      ],
    });
    // Updates are gathered for a second: the cancel's and the delete's fall in one batch.
    const { app, bus, runtime, settle } = await setup({ agents: [hanging], streamIntervalMs: 1000 });
    const { id } = await runtime.launch('hanging', 'add them', { threadId: 'th-doomed' });
    await started;
    await settle();
    await publishChildOf(bus, app.registry.list().find((a) => a.threadId === id)!, 'watcher');
    // The thread's actor and every actor under it (which names no thread).
    const tree = new Set(app.registry.list().filter((a) => a.threadId === id).map((a) => a.key));
    for (let grew = true; grew; ) {
      grew = false;
      for (const actor of app.registry.list()) {
        if (!tree.has(actor.key) && actor.parentKey !== null && tree.has(actor.parentKey)) {
          tree.add(actor.key);
          grew = true;
        }
      }
    }
    expect(app.registry.list().filter((a) => tree.has(a.key)).map((a) => [a.machine, a.status]).sort()).toEqual([
      ['agent', 'active'],
      ['watcher', 'active'],
    ]);
    const stream = await openStream(app);
    cleanups.push(() => stream.close());
    await stream.until((text) => text.includes('event: actors'));

    await runtime.cancel(id);
    expect((await runtime.settled(id)).status).toBe('cancelled');
    await settle();
    await runtime.delete(id);
    await stream.until((text) => text.includes('event: deleted'));
    // Whatever that turn sent is before this later thread's actor.
    await runtime.launch('calculator', 'divide 9 by 3', { threadId: 'th-after' });
    await settle();
    await stream.until((text) => text.includes('"threadId":"th-after"'));

    const events = stream.events();
    const deletedAt = events.findIndex((e) => e.event === 'deleted');
    expect(events[deletedAt]?.data).toEqual([id]);
    const after = events.slice(deletedAt + 1).filter((e) => e.event === 'actors').flatMap((e) => e.data as ActorRecord[]);
    expect(after.filter((a) => tree.has(a.key)).map((a) => [a.key, a.machine, a.status])).toEqual([]);
    expect(after.some((a) => a.threadId === 'th-after')).toBe(true);
  });
});

describe('the inspector page at /inspector/ (a trailing slash)', () => {
  it('sends the browser to /inspector, query kept, without the token, and the page found there loads its files', async () => {
    for (const token of ['', 'sekret']) {
      const server = await startInspectorServer({ token });
      cleanups.push(() => server.close());
      const query = token === '' ? '' : `?token=${token}`;
      const slashed = await fetch(`${server.url}/inspector/${query}`, { redirect: 'manual' });
      expect(slashed.status, `token ${token}`).toBeGreaterThanOrEqual(300);
      expect(slashed.status, `token ${token}`).toBeLessThan(400);
      expect(new URL(slashed.headers.get('location')!, `${server.url}/inspector/${query}`).href).toBe(`${server.url}/inspector${query}`);

      // As a browser follows it: the page, then every file it names, resolved against where it landed.
      const page = await fetch(`${server.url}/inspector/${query}`);
      expect(page.status).toBe(200);
      expect(page.url).toBe(`${server.url}/inspector${query}`);
      const html = await page.text();
      const referenced = [...html.matchAll(/(?:src|href)="(inspector\/ui\/[^"]+)"/g)].map((m) => new URL(m[1]!, page.url).href);
      expect(referenced).toHaveLength(2);
      for (const url of referenced) expect((await fetch(url)).status, url).toBe(200);
    }
  });
});
