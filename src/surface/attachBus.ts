import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { largestMessageOf } from '../bus/busMessage.js';
import { ConfigError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { AgentQueues } from './agentQueues.js';
import { startAgentWorker, type AgentWorker } from './agentWorker.js';
import { createCallbackSender, noCallbacks, type CallbackOptions } from './callbacks.js';
import { busWebhookSource, type WebhookSource } from './webhookSource.js';
import { startDeletionNotices } from './deletionNotices.js';
import { startEventFanout } from './eventFanout.js';
import { guardedRuntime } from './guardedRuntime.js';
import type { BusSubjects } from './subjects.js';
import { safePublisher, type SurfaceContext } from './surfaceContext.js';
import { serveThreadRequests } from './threadRequests.js';
import { serveTriggerGuard } from './triggerGuard.js';
import { subjectToken } from '../bus/subject.js';

/** Options of {@link attachBus}. */
export interface AttachBusOptions {
  /**
   * The work queues, on the bus to use. The runtime must have been created with
   * `schedule: queues.schedule`, so continuations run as durable jobs.
   */
  queues: AgentQueues;
  /**
   * Take jobs (triggers and continuations) from the queues of `agents`. Without it this process
   * only serves the request/reply subjects, publishes its events and follows the others'.
   * @default true
   */
  worker?: boolean | undefined;
  /** The agents and pipelines this process works for. @default every one the runtime has */
  agents?: readonly string[] | undefined;
  /** Names this process on `events` messages (`Switchyard-Process`). @default `<host>-<pid>-<random>` */
  processId?: string | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /**
   * Larger trigger, job and request payloads are refused. At most the bus's largest message (the
   * NATS server's `max_payload`): a larger one is a `ConfigError` at start-up.
   * @default 262144 (256 KiB), or the NATS server's `max_payload` when that is smaller
   */
  maxPayloadBytes?: number | undefined;
  /** How often a running job tells the queue it is alive. @default the queues' ackWaitMs / 3 */
  heartbeatMs?: number | undefined;
  /** Jobs run at once per agent queue. @default 16 */
  concurrency?: number | undefined;
  /**
   * The callbacks of HTTP launches (`callbackUrl`): sent by the worker that brings the thread to
   * rest, before it acknowledges the job. `false` sends none.
   * @default signed with process.env.SWITCHYARD_WEBHOOK_SECRET (none sent without it)
   */
  callbacks?: CallbackOptions | false | undefined;
  /**
   * Follow the events other processes publish (`runtime.ingest`), so `watch`, SSE and `settled`
   * here see threads that run elsewhere. An API server wants this; a pure worker does not.
   * @default true
   */
  observe?: boolean | undefined;
}

/** Options of {@link BusSurface.close}. */
export interface CloseSurfaceOptions {
  /**
   * How long the tool calls in progress may take to finish (and jobs reporting a rest to send their
   * callbacks) before they are cut off and their jobs handed back (ms, real time: not the runtime's
   * `clock`). @default 10000
   */
  drainMs?: number | undefined;
}

/** A runtime attached to NATS. */
export interface BusSurface {
  readonly processId: string;
  /**
   * The runtime as this surface uses it: writes from outside a job (respond, resume, cancel,
   * launch) enqueue their continuation first, so a process that dies right after such a write
   * loses nothing (see {@link guardedRuntime}). Give this one to the process's other surfaces.
   */
  readonly runtime: Runtime;
  readonly subjects: BusSubjects;
  /** The agents and pipelines whose jobs this process takes (empty when not a worker). */
  readonly serving: readonly string[];
  /** Jobs running in this process now. */
  activeJobs(): number;
  /**
   * Where an HTTP server of this process hears of the changes to send webhooks for, so that a fleet
   * of API processes sends each webhook once (see {@link busWebhookSource}): give it as
   * `startHttpServer`'s `webhookSource`, with the URLs of its webhook receivers.
   */
  webhookSource(receivers: readonly string[]): WebhookSource;
  /**
   * Stops taking jobs at once and stops the runtime's threads as {@link Runtime.drain} does (the
   * tool calls in progress finish and journal their results, up to `drainMs`; no new step starts),
   * hands every job it was running back to the queue, to be delivered again at once (to another
   * worker; after the ack wait for a call of a tool that is not idempotent that still runs here,
   * see `Runtime.abandonedCalls`), and stops serving and publishing. A job whose hand-back has not
   * finished 8 s past `drainMs` (NATS is unreachable) is left unacknowledged, with a warning naming
   * its thread and agent: the queue delivers it again after its ack wait. Close the runtime and then
   * the bus afterwards.
   */
  close(options?: CloseSurfaceOptions): Promise<void>;
}

/**
 * A fresh process id, `<host>-<pid>-<random>`: unique among the processes of a deployment, and
 * pointing at the host and pid that run it. One NATS subject token (the host's `.`, `*`, `>` and
 * spaces become `_`: `subjectToken`), so the inspector's
 * subjects, rows and presence name the process as its events (`Switchyard-Process`) and log do.
 */
export function newProcessId(): string {
  const host = subjectToken(hostname());
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Puts a runtime on NATS (DESIGN.md, "Surfaces"), with plain JSON payloads any NATS client can
 * publish:
 *
 * - `<prefix>.trigger.<agent>`: a durable trigger (JetStream work queue, deduplicated by
 *   `Nats-Msg-Id`); workers launch the thread, run it to rest and publish the result to `replyTo`.
 * - `<prefix>.jobs.<agent>`: continuations (a response, a resume, a pipeline's child ending) as
 *   durable jobs; a killed worker's job is redelivered and continues from the thread.
 * - `<prefix>.thread.<id>.respond | control | get`: request/reply, answered by one process.
 * - `<prefix>.events.<agent>.<id>.<type>` and `<prefix>.human.<agent>.<id>`: what happens.
 * - `<prefix>.deleted.<agent>.<id>`: a thread deleted, so every process lets go of it (see `startDeletionNotices`).
 *
 * @example
 * ```ts
 * const bus = await createNatsBus({ servers: process.env.NATS_URL! });
 * const store = await createNatsKvStore({ nc: bus.nc });
 * const queues = createAgentQueues({ bus });
 * const runtime = createRuntime({ agents: [calculator], store, model, schedule: queues.schedule });
 * const nats = await attachBus(runtime, { queues, worker: true });
 * // ... on SIGTERM:
 * await nats.close();
 * await runtime.close();
 * await bus.close();
 * ```
 */
export async function attachBus(runtime: Runtime, options: AttachBusOptions): Promise<BusSurface> {
  const {
    queues,
    worker = true,
    processId = newProcessId(),
    logger = silentLogger(),
    heartbeatMs = Math.max(50, Math.floor(queues.config.ackWaitMs / 3)),
    concurrency = 16,
    observe = true,
  } = options;
  const names = [...runtime.agents.keys(), ...runtime.pipelines.keys()];
  const served = worker ? [...(options.agents ?? names)] : [];
  const unknown = served.filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new ConfigError(`not an agent or pipeline of this runtime: ${unknown.join(', ')} (known: ${names.join(', ')})`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError('concurrency must be a positive integer');
  if (!(heartbeatMs > 0) || heartbeatMs >= queues.config.ackWaitMs) throw new ConfigError('heartbeatMs must be positive and below the queues\' ackWaitMs');
  const { bus, subjects } = queues;
  const maxPayloadBytes = payloadLimitOf(options.maxPayloadBytes, largestMessageOf(bus));
  queues.setPipelines(runtime.pipelines.keys());
  // Every queue exists before anything is served, so triggers are stored even while no worker for
  // their agent runs.
  await openQueues(queues, names);

  const guarded = guardedRuntime(runtime, queues);
  const callbacks = options.callbacks === false ? noCallbacks() : createCallbackSender({ ...options.callbacks, logger: options.callbacks?.logger ?? logger });
  const ctx: SurfaceContext = { runtime: guarded, queues, bus, subjects, processId, logger, maxPayloadBytes, callbacks, publish: safePublisher(bus, logger) };
  const fanout = startEventFanout(ctx, { observe });
  // Every process, observing or not: a worker's callbacks of a thread deleted elsewhere are dropped.
  const deletions = startDeletionNotices(ctx);
  const requests = serveThreadRequests(ctx);
  const guard = serveTriggerGuard(ctx);
  let agentWorker: AgentWorker | undefined;
  try {
    agentWorker = served.length > 0 ? await startAgentWorker(ctx, requests, { agents: served, concurrency, heartbeatMs }) : undefined;
    // Other processes can reach this one's subscriptions once the server has them.
    await bus.flush();
  } catch (error) {
    await Promise.all([fanout.close(), deletions.close(), requests.close(), guard.close(), agentWorker?.stop(0), callbacks.close()]);
    throw error;
  }
  // A logger bound to this process's id (as `switchyard worker` binds it) says it once per line already.
  const bound = (logger.bindings() as { processId?: unknown }).processId === processId;
  logger.info({ ...(bound ? {} : { processId }), prefix: subjects.prefix, serving: served }, 'attached to NATS');

  let closing: Promise<void> | undefined;
  return {
    processId,
    runtime: guarded,
    subjects,
    serving: served,
    activeJobs: () => agentWorker?.active() ?? 0,
    webhookSource: (receivers) => busWebhookSource(ctx, receivers),
    close(closeOptions = {}) {
      closing ??= (async () => {
        const drainMs = closeOptions.drainMs ?? 10_000;
        await guard.close();
        // No new job, no new step: the tool calls in progress finish, then the jobs go back.
        const drained = runtime.drain({ drainMs });
        await (agentWorker?.stop(drainMs, drained) ?? drained);
        await Promise.all([requests.close(), fanout.close(), deletions.close(), callbacks.close()]);
        await bus.flush().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/**
 * Opens the queues of `names`, those set up already first: one bound to another bucket refuses
 * this process (a `ConfigError`) before it sets up a new one, bound to its own bucket, that the
 * processes of the other bucket would be refused.
 */
async function openQueues(queues: AgentQueues, names: readonly string[]): Promise<void> {
  const { bus, subjects } = queues;
  const existing = await Promise.all(names.map(async (name) => (await bus.queueFor(subjects.trigger(name))) !== undefined));
  await Promise.all(names.filter((_, i) => existing[i]).map((name) => queues.queue(name)));
  await Promise.all(names.filter((_, i) => !existing[i]).map((name) => queues.queue(name)));
}

/** The default of {@link AttachBusOptions.maxPayloadBytes}, when the bus carries as much. */
const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * `maxPayloadBytes` checked against `largest`, the bus's largest message: a payload the server
 * refuses could never come in, and what a worker hands back (a trigger's copy) or answers would be
 * refused on its way out. Left out, the default or `largest` when that is smaller.
 */
function payloadLimitOf(maxPayloadBytes: number | undefined, largest: number): number {
  if (maxPayloadBytes === undefined) return Math.min(DEFAULT_MAX_PAYLOAD_BYTES, largest);
  if (!(maxPayloadBytes > 0)) throw new ConfigError('maxPayloadBytes must be positive');
  if (maxPayloadBytes > largest) {
    throw new ConfigError(`maxPayloadBytes (${maxPayloadBytes}) is larger than the largest message the bus carries, the NATS server's max_payload (${largest}): lower it, or raise max_payload in the nats-server config`);
  }
  return maxPayloadBytes;
}
