import { randomBytes } from 'node:crypto';
import { type Bus, type JobQueue, isBusError, QueueOwnerError } from '../bus/bus.js';
import { normalizeJobQueueTiming, positiveOption, type JobQueueTiming } from '../bus/jobRunner.js';
import { messageOf, ConfigError } from '../errors.js';
import { sleep, systemClock } from '../clock.js';
import { silentLogger, type Logger } from '../logger.js';
import { versionOf, type Thread } from '../thread/events.js';
import { incarnateId, incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, statusOf } from '../thread/state.js';
import type { ScheduleReason } from '../runtime/runtime.js';
import type { JobPayload } from './payloads.js';
import { busSubjects, type BusSubjects } from './subjects.js';

/** Options of {@link createAgentQueues}. */
export interface AgentQueuesOptions {
  /** The bus the queues live on (a NATS bus for durability; the memory bus works in one process). */
  bus: Bus;
  /** @default 'switchyard' */
  prefix?: string | undefined;
  /**
   * The KV bucket of the threads whose jobs the queues carry. Each queue is bound to it when this
   * process sets it up (NATS: the stream's description; a queue an earlier version set up, bound to
   * none, is bound to it), and opening a queue bound to another bucket is a {@link ConfigError}:
   * two buckets cannot share a prefix's queues (a process would take jobs whose threads are in the
   * other bucket, and drop them).
   * @default none: the queues are opened whatever bucket they are bound to
   */
  bucket?: string | undefined;
  /**
   * How long a job may go without an ack or a heartbeat before another worker gets it.
   * @default 30000
   */
  ackWaitMs?: number | undefined;
  /** Deliveries of a job before it goes to the dead letters. @default 5 */
  maxDeliver?: number | undefined;
  /** How long a `Nats-Msg-Id` is remembered for deduplication. @default 120000 */
  dedupWindowMs?: number | undefined;
  /**
   * Delay before a failed job (its run threw: the store or NATS failed) is delivered again, after
   * its first delivery; each later failure of the same job doubles it, up to `maxRetryDelayMs`.
   * @default 1000
   */
  retryDelayMs?: number | undefined;
  /** The longest a failed job waits before it is delivered again. @default 60000 */
  maxRetryDelayMs?: number | undefined;
  /** JetStream replicas of the queues' streams. @default 1 */
  replicas?: number | undefined;
  /**
   * How long `schedule` keeps retrying an enqueue while NATS is unreachable, before it gives up
   * (the runtime logs it; the thread stays `running` until `recover()`).
   * @default 30000
   */
  scheduleRetryMs?: number | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
}

/** {@link AgentQueuesOptions} with every default applied. */
export interface AgentQueuesConfig extends JobQueueTiming {
  readonly scheduleRetryMs: number;
}

/** A thread this process is running for a job: `schedule` calls for it wait for that run instead. */
export interface Claim {
  /** Set when something asked to schedule the thread while it was claimed: run it once more. */
  pending: boolean;
  /** Gives the claim back (idempotent). */
  release(): void;
}

/**
 * One durable work queue per agent or pipeline, carrying its triggers and its continuation jobs.
 * Pass {@link AgentQueues.schedule} as the runtime's `schedule` option, then
 * {@link attachBus} the runtime.
 */
export interface AgentQueues {
  readonly bus: Bus;
  readonly subjects: BusSubjects;
  readonly config: AgentQueuesConfig;
  /** The KV bucket the queues are bound to ({@link AgentQueuesOptions.bucket}), if any. */
  readonly bucket: string | undefined;
  /**
   * The runtime's `schedule`: enqueues a continuation job `{ threadId }` on `<prefix>.jobs.<agent>`
   * with msg id `<threadId>@<incarnation>:<version>`, so the same continuation scheduled twice (two
   * processes recovering, say) is one job. A pipeline woken by a child's end gets msg id
   * `<threadId>@<incarnation>:after:<childId>:<childVersion>` (one job per child end, whichever
   * process and whatever pipelines it knows). A thread this process is running for a job is not
   * enqueued: the job runs it once more instead. Unless the run revived it (`reason.revived`: the
   * job it runs for was settled elsewhere): `{ threadId, revived: true }` with msg id
   * `<threadId>@<incarnation>:revived:<version>`, which a worker keeps until no process runs the
   * thread, then runs. The incarnation (the thread's creation instant, see `incarnationOf`) keeps a
   * thread deleted and launched again under its id within the dedup window from having its jobs
   * dropped as its earlier self's.
   */
  readonly schedule: (thread: Thread, reason?: ScheduleReason) => Promise<void>;
  /**
   * Enqueues, before a write from outside a job, the continuation that write calls for:
   * `{ threadId, after }` with msg id `<threadId>@<incarnation>:<after + 1>:guard`, where `after`
   * is the thread's version before the write and `createdAt` its creation time; before a launch
   * (`after` 0, no thread yet, so no creation time) `<threadId>:1:guard:<random>`, one per launch
   * (a relaunch of a deleted thread's id is not its earlier self's). A worker runs the thread once
   * the write landed, so a process that dies between its write and `schedule` loses nothing. When
   * `schedule` follows at once for exactly that write, it enqueues nothing more (the guard carries
   * it), unless the guard was dropped as a duplicate. Nothing is enqueued for a thread this process
   * holds a claim on (its job carries it).
   */
  readonly guard: (agent: string, threadId: string, after: number, createdAt?: string) => Promise<void>;
  /** The work queue of `agent` (created on first use). */
  queue(agent: string): Promise<JobQueue>;
  /** Claims a thread for a run in this process (see {@link Claim}); claims nest. */
  claim(threadId: string): Claim;
  /** Whether this process holds a claim on the thread. */
  isClaimed(threadId: string): boolean;
  /**
   * Asks the run holding the thread's claim in this process to run it once more when it rests.
   * Returns false when this process holds no claim on it.
   */
  nudge(threadId: string): boolean;
  /**
   * Tells the queues which names are pipelines: their continuations are not deduplicated, because
   * a pipeline waiting for a child rests at the same version it was scheduled at.
   */
  setPipelines(names: Iterable<string>): void;
}

const configError = (message: string): Error => new ConfigError(message);

/**
 * How soon after a guard its write's own `schedule` may rely on it. Well below the time a guard
 * job waits for its write before it gives up, so the guard is still there to carry it.
 */
const GUARD_TRUST_MS = 500;

/** The start-up refusal of a process whose bucket is not the one a queue of its prefix is bound to. */
function boundElsewhere(error: QueueOwnerError, prefix: string): ConfigError {
  return new ConfigError(
    `job queue ${error.queue} (prefix ${prefix}) carries the jobs of the threads in KV bucket ${error.boundTo}, but this process keeps its threads in KV bucket ${error.owner}: ` +
      `it would take jobs whose threads it cannot find. Start it with the same bucket (--bucket ${error.boundTo}), ` +
      `or with another prefix (--prefix) for a deployment of its own`,
    { cause: error },
  );
}

/**
 * Creates the per-agent work queues of a NATS deployment.
 *
 * @example
 * ```ts
 * const bus = await createNatsBus({ servers: process.env.NATS_URL! });
 * const queues = createAgentQueues({ bus });
 * const runtime = createRuntime({ agents, store, model, schedule: queues.schedule });
 * const nats = await attachBus(runtime, { queues, worker: true });
 * ```
 */
export function createAgentQueues(options: AgentQueuesOptions): AgentQueues {
  const { bus, logger = silentLogger() } = options;
  const subjects = busSubjects(options.prefix);
  const timing = normalizeJobQueueTiming(options, { invalid: configError, allowZeroRetryDelay: false });
  const config: AgentQueuesConfig = {
    ...timing,
    scheduleRetryMs: positiveOption('scheduleRetryMs', options.scheduleRetryMs, 30_000, configError),
  };
  const queues = new Map<string, Promise<JobQueue>>();
  const claims = new Map<string, { pending: boolean; holders: number }>();
  // Guards enqueued here, by thread: the version they wait past and when (see `guard`).
  const guards = new Map<string, { after: number; at: number }>();
  let pipelines = new Set<string>();

  function queue(agent: string): Promise<JobQueue> {
    let opened = queues.get(agent);
    if (opened === undefined) {
      const owner = options.bucket === undefined ? {} : { owner: options.bucket };
      opened = bus.jobQueue(subjects.queueName(agent), { subjects: [subjects.trigger(agent), subjects.jobs(agent)], ...timing, ...owner }).catch((error: unknown) => {
        throw error instanceof QueueOwnerError ? boundElsewhere(error, subjects.prefix) : error;
      });
      queues.set(agent, opened);
      // A failed open is retried by the next caller.
      opened.catch(() => queues.delete(agent));
    }
    return opened;
  }

  /** The dedup id of a continuation, or undefined for one that must never be dropped as a duplicate. */
  function continuationMsgId(thread: Thread, version: number, reason: ScheduleReason | undefined): string | undefined {
    const child = reason?.childEnded;
    if (child !== undefined) return `${incarnationKeyOf(thread)}:after:${child.threadId}:${child.version}`;
    return pipelines.has(thread.agent) ? undefined : `${incarnationKeyOf(thread)}:${version}`;
  }

  /**
   * Enqueues a continuation job, retrying while NATS is unreachable (up to `scheduleRetryMs`).
   * Resolves with whether it was dropped as a duplicate of `msgId`. Its lines name the thread's
   * `state`, as every line about a thread does: its status, `asleep` for a wake-up, `revived`, or
   * `launching`/`writing` for a guard enqueued before a write.
   */
  async function enqueue(agent: string, payload: JobPayload, msgId: string | undefined, state: string): Promise<boolean> {
    const deadline = Date.now() + config.scheduleRetryMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const jobs = await queue(agent);
        const { duplicate } = await jobs.enqueue(subjects.jobs(agent), payload, msgId === undefined ? {} : { msgId });
        logger.debug({ threadId: payload.threadId, agent, state, after: payload.after, duplicate }, 'continuation job enqueued');
        return duplicate;
      } catch (error) {
        if (isBusError(error, 'closed') || isBusError(error, 'invalid_subject') || error instanceof ConfigError || Date.now() > deadline) throw error;
        logger.warn({ threadId: payload.threadId, agent, state, err: messageOf(error), attempt }, 'enqueue failed; retrying');
        await sleep(systemClock, Math.min(100 * 2 ** attempt, 2_000));
      }
    }
  }

  async function schedule(thread: Thread, reason?: ScheduleReason): Promise<void> {
    // A wake-up is due later, whoever holds the thread now: its own job, one per sleep.
    if (reason?.wakeAt !== undefined) {
      await enqueue(thread.agent, { threadId: thread.id, wakeAt: reason.wakeAt }, `${incarnationKeyOf(thread)}:wake:${versionOf(thread)}`, 'asleep');
      return;
    }
    // Revived by a run here that holds no job for it: a job of its own, kept until that run lets go.
    if (reason?.revived === true) {
      await enqueue(thread.agent, { threadId: thread.id, revived: true }, `${incarnationKeyOf(thread)}:revived:${versionOf(thread)}`, 'revived');
      return;
    }
    const held = claims.get(thread.id);
    if (held !== undefined) {
      held.pending = true;
      return;
    }
    const version = versionOf(thread);
    const guarded = guards.get(thread.id);
    if (guarded !== undefined && reason === undefined) {
      guards.delete(thread.id);
      // The guard enqueued just before this very write carries its continuation.
      if (guarded.after + 1 === version && Date.now() - guarded.at < GUARD_TRUST_MS) return;
    }
    await enqueue(thread.agent, { threadId: thread.id }, continuationMsgId(thread, version, reason), statusOf(deriveState(thread.events)));
  }

  async function guard(agent: string, threadId: string, after: number, createdAt?: string): Promise<void> {
    if (claims.has(threadId)) return;
    // Before a launch there is no creation time yet: one id per launch (its retries dedup alike).
    const msgId = after === 0 || createdAt === undefined ? `${threadId}:${after + 1}:guard:${randomBytes(6).toString('hex')}` : `${incarnateId(threadId, createdAt)}:${after + 1}:guard`;
    // A guard dropped as a duplicate carries nothing of this write: its `schedule` enqueues.
    if (await enqueue(agent, { threadId, after }, msgId, after === 0 ? 'launching' : 'writing')) {
      guards.delete(threadId);
      return;
    }
    guards.set(threadId, { after, at: Date.now() });
    // Bounded: an entry older than the trust window is worthless.
    if (guards.size > 10_000) guards.delete(guards.keys().next().value!);
  }

  function claim(threadId: string): Claim {
    let held = claims.get(threadId);
    if (held === undefined) {
      held = { pending: false, holders: 0 };
      claims.set(threadId, held);
    }
    held.holders++;
    const entry = held;
    let released = false;
    return {
      get pending() {
        return entry.pending;
      },
      set pending(value: boolean) {
        entry.pending = value;
      },
      release() {
        if (released) return;
        released = true;
        entry.holders--;
        if (entry.holders === 0 && claims.get(threadId) === entry) claims.delete(threadId);
      },
    };
  }

  return {
    bus,
    subjects,
    config,
    bucket: options.bucket,
    schedule,
    guard,
    queue,
    claim,
    isClaimed: (threadId) => claims.has(threadId),
    nudge(threadId) {
      const held = claims.get(threadId);
      if (held === undefined) return false;
      held.pending = true;
      return true;
    },
    setPipelines(names) {
      pipelines = new Set(names);
    },
  };
}
