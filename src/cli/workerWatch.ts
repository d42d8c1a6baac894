import { messageOf } from '../errors.js';
import type { PresenceMessage, PresenceWorker } from '../inspector/inspectionMessages.js';
import type { Logger } from '../logger.js';
import type { NatsNode } from '../nats/natsNode.js';
import { queueBacklog } from '../nats/natsQueueSetup.js';

/** How long jobs of an agent may wait with no worker serving it before `serve --no-worker` says so. */
const UNSERVED_WARN_MS = 30_000;
/** How often the API process looks: a timer, off the path of the threads it runs. */
const WORKER_CHECK_MS = 5_000;
/** Heartbeats a worker may miss before it no longer counts (as the inspector counts them). */
const MISSED_HEARTBEATS = 3;

/** Options of {@link watchWorkers}. */
export interface WatchWorkersOptions {
  logger: Logger;
  /** How long jobs wait unserved before the warning. @default {@link UNSERVED_WARN_MS} */
  waitMs?: number;
  /** How often the check runs. @default {@link WORKER_CHECK_MS}, or a third of `waitMs` when that is less */
  checkMs?: number;
}

/** Whether a worker serves each agent and pipeline of the node, as the last heartbeats said. */
export interface WorkerWatch {
  /** Whether a live worker on this prefix and bucket takes the jobs of an agent or pipeline. */
  serves(agent: string): boolean;
  close(): void;
}

/** A process heard on `<prefix>.inspect.<process>`: when (this clock), how often it says so, what it serves. */
interface Heard {
  at: number;
  intervalMs: number;
  worker: PresenceWorker | null | undefined;
}

/**
 * Watches, for an API process that takes no jobs (`serve --no-worker`), whether a worker serves
 * each of its agents: the workers' presence heartbeats (`<prefix>.inspect.<process>`) say what they
 * take jobs for and from which bucket. Every `checkMs`, for each agent no live worker serves, the
 * agent's queue is asked whether jobs wait (JetStream consumer info: a request per unserved agent,
 * none while workers serve them all). Jobs waiting unserved for `waitMs` log one warning naming the
 * agent and the fix; a worker for it appearing logs one info line.
 */
export function watchWorkers(node: NatsNode, options: WatchWorkersOptions): WorkerWatch {
  const { logger, waitMs = UNSERVED_WARN_MS } = options;
  // Never much later than the wait: a short one (tests) is checked as often.
  const checkMs = options.checkMs ?? Math.max(10, Math.min(WORKER_CHECK_MS, waitMs / 3));
  const { prefix } = node.surface.subjects;
  const bucket = node.bucket;
  const agents = [...node.runtime.agents.keys(), ...node.runtime.pipelines.keys()];
  const known = new Set(agents);
  const heard = new Map<string, Heard>();
  /**
   * The processes warned about running another config: once each, though one that misses its
   * heartbeats is dropped from {@link heard} and heard again; forgotten when it says it is gone.
   */
  const warnedOtherConfig = new Set<string>();
  /** Per agent: since when its jobs wait unserved (this clock), and whether that was said. */
  const state = new Map<string, { since: number | undefined; warned: boolean }>(agents.map((a) => [a, { since: undefined, warned: false }]));
  const backlog = queueBacklog(node.bus.nc);
  let checking = false;
  let closed = false;

  // One token after `inspect`: the presence subjects only, not the actors' events.
  const subscription = node.bus.nc.subscribe(`${prefix}.inspect.*`, {
    callback: (error, msg) => {
      if (error) return;
      let message: Partial<PresenceMessage>;
      try {
        message = msg.json<Partial<PresenceMessage>>();
      } catch {
        return;
      }
      if (message === null || typeof message !== 'object' || message.type !== '@switchyard.presence' || typeof message.processId !== 'string') return;
      if (message.state === 'gone') {
        // A process that says it is gone does not return (another one has another id).
        heard.delete(message.processId);
        warnedOtherConfig.delete(message.processId);
      } else if (message.state === 'alive') {
        const intervalMs = typeof message.intervalMs === 'number' && message.intervalMs > 0 ? message.intervalMs : 0;
        if (!warnedOtherConfig.has(message.processId)) noteOtherConfig(message.processId, message.worker);
        heard.set(message.processId, { at: Date.now(), intervalMs, worker: message.worker });
      }
    },
  });

  /**
   * A worker of this deployment (prefix and bucket) that serves agents or pipelines this server's
   * config does not name runs another project config: this server refuses their launches (404)
   * although the worker takes their jobs, and for names both have, the definitions may differ. Said
   * once per worker process (the first heartbeat heard of it), also when it returns after missed
   * heartbeats.
   */
  function noteOtherConfig(processId: string, worker: PresenceWorker | null | undefined): void {
    if (!worker || worker.bucket !== bucket || !Array.isArray(worker.agents)) return;
    const unknown = worker.agents.filter((name) => typeof name === 'string' && !known.has(name));
    if (unknown.length === 0) return;
    warnedOtherConfig.add(processId);
    logger.warn(
      { worker: processId, unknown, prefix, bucket },
      `worker ${processId} serves ${unknown.join(', ')}, which this server's config does not name: it runs another project config ` +
        `(this server refuses launches of ${unknown.length > 1 ? 'them' : 'it'}, and agents of one name may differ). Start workers and server with the same config`,
    );
  }

  function served(agent: string, now: number): boolean {
    for (const [processId, process] of heard) {
      if (process.intervalMs > 0 && now - process.at > MISSED_HEARTBEATS * process.intervalMs) {
        heard.delete(processId);
        continue;
      }
      const worker = process.worker;
      if (worker && worker.bucket === bucket && Array.isArray(worker.agents) && worker.agents.includes(agent)) return true;
    }
    return false;
  }

  async function check(): Promise<void> {
    const now = Date.now();
    for (const agent of agents) {
      const seen = state.get(agent)!;
      if (served(agent, now)) {
        if (seen.warned) logger.info({ agent, prefix, bucket }, `a worker serves ${agent} again: its jobs are taken`);
        seen.since = undefined;
        seen.warned = false;
        continue;
      }
      if (seen.warned) continue;
      if ((await backlog(node.surface.subjects.queueName(agent))) === 0) {
        seen.since = undefined;
        continue;
      }
      seen.since ??= now;
      if (now - seen.since < waitMs) continue;
      seen.warned = true;
      logger.warn(
        { agent, prefix, bucket, waitedMs: now - seen.since },
        `jobs of ${agent} have waited ${Math.round((now - seen.since) / 1000)} s and no worker serves it: its threads stay running until one does. ` +
          `Start \`switchyard worker\` on this NATS, and check that its --agents include ${agent} and its --prefix (${prefix}) and --bucket (${bucket}) are this server's`,
      );
    }
  }

  const timer = setInterval(() => {
    if (checking || closed || node.bus.nc.isClosed()) return;
    checking = true;
    check()
      .catch((error: unknown) => logger.debug({ err: messageOf(error) }, 'cannot check whether workers serve the agents'))
      .finally(() => (checking = false));
  }, checkMs);
  timer.unref();

  return {
    serves: (agent) => served(agent, Date.now()),
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      if (!subscription.isClosed() && !node.bus.nc.isClosed()) subscription.unsubscribe();
    },
  };
}
