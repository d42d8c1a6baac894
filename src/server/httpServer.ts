import { createHash, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { z } from 'zod';
import { closedObjects } from '../agent/strictSchema.js';
import { ConfigError, InvalidInputError, InvalidStateError, NotFoundError, VersionConflictError } from '../errors.js';
import { bounded } from '../clock.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import { callbackUrlOf, shownView } from '../runtime/threadView.js';
import { launchedWithOtherInput, type Json, type Source } from '../thread/events.js';
import { redactUrl } from '../context/redactUrl.js';
import { secretsListedIn } from '../context/secretList.js';
import { pathInApp } from './pathInApp.js';
import { bearerTokenProblem } from './bearerToken.js';
import { allowedHostsProblem, browserGuard, isLoopbackAddress, routeOf } from './browserGuard.js';
import { recordedCallbackUrl, sameCallbackUrl } from './callbackCredentials.js';
import { drainRejectedBody } from './drainRejectedBody.js';
import { createUnavailableLog } from './unavailableLog.js';
import { errorBody, mapError, READY_TIMEOUT_MS, unavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from './errorMapper.js';
import { mountHooks } from './hooks.js';
import { httpRuntime, shuttingDown, SHUTTING_DOWN } from './httpRuntime.js';
import { streamThreadEvents } from './eventStream.js';
import { withWaitingOn } from '../runtime/waitingOn.js';
import {
  controlBodySchema,
  idempotencyThreadId,
  integerParam,
  launchBodySchema,
  readJsonBody,
  respondBodySchema,
  statusQuery,
  takesQuery,
  threadIdParam,
} from './requestBodies.js';
import { createWebhookNotifier, type WebhookNotifierOptions, type WebhookTarget } from './webhooks.js';

/** Options of {@link createHttpApp}. */
export interface HttpOptions {
  /**
   * A bearer token every route but `GET /`, `GET /health` and `GET /ready` requires. An empty string turns the check off.
   * It must be an RFC 6750 token68 (letters, digits, `-._~+/`, then `=` only at the end), the only
   * kind an `Authorization: Bearer` header carries: another is a {@link ConfigError}.
   * @default process.env.SWITCHYARD_TOKEN (no check when unset)
   */
  token?: string | undefined;
  /**
   * Answer only requests whose `Host` names this machine's loopback (`localhost`, `*.localhost`,
   * 127.0.0.0/8, `[::1]`); another gets 403 `forbidden`: a page on a site whose name its owner
   * points at 127.0.0.1 (DNS rebinding) is otherwise same-origin with a server listening there.
   * Whatever it is, a request a browser sends from a page of another site (`Sec-Fetch-Site`
   * `cross-site` or `same-site`) gets 403 too, but a link followed (a `GET` navigation).
   * @default false; {@link startHttpServer}: true when it listens on a loopback address and no token is required
   */
  loopbackHostsOnly?: boolean | undefined;
  /**
   * Host names answered besides the loopback's, as Vite's `server.allowedHosts`: when it lists
   * any, a request whose `Host` names neither gets 403 `forbidden` (DNS rebinding), whatever the
   * token and {@link loopbackHostsOnly}. `.example.com` takes `example.com` and its subdomains;
   * names are compared regardless of case and port. An entry with a scheme, a port or a path is a
   * {@link ConfigError}. `switchyard serve`: `--allowed-hosts`, `SWITCHYARD_ALLOWED_HOSTS`.
   * @default none (the check as {@link loopbackHostsOnly} says)
   */
  allowedHosts?: readonly string[] | undefined;
  /** Larger request bodies get 413. @default 1048576 (1 MiB) */
  maxBodyBytes?: number | undefined;
  /** Where unexpected errors and requests are logged. @default a silent logger */
  logger?: Logger | undefined;
  /** Interval of the comment lines that keep an idle event stream open. @default 15000 */
  heartbeatMs?: number | undefined;
  /**
   * Aborting it ends open event streams and waits, so a server can close; from then on, requests
   * that would start work (launch, respond, pause, resume, cancel, delete, hooks) are refused with 503
   * `the server is shutting down` and `Connection: close`, while reads are still answered.
   */
  signal?: AbortSignal | undefined;
  /**
   * How long a stopping server waits for the requests in flight ({@link startHttpServer}'s
   * `close()` drops their connections after it): the `Retry-After` of its 503s, after which it is
   * gone. (Every other 503 says `UNAVAILABLE_RETRY_AFTER_SECONDS`.)
   * @default 10000
   */
  drainMs?: number | undefined;
  /**
   * The HMAC secret of inbound hooks (`POST /hooks/:agent`, see `mountHooks`): each delivery is
   * signed with it as switchyard signs its webhooks, and needs no bearer token. Hooks are off (404)
   * without one; an empty string turns them off.
   * @default process.env.SWITCHYARD_HOOK_SECRET
   */
  hookSecret?: string | undefined;
  /**
   * The hook secrets {@link hookSecret} replaced (a rotation): a delivery signed with one of them
   * is taken too, while the senders switch over. They do not turn hooks on without a `hookSecret`.
   * @default the comma-separated process.env.SWITCHYARD_HOOK_SECRET_PREVIOUS when {@link hookSecret}
   * is read from the environment too; none when it is given
   */
  hookPreviousSecrets?: readonly string[] | undefined;
  /** How far an inbound hook's timestamp may be from now, in seconds. @default 300 */
  hookToleranceSeconds?: number | undefined;
  /**
   * Whether a launch may name a `callbackUrl`. Give `false` when nothing would call it back (the
   * process that runs the threads has no webhook secret, and callbacks are always signed): a launch
   * or relaunch that names one is then refused with 400 instead of accepted and never called.
   * @default true (the callbacks may be sent by other processes, which this app cannot see)
   */
  callbackUrls?: boolean | undefined;
  /**
   * The secret a launch seals the credentials of its `callbackUrl` with (`https://user:pass@host/`,
   * `?token=…`: the thread records the URL with its userinfo and secret-named query values sealed,
   * and the process that calls back opens them with the same secret): the callbacks' signing secret, which every process that runs threads
   * has. Without one, a launch whose callbackUrl holds credentials is refused with 400.
   * @default process.env.SWITCHYARD_WEBHOOK_SECRET
   */
  callbackSecret?: string | undefined;
  /**
   * The webhook secrets {@link callbackSecret} replaced (a rotation, as `CallbackOptions.previousSecrets`):
   * a relaunch compares its callbackUrl with one a thread sealed under them too. New launches seal
   * with {@link callbackSecret}.
   * @default the comma-separated process.env.SWITCHYARD_WEBHOOK_SECRET_PREVIOUS when
   * {@link callbackSecret} is read from the environment too; none when it is given
   */
  callbackPreviousSecrets?: readonly string[] | undefined;
  /**
   * More routes on the same app, behind the same token and body limit: the inspector
   * (`inspectorExtension` from `switchyard/inspector`), a user's own. Mounted after the API routes.
   * @default []
   */
  extensions?: readonly HttpExtension[] | undefined;
  /**
   * Whether a worker takes the jobs of an agent or pipeline (an API process on NATS that takes
   * none: `serve --no-worker`): `GET /agents` then says `served` for each. @default none (not said)
   */
  workerServes?: ((name: string) => boolean) | undefined;
}

/** What an {@link HttpExtension} is given when it is mounted. */
export interface HttpExtensionContext {
  readonly runtime: Runtime;
  readonly logger: Logger;
  /** Aborted when the server shuts down: end open streams. */
  readonly signal: AbortSignal | undefined;
}

/**
 * Routes mounted on the HTTP app by injection, so the server itself loads nothing it does not
 * serve (the inspector, for one, lives behind `switchyard/inspector`).
 */
export interface HttpExtension {
  /** Paths served without the bearer token: static pages that hold no data. @default [] */
  readonly publicPaths?: readonly string[] | undefined;
  /** Pages for people it serves, by name (`{ inspector: '/inspector' }`), which `GET /` lists. @default {} */
  readonly pages?: Readonly<Record<string, string>> | undefined;
  /** Adds the routes; called once per app. What it returns is closed with the app. */
  mount(app: Hono, context: HttpExtensionContext): { close(): Promise<void> } | void;
}

/** What {@link createHttpApp} returns: the hono app, and a way to release what it holds. */
export type HttpApp = Hono & {
  /**
   * Closes what the extensions hold (the inspector stops listening to the runtime and the bus, and
   * ends its streams). Aborting `options.signal` does the same; {@link startHttpServer}'s close calls it.
   */
  close(): Promise<void>;
};

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions extends HttpOptions {
  /** @default '127.0.0.1' */
  host?: string | undefined;
  /** 0 picks a free port. @default 7878 */
  port?: number | undefined;
  /**
   * Signed webhooks when a thread needs a human or finishes: the receivers, or the notifier's
   * options (`threads` defaults to the runtime served: a retry reads its thread first, and a thread
   * deleted meanwhile, by any process, is not called back).
   */
  webhooks?: readonly WebhookTarget[] | WebhookNotifierOptions | undefined;
  /**
   * Where the webhooks hear of thread changes. On NATS, give every API process of a deployment
   * the NATS surface's source (`node.surface.webhookSource(urls)` of a `createNatsNode`), so each
   * webhook is sent by one of them rather than by each.
   * @default the runtime served (its own writes and the changes it reads from other processes)
   */
  webhookSource?: Pick<Runtime, 'subscribe'> | undefined;
}

/** A running HTTP server. */
export interface HttpServer {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Refuses new work (503), ends event streams and waits, closes the extensions, stops webhooks
   * (after deliveries in flight), closes the server, dropping the connections of requests still
   * in flight after `drainMs`. The runtime stays open.
   */
  close(): Promise<void>;
}

const THREAD_ID_AND_KEY = 'give threadId or an Idempotency-Key header, not both: each names the thread';

const NO_CALLBACKS =
  'callbackUrl refused: this server sends no callbacks (they are signed, and the process that runs the threads has no webhook secret); set SWITCHYARD_WEBHOOK_SECRET, or launch without a callbackUrl';

/** How long a stopping server waits for the requests in flight. */
const DEFAULT_DRAIN_MS = 10_000;
// Node's requestTimeout bounds receiving a request (headers and body), not the response: event
// streams and waits run longer. Its default (300 s) lets a slow client hold a connection for long.
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 20_000;

const DEFAULT_WAIT_MS = 30_000;
const MAX_WAIT_MS = 300_000;

/**
 * The HTTP surface of a runtime as a hono app (serve it with {@link startHttpServer}, or call
 * `app.request()` in tests). JSON everywhere; errors are `{ error, code, issues? }` (see `mapError`;
 * 404 for an unknown path, 405 with `Allow` for a method a known path does not take, 400 for a
 * query parameter the route does not take, naming it and the ones the route takes, or saying it
 * takes none: see `takesQuery`; `GET /`, `/health` and `/ready` take any);
 * every 503 carries `Retry-After` (seconds: a few for an unavailable store, the drain time once
 * stopping).
 *
 * - `GET /` (never needs the token): `{ name: 'switchyard', routes, pages? }`, what the server
 *   serves: its API routes (`GET /threads/:id`; the hooks route when hooks are on) and the pages of
 *   its extensions (`{ inspector: '/inspector' }`), for someone who opens its address
 * - `GET /health` (never needs the token): `{ ok: true }` while the process runs (liveness)
 * - `GET /ready` (never needs the token): `{ ok: true }` when the store answers (`Runtime.ready`),
 *   else 503 `{ error: 'the store is unavailable: <cause>' }`, and 503 once the server is
 *   stopping (readiness)
 * - `GET /agents`: what can be launched: the agents (`kind: 'agent'`, their tools and step limits),
 *   then the pipelines (`kind: 'pipeline'`, their steps: `{ name, kind, agent? }`); each with
 *   `inputSchema`, the JSON Schema of its input (`{}` when it takes any JSON value); with
 *   `workerServes`, `served`: whether a worker takes its jobs
 * - `POST /threads` `{ agent, input, threadId?, callbackUrl? }`: 201 and the thread; 200 with the
 *   existing thread when `threadId` (or the `Idempotency-Key` header: the key, or `key-` and its
 *   hash when it is not a thread id; 400 with both) names one already launched, by the same launch
 *   (409 when it names another agent, another input or another `callbackUrl`: see `sameLaunch`). `callbackUrl`
 *   is called (signed) when the thread needs a human and when it ends (400 when `callbackUrls` is
 *   false: nothing here could sign it)
 * - `POST /hooks/:agent` (with `hookSecret`): a signed inbound webhook launches a thread (see `mountHooks`)
 * - `GET /threads?agent=&status=&limit=&after=&updatedBefore=`: `{ threads }`, most recently updated
 *   first; with `after` (empty for the first page, then the `next` of the previous page) one page of
 *   a walk in creation order that returns every thread exactly once, `{ threads, next? }`; `status`
 *   may repeat or be comma-separated; `updatedBefore` (an ISO time, 400 when it is none) keeps the
 *   threads last updated strictly before it (a walk ends early where the store's order allows); the
 *   row of a thread waiting for a human carries its open request (`pending`: see `ThreadSummary`),
 *   that of a failed or cancelled thread why it ended (`failure`)
 * - `GET /threads/:id`: the thread
 * - `POST /threads/:id/respond` `{ requestId, approved?, answer?, comment?, by? }`: answers the open
 *   human request; 409 when `requestId` is not that request or another answer won
 * - `POST /threads/:id/pause|resume|cancel` `{ reason?, by? }` (body optional): 409 once ended
 * - `DELETE /threads/:id`: deletes a thread that ended, for good: 200 with what it deleted,
 *   `{ id, agent, status, unrecordedCall?: { callId, tool, idempotencyKey } }` (`unrecordedCall`:
 *   the call its cancel left with no outcome recorded, which may have taken effect; the thread was
 *   its only record); 404 when there is none; 409 when it has not ended (cancel it first), when
 *   that call's outcome may still be recorded, when it is a pipeline's child and the pipeline has
 *   not ended, or when the store cannot delete (see `Runtime.delete`)
 * - `GET /threads/:id/events`: server-sent events (see `streamThreadEvents`)
 * - `GET /threads/:id/wait?timeoutMs=`: the thread once it stops moving (ended, waiting for a human
 *   or paused, a pipeline waiting on a child): 200; still moving after `timeoutMs` (default 30 s, at
 *   most 300 s): 202 and the thread. A pipeline's view, here and in `GET /threads/:id`, carries
 *   `waitingOn` (see `withWaitingOn`): the child it waits on, its status and pending request
 */
export function createHttpApp(served: Runtime, options: HttpOptions = {}): HttpApp {
  const {
    token = process.env.SWITCHYARD_TOKEN ?? '',
    maxBodyBytes = 1024 * 1024,
    logger = silentLogger(),
    heartbeatMs = 15_000,
    signal: callerSignal,
    extensions = [],
    hookSecret = process.env.SWITCHYARD_HOOK_SECRET ?? '',
    // The environment's previous secrets replaced its current one, not a secret given here.
    hookPreviousSecrets = options.hookSecret === undefined ? secretsListedIn(process.env.SWITCHYARD_HOOK_SECRET_PREVIOUS, hookSecret) : [],
    hookToleranceSeconds = 300,
    callbackUrls = true,
    callbackSecret = process.env.SWITCHYARD_WEBHOOK_SECRET ?? '',
    callbackPreviousSecrets = options.callbackSecret === undefined ? secretsListedIn(process.env.SWITCHYARD_WEBHOOK_SECRET_PREVIOUS, callbackSecret) : [],
    workerServes,
    drainMs = DEFAULT_DRAIN_MS,
    loopbackHostsOnly = false,
  } = options;
  const allowedHosts = (options.allowedHosts ?? []).map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const hostsProblem = allowedHostsProblem(allowedHosts);
  if (hostsProblem !== undefined) throw new ConfigError(`allowedHosts: ${hostsProblem}`);
  // Refused here, not 400 on every request: no client could send it.
  const tokenProblem = token === '' ? undefined : bearerTokenProblem(token, 'the bearer token (token, default SWITCHYARD_TOKEN)');
  if (tokenProblem !== undefined) throw new ConfigError(tokenProblem);
  // Each open event stream listens for the shutdown (and stops listening when it ends): any number
  // may, on a signal of our own that follows the caller's (whose listener limit is theirs).
  const shutdown = callerSignal === undefined ? undefined : AbortSignal.any([callerSignal]);
  if (shutdown !== undefined) setMaxListeners(0, shutdown);
  // What a relaunch opens a recorded callbackUrl with: the secret, then the ones it replaced.
  const openingSecrets = [callbackSecret, ...callbackPreviousSecrets];
  // What the routes and extensions show holds no credential of a callback URL recorded in clear,
  // and they start no work once the server stops.
  const runtime = httpRuntime(served, shutdown);
  const app = new Hono();

  // Every 503 says when to ask again: a stopping server once it is gone (its drain time), else
  // after a moment (the store reconnecting).
  const drainSeconds = String(Math.max(1, Math.ceil(drainMs / 1000)));
  app.use('*', async (c, next) => {
    await next();
    if (c.res.status === 503 && !c.res.headers.has('Retry-After')) {
      c.res.headers.set('Retry-After', shutdown?.aborted ? drainSeconds : String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    }
  });

  // A store outage fails every request at once: its lines are held back to a few (unavailableLog.ts).
  const logUnavailable = createUnavailableLog(logger, served.clock);
  app.onError((error, c) => {
    // The bearer check builds its own JSON response (with WWW-Authenticate).
    if (error instanceof HTTPException && error.res !== undefined) return error.getResponse();
    // A request the closing server dropped at its deadline (logged once there): nobody reads this.
    if (shutdown?.aborted && c.req.raw.signal.aborted) return c.json(errorBody(503, SHUTTING_DOWN), 503, { Connection: 'close' });
    const { status, body } = mapError(error, logger, { method: c.req.method, path: c.req.path, logUnavailable });
    // A stopping server lets the client go instead of keeping the connection alive.
    return c.json(body, status, status === 503 && shutdown?.aborted ? { Connection: 'close' } : {});
  });
  app.notFound((c) => c.json(errorBody(404, `no route ${c.req.method} ${c.req.path}`), 404));

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    logger.debug({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, 'http request');
  });
  // A known path asked with a method it does not take: 405 naming the ones it does (inside the
  // logger, so the log line says 405; after the bearer check, which answers first).
  app.use(
    '*',
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const allow = [...methods].sort().join(', ');
        return c.json(errorBody(405, `method ${c.req.method} is not allowed on ${c.req.path} (allowed: ${allow})`), 405, { Allow: allow });
      },
    }),
  );
  // Inbound hooks carry an HMAC signature instead of a bearer token (a webhook sender cannot send
  // one), and no browser page can sign: a tunnel's public Host (ngrok, cloudflared) passes.
  const signed = (path: string): boolean => hookSecret !== '' && path.startsWith('/hooks/');
  // Only this app's routes: mounted at `/` of a host app, its `use('*')` sees the host's routes too.
  const ours = routeOf(app);
  app.use('*', browserGuard({ loopbackHostsOnly, allowedHosts, tokenRequired: token !== '', exempt: (c) => signed(pathInApp(c)) || !ours(pathInApp(c)) }));
  app.get('/health', (c) => c.json({ ok: true }));
  app.get('/ready', async (c) => {
    if (shutdown?.aborted) return c.json(errorBody(503, SHUTTING_DOWN), 503);
    try {
      await bounded(runtime.ready(), READY_TIMEOUT_MS);
      return c.json({ ok: true });
    } catch (error) {
      return c.json(errorBody(503, unavailable(error)), 503);
    }
  });
  // Refused before the body is read; a request already in flight is refused by the runtime guard.
  app.use('*', (c, next) => {
    if (shutdown?.aborted && c.req.method !== 'GET' && c.req.method !== 'HEAD') throw shuttingDown();
    return next();
  });
  if (token !== '') {
    const expected = digest(token);
    const auth = bearerAuth({
      verifyToken: (given) => timingSafeEqual(digest(given), expected),
      noAuthenticationHeader: { message: errorBody(401, 'unauthorized: send Authorization: Bearer <token>') },
      invalidAuthenticationHeader: { message: errorBody(400, 'the Authorization header must be "Bearer <token>"') },
      invalidToken: { message: errorBody(401, 'unauthorized: the bearer token is wrong') },
    });
    // Static pages of extensions (the inspector's) hold no data; their APIs stay behind the token.
    const open = new Set(['/', '/health', '/ready', ...extensions.flatMap((extension) => extension.publicPaths ?? [])]);
    // Compared within the app: mounted in a host app (`host.route('/agents', app)`), the request's
    // path starts with the mount's.
    app.use('*', (c, next) => {
      const path = pathInApp(c);
      return open.has(path) || signed(path) ? next() : auth(c, next);
    });
  }
  app.use('*', drainRejectedBody({ maxBytes: Math.max(8 * 1024 * 1024, 4 * maxBodyBytes), maxMs: 5000 }));
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => c.json(errorBody(413, `the request body is larger than ${maxBodyBytes} bytes`), 413),
    }),
  );

  const servedOf = (name: string): { served?: boolean } => (workerServes === undefined ? {} : { served: workerServes(name) });
  app.get('/agents', takesQuery(), (c) =>
    c.json([
      ...[...runtime.agents.values()].map((agent) => ({
        name: agent.name,
        kind: 'agent' as const,
        ...servedOf(agent.name),
        description: agent.description,
        inputSchema: inputSchemaOf(agent.input),
        maxSteps: agent.maxSteps,
        tools: agent.tools.map((tool) => ({
          name: tool.name,
          description: tool.description,
          idempotent: tool.idempotent,
          breaksLoop: tool.breaksLoop,
          ...approvalOf(tool),
        })),
      })),
      // Launched like agents (POST /threads with the pipeline's name): each step a child thread or code.
      ...[...runtime.pipelines.values()].map((pipeline) => ({
        name: pipeline.name,
        kind: 'pipeline' as const,
        ...servedOf(pipeline.name),
        description: pipeline.description,
        inputSchema: inputSchemaOf(pipeline.input),
        steps: pipeline.steps.map((step) => ({ name: step.name, kind: step.kind, ...(step.kind === 'agent' ? { agent: step.agent } : {}) })),
      })),
    ]),
  );

  app.post('/threads', takesQuery(), async (c) => {
    const body = await readJsonBody(c, launchBodySchema);
    // Before the relaunch check, so a relaunch naming a callback is answered as a first launch is.
    if (body.callbackUrl !== undefined && !callbackUrls) throw new InvalidInputError(NO_CALLBACKS);
    const key = c.req.header('idempotency-key');
    // Each names the thread: with both, a retry sending one of them would name another thread.
    if (key !== undefined && body.threadId !== undefined) throw new InvalidInputError(THREAD_ID_AND_KEY);
    const threadId = body.threadId ?? (key === undefined ? undefined : idempotencyThreadId(key));
    const launch: Relaunch = { agent: body.agent, input: body.input, callbackUrl: body.callbackUrl };
    const source: Source = {
      kind: 'http',
      ...(key === undefined ? {} : { triggerId: key }),
      // Where the thread reports back: the process that brings it to rest calls it (signed).
      ...(body.callbackUrl === undefined ? {} : { replyTo: recordedCallbackUrl(body.callbackUrl, callbackSecret) }),
    };
    // The relaunch compares with the URL as recorded (the runtime the routes use masks it).
    if (threadId !== undefined) {
      const existing = await served.get(threadId);
      if (existing !== undefined) return c.json(sameLaunch(existing, launch, openingSecrets), 200);
    }
    let view: ThreadView;
    try {
      // Only a launch whose create won answers 201: racing ones all found the id free above.
      view = await runtime.launch(body.agent, body.input, { ...(threadId === undefined ? {} : { threadId }), source, onlyNew: true });
    } catch (error) {
      // Two launches with one id raced and the other created it: answer like a relaunch.
      if (!(error instanceof VersionConflictError) || threadId === undefined) throw error;
      const existing = await served.get(threadId);
      if (existing === undefined) throw error;
      return c.json(sameLaunch(existing, launch, openingSecrets), 200);
    }
    c.header('Location', `/threads/${encodeURIComponent(view.id)}`);
    return c.json(view, 201);
  });

  app.get('/threads', takesQuery('agent', 'status', 'limit', 'after', 'updatedBefore'), async (c) => {
    const agent = c.req.query('agent');
    const status = statusQuery(c);
    const limit = integerParam('limit', c.req.query('limit'), 100, 10_000);
    const after = c.req.query('after');
    const updatedBefore = c.req.query('updatedBefore');
    const threads = await runtime.list({
      ...(agent ? { agent } : {}),
      ...(status ? { status } : {}),
      limit,
      ...(after === undefined ? {} : { after }),
      ...(updatedBefore === undefined ? {} : { updatedBefore }),
    });
    // A paged walk goes on from the last thread's cursor while pages come back full.
    const next = after !== undefined && threads.length === limit && limit > 0 ? threads.at(-1)?.cursor : undefined;
    return c.json(next === undefined ? { threads } : { threads, next });
  });

  app.get('/threads/:id', takesQuery(), async (c) => c.json(await withWaitingOn(runtime, await viewOf(c))));

  app.post('/threads/:id/respond', takesQuery(), async (c) => {
    const id = threadIdParam(c);
    const body = await readJsonBody(c, respondBodySchema);
    return c.json(await runtime.respond(id, body));
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/threads/:id/${action}`, takesQuery(), async (c) => {
      const id = threadIdParam(c);
      const body = await readJsonBody(c, controlBodySchema, {});
      return c.json(await runtime[action](id, body));
    });
  }

  app.delete('/threads/:id', takesQuery(), async (c) => c.json(await runtime.delete(threadIdParam(c))));

  mountHooks(app, runtime, { secret: hookSecret, previousSecrets: hookPreviousSecrets, toleranceSeconds: hookToleranceSeconds, logger });

  app.get('/threads/:id/events', (c) => streamThreadEvents(c, threadIdParam(c), { runtime, logger, heartbeatMs, shutdown }));

  app.get('/threads/:id/wait', takesQuery('timeoutMs'), async (c) => {
    const id = threadIdParam(c);
    const timeoutMs = integerParam('timeoutMs', c.req.query('timeoutMs'), DEFAULT_WAIT_MS, MAX_WAIT_MS);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout, c.req.raw.signal, ...(shutdown ? [shutdown] : [])];
    try {
      return c.json(await withWaitingOn(runtime, await runtime.settled(id, { signal: AbortSignal.any(signals) })));
    } catch (error) {
      if (!signals.some((s) => s.aborted)) throw error;
      // Still moving: the thread as it is now.
      return c.json(await withWaitingOn(runtime, await viewOf(c)), 202);
    }
  });

  // The API routes, before the extensions add theirs.
  const index = apiIndex(app, hookSecret !== '', extensions);
  app.get('/', (c) => c.json(index));
  const mounted = extensions.map((extension) => extension.mount(app, { runtime, logger, signal: shutdown }) ?? undefined);
  return Object.assign(app, {
    close: async (): Promise<void> => {
      await Promise.all(mounted.map((handle) => handle?.close()));
    },
  });

  async function viewOf(c: Context): Promise<ThreadView> {
    const id = threadIdParam(c);
    const view = await runtime.get(id);
    if (view === undefined) throw new NotFoundError('thread', id);
    return view;
  }
}

/**
 * Serves a runtime over HTTP (on 127.0.0.1 unless told otherwise) and, when configured, sends
 * signed webhooks for its threads.
 *
 * @example
 * ```ts
 * const server = await startHttpServer(runtime, { port: 0 });
 * await fetch(`${server.url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: '2+3' }) });
 * await server.close();
 * ```
 */
export async function startHttpServer(runtime: Runtime, options: HttpServerOptions = {}): Promise<HttpServer> {
  const { host = '127.0.0.1', port = 7878, drainMs = DEFAULT_DRAIN_MS, webhooks, webhookSource = runtime, ...appOptions } = options;
  const shutdown = new AbortController();
  const signals = [shutdown.signal, ...(appOptions.signal ? [appOptions.signal] : [])];
  // Without a token, only the loopback's names: a site rebound to 127.0.0.1 would read and write it.
  // The token's default resolved once, here, and given to the app as the one it checks.
  const token = appOptions.token ?? process.env.SWITCHYARD_TOKEN ?? '';
  const loopbackHostsOnly = appOptions.loopbackHostsOnly ?? (token === '' && isLoopbackAddress(host));
  const app = createHttpApp(runtime, { ...appOptions, token, drainMs, loopbackHostsOnly, signal: AbortSignal.any(signals) });
  const notifierOptions: WebhookNotifierOptions | undefined =
    webhooks === undefined
      ? undefined
      : // The runtime served is where a retry reads its thread first (gone: dropped), unless told otherwise.
        { ...(appOptions.logger ? { logger: appOptions.logger } : {}), threads: runtime, ...(isTargetList(webhooks) ? { webhooks } : webhooks) };
  const notifier = notifierOptions && notifierOptions.webhooks.length > 0 ? createWebhookNotifier(notifierOptions) : undefined;

  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve(
      { fetch: app.fetch, hostname: host, port, serverOptions: { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS } },
      () => resolve(started),
    );
    started.once('error', reject);
  });
  // Closing waits for requests in flight (event streams end on the shutdown signal), then drops
  // every connection, including keep-alive sockets that would otherwise linger for seconds.
  let inFlight = 0;
  const dropConnectionsWhenIdle = (): void => {
    if (shutdown.signal.aborted && inFlight === 0 && 'closeAllConnections' in server) server.closeAllConnections();
  };
  server.on('request', (_req: unknown, res: NodeJS.EventEmitter) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      setImmediate(dropConnectionsWhenIdle);
    });
  });
  // The deletions are this server's runtime's, wherever the changes come from (a NATS source).
  const detach = notifier?.attach({ subscribe: (listener) => webhookSource.subscribe(listener), onDelete: (listener) => runtime.onDelete(listener) });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  appOptions.logger?.info({ host: address.address, port: address.port }, 'http server listening');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    close() {
      closing ??= (async () => {
        detach?.();
        shutdown.abort();
        await app.close();
        await new Promise<void>((resolve, reject) => {
          // Past the drain deadline, the requests still in flight lose their connections.
          const deadline = setTimeout(() => {
            if (inFlight > 0) appOptions.logger?.warn({ requests: inFlight, drainMs }, 'dropping the HTTP requests still in flight at the drain deadline');
            if ('closeAllConnections' in server) server.closeAllConnections();
          }, drainMs);
          server.close((error) => {
            clearTimeout(deadline);
            if (error) reject(error);
            else resolve();
          });
          dropConnectionsWhenIdle();
        });
        await notifier?.close();
      })();
      return closing;
    },
  };
}

/** What `GET /` answers: see {@link createHttpApp}. */
interface ApiIndex {
  readonly name: 'switchyard';
  /** `<METHOD> <path>`, as registered. */
  readonly routes: readonly string[];
  readonly pages?: Readonly<Record<string, string>>;
}

/** {@link ApiIndex} of `app`'s routes so far (not middleware; the hooks route only when `hooks` are on) and the extensions' pages. */
function apiIndex(app: Hono, hooks: boolean, extensions: readonly HttpExtension[]): ApiIndex {
  const served = app.routes.filter(({ method, path }) => method !== 'ALL' && (hooks || !path.startsWith('/hooks/')));
  const routes = [...new Set(served.map(({ method, path }) => `${method} ${path}`))];
  const pages: Record<string, string> = Object.assign({}, ...extensions.map((extension) => extension.pages ?? {}));
  return Object.keys(pages).length === 0 ? { name: 'switchyard', routes } : { name: 'switchyard', routes, pages };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function isTargetList(value: HttpServerOptions['webhooks']): value is readonly WebhookTarget[] {
  return Array.isArray(value);
}

/** What a launch asks for, as {@link sameLaunch} compares it with the thread it names. */
interface Relaunch {
  readonly agent: string;
  readonly input: Json;
  readonly callbackUrl: string | undefined;
}

/**
 * The existing thread a relaunch answers with (as shown), when the relaunch is the same launch: the
 * same agent, the same input (as JSON values: keys in any order), and no callbackUrl or the one the
 * thread was launched with, its credentials compared once opened with the first of `secrets` they
 * open with. A relaunch changes nothing, so another input would never be used, and another
 * callbackUrl never called: 409.
 */
function sameLaunch(existing: ThreadView, launch: Relaunch, secrets: readonly string[]): ThreadView {
  const { agent, input, callbackUrl } = launch;
  if (existing.agent !== agent) {
    throw new InvalidStateError(`thread ${existing.id} already exists and runs agent ${existing.agent}, not ${agent}`, existing.id, existing.status, 'thread_exists_other_agent');
  }
  if (launchedWithOtherInput(existing.events, input)) {
    throw new InvalidStateError(`thread ${existing.id} already exists and was launched with another input; ${relaunchHint(existing.id)}`, existing.id, existing.status, 'thread_exists_other_input');
  }
  const launchedWith = callbackUrlOf(existing);
  if (callbackUrl !== undefined && !sameCallbackUrl(launchedWith, callbackUrl, secrets)) {
    throw new InvalidStateError(
      `thread ${existing.id} exists with another callbackUrl (${launchedWith === undefined ? 'none' : redactUrl(launchedWith)}); ${relaunchHint(existing.id)}`,
      existing.id,
      existing.status,
      'thread_exists_other_callback_url',
    );
  }
  return shownView(existing);
}

/** What a refused relaunch is told to do instead. */
function relaunchHint(threadId: string): string {
  return `a relaunch does not change it: launch a new thread (another threadId or Idempotency-Key), or poll GET /threads/${threadId}/wait`;
}

/**
 * The JSON Schema of the input a launch takes, as a client (a form) would fill it in: `{}` (any
 * JSON value) when none is declared; what JSON Schema cannot say (a refinement) is left open. A
 * plain object says `additionalProperties: false`: a launch refuses a key it does not list.
 */
function inputSchemaOf(schema: z.ZodType | undefined): Record<string, unknown> {
  return schema === undefined ? {} : z.toJSONSchema(closedObjects(schema), { io: 'input', unrepresentable: 'any' });
}

/** Whether a call with no arguments needs approval (a per-input rule may decide otherwise). */
function approvalOf(tool: { needsApproval(input: unknown): boolean }): { approval?: boolean } {
  try {
    return { approval: tool.needsApproval({}) };
  } catch {
    return {};
  }
}
