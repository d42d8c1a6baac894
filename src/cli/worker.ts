import { createBusInspector, type BusInspector } from '../inspector/inspection.js';
import type { Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import { createNatsNode, type NatsNode } from '../nats/natsNode.js';
import { bundledAgents, loggerFromEnv, modelFromEnv } from './serve.js';

/** Where `worker` and `serve --nats-url` connect when neither the flag nor NATS_URL says. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** How long a stopping process lets running jobs finish before handing them back to the queue. */
export const DRAIN_MS = 10_000;

/** How a process joins NATS (`worker`, and `serve` with a NATS URL). */
export interface JoinNatsOptions {
  natsUrl: string;
  /** Subject prefix. @default 'switchyard' */
  prefix?: string;
  /** Replicas of the KV bucket and the work queues (1, 3 or 5). @default 1 */
  replicas?: number;
  /** Take jobs. */
  worker: boolean;
  /** The agents and pipelines to take jobs for. @default all bundled */
  agents?: readonly string[];
  /** Jobs at once per agent queue. @default 16 */
  concurrency?: number;
  /** Follow the other processes' events (an HTTP server needs it for SSE and waits). */
  observe: boolean;
  model: Model;
  logger: Logger;
  /** Also feed a @statelyai/inspect WebSocket inspector at this URL. @default none */
  websocketUrl?: string;
}

/** The names of the bundled agents and pipelines. */
export function bundledNames(): string[] {
  const { agents, pipelines } = bundledAgents();
  return [...agents, ...pipelines].map((a) => a.name);
}

/**
 * Builds the bundled agents' runtime on NATS: KV store, durable jobs, the NATS subjects, and a bus
 * inspector that publishes its actors on `<prefix>.inspect.>` (the fleet's inspector page sees
 * them there). The node's `close` closes the inspector too.
 */
export async function joinNats(options: JoinNatsOptions): Promise<NatsNode> {
  const { agents, pipelines } = bundledAgents();
  // The inspector needs the node's bus; until it exists, inspection events are dropped.
  let inspector: BusInspector | undefined;
  const node = await createNatsNode({
    servers: options.natsUrl.split(',').map((url) => url.trim()),
    name: options.worker ? 'switchyard-worker' : 'switchyard-server',
    agents,
    pipelines,
    model: options.model,
    logger: options.logger,
    worker: options.worker,
    observe: options.observe,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(options.agents === undefined ? {} : { serve: options.agents }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    inspect: (event) => inspector?.inspect(event),
  });
  const busInspector = createBusInspector({
    bus: node.bus,
    prefix: node.surface.subjects.prefix,
    ...(options.websocketUrl ? { websocketUrl: options.websocketUrl } : {}),
  });
  inspector = busInspector;
  return {
    ...node,
    async close(closeOptions) {
      try {
        await busInspector.close();
      } finally {
        await node.close(closeOptions);
      }
    },
  };
}

/** Options of the `worker` command, after commander parsed them. */
export interface WorkerOptions {
  natsUrl: string;
  prefix?: string;
  agents?: string[];
  concurrency?: number;
  replicas?: number;
  /** pino level. @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info' */
  logLevel?: string;
}

/** Where `worker` writes what a person reads (logs go to stderr through pino). */
export interface WorkerIO {
  out(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is told to stop (SIGINT, SIGTERM). */
  stopped: Promise<string>;
}

/**
 * `switchyard worker`: joins NATS and takes the jobs (triggers and continuations) of the bundled
 * agents it serves until SIGINT or SIGTERM; then stops taking jobs, lets running ones finish (up to
 * {@link DRAIN_MS}, then hands them back to the queue) and exits. Resolves with the exit code.
 */
export async function runWorker(options: WorkerOptions, io: WorkerIO): Promise<number> {
  const { model, configured } = modelFromEnv(io.env);
  const logger = loggerFromEnv(options.logLevel, io.env);
  // The fleet's inspector sees this worker's actors through `<prefix>.inspect.>`.
  const node = await joinNats({
    natsUrl: options.natsUrl,
    worker: true,
    observe: false,
    model,
    logger,
    prefix: options.prefix,
    agents: options.agents,
    concurrency: options.concurrency,
    replicas: options.replicas,
  });
  const { surface } = node;
  io.out(`switchyard worker ${surface.processId} joined NATS at ${options.natsUrl} (subjects ${surface.subjects.prefix}.>)`);
  io.out(`taking jobs for: ${surface.serving.join(', ')}`);
  io.out(configured ? `model: ${model.name}` : 'model: the scripted demo model (no model key is configured)');
  io.out('press Ctrl+C to stop');

  const signal = await io.stopped;
  logger.info({ signal, jobs: surface.activeJobs() }, 'stopping: finishing running jobs');
  await node.close({ drainMs: DRAIN_MS });
  return 0;
}
