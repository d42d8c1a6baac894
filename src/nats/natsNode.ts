import type { InspectionEvent } from 'xstate';
import type { Agent } from '../agent/agent.js';
import { ASSETS_RECREATED, connectNats, createNatsBus, type NatsBus, type NatsBusOptions } from './natsBus.js';
import type { Clock } from '../clock.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';
import type { ThreadStore } from '../store/threadStore.js';
import { createAgentQueues, type AgentQueues, type AgentQueuesOptions } from '../surface/agentQueues.js';
import { busSubjects } from '../surface/subjects.js';
import { busErrorLog } from '../surface/threadJobError.js';
import { attachBus, type AttachBusOptions, type CloseSurfaceOptions, type BusSurface } from '../surface/attachBus.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { restoreBuckets } from './kvBuckets.js';
import { createKvDeliveryLedger, restoreDeliveryLedger } from './kvDeliveryLedger.js';
import { messageOf } from '../errors.js';
import { createNatsKvStore } from './kvStore.js';
import { watchConnections } from './connectionWatch.js';
import { failingFast } from './failingFast.js';

/** Options of {@link createNatsNode}. */
export interface NatsNodeOptions {
  /** NATS server URLs; credentials in them (`nats://user:pass@host`, `nats://token@host`) are used unless `connectOptions` authenticate. */
  servers: string | string[];
  /** The connection's name in server monitoring. @default 'switchyard' */
  name?: string | undefined;
  /** Extra nats.js connection options (auth, TLS, reconnect timing). @default `{ noAsyncTraces: true }` */
  connectOptions?: NatsBusOptions['connectOptions'];
  /** Batch the connection's socket writes per turn of the event loop. @default true */
  batchWrites?: NatsBusOptions['batchWrites'];
  /** Answer the connection's requests from switchyard's own small table (`muxRequests`). @default true */
  muxRequests?: NatsBusOptions['muxRequests'];
  agents: readonly Agent[];
  /** @default [] */
  pipelines?: readonly Pipeline[] | undefined;
  model: Model;
  /**
   * The clock of this node's in-process timers (a short backoff, a tool's `timeoutMs`, the agent's
   * `decideTimeoutMs`) and of the times it records. A wait that rests the thread is not one of
   * them: a sleep (an intent's `waitMs`, a pipeline's sleep step) and a backoff longer than 5 s
   * (a rate limit's `Retry-After`) become a durable JetStream wake-up job, due in real time (when
   * the system clock reaches the deadline recorded on this one), so a `SimulatedClock` does not
   * drive them: moving it does nothing, and the thread wakes once the real time has passed (at
   * once, if the simulated clock is behind). To test such waits on a simulated clock, use
   * `createRuntime` with a memory store (its wake-ups are in-process timers on its clock).
   * @default the system clock
   */
  clock?: Clock | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** Agent actors at once in this process. @default 64 */
  maxConcurrent?: number | undefined;
  /** What tool calls' secrets are sealed and opened with: the runtime's `sealSecret` (the same on every process). @default none */
  sealSecret?: string | readonly string[] | undefined;
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** Subject prefix. @default 'switchyard' */
  prefix?: string | undefined;
  /**
   * The threads bucket. @default `<prefix>_threads` (`.` and other punctuation read as `_`):
   * `switchyard_threads` for the default prefix. The prefix's job queues are bound to it
   * ({@link AgentQueuesOptions.bucket}): a node whose bucket is not the one they are bound to is
   * refused with a `ConfigError` (two buckets cannot share a prefix).
   */
  bucket?: string | undefined;
  /** JetStream replicas of the bucket and the queues' streams (1, 3 or 5). @default 1 */
  replicas?: number | undefined;
  /** Queue timing: ack wait, deliveries, dedup window, retry delay (doubling per failure) and its cap. */
  queue?: Omit<AgentQueuesOptions, 'bus' | 'prefix' | 'bucket' | 'replicas' | 'logger'> | undefined;
  /** Take jobs. @default true */
  worker?: AttachBusOptions['worker'];
  /** The agents and pipelines to take jobs for. @default all */
  serve?: AttachBusOptions['agents'];
  processId?: AttachBusOptions['processId'];
  maxPayloadBytes?: AttachBusOptions['maxPayloadBytes'];
  heartbeatMs?: AttachBusOptions['heartbeatMs'];
  concurrency?: AttachBusOptions['concurrency'];
  observe?: AttachBusOptions['observe'];
  callbacks?: AttachBusOptions['callbacks'];
}

/** A process on NATS: its bus, store, queues, runtime and surface. */
export interface NatsNode {
  readonly bus: NatsBus;
  readonly store: ThreadStore;
  /** The KV bucket of the threads. */
  readonly bucket: string;
  readonly queues: AgentQueues;
  /**
   * The runtime for requests from outside (the HTTP API): writes guarded ({@link BusSurface.runtime}),
   * and failing at once with a `SystemError` while a connection to NATS is known to be down
   * ({@link failingFast}) instead of waiting for request timeouts; the node's own work is not.
   */
  readonly runtime: Runtime;
  readonly surface: BusSurface;
  /**
   * Where the deliveries of webhooks are recorded, shared by the deployment (the KV bucket
   * `<bucket>_deliveries`, created when missing): give it to the webhooks of an API process, with
   * this runtime as their `threads`, so each webhook arrives at least once, even one whose event
   * was published while no API process was connected. Opened once.
   */
  deliveryLedger(): Promise<DeliveryLedger>;
  /**
   * Stops at once taking jobs and moving threads: the tool calls in progress finish and journal
   * their results (up to `drainMs`), no new step starts, and every job this node was running is
   * handed back to the queue for another worker to take at once ({@link BusSurface.close}); then
   * closes the runtime (and store), then the connection. A call of a tool that is not idempotent
   * still running past `drainMs` (its tool ignores the abort) has its job handed back due only
   * after the ack wait: exit the process by then (`runtime.abandonedCalls()` lists such calls).
   * With NATS unreachable the jobs cannot be handed back: they are left unacknowledged (redelivered
   * after the ack wait) 8 s past `drainMs`, each named in a warning, and the close goes on.
   */
  close(options?: CloseSurfaceOptions): Promise<void>;
}

/**
 * Joins NATS in one call: connects, opens the thread store in a KV bucket, builds a runtime whose
 * continuations are durable jobs, and attaches it ({@link attachBus}). What `switchyard worker`
 * and `switchyard serve` with `NATS_URL` run.
 *
 * @example
 * ```ts
 * const node = await createNatsNode({ servers: 'nats://127.0.0.1:4222', agents: [calculator], model });
 * process.once('SIGTERM', () => void node.close());
 * ```
 */
export async function createNatsNode(options: NatsNodeOptions): Promise<NatsNode> {
  const logger = options.logger ?? silentLogger();
  // Checks the prefix before anything connects.
  const bucket = options.bucket ?? busSubjects(options.prefix).threadsBucket;
  // No async stack traces: capturing one per request costs more CPU than anything else here.
  const connectOptions = { noAsyncTraces: true, ...options.connectOptions };
  // Both connections (the bus's and the store's background one) are opened alike.
  const connection = {
    servers: options.servers,
    connectOptions,
    ...(options.batchWrites === undefined ? {} : { batchWrites: options.batchWrites }),
    ...(options.muxRequests === undefined ? {} : { muxRequests: options.muxRequests }),
  };
  const name = options.name ?? 'switchyard';
  const bus = await createNatsBus({
    ...connection,
    name,
    logger,
    onError: busErrorLog(logger, 'NATS error'),
  });
  let background: NatsConnection | undefined;
  try {
    // The store's background work (index, summaries, listings) on its own connection (see
    // NatsKvStoreOptions.background), opened as the bus's: it too must outlive any outage, and
    // its requests cost as little.
    background = await connectNats({ ...connection, name: `${name}-kv` });
    const store = await createNatsKvStore({
      nc: bus.nc,
      background,
      ...(connectOptions.inboxPrefix === undefined ? {} : { inboxPrefix: connectOptions.inboxPrefix }),
      bucket,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    const queues = createAgentQueues({
      ...options.queue,
      bus,
      logger,
      // Its queues are bound to this bucket: a process with another one is refused at start-up.
      bucket,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    });
    const runtime = createRuntime({
      agents: options.agents,
      pipelines: options.pipelines ?? [],
      store,
      model: options.model,
      logger,
      schedule: queues.schedule,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
      ...(options.sealSecret === undefined ? {} : { sealSecret: options.sealSecret }),
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
    let surface: BusSurface;
    try {
      surface = await attachBus(runtime, {
        queues,
        logger,
        ...(options.worker === undefined ? {} : { worker: options.worker }),
        ...(options.serve === undefined ? {} : { agents: options.serve }),
        ...(options.processId === undefined ? {} : { processId: options.processId }),
        ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
        ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.observe === undefined ? {} : { observe: options.observe }),
        ...(options.callbacks === undefined ? {} : { callbacks: options.callbacks }),
      });
    } catch (error) {
      await runtime.close();
      throw error;
    }
    const connections = watchConnections([bus.nc, background]);
    let closing: Promise<void> | undefined;
    let ledger: Promise<DeliveryLedger> | undefined;
    const replicas = options.replicas === undefined ? {} : { replicas: options.replicas };
    // A server back without its JetStream data: the buckets and the index (and the ledger's
    // bucket, once opened) are created again, as at the start (the bus does its queues).
    async function restoreStore(): Promise<void> {
      const missing = await restoreBuckets({ nc: bus.nc, bucket, ...replicas });
      if (ledger !== undefined) missing.push(...(await restoreDeliveryLedger({ nc: bus.nc, bucket: `${bucket}_deliveries`, ...replicas })));
      if (missing.length > 0) logger.warn({ bucket, assets: missing }, ASSETS_RECREATED);
    }
    let restoring: Promise<void> | undefined;
    const stopRestoring = bus.onReconnect(() => {
      restoring ??= restoreStore()
        .catch((error: unknown) => logger.warn({ bucket, err: messageOf(error) }, 'cannot check the KV buckets after a reconnect'))
        .finally(() => (restoring = undefined));
    });
    return {
      bus,
      store,
      bucket,
      queues,
      // Guarded: an HTTP server or the CLI on this node writes as safely as the NATS requests do.
      runtime: failingFast(surface.runtime, connections),
      surface,
      deliveryLedger() {
        ledger ??= createKvDeliveryLedger({ nc: bus.nc, bucket: `${bucket}_deliveries`, ...replicas });
        // A failed open is tried again on the next call.
        ledger.catch(() => (ledger = undefined));
        return ledger;
      },
      close(closeOptions) {
        closing ??= (async () => {
          stopRestoring();
          connections.close();
          try {
            await surface.close(closeOptions);
            await runtime.close();
          } finally {
            await bus.close();
            await background?.close();
          }
        })();
        return closing;
      },
    };
  } catch (error) {
    await bus.close();
    await background?.close();
    throw error;
  }
}
