import { join, resolve } from 'node:path';
import { calculator } from '../../agents/calculator/index.js';
import { bugfix } from '../../agents/bugfix/index.js';
import { createDeploybot } from '../../agents/deploybot/index.js';
import { triage } from '../../agents/triage/index.js';
import type { Agent } from '../agent/agent.js';
import { messageOf } from '../errors.js';
import type { Bus } from '../bus/bus.js';
import { createLogger, type Logger } from '../logger.js';
import { createDemoModel } from '../model/demoModel.js';
import type { Model } from '../model/model.js';
import { createOpenAIModel } from '../model/openaiModel.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../server/httpServer.js';
import type { WebhookTarget } from '../server/webhooks.js';
import { createMemoryBus } from '../bus/memoryBus.js';
import { createBusInspector } from '../inspector/inspection.js';
import { inspectorExtension } from '../inspector/mount.js';
import { createFileStore } from '../store/fileStore.js';
import { DEFAULT_URL, eventLine, shellQuote, type CommandHint } from './format.js';

/** Options of the `serve` command, after commander parsed them. */
export interface ServeOptions {
  host: string;
  port: number;
  /** The data directory; threads live in `<dir>/threads`. */
  dir: string;
  /** The bearer token clients must send; none when empty or undefined. */
  token?: string;
  /**
   * Launch the demo thread after start. `undefined`: only with the demo model and an empty store.
   */
  demo?: boolean;
  /** pino level. @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info' */
  logLevel?: string;
  /**
   * Join NATS at this URL (comma-separated for several servers): threads in a KV bucket, durable
   * jobs, the NATS subjects. Unset: the embedded default (file store, everything in this process).
   */
  natsUrl?: string;
  /** NATS subject prefix. @default 'switchyard' */
  prefix?: string;
  /** Replicas of the KV bucket and the work queues on NATS. @default 1 */
  replicas?: number;
  /** With NATS: also take jobs in this process. @default true */
  worker?: boolean;
}

/** Where `serve` writes what a person reads (logs go to stderr through pino). */
export interface ServeIO {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** How the user runs the CLI, for the commands it suggests. */
  hint: CommandHint;
  /** Resolves when the process is told to stop (SIGINT, SIGTERM). */
  stopped: Promise<string>;
}

/**
 * Webhook receivers from the environment: `SWITCHYARD_WEBHOOK_URL` (several separated by commas)
 * and `SWITCHYARD_WEBHOOK_SECRET` (the HMAC secret; required with a URL).
 */
function webhooksFromEnv(env: NodeJS.ProcessEnv): WebhookTarget[] | undefined {
  const urls = (env.SWITCHYARD_WEBHOOK_URL ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) return undefined;
  const secret = env.SWITCHYARD_WEBHOOK_SECRET ?? '';
  if (secret === '') throw new Error('SWITCHYARD_WEBHOOK_URL is set but SWITCHYARD_WEBHOOK_SECRET is not: webhooks are always signed');
  for (const url of urls) {
    if (!/^https?:\/\//.test(url)) throw new Error(`SWITCHYARD_WEBHOOK_URL: ${url} is not an http(s) URL`);
  }
  return urls.map((url) => ({ url, secret }));
}

/** The demo thread's input: two steps, the second a division that needs approval. */
const DEMO_INPUT = 'what is (3 + 4) / 2';

/**
 * `switchyard serve`: the bundled agents on a runtime over a file store, served over HTTP until
 * SIGINT or SIGTERM. Resolves with the exit code once everything is closed.
 */
export async function serve(options: ServeOptions, io: ServeIO): Promise<number> {
  const dir = resolve(options.dir);
  const { model, configured } = modelFromEnv(io.env);
  const logger = loggerFromEnv(options.logLevel, io.env);
  const backend = options.natsUrl ? await natsBackend(options, options.natsUrl, model, logger, io.env) : await fileBackend(dir, model, logger, io.env);
  const { runtime, bus } = backend;
  const closeAll = (): Promise<void> => backend.close();

  let server: HttpServer;
  try {
    const webhooks = webhooksFromEnv(io.env);
    server = await startHttpServer(runtime, { host: options.host, port: options.port, token: options.token ?? '', logger, extensions: [inspectorExtension({ bus })], ...(webhooks ? { webhooks } : {}) });
  } catch (error) {
    await closeAll();
    const code = (error as { code?: unknown }).code;
    if (code === 'EADDRINUSE') throw new Error(`${options.host}:${options.port} is in use (another switchyard serve?); pick a port with --port`);
    throw error;
  }
  const hint: CommandHint = server.url === DEFAULT_URL ? io.hint : (args) => io.hint(`${args} --url ${server.url}`);

  io.out(`switchyard listening on ${server.url}`);
  io.out(`inspector: ${server.url}/inspector${options.token ? '?token=<token>' : ''}`);
  io.out(backend.where);
  if (configured) {
    io.out(`model: ${model.name} (OpenAI-compatible${io.env.SWITCHYARD_MODEL_BASE_URL ? ` at ${io.env.SWITCHYARD_MODEL_BASE_URL}` : ''})`);
  } else {
    io.out('no model key is configured (SWITCHYARD_MODEL_API_KEY, OPENAI_API_KEY or SWITCHYARD_MODEL_BASE_URL):');
    io.out('the bundled agents run on the scripted demo model, a deterministic stand-in for an LLM.');
  }
  if (options.token) io.out('clients must send the bearer token (set SWITCHYARD_TOKEN or pass --token).');
  else if (!isLoopback(server.host)) io.err(`warning: listening on ${server.host} without a token; anyone who can reach it can run agents (pass --token)`);

  const recovered = await runtime.recover();
  if (recovered > 0) io.out(`recovered ${recovered} thread${recovered === 1 ? '' : 's'} that were running when the last process stopped`);

  io.out('');
  io.out('try:');
  io.out(`  ${hint(`launch calculator ${shellQuote(DEMO_INPUT)}`)}`);
  io.out(`  ${hint(`launch deploybot ${shellQuote('deploy the latest backend to staging')}`)}`);
  io.out(`  ${hint(`launch bugfix --input-json ${shellQuote('{"report":"users get a 500 on login after their session expired"}')}`)}`);
  io.out(`  ${hint('threads')}`);

  const demo = options.demo ?? (!configured && (await runtime.list({ limit: 1 })).length === 0);
  if (demo) await runDemo(runtime, io, hint);
  io.out('');
  io.out('press Ctrl+C to stop');

  const signal = await io.stopped;
  logger.info({ signal }, 'shutting down');
  try {
    await server.close();
  } finally {
    await closeAll();
  }
  return 0;
}

/** The runtime `serve` serves, the bus its inspector uses, where its threads live, and how to close them. */
interface Backend {
  readonly runtime: Runtime;
  readonly bus: Bus;
  /** A line for the user: where threads are stored. */
  readonly where: string;
  close(): Promise<void>;
}

/** A @statelyai/inspect WebSocket inspector to feed too (`SWITCHYARD_INSPECT_WS`), if any. */
function inspectWebsocket(env: NodeJS.ProcessEnv): string | undefined {
  return env.SWITCHYARD_INSPECT_WS || undefined;
}

/** The embedded default: a file store under the data directory, every thread run in this process. */
async function fileBackend(dir: string, model: Model, logger: Logger, env: NodeJS.ProcessEnv): Promise<Backend> {
  const { agents, pipelines } = bundledAgents();
  const store = await createFileStore({ dir: join(dir, 'threads') });
  // Inspection events travel over the bus (in-process here), as they do between processes on NATS.
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus, websocketUrl: inspectWebsocket(env) });
  const runtime = createRuntime({ agents, pipelines, store, model, logger, inspect: inspector.inspect });
  return {
    runtime,
    bus,
    where: `threads are stored in ${join(dir, 'threads')}`,
    async close() {
      await runtime.close();
      await inspector.close();
      await bus.close();
    },
  };
}

/** On NATS: threads in a KV bucket, runs as durable jobs (taken here too unless `worker: false`). */
async function natsBackend(options: ServeOptions, natsUrl: string, model: Model, logger: Logger, env: NodeJS.ProcessEnv): Promise<Backend> {
  // Loaded only with NATS, so the embedded default does not load the NATS client.
  const { joinNats, DRAIN_MS } = await import('./worker.js');
  const worker = options.worker ?? true;
  const node = await joinNats({
    natsUrl,
    worker,
    observe: true,
    model,
    logger,
    prefix: options.prefix,
    replicas: options.replicas,
    websocketUrl: inspectWebsocket(env),
  });
  const { surface } = node;
  const jobs = worker ? `this process takes jobs for ${surface.serving.join(', ')}` : 'jobs are left to `switchyard worker` processes';
  return {
    runtime: node.runtime,
    bus: node.bus,
    where: `threads are stored in NATS at ${natsUrl} (KV bucket switchyard_threads, subjects ${surface.subjects.prefix}.>); ${jobs}`,
    close: () => node.close({ drainMs: DRAIN_MS }),
  };
}

/** The bundled agents and pipelines, as `serve` and `worker` run them. */
export function bundledAgents(): { agents: Agent[]; pipelines: Pipeline[] } {
  return { agents: [calculator, createDeploybot(), triage], pipelines: [bugfix] };
}

/** The model the environment configures: OpenAI-compatible with a key or base URL, else the demo model. */
export function modelFromEnv(env: NodeJS.ProcessEnv): { model: Model; configured: boolean } {
  const configured = hasModelConfig(env);
  return { model: configured ? createOpenAIModel() : createDemoModel(), configured };
}

/** The pino logger of `serve` and `worker`: `level`, else `SWITCHYARD_LOG_LEVEL`, else info. */
export function loggerFromEnv(level: string | undefined, env: NodeJS.ProcessEnv): Logger {
  return createLogger({ level: level ?? env.SWITCHYARD_LOG_LEVEL ?? 'info' });
}

/** Launches the demo thread and shows it up to the approval it stops at. */
async function runDemo(runtime: Runtime, io: ServeIO, hint: CommandHint): Promise<void> {
  io.out('');
  io.out(`demo: launching calculator with ${JSON.stringify(DEMO_INPUT)}`);
  try {
    const launched = await runtime.launch('calculator', DEMO_INPUT, { source: { kind: 'cli' } });
    const view = await runtime.settled(launched.id, { signal: AbortSignal.timeout(30_000) });
    for (const event of view.events) {
      const line = eventLine(event, view.id, hint);
      if (line !== null) io.out(`  ${line}`);
    }
    io.out(`thread ${view.id} is ${view.status}`);
    if (view.pendingRequest?.kind === 'approval') {
      io.out('approve the division and watch it finish:');
      io.out(`  ${hint(`respond ${shellQuote(view.id)} --approve`)}`);
      io.out(`  ${hint(`show ${shellQuote(view.id)}`)}`);
    }
  } catch (error) {
    io.err(`demo: the demo thread did not start: ${messageOf(error)}`);
  }
}

/** Whether a real model is configured through the environment. */
function hasModelConfig(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SWITCHYARD_MODEL_API_KEY || env.OPENAI_API_KEY || env.SWITCHYARD_MODEL_BASE_URL);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
