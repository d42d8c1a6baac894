import type { Agent } from '../agent/agent.js';
import { createBusInspector, type BusInspector } from '../inspector/busInspector.js';
import type { Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import { natsAuthOptions, type NatsCredentials } from '../nats/natsAuth.js';
import { createNatsNode, type NatsNode } from '../nats/natsNode.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { newProcessId } from '../surface/attachBus.js';
import { natsServerUrls } from './natsUrl.js';

/** Where `worker` and `serve --nats-url` connect when neither the flag nor NATS_URL says. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** How a process joins NATS (`worker`, and `serve` with a NATS URL). */
export interface JoinNatsOptions {
  /** The server URLs, comma-separated; credentials in them (`nats://user:pass@host`) are used unless `credentials` are given. */
  natsUrl: string;
  /** How the connection authenticates (`NATS_CREDS`, `NATS_TOKEN`, `NATS_USER` + `NATS_PASSWORD`). @default the URL's, else none */
  credentials?: NatsCredentials;
  /** The project's agents and pipelines (the runtime knows all of them). */
  agents: readonly Agent[];
  pipelines: readonly Pipeline[];
  /** Subject prefix. @default 'switchyard' */
  prefix?: string;
  /** The KV bucket of the threads. @default `<prefix>_threads` */
  bucket?: string;
  /** Replicas of the KV bucket and the work queues (1, 3 or 5). @default 1 */
  replicas?: number;
  /** Take jobs. */
  worker: boolean;
  /** The agents and pipelines to take jobs for. @default all of them */
  serve?: readonly string[];
  /** Jobs at once per agent queue. @default 16 */
  concurrency?: number;
  /** Agent actors at once in this process. @default 64 */
  maxConcurrent?: number;
  /** What tool calls' secrets are sealed and opened with (`SWITCHYARD_SEAL_SECRET`, then the ones it replaced). @default none */
  sealSecrets?: readonly string[];
  /** Follow the other processes' events (an HTTP server needs it for SSE and waits). */
  observe: boolean;
  model: Model;
  logger: Logger;
  /**
   * The webhook secret that signs the callbacks of the jobs this process runs (and opens the
   * credentials sealed in their callbackUrl), and the ones it replaced (`SWITCHYARD_WEBHOOK_SECRET`,
   * `SWITCHYARD_WEBHOOK_SECRET_PREVIOUS`). @default those of process.env
   */
  webhookSecrets?: { readonly secret: string; readonly previousSecrets: readonly string[] };
  /** Also feed a @statelyai/inspect WebSocket inspector at this URL. @default none */
  websocketUrl?: string;
  /**
   * How often this process tells the fleet's inspectors it is alive (ms): one that stops (killed)
   * without a goodbye counts as gone after three intervals. Shorter sees a dead process sooner, at
   * one small message per interval. @default 5000
   */
  inspectHeartbeatMs?: number;
}

/**
 * Builds a project's runtime on NATS: KV store, durable jobs, the subjects, and a bus inspector
 * that publishes its actors on `<prefix>.inspect.>` (the fleet's inspector page sees them there).
 * The node's `close` closes the inspector too, after the runtime has drained (its actors' last
 * events are published) and before the connection closes.
 */
export async function joinNats(options: JoinNatsOptions): Promise<NatsNode> {
  // The inspector needs the node's bus; until it exists, inspection events are dropped.
  let inspector: BusInspector | undefined;
  // One name for this process everywhere an operator meets it: its events' Switchyard-Process
  // header, the fleet's inspector, and every line of its log.
  const processId = newProcessId();
  const logger = options.logger.child({ processId });
  const node = await createNatsNode({
    servers: natsServerUrls(options.natsUrl),
    name: options.worker ? 'switchyard-worker' : 'switchyard-server',
    ...(options.credentials === undefined ? {} : { connectOptions: natsAuthOptions(options.credentials) }),
    agents: options.agents,
    pipelines: options.pipelines,
    model: options.model,
    logger,
    processId,
    worker: options.worker,
    observe: options.observe,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(options.serve === undefined ? {} : { serve: options.serve }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
    ...(options.sealSecrets === undefined || options.sealSecrets.length === 0 ? {} : { sealSecret: options.sealSecrets }),
    ...(options.webhookSecrets === undefined ? {} : { callbacks: { secret: options.webhookSecrets.secret, previousSecrets: options.webhookSecrets.previousSecrets } }),
    inspect: (event) => inspector?.inspect(event),
  });
  const busInspector = createBusInspector({
    bus: node.bus,
    prefix: node.surface.subjects.prefix,
    processId,
    ...(options.websocketUrl ? { websocketUrl: options.websocketUrl } : {}),
    ...(options.inspectHeartbeatMs === undefined ? {} : { heartbeatMs: options.inspectHeartbeatMs }),
    // An API process started with `--no-worker` reads it to tell which agents no worker serves.
    worker: options.worker ? { agents: node.surface.serving, bucket: node.bucket } : null,
  });
  inspector = busInspector;
  return {
    ...node,
    async close(closeOptions) {
      // The inspector closes between the runtime's drain and the bus's close: the drain's last
      // inspection events (tool calls finishing, actors stopping) are published, so the fleet's
      // inspector sees this process's actors stop. `surface.close` runs once; `node.close` reuses it.
      try {
        await node.surface.close(closeOptions);
      } finally {
        try {
          await busInspector.close();
        } finally {
          await node.close(closeOptions);
        }
      }
    },
  };
}
