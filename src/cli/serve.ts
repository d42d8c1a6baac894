import { resolve } from 'node:path';
import { redactText } from '../context/redact.js';
import { redactingLogger } from '../context/redactingLogger.js';
import { redactUrl } from '../context/redactUrl.js';
import { ConfigError, messageOf } from '../errors.js';
import { startRetention } from '../runtime/retention.js';
import type { Runtime } from '../runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../server/httpServer.js';
import { isLoopbackAddress } from '../server/browserGuard.js';
import { inspectorExtension } from '../inspector/mount.js';
import { createCallbackSender, PATIENT_CALLBACK_RETRIES } from '../surface/callbacks.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';
import type { WebhookTarget } from '../server/webhooks.js';
import { DRAIN_MS, embeddedBackend, natsBackend, type Backend, type BackendOptions } from './backend.js';
import { BUNDLED_EXAMPLES } from './bundled.js';
import { hookPreviousSecretsFromEnv, inspectHeartbeat, inspectWebsocket, loggerFromEnv, modelBaseUrl, modelFromEnv, MODEL_VARIABLES, withheldKeyNote, previousSecretsNamed, retainEndedFromEnv, sealSecretsFromEnv, webhookSecretsFromEnv, webhooksFromEnv } from './env.js';
import { DEFAULT_URL, eventLine, shellQuote, type CommandHint } from './format.js';
import { describeProject, ownModelsLine, type Project } from './project.js';
import { warnUnsealedTools } from './sealWarning.js';
import type { Json } from '../thread/events.js';

/** Threads that ended deleted at most per round of retention (`SWITCHYARD_RETAIN_ENDED`). */
const RETENTION_BATCH = 1_000;
const HOUR_MS = 3_600_000;
const NO_DEMO = '--demo: the config names no demo thread (add demo: { agent, input } to it)';

/** Options of the `serve` command, after commander parsed them. */
export interface ServeOptions {
  host: string;
  port: number;
  /** The data directory; threads live in `<dir>/threads`. */
  dir: string;
  /** The bearer token clients must send; none when empty or undefined. */
  token?: string;
  /**
   * Launch the demo thread after start. `undefined`: only with the demo model and an empty store,
   * where this process runs threads (with `worker: false` it says how to launch it instead). `true`
   * with `worker: false`: launched for the workers, and not waited for.
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
  /** The KV bucket of the threads on NATS. @default `<prefix>_threads` */
  bucket?: string;
  /** Replicas of the KV bucket and the work queues on NATS. @default 1 */
  replicas?: number;
  /** With NATS: also take jobs in this process. @default true */
  worker?: boolean;
  /** Accept signed inbound webhooks on `POST /hooks/<agent>` with this HMAC secret. @default none (off) */
  hookSecret?: string;
  /**
   * Host names answered besides the loopback's; any turns the `Host` check (DNS rebinding) on
   * (`HttpOptions.allowedHosts`). @default none: on only without a token on a loopback address
   */
  allowedHosts?: readonly string[];
}

/** Where `serve` writes what a person reads (logs go to stderr through pino). */
export interface ServeIO {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** How the user runs the CLI, for the commands it suggests: without `--url` (serve adds the URL it listens on). */
  hint: CommandHint;
  /** Resolves when the process is told to stop (SIGINT, SIGTERM). */
  stopped: Promise<string>;
}

/**
 * `switchyard serve`: the project's agents on a runtime (a file store unless the config or a NATS
 * URL says otherwise), served over HTTP with the inspector until SIGINT or SIGTERM. Resolves with
 * the exit code once everything is closed: 0, or 1 when it stopped because another serve took its
 * data directory over (it had frozen past the claim's stale time).
 */
export async function serve(project: Project, options: ServeOptions, io: ServeIO): Promise<number> {
  const { model, configured, own } = modelFromEnv(io.env, project.config.model);
  // Every line, not only a thread's, has secret-shaped text and the model's key masked (a
  // project's own error quoting a DSN, a store's, a hook's).
  const logger = redactingLogger(project.config.logger ?? loggerFromEnv(options.logLevel, io.env), [], model.secrets);
  const sealSecrets = sealSecretsFromEnv(io.env, project.config.sealSecret);
  const base: BackendOptions = { project, model, logger, env: io.env, sealSecrets };
  // Read (and checked) before anything is opened; the inspector's settings for NATS too without it.
  if (options.demo === true && project.config.demo === undefined) throw new ConfigError(NO_DEMO);
  const webhooks = webhooksFromEnv(io.env);
  inspectWebsocket(io.env);
  inspectHeartbeat(io.env);
  const retainMs = retainEndedFromEnv(io.env);
  const { secret, previousSecrets } = webhookSecretsFromEnv(io.env);
  const hookPreviousSecrets = hookPreviousSecretsFromEnv(io.env, options.hookSecret ?? '');
  const backend = options.natsUrl
    ? await natsBackend({ ...base, natsUrl: options.natsUrl, worker: options.worker ?? true, ...optional(options) })
    : await embeddedBackend(resolve(options.dir), base);
  // Deliveries (this process's callbacks and webhooks) are recorded beside the threads, so that a
  // restart sends what the last process owed. On NATS the workers call HTTP launches' callbacks
  // from their jobs; embedded, this process does.
  const ledger = !options.natsUrl || webhooks !== undefined ? await openLedger(backend, logger) : undefined;
  const callbacks = options.natsUrl ? undefined : createCallbackSender({ logger, secret, previousSecrets, ...(ledger === undefined ? {} : { ledger }), ...PATIENT_CALLBACK_RETRIES });
  const detachCallbacks = callbacks?.attach(backend.runtime);
  // Refused up front where this process runs threads (embedded, or a NATS worker) and could not sign
  // their callbacks; a process that takes no jobs cannot see whether the workers have the secret.
  const runsThreads = !options.natsUrl || (options.worker ?? true);
  // Aborted at the stop: the server refuses work (503) and readiness, and answers reads, until the
  // runtime has drained; only then does it close.
  const stopping = new AbortController();
  const server = await listen(
    backend,
    { ...options, signal: stopping.signal },
    logger,
    { callbackUrls: secret !== '' || !runsThreads, callbackSecret: secret, callbackPreviousSecrets: previousSecrets, hookPreviousSecrets },
    { webhooks, ledger },
  );
  const hint: CommandHint = server.url === DEFAULT_URL ? io.hint : (args) => io.hint(`${args} --url ${server.url}`);

  io.out(`switchyard listening on ${server.url}`);
  io.out(`inspector: ${server.url}/inspector${options.token ? '?token=<token>' : ''}`);
  io.out(`project: ${describeProject(project)}`);
  io.out(backend.where);
  if (own) io.out(`model: ${model.name} (from the config)`);
  else if (configured) {
    const baseUrl = modelBaseUrl(io.env);
    io.out(`model: ${model.name} (OpenAI-compatible${baseUrl ? ` at ${redactUrl(baseUrl)}` : ''})`);
  } else {
    io.out(`no model key is configured (${MODEL_VARIABLES}):`);
    io.out('the agents run on the scripted demo model, a deterministic stand-in for an LLM.');
  }
  const ownModels = ownModelsLine(project);
  if (ownModels !== undefined) io.out(ownModels);
  const withheld = withheldKeyNote(io.env);
  if (withheld !== undefined) io.out(withheld);
  if (sealSecrets.length === 0 && runsThreads) warnUnsealedTools(logger, project.agents);
  if (previousSecrets.length > 0) io.out(`webhook secret: callbackUrls sealed under ${previousSecretsNamed(previousSecrets.length, 'webhook secret')} (SWITCHYARD_WEBHOOK_SECRET_PREVIOUS) open too; callbacks and webhooks are signed with the current one`);
  if (options.hookSecret) {
    const previous = hookPreviousSecrets.length === 0 ? '' : ` (${previousSecretsNamed(hookPreviousSecrets.length, 'hook secret')} taken too: SWITCHYARD_HOOK_SECRET_PREVIOUS)`;
    io.out(`inbound hooks: POST ${server.url}/hooks/<agent>, signed with the hook secret${previous}`);
  }
  if (options.token) io.out('clients must send the bearer token (set SWITCHYARD_TOKEN or pass --token).');
  else if (!isLoopbackAddress(server.host)) io.err(`warning: listening on ${server.host} without a token; anyone who can reach it can run agents (pass --token)`);

  const { runtime } = backend;
  const recovered = await runtime.recover();
  if (recovered > 0) io.out(recoveredLine(recovered, Boolean(options.natsUrl)));
  const retention = retainMs === undefined ? undefined : startRetention(runtime, { retainMs, intervalMs: Math.min(retainMs, HOUR_MS), batch: RETENTION_BATCH, logger });
  if (retainMs !== undefined) {
    const every = retainMs >= HOUR_MS ? 'every hour' : `every ${io.env.SWITCHYARD_RETAIN_ENDED!.trim()}`;
    io.out(`retention: threads that ended are deleted ${io.env.SWITCHYARD_RETAIN_ENDED!.trim()} after their last update (looked for ${every}, at most ${RETENTION_BATCH} at a time)`);
  }

  io.out('');
  io.out('try:');
  const { shown, more } = examplesOf(project);
  for (const example of shown) io.out(`  ${hint(example)}`);
  if (more > 0) io.out(`  (${more} more agents and pipelines: the project line above names them)`);
  io.out(`  ${hint('threads')}`);

  const demo = project.config.demo;
  const runIt = options.demo ?? (!configured && demo !== undefined && (await runtime.list({ limit: 1 })).length === 0);
  if (runIt && demo !== undefined) {
    // A process that runs no threads launches the demo only when asked to: it waits for a worker.
    if (!runsThreads && options.demo === undefined) io.out(`demo: not launched (--no-worker: the workers run the threads); launch it with: ${hint(launchExample(demo.agent, demo.input))}`);
    else await runDemo(runtime, demo, io, hint, runsThreads, model.secrets ?? []);
  }
  io.out('');
  io.out('press Ctrl+C to stop');

  // Until a stop signal, or the loss of the data directory to another serve (logged by the backend).
  const stop = await Promise.race([io.stopped.then((signal) => ({ signal })), ...(backend.lost ? [backend.lost.then((holder) => ({ lostTo: holder }))] : [])]);
  logger.info(stop, 'shutting down');
  stopping.abort();
  try {
    await retention?.close();
    await backend.drain();
    await server.close();
    detachCallbacks?.();
    await callbacks?.close();
  } finally {
    await backend.close();
  }
  return 'lostTo' in stop ? 1 : 0;
}

/** The backend's delivery ledger; none (deliveries retried only in memory, and logged) when it cannot be opened. */
async function openLedger(backend: Backend, logger: BackendOptions['logger']): Promise<DeliveryLedger | undefined> {
  try {
    return await backend.deliveryLedger();
  } catch (error) {
    logger.error({ err: messageOf(error) }, 'deliveries are not recorded: a webhook or callback not delivered before this process stops is not sent again');
    return undefined;
  }
}

function optional(options: ServeOptions): { prefix?: string; bucket?: string; replicas?: number } {
  return {
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
  };
}

/** Starts the HTTP server over the backend; closes the backend if it cannot. */
async function listen(
  backend: Backend,
  options: ServeOptions & { signal: AbortSignal },
  logger: BackendOptions['logger'],
  // Whether a launch may name a callbackUrl, the secret that seals its credentials (and the ones it
  // replaced, that open those sealed before), and the hook secrets the current one replaced.
  secrets: { callbackUrls: boolean; callbackSecret: string; callbackPreviousSecrets: readonly string[]; hookPreviousSecrets: readonly string[] },
  { webhooks, ledger }: { webhooks: WebhookTarget[] | undefined; ledger: DeliveryLedger | undefined },
): Promise<HttpServer> {
  try {
    return await startHttpServer(backend.runtime, {
      host: options.host,
      port: options.port,
      // A stalled client holds the shutdown no longer than the tool calls may.
      drainMs: DRAIN_MS,
      signal: options.signal,
      token: options.token ?? '',
      hookSecret: options.hookSecret ?? '',
      ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
      ...secrets,
      logger,
      ...(backend.served === undefined ? {} : { workerServes: backend.served }),
      extensions: [inspectorExtension({ bus: backend.bus, prefix: backend.inspectPrefix })],
      // Nothing sends a webhook again once its sender gives up: the patient retries of callbacks.
      ...(webhooks
        ? {
            webhooks: { webhooks, retries: PATIENT_CALLBACK_RETRIES, ...(ledger === undefined ? {} : { ledger, threads: backend.runtime }) },
            webhookSource: backend.webhookSource?.(webhooks.map((w) => w.url)) ?? backend.runtime,
          }
        : {}),
    });
  } catch (error) {
    await backend.close();
    const code = (error as { code?: unknown }).code;
    if (code === 'EADDRINUSE') throw new Error(`${options.host}:${options.port} is in use (another switchyard serve?); pick a port with --port`);
    // A host that names no address of this machine will not start to: a setting to fix, not to retry.
    if (code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL') {
      throw new ConfigError(`--host ${options.host} is not an address of this machine (${messageOf(error)}); pass --host 127.0.0.1, 0.0.0.0 or one of its addresses`, { cause: error });
    }
    throw error;
  }
}

/** Commands worth trying: the bundled examples, or a launch of a few of the project's agents (and how many it leaves out). */
function examplesOf(project: Project): { shown: readonly string[]; more: number } {
  if (project.path === null) return { shown: BUNDLED_EXAMPLES, more: 0 };
  const demo = project.config.demo;
  const names = [...project.agents, ...project.pipelines].map((a) => a.name);
  // The demo's agent first; a large project (40 agents) gets a few lines, not one per name.
  const ordered = demo !== undefined && names.includes(demo.agent) ? [demo.agent, ...names.filter((n) => n !== demo.agent)] : names;
  const shown = ordered.slice(0, MAX_EXAMPLES).map((name) => launchExample(name, demo?.agent === name ? demo.input : '...'));
  return { shown, more: ordered.length - shown.length };
}

/** How many `launch` commands serve's start lines show for a project. */
const MAX_EXAMPLES = 3;

/** The `launch` command of `agent` with `input`. */
function launchExample(agent: string, input: Json): string {
  return typeof input === 'string' ? `launch ${agent} ${shellQuote(input)}` : `launch ${agent} --input-json ${shellQuote(JSON.stringify(input))}`;
}

/**
 * Launches the demo thread. Where this process runs it, shows it up to the approval it stops at;
 * where the workers do (`--no-worker --demo`), it is not waited for: says how to watch it.
 */
async function runDemo(
  runtime: Runtime,
  demo: { readonly agent: string; readonly input: Json },
  io: ServeIO,
  hint: CommandHint,
  runsThreads: boolean,
  secrets: readonly string[],
): Promise<void> {
  if (runsThreads) {
    io.out('');
    io.out(`demo: launching ${demo.agent} with ${JSON.stringify(demo.input)}`);
  }
  try {
    const launched = await runtime.launch(demo.agent, demo.input, { source: { kind: 'cli' } });
    if (!runsThreads) {
      io.out(`demo: launched ${launched.id} (${demo.agent}); the workers run it: ${hint(`watch ${shellQuote(launched.id)}`)}`);
      return;
    }
    const view = await runtime.settled(launched.id, { signal: AbortSignal.timeout(30_000) });
    for (const event of view.events) {
      const line = eventLine(event, view.id, hint);
      if (line !== null) io.out(`  ${line}`);
    }
    io.out(`thread ${view.id} is ${view.status}`);
    const request = view.pendingRequest;
    if (request?.kind === 'approval') {
      io.out(`approve ${request.tool === undefined ? 'it' : `the ${request.tool} call`} and watch it finish:`);
      io.out(`  ${hint(`respond ${shellQuote(view.id)} --approve --request ${shellQuote(request.requestId)}`)}`);
      io.out(`  ${hint(`show ${shellQuote(view.id)}`)}`);
    }
  } catch (error) {
    // Masked as serve's log lines are (a project's store may quote its DSN, a model its key).
    io.err(`demo: the demo thread did not start: ${redactText(messageOf(error), secrets)}`);
  }
}


/**
 * What `recover()` did: embedded, this process runs again the threads that were moving when the
 * last one stopped; on NATS it hands every thread marked as moving to the workers as a
 * continuation job, the ones live workers are moving included, so nothing need have stopped.
 */
export function recoveredLine(count: number, onNats: boolean): string {
  const threads = count === 1 ? '1 thread' : `${count} threads`;
  if (onNats) return `handed ${threads} marked running to the workers: they continue any whose run stopped`;
  return `recovered ${threads} that ${count === 1 ? 'was' : 'were'} running, backing off or sleeping when the last process stopped`;
}
