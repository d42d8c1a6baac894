import { setMaxListeners } from 'node:events';
import { Hono, type Context } from 'hono';
import type { AnyStateMachine } from 'xstate';
import type { Bus } from '../bus/bus.js';
import type { Runtime } from '../runtime/runtime.js';
import { errorBody } from '../server/errorMapper.js';
import { parseInteger, parseStatuses, takesQuery } from '../server/requestBodies.js';
import type { ThreadSummary } from '../store/threadStore.js';
import type { ActorRegistry } from './actorRegistry.js';
import { INSPECTOR_ASSETS_PATH, INSPECTOR_SLASHED_PATH, inspectorAssets } from './assets.js';
import { createChartSource, type ChartSource } from './charts.js';
import { createLiveFeed } from './liveFeed.js';
import { streamRoute } from './streamRoute.js';

export { rowOf, type ThreadRow } from './liveFeed.js';

/** Options of {@link inspectorRoutes}. */
export interface InspectorRoutesOptions {
  runtime: Runtime;
  /** The bus the processes' {@link createBusInspector}s publish on. */
  bus: Bus;
  /** @default 'switchyard' */
  prefix?: string | undefined;
  /** Machines whose charts can be drawn, by id, besides the runtime's own (`runtime.machines`). @default {} */
  machines?: Record<string, AnyStateMachine> | undefined;
  /** Actors remembered (live and recent, across processes). @default 2000 */
  maxActors?: number | undefined;
  /** Most threads `GET /inspector/api/threads` returns. @default 10000 */
  maxThreads?: number | undefined;
  /** How long stream updates are gathered (and coalesced per actor and thread) before they are sent. @default 100 */
  streamIntervalMs?: number | undefined;
  /** Interval of the comment lines that keep an idle stream open. @default 15000 */
  heartbeatMs?: number | undefined;
  /** Aborting it ends open streams and stops listening to the bus and the runtime. */
  signal?: AbortSignal | undefined;
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

/**
 * The inspector: its page and the API behind it.
 *
 * - `GET /inspector`: the page; its styles and ES modules under `GET /inspector/ui/*` (same origin,
 *   no CDN: it works offline). Open it with `?token=<bearer token>` when the server needs one; the
 *   page keeps it for the session.
 * - `GET /inspector/api/actors?limit=&machine=&thread=`: `{ processes, actors }`, live and recent
 *   actors of every process (most recently updated first, a thread's latest actor only; `limit`
 *   defaults to 500), from the bus's `<prefix>.inspect.>` subjects
 * - `GET /inspector/api/graph/:machine`: `{ graph, layout }` of a machine's statechart (`agent`,
 *   `agent:<name>`, `supervisor`, `pipeline:<name>`, the machines passed in, or a definition an actor
 *   published), laid out by elkjs
 * - `GET /inspector/api/machines`: `{ machines, threadMachines }`: the machines drawable here, and
 *   the machine that runs the threads of each agent and pipeline
 * - `GET /inspector/api/threads?limit=&status=&agent=`: `{ threads }`, most recently updated first
 * - `GET /inspector/api/threads/:id`: the thread with its events (404 when there is none; with
 *   `?missing=null`, 200 `null`: the page reads a pipeline's child, maybe not launched yet, so;
 *   400 for another value of `missing`)
 * - `GET /inspector/stream`: server-sent events `actors`, `processes` (`{ processId, live }`: a
 *   process gone, or heard from again), `threads` (arrays of changes, coalesced every
 *   `streamIntervalMs`) and `deleted` (the ids of threads the runtime deleted); the first `actors`
 *   event holds the recent actors
 *
 * A query parameter a route does not take is refused with 400 naming it and the ones the route
 * takes (`/inspector/stream` and the graph and machine routes take none; the page's own files and
 * `GET /inspector`, opened with `?token=`, take any). Errors are the HTTP API's `{ error, code,
 * issues? }`, mounted on it or not.
 *
 * Answers to human requests go through the HTTP API's `POST /threads/:id/respond`.
 */
export function inspectorRoutes(options: InspectorRoutesOptions): InspectorRoutes {
  const { runtime, bus, prefix = 'switchyard', machines = {}, maxActors = 2000, maxThreads = 10_000, streamIntervalMs = 100, heartbeatMs = 15_000, signal } = options;
  const feed = createLiveFeed({ runtime, bus, prefix, maxActors });
  const charts = createChartSource(runtime, machines, feed.registry);
  const stop = new AbortController();
  // Each open stream listens for it (and stops listening when it ends): any number of pages may.
  setMaxListeners(0, stop.signal);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    stop.abort();
    closed ??= feed.close();
    return closed;
  };
  signal?.addEventListener('abort', () => void close(), { once: true });
  if (signal?.aborted) void close();

  const app = new Hono();
  mountPage(app);
  mountApi(app, { runtime, registry: feed.registry, charts, maxActors, maxThreads });
  app.get('/inspector/stream', takesQuery(), streamRoute(feed, { heartbeatMs, intervalMs: streamIntervalMs, maxActors, shutdown: stop.signal }));
  return Object.assign(app, { registry: feed.registry, ready: feed.ready, close });
}

/** The page and its files: static, same origin only, no inline script or style. */
function mountPage(app: Hono): void {
  const { files, error } = inspectorAssets();
  const serve = (c: Context, path: string): Response => {
    const asset = files.get(path);
    if (asset === undefined) return refused(c, error === undefined ? 404 : 500, error ?? `no inspector file at ${path}`);
    c.header('Content-Type', asset.type);
    c.header('Cache-Control', 'no-cache');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'");
    return c.body(asset.body);
  };
  app.get('/inspector', (c) => serve(c, '/inspector'));
  // The page's files are named relative to `/inspector`: from `/inspector/` they would miss. A
  // relative Location keeps any path prefix a proxy adds, and the query keeps `?token=`.
  app.get(INSPECTOR_SLASHED_PATH, (c) => c.redirect(`../inspector${new URL(c.req.url).search}`, 301));
  // By the file's name, not the request's path: under a host's mount that starts with the mount's.
  app.get('/inspector/ui/:file', (c) => serve(c, `${INSPECTOR_ASSETS_PATH}/${c.req.param('file')}`));
}

interface ApiContext {
  readonly runtime: Runtime;
  readonly registry: ActorRegistry;
  readonly charts: ChartSource;
  readonly maxActors: number;
  readonly maxThreads: number;
}

function mountApi(app: Hono, { runtime, registry, charts, maxActors, maxThreads }: ApiContext): void {
  app.get('/inspector/api/actors', takesQuery('limit', 'machine', 'thread'), (c) => {
    const requested = parseInteger(c.req.query('limit'), 500, 999_999_999);
    if (requested === undefined) return refused(c, 400, 'limit must be a non-negative integer');
    const machine = c.req.query('machine');
    const threadId = c.req.query('thread');
    const actors = registry.list({ limit: Math.min(requested, maxActors), ...(machine ? { machine } : {}), ...(threadId ? { threadId } : {}) });
    return c.json({ processes: registry.processes(), actors });
  });

  app.get('/inspector/api/graph/:machine', takesQuery(), async (c) => {
    const name = c.req.param('machine');
    try {
      const chart = await charts.chart(name);
      return chart === undefined ? refused(c, 404, `no machine named ${name}`) : c.json(chart);
    } catch (error) {
      return refused(c, 500, `the chart of ${name} could not be laid out: ${(error as Error).message}`);
    }
  });

  app.get('/inspector/api/machines', takesQuery(), (c) => c.json({ machines: charts.machines, threadMachines: charts.threadMachines }));

  app.get('/inspector/api/threads', takesQuery('limit', 'status', 'agent'), async (c) => {
    const limit = parseInteger(c.req.query('limit'), 1000, maxThreads);
    if (limit === undefined) return refused(c, 400, `limit must be an integer from 0 to ${maxThreads}`);
    const { statuses, unknown } = parseStatuses(c.req.queries('status'));
    if (unknown.length > 0) return refused(c, 400, `unknown thread status: ${unknown.join(', ')}`);
    const agent = c.req.query('agent');
    const threads: ThreadSummary[] = await runtime.list({ limit, ...(agent ? { agent } : {}), ...(statuses.length > 0 ? { status: statuses } : {}) });
    return c.json({ threads });
  });

  app.get('/inspector/api/threads/:id', takesQuery('missing'), async (c) => {
    const id = c.req.param('id');
    const missing = c.req.query('missing');
    if (missing !== undefined && missing !== 'null') {
      return refused(c, 400, 'invalid missing', [`missing: must be null (got ${JSON.stringify(missing.slice(0, 40))})`]);
    }
    const view = await runtime.get(id);
    if (view !== undefined) return c.json(view);
    // A pipeline's child is journaled before it is launched: the page reads it this way, so its
    // absence is an answer rather than a failed request (the browser logs every 404 as an error).
    return missing === 'null' ? c.json(null) : refused(c, 404, `thread not found: ${id}`);
  });
}

/**
 * An error answered here, in the HTTP API's error body (`{ error, code, issues? }`): the inspector's
 * routes answer the same whether mounted on the HTTP API or alone (with no error mapper).
 */
function refused(c: Context, status: 400 | 404 | 500, message: string, issues: readonly string[] = []): Response {
  return c.json(errorBody(status, message, { issues }), status);
}
