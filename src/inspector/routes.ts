import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AnyStateMachine } from 'xstate';
import type { Bus, BusSubscription } from '../bus/bus.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import { parseInteger, parseStatuses } from '../server/requestBodies.js';
import { sseLifetime } from '../server/sse.js';
import { summaryOf } from '../store/selectSummaries.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { deriveState } from '../thread/state.js';
import { createActorRegistry, type ActorRecord, type ActorRegistry } from './actorRegistry.js';
import { definitionGraph, machineGraph, type MachineGraph } from './graph.js';
import type { InspectionMessage } from './inspection.js';
import { layoutGraph, type GraphLayout } from './layout.js';
import { inspectorPage } from './page.js';

/** Options of {@link inspectorRoutes}. */
export interface InspectorRoutesOptions {
  runtime: Runtime;
  /** The bus the processes' {@link createBusInspector}s publish on. */
  bus: Bus;
  /** @default 'switchyard' */
  prefix?: string;
  /** Machines whose charts can be drawn, by id, besides `agent`, `supervisor` and the runtime's pipelines. @default {} */
  machines?: Record<string, AnyStateMachine>;
  /** Actors remembered (live and recent, across processes). @default 2000 */
  maxActors?: number;
  /** Most threads `GET /inspector/api/threads` returns. @default 10000 */
  maxThreads?: number;
  /** How long stream updates are gathered (and coalesced per actor and thread) before they are sent. @default 100 */
  streamIntervalMs?: number;
  /** Interval of the comment lines that keep an idle stream open. @default 15000 */
  heartbeatMs?: number;
  /** Aborting it ends open streams and stops listening to the bus and the runtime. */
  signal?: AbortSignal;
}

/** The inspector's routes: a hono app to mount with `app.route('/', routes)`. */
export type InspectorRoutes = Hono & {
  /** Live and recent actors seen on the bus. */
  readonly registry: ActorRegistry;
  /** Resolves once the bus subscription is active. */
  readonly ready: Promise<void>;
  /** Ends open streams and stops listening (as aborting `signal` does). */
  close(): Promise<void>;
};

/** A thread as the list shows it: its summary, as `GET /inspector/api/threads` lists it. */
export type ThreadRow = ThreadSummary;

type Listener = (update: { actor?: ActorRecord; thread?: ThreadRow }) => void;

/**
 * The inspector: its page and the API behind it.
 *
 * - `GET /inspector`: the page (one self-contained HTML file, works offline). Open it with
 *   `?token=<bearer token>` when the server needs one; the page keeps it for the session.
 * - `GET /inspector/api/actors?limit=&machine=&thread=`: `{ processes, actors }`, live and recent
 *   actors of every process (most recently updated first; `limit` defaults to 500), from the bus's
 *   `<prefix>.inspect.>` subjects
 * - `GET /inspector/api/graph/:machine`: `{ graph, layout }` of a machine's statechart (`agent`,
 *   `supervisor`, `pipeline:<name>`, the machines passed in, or a definition an actor published)
 * - `GET /inspector/api/machines`: `{ machines, threadMachines }`: the machines drawable here, and
 *   the machine that runs the threads of each agent and pipeline
 * - `GET /inspector/api/threads?limit=&status=&agent=`: `{ threads }`, most recently updated first
 * - `GET /inspector/api/threads/:id`: the thread with its events
 * - `GET /inspector/stream`: server-sent events `actors` and `threads` (arrays of changes,
 *   coalesced every `streamIntervalMs`); the first `actors` event holds the recent actors
 *
 * Answers to human requests go through the HTTP API's `POST /threads/:id/respond`.
 */
export function inspectorRoutes(options: InspectorRoutesOptions): InspectorRoutes {
  const {
    runtime,
    bus,
    prefix = 'switchyard',
    machines = {},
    maxActors = 2000,
    maxThreads = 10_000,
    streamIntervalMs = 100,
    heartbeatMs = 15_000,
    signal,
  } = options;
  const registry = createActorRegistry({ maxActors });
  const known = new Map<string, () => AnyStateMachine>([
    ...[...runtime.machines].map(([id, m]): [string, () => AnyStateMachine] => [id, () => m]),
    ...Object.entries(machines).map(([id, m]): [string, () => AnyStateMachine] => [id, () => m]),
  ]);
  /** The machine that runs a thread of each agent or pipeline. */
  const threadMachines: Record<string, string> = Object.fromEntries(
    [...runtime.agents.keys(), ...runtime.pipelines.keys()].map((name) => [name, runtime.machineOf(name) ?? name]),
  );
  const graphs = new Map<string, { graph: MachineGraph; layout: GraphLayout }>();
  const listeners = new Set<Listener>();
  const stop = new AbortController();
  const notify = (update: Parameters<Listener>[0]): void => {
    for (const listener of listeners) listener(update);
  };

  const pattern = `${prefix}.inspect.>`;
  const depth = prefix.split('.').length + 1;
  let subscription: BusSubscription | undefined;
  let ready: Promise<void> = Promise.resolve();
  try {
    subscription = bus.subscribe(pattern, (msg) => {
      const tokens = msg.subject.split('.');
      const processId = tokens[depth];
      if (processId === undefined) return;
      const parsed = msg.json();
      if (!parsed.success) return;
      const actor = registry.apply(processId, parsed.data as InspectionMessage);
      if (actor) notify({ actor });
    });
    ready = bus.flush().catch(() => undefined);
  } catch {
    // A closed bus: the page still shows threads, without live actors.
  }
  const unsubscribe = runtime.subscribe((change) => {
    if (listeners.size > 0) notify({ thread: rowOf(change) });
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      stop.abort();
      unsubscribe();
      listeners.clear();
      await subscription?.unsubscribe().catch(() => undefined);
    })();
    return closed;
  };
  signal?.addEventListener('abort', () => void close(), { once: true });
  if (signal?.aborted) void close();

  const app = new Hono();

  app.get('/inspector', (c) => {
    c.header('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'");
    c.header('Cache-Control', 'no-store');
    return c.html(inspectorPage());
  });

  app.get('/inspector/api/actors', (c) => {
    const requested = parseInteger(c.req.query('limit'), 500, 999_999_999);
    if (requested === undefined) return bad(c, 'limit must be a non-negative integer');
    const limit = Math.min(requested, maxActors);
    const machine = c.req.query('machine');
    const threadId = c.req.query('thread');
    return c.json({
      processes: registry.processes(),
      actors: registry.list({ limit, ...(machine ? { machine } : {}), ...(threadId ? { threadId } : {}) }),
    });
  });

  app.get('/inspector/api/graph/:machine', (c) => {
    const name = c.req.param('machine');
    const cached = graphs.get(name);
    if (cached) return c.json(cached);
    const machine = known.get(name)?.();
    const definition = machine === undefined ? registry.definition(name) : undefined;
    const graph = machine !== undefined ? machineGraph(machine) : definition !== undefined ? definitionGraph(definition) : undefined;
    if (graph === undefined) return c.json({ error: `no machine named ${name}` }, 404);
    const entry = { graph, layout: layoutGraph(graph) };
    // Definitions seen on the bus may change with a deploy; built-in machines do not.
    if (machine !== undefined) graphs.set(name, entry);
    return c.json(entry);
  });

  app.get('/inspector/api/machines', (c) => c.json({ machines: [...known.keys()], threadMachines }));

  app.get('/inspector/api/threads', async (c) => {
    const limit = parseInteger(c.req.query('limit'), 1000, maxThreads);
    if (limit === undefined) return bad(c, `limit must be an integer from 0 to ${maxThreads}`);
    const { statuses, unknown } = parseStatuses(c.req.queries('status'));
    if (unknown.length > 0) return bad(c, `unknown thread status: ${unknown.join(', ')}`);
    const agent = c.req.query('agent');
    const threads: ThreadSummary[] = await runtime.list({
      limit,
      ...(agent ? { agent } : {}),
      ...(statuses.length > 0 ? { status: statuses } : {}),
    });
    return c.json({ threads });
  });

  app.get('/inspector/api/threads/:id', async (c) => {
    const id = c.req.param('id');
    const view = await runtime.get(id);
    if (view === undefined) return c.json({ error: `thread not found: ${id}` }, 404);
    return c.json(view);
  });

  app.get('/inspector/stream', (c) =>
    streamSSE(c, async (stream) => {
      const actors = new Map<string, ActorRecord>();
      const threads = new Map<string, ThreadRow>();
      let wake: (() => void) | undefined;
      const listener: Listener = (update) => {
        if (update.actor) actors.set(update.actor.key, update.actor);
        if (update.thread) threads.set(update.thread.id, update.thread);
        wake?.();
      };
      const life = sseLifetime(c, stream, { heartbeatMs, shutdown: stop.signal, onEnd: () => wake?.() });
      listeners.add(listener);
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify({ processes: registry.processes(), maxActors }) });
        await stream.writeSSE({ event: 'actors', data: JSON.stringify(registry.list({ limit: 500 }).reverse()) });
        while (!life.signal.aborted) {
          if (actors.size === 0 && threads.size === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          // Gather for a moment: bursts of snapshots become one message, one entry per actor.
          await new Promise((resolve) => setTimeout(resolve, streamIntervalMs));
          if (life.signal.aborted) break;
          if (actors.size > 0) {
            const batch = [...actors.values()];
            actors.clear();
            await stream.writeSSE({ event: 'actors', data: JSON.stringify(batch) });
          }
          if (threads.size > 0) {
            const batch = [...threads.values()];
            threads.clear();
            await stream.writeSSE({ event: 'threads', data: JSON.stringify(batch) });
          }
        }
      } catch {
        // The client went away mid-write.
      } finally {
        life.dispose();
        listeners.delete(listener);
      }
    }),
  );

  return Object.assign(app, { registry, ready, close });
}

/** The list row of a changed thread: its summary, as the store lists it. */
export function rowOf(change: ThreadChange): ThreadRow {
  const { thread } = change;
  // A change always carries events; the fallback only satisfies the type.
  return summaryOf(thread.id, thread.agent, deriveState(thread.events), thread.events[0]?.at ?? '');
}

function bad(c: Context, message: string): Response {
  return c.json({ error: message }, 400);
}
