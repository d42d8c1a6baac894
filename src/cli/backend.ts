import { join } from 'node:path';
import { messageOf } from '../errors.js';
import type { Bus } from '../bus/bus.js';
import { redactUrlList } from '../context/redactUrl.js';
import { createMemoryBus } from '../bus/memoryBus.js';
import { createBusInspector } from '../inspector/busInspector.js';
import type { Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import { fileDeliveryLedger, type DeliveryLedger } from '../store/deliveryLedger.js';
import { createFileStore, type FileStoreOptions } from '../store/fileStore.js';
import { DEFAULT_PREFIX } from '../surface/subjects.js';
import { CorruptThreadFileError } from '../store/threadFiles.js';
import type { ThreadStore } from '../store/threadStore.js';
import { claimDir, openToOthers, unwritableStoreDir } from './dirClaim.js';
import { inspectWebsocket, natsCredentialsFromEnv, natsInspectOptions, webhookSecretsFromEnv } from './env.js';
import type { Project } from './project.js';

/**
 * How long a stopping process lets running work finish: the tool calls in progress (embedded), the
 * running jobs (on NATS, then handed back to the queue).
 */
export const DRAIN_MS = 10_000;

/** The runtime `serve` serves, the bus its inspector uses, where its threads live, and how to close them. */
export interface Backend {
  readonly runtime: Runtime;
  readonly bus: Bus;
  /** The prefix of the subjects (`<prefix>.inspect.>`) the processes' actors are published on: where the inspector listens. */
  readonly inspectPrefix: string;
  /** A line for the user: where threads are stored. */
  readonly where: string;
  /** Where the HTTP server's webhooks hear of changes, given its receivers. @default the runtime */
  webhookSource?(receivers: readonly string[]): Pick<Runtime, 'subscribe'>;
  /** Where deliveries of callbacks and webhooks are recorded beside the threads (see `DeliveryLedger`). */
  deliveryLedger(): Promise<DeliveryLedger>;
  /** On NATS with no worker in this process: whether a worker of the deployment takes an agent's jobs. */
  served?(agent: string): boolean;
  /**
   * Resolves, with who holds it now, if this process lost its data directory to another serve
   * (embedded: it froze past the claim's stale time and the directory was taken over meanwhile;
   * see `claimDir`): the process must stop then. The error is logged already.
   */
  readonly lost?: Promise<string>;
  /**
   * Lets the running work finish (up to {@link DRAIN_MS}) and starts none, the store still open:
   * what a stopping `serve` waits for while it still answers reads. `close` after it.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** What both backends are built from. */
export interface BackendOptions {
  readonly project: Project;
  readonly model: Model;
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** What tool calls' secrets are sealed and opened with (see `sealSecretsFromEnv`). @default none */
  readonly sealSecrets?: readonly string[];
}

/**
 * The embedded default: the project's store (a file store under `<dir>/threads` unless the config
 * builds its own), every thread run in this process, inspection over an in-process bus.
 */
export async function embeddedBackend(dir: string, options: BackendOptions): Promise<Backend> {
  const { project, model, logger, env } = options;
  let reportLost: (holder: string) => void = () => {};
  const lost = new Promise<string>((resolve) => (reportLost = resolve));
  // Lost, the directory is another serve's: the file store writes nothing more there (no late
  // outcome, no checkpoint over the new holder's index).
  const fence = new AbortController();
  const release = claimDir(dir, {
    logger,
    onLost(holder) {
      logger.error({ dir, holder }, `this serve lost its claim on the data directory ${dir}, held now by ${holder} (this process was frozen past the claim's stale time and another serve took it over, or the lock was removed): stopping without writing there`);
      fence.abort();
      reportLost(holder);
    },
  });
  const exposed = openToOthers(dir);
  if (exposed !== undefined) logger.warn({ dir }, exposed);
  const own = project.config.store;
  let store: ThreadStore;
  try {
    store = own ? await own({ dir }) : await openFileStore(join(dir, 'threads'), logger, fence.signal);
  } catch (error) {
    release();
    throw error;
  }
  // Inspection events travel over the bus (in-process here), as they do between processes on NATS.
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus, prefix: DEFAULT_PREFIX, websocketUrl: inspectWebsocket(env) });
  const runtime = createRuntime({
    agents: project.agents,
    pipelines: project.pipelines,
    store,
    model,
    logger,
    inspect: inspector.inspect,
    ...(project.config.maxConcurrent === undefined ? {} : { maxConcurrent: project.config.maxConcurrent }),
    ...(options.sealSecrets === undefined || options.sealSecrets.length === 0 ? {} : { sealSecret: options.sealSecrets }),
  });
  return {
    runtime,
    bus,
    inspectPrefix: DEFAULT_PREFIX,
    where: own ? 'threads are stored where the config\'s store keeps them' : `threads are stored in ${join(dir, 'threads')}`,
    deliveryLedger: () => Promise.resolve(fileDeliveryLedger(join(dir, 'deliveries.jsonl'))),
    lost,
    drain: () => runtime.drain({ drainMs: DRAIN_MS }),
    async close() {
      // Tool calls in progress journal their results before the store closes.
      await runtime.close({ drainMs: DRAIN_MS });
      await inspector.close();
      await bus.close();
      // A call aborted at the deadline whose tool goes on running keeps the directory claimed: a
      // serve that took it over would ask a human whether that call took effect while it runs.
      // The CLI exits now, the call dying with it, and leaves the claim to the next serve's check
      // (a dead holder on this host is taken over at once).
      const abandoned = runtime.abandonedCalls();
      if (abandoned.calls.length === 0) release();
      else {
        logger.warn({ threads: abandoned.calls.map((c) => c.threadId), dir }, 'tool calls aborted at shutdown still run: the data directory stays claimed until they return or this process exits');
        void abandoned.returned.then(release);
      }
    },
  };
}

/** Why a file store rebuilt its index, as the log says it. */
const REBUILD_WHY: Readonly<Record<'missing' | 'unusable' | 'stale', string>> = {
  missing: 'there was none: a directory from before the index, or it was deleted',
  unusable: 'it was damaged, or of another format',
  stale: 'thread files were added or removed behind its back',
};

/**
 * The embedded file store, reporting to the log what it meets opening and listing: a rebuild of
 * the index from the thread files (info, with why and how long opening took: every file is read),
 * and a corrupt thread file (error, naming the file, the byte and what is wrong), which listings
 * leave out and reads refuse.
 */
async function openFileStore(dir: string, logger: Logger, fence: AbortSignal): Promise<ThreadStore> {
  const opening = performance.now();
  let store: ThreadStore;
  try {
    store = await createFileStore(fileStoreOptions(dir, logger, fence, opening));
  } catch (error) {
    throw unwritableStoreDir(dir, error);
  }
  // A store opened on directories it may not write (a restore made by another user) would start
  // and refuse every launch: it stops serve instead, as an unwritable data directory does. Not
  // ready otherwise (a full disk) it starts, saying so: its threads can be read and pruned.
  try {
    await store.ready?.();
  } catch (error) {
    const refused = unwritableStoreDir(dir, error);
    if (refused === error) {
      logger.warn({ dir, err: error }, `the store is not ready: ${messageOf(error)}`);
      return store;
    }
    await store.close();
    throw refused;
  }
  return store;
}

function fileStoreOptions(dir: string, logger: Logger, fence: AbortSignal, opening: number): FileStoreOptions {
  return {
    dir,
    fence,
    onIndexRebuilt(reason) {
      const ms = Math.round(performance.now() - opening);
      logger.info({ dir, reason, ms }, `rebuilt the thread index from the thread files (${reason}: ${REBUILD_WHY[reason]}); opening the store took ${ms} ms`);
    },
    onCorrupt(threadId, error) {
      const where = error instanceof CorruptThreadFileError ? { file: error.file, byte: error.byte, reason: error.reason } : {};
      logger.error({ threadId, ...where }, `thread ${threadId} is left out of listings: ${error.message}`);
    },
  };
}

/** What `serve` on NATS needs besides the project. */
export interface NatsBackendOptions extends BackendOptions {
  readonly natsUrl: string;
  readonly prefix?: string;
  /** The KV bucket of the threads. @default `<prefix>_threads` */
  readonly bucket?: string;
  readonly replicas?: number;
  /** Take jobs in this process too. */
  readonly worker: boolean;
  /** Without `worker`: how long an agent's jobs wait with no worker serving it before a warning. @default 30000 (`UNSERVED_WARN_MS`) */
  readonly unservedWarnMs?: number;
}

/** On NATS: threads in a KV bucket, runs as durable jobs (taken here too unless `worker: false`). */
export async function natsBackend(options: NatsBackendOptions): Promise<Backend> {
  // Loaded only with NATS, so the embedded default does not load the NATS client.
  const { joinNats } = await import('./joinNats.js');
  const { project, natsUrl, worker } = options;
  const credentials = natsCredentialsFromEnv(options.env);
  const node = await joinNats({
    natsUrl,
    ...(credentials === undefined ? {} : { credentials }),
    agents: project.agents,
    pipelines: project.pipelines,
    worker,
    observe: true,
    model: options.model,
    logger: options.logger,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.bucket === undefined ? {} : { bucket: options.bucket }),
    ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    ...(project.config.maxConcurrent === undefined ? {} : { maxConcurrent: project.config.maxConcurrent }),
    ...(options.sealSecrets === undefined ? {} : { sealSecrets: options.sealSecrets }),
    ...natsInspectOptions(options.env),
    // The callbacks of the jobs taken here.
    webhookSecrets: webhookSecretsFromEnv(options.env),
  });
  const { surface } = node;
  // With no worker here, say when an agent's jobs wait and no worker of the deployment serves it.
  const watch = worker ? undefined : (await import('./workerWatch.js')).watchWorkers(node, { logger: options.logger, ...(options.unservedWarnMs === undefined ? {} : { waitMs: options.unservedWarnMs }) });
  const jobs = worker ? `this process takes jobs for ${surface.serving.join(', ')}` : 'jobs are left to `switchyard worker` processes';
  return {
    runtime: node.runtime,
    bus: node.bus,
    // The prefix this process's own bus inspector publishes on, as every process of the deployment does.
    inspectPrefix: surface.subjects.prefix,
    where: `threads are stored in NATS at ${redactUrlList(natsUrl)} (KV bucket ${node.bucket}, subjects ${surface.subjects.prefix}.>); ${jobs}`,
    // Every API process of the deployment observes every thread: one of them sends each webhook.
    webhookSource: (receivers) => surface.webhookSource(receivers),
    ...(watch === undefined ? {} : { served: watch.serves }),
    // Shared by the deployment, so a webhook published while no API process listened is sent later.
    deliveryLedger: () => node.deliveryLedger(),
    // The surface's close is the drain (jobs handed back), run once: the node's close reuses it.
    drain: () => node.surface.close({ drainMs: DRAIN_MS }),
    close: () => {
      watch?.close();
      return node.close({ drainMs: DRAIN_MS });
    },
  };
}
