import { redactingLogger } from '../context/redactingLogger.js';
import { redactUrlList } from '../context/redactUrl.js';
import { loggerFromEnv, modelFromEnv, natsCredentialsFromEnv, natsInspectOptions, previousSecretsNamed, sealSecretsFromEnv, webhookSecretsFromEnv, withheldKeyNote } from './env.js';
import type { Logger } from '../logger.js';
import { DRAIN_MS } from './backend.js';
import { joinNats } from './joinNats.js';
import type { NatsNode } from '../nats/natsNode.js';
import { startWorkerHealth, type WorkerHealth } from './workerHealth.js';
import { DEFAULT_HEALTH_HOST } from './format.js';
import { describeProject, ownModelsLine, type Project } from './project.js';
import { warnUnsealedTools } from './sealWarning.js';

/** Options of the `worker` command, after commander parsed them. */
export interface WorkerOptions {
  natsUrl: string;
  /** The agents and pipelines to take jobs for (checked against the project). @default all */
  agents?: string[];
  prefix?: string;
  /** The KV bucket of the threads. @default `<prefix>_threads` */
  bucket?: string;
  concurrency?: number;
  replicas?: number;
  /** pino level. @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info' */
  logLevel?: string;
  /** Serve `GET /health` and `GET /ready` on this port (0 picks a free one). @default none */
  healthPort?: number;
  /** The address the probes listen on. @default {@link DEFAULT_HEALTH_HOST} `'127.0.0.1'` (also when empty) */
  healthHost?: string;
}

/** Where `worker` writes what a person reads (logs go to stderr through pino). */
export interface WorkerIO {
  out(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is told to stop (SIGINT, SIGTERM). */
  stopped: Promise<string>;
}

/**
 * `switchyard worker`: joins NATS and takes the jobs (triggers and continuations) of the project's
 * agents it serves until SIGINT or SIGTERM; then stops taking jobs and moving threads at once,
 * lets the tool calls in progress finish and journal their results (up to {@link DRAIN_MS}), hands
 * every job it was running back to the queue for another worker to continue at once (a call of a
 * tool that is not idempotent still running then: due after the ack wait), and exits. Resolves
 * with the exit code; the CLI then ends the process, and the calls still running with it.
 */
export async function runWorker(project: Project, options: WorkerOptions, io: WorkerIO): Promise<number> {
  const { model, configured } = modelFromEnv(io.env, project.config.model);
  // Every line, not only a thread's, has secret-shaped text and the model's key masked (a
  // project's own error quoting a DSN, a store's, a hook's).
  const logger = redactingLogger(project.config.logger ?? loggerFromEnv(options.logLevel, io.env), [], model.secrets);
  const credentials = natsCredentialsFromEnv(io.env);
  // Checked before connecting: a bad setting stops the worker (exit 2), not its first callback.
  const webhookSecrets = webhookSecretsFromEnv(io.env);
  const sealSecrets = sealSecretsFromEnv(io.env, project.config.sealSecret);
  let node: NatsNode | undefined;
  // The probes listen first, so a port that is taken stops the worker before it joins NATS.
  const health = await probes(options, logger, () => node);
  // The fleet's inspector sees this worker's actors through `<prefix>.inspect.>`.
  node = await joinNats({
    natsUrl: options.natsUrl,
    ...(credentials === undefined ? {} : { credentials }),
    agents: project.agents,
    pipelines: project.pipelines,
    worker: true,
    observe: false,
    model,
    logger,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
    ...(options.agents === undefined ? {} : { serve: options.agents }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(project.config.maxConcurrent === undefined ? {} : { maxConcurrent: project.config.maxConcurrent }),
    ...natsInspectOptions(io.env),
    webhookSecrets,
    sealSecrets,
  }).catch(async (error: unknown) => {
    await health?.close();
    throw error;
  });
  const { surface } = node;
  io.out(`switchyard worker ${surface.processId} joined NATS at ${redactUrlList(options.natsUrl)} (subjects ${surface.subjects.prefix}.>)`);
  io.out(`project: ${describeProject(project)}`);
  io.out(`taking jobs for: ${surface.serving.join(', ')}`);
  if (health !== undefined) io.out(`health: ${health.url} (GET /health, GET /ready)`);
  io.out(configured ? `model: ${model.name}` : 'model: the scripted demo model (no model key is configured)');
  const ownModels = ownModelsLine(project);
  if (ownModels !== undefined) io.out(ownModels);
  const withheld = withheldKeyNote(io.env);
  if (withheld !== undefined) io.out(withheld);
  // Named as every line of the node's log is (joinNats binds the process id).
  if (sealSecrets.length === 0) warnUnsealedTools(logger.child({ processId: surface.processId }), project.agents.filter((a) => surface.serving.includes(a.name)));
  const previous = webhookSecrets.previousSecrets.length;
  if (previous > 0) io.out(`webhook secret: callbackUrls sealed under ${previousSecretsNamed(previous, 'webhook secret')} (SWITCHYARD_WEBHOOK_SECRET_PREVIOUS) open too; callbacks are signed with the current one`);
  io.out('press Ctrl+C to stop');

  const signal = await io.stopped;
  // Named as every line of the node's log is (joinNats binds the process id).
  logger.child({ processId: surface.processId }).info({ signal, jobs: surface.activeJobs() }, 'stopping: finishing the tool calls in progress, then handing the jobs back');
  health?.stopping();
  try {
    await node.close({ drainMs: DRAIN_MS });
  } finally {
    await health?.close();
  }
  return 0;
}

/** The worker's probes, when `--health-port` asks for them; `/ready` asks the node's store once it has joined. */
function probes(options: WorkerOptions, logger: Logger, node: () => NatsNode | undefined): Promise<WorkerHealth | undefined> {
  if (options.healthPort === undefined) return Promise.resolve(undefined);
  return startWorkerHealth({
    // Empty (an unset variable passed on) is the default too, never every interface.
    host: options.healthHost || DEFAULT_HEALTH_HOST,
    port: options.healthPort,
    ready: () => node()?.runtime.ready() ?? Promise.reject(new Error('not connected to NATS yet')),
    logger,
  });
}
