import { isValidSubject } from '../bus/subject.js';
import { ConfigError } from '../errors.js';

/** The default subject prefix. */
export const DEFAULT_PREFIX = 'switchyard';

/** The JetStream dedup header: a trigger's id (also names its thread when no `threadId` is given). */
export { MSG_ID_HEADER } from '../bus/jobRunner.js';
/** A trigger's reply subject, as an alternative to the payload's `replyTo`. */
export const REPLY_TO_HEADER = 'Switchyard-Reply-To';
/**
 * On a trigger a stopping worker handed back as a copy (see `handBack`): the id of the trigger it
 * copies (its msg id, else its job id), recorded as the launch's `source.triggerId`.
 */
export const TRIGGER_ID_HEADER = 'Switchyard-Trigger-Id';
/** The process that appended an event (on `events` messages). */
export const PROCESS_HEADER = 'Switchyard-Process';
/**
 * On `events` messages of a change that left its thread ended: its status (`done`, `failed`,
 * `cancelled`). A call's outcome recorded after the thread's cancel (its final view) carries it; a
 * webhook source reads the thread only for such an outcome, not for every tool result.
 */
export const ENDED_HEADER = 'Switchyard-Ended';

/** The requests a thread answers on `<prefix>.thread.<id>.<op>`. */
export type ThreadOp = 'respond' | 'control' | 'get';
export const THREAD_OPS: readonly ThreadOp[] = ['respond', 'control', 'get'];
/**
 * What the process running a thread answers on `_SWITCHYARD.<prefix>.owner.<id>.<op>`: the thread
 * requests, forwarded; `run` ("run it once more when it rests": a continuation job that arrived
 * elsewhere); and `hold` ("are you running it? keep answering for it a moment": asked before a
 * request is forwarded).
 */
export type OwnerOp = ThreadOp | 'run' | 'hold';

/**
 * The root of the subjects only switchyard processes use among themselves, outside every prefix:
 * a subscriber on `<prefix>.>` (`nats sub 'switchyard.>'` while debugging) never matches them, so it
 * cannot take the place of the server's no-responders answer that tells "nobody runs this thread".
 */
export const INTERNAL_ROOT = '_SWITCHYARD';

/**
 * Every subject switchyard uses on a bus (in-process or NATS), for one prefix: the one place their spelling lives.
 *
 * | subject | what |
 * |---|---|
 * | `<prefix>.trigger.<agent>` | launch a thread (JetStream work queue, deduplicated by `Nats-Msg-Id`) |
 * | `<prefix>.jobs.<agent>` | continue a thread (JetStream work queue; the runtime's `schedule`) |
 * | `<prefix>.thread.<id>.respond` | answer a thread's human request (request/reply) |
 * | `<prefix>.thread.<id>.control` | pause, resume or cancel a thread (request/reply) |
 * | `<prefix>.thread.<id>.get` | read a thread (request/reply) |
 * | `<prefix>.events.<agent>.<id>.<type>` | every event appended, as it is appended |
 * | `<prefix>.human.<agent>.<id>` | a thread asks a human (for Slack or email bridges) |
 * | `<prefix>.deleted.<agent>.<id>` | a thread was deleted (every process ends its followers and drops its deliveries) |
 * | `<prefix>.inspect.<process>.<session>` | inspection events in `@statelyai/inspect`'s wire shape |
 * | `_SWITCHYARD.<prefix>.owner.<id>.<op>` | internal: to the process running the thread (`respond`, `control`, `get` forwarded; `run`: run it once more; `hold`: are you running it) |
 *
 * Nothing switchyard does depends on who else subscribes: its internal subjects are outside the
 * prefix, and only a reply from a switchyard process (header `Switchyard-Process`) counts as one.
 */
export interface BusSubjects {
  readonly prefix: string;
  /** `<prefix>.trigger.<agent>` */
  trigger(agent: string): string;
  /** `<prefix>.trigger.>`: every trigger subject. */
  readonly anyTrigger: string;
  /** `<prefix>.jobs.<agent>` */
  jobs(agent: string): string;
  /** `<prefix>.thread.<id>.<op>` */
  thread(threadId: string, op: ThreadOp): string;
  /** `<prefix>.thread.*.*`: every thread request. */
  readonly anyThread: string;
  /** `_SWITCHYARD.<prefix>.owner.<id>.<op>` (outside the prefix: see {@link INTERNAL_ROOT}) */
  owner(threadId: string, op: OwnerOp): string;
  /** `_SWITCHYARD.<prefix>.owner.<id>.*` */
  anyOwner(threadId: string): string;
  /** `<prefix>.events.<agent>.<id>.<type>` */
  events(agent: string, threadId: string, type: string): string;
  /** `<prefix>.events.>` */
  readonly anyEvent: string;
  /** `<prefix>.human.<agent>.<id>` */
  human(agent: string, threadId: string): string;
  /** `<prefix>.deleted.<agent>.<id>`: a process deleted the thread (see `startDeletionNotices`). */
  deleted(agent: string, threadId: string): string;
  /** `<prefix>.deleted.>` */
  readonly anyDeleted: string;
  /** `<prefix>.inspect.<processId>.<sessionId>`: one inspected actor system's events. */
  inspect(processId: string, sessionId: string): string;
  /** `<prefix>.inspect.>`: every process's inspection events. */
  readonly anyInspect: string;
  /** The JetStream work queue (stream) of an agent's triggers and jobs: `<prefix>_<agent>`. */
  queueName(agent: string): string;
  /**
   * The prefix's default threads bucket, `<prefix>_threads` (`switchyard_threads` for the default
   * prefix), so deployments with different prefixes on one server keep their threads apart.
   */
  readonly threadsBucket: string;
  /** The queue group of the thread request handlers (every process joins it). */
  readonly apiGroup: string;
  /** The queue group of the handlers that answer triggers for agents nobody serves. */
  readonly triggerGroup: string;
  /** The tokens of `subject` after `<prefix>.`, or `undefined` when it is not under the prefix. */
  tokens(subject: string): string[] | undefined;
}

/**
 * The subjects of one prefix (dot-separated tokens, e.g. `switchyard` or `acme.agents`).
 * Throws a {@link ConfigError} for a prefix that is not a plain subject.
 */
export function busSubjects(prefix: string = DEFAULT_PREFIX): BusSubjects {
  // Not even inside a token: the prefix heads the subscription patterns, where a token holding
  // `*` or `>` is refused.
  if (!isValidSubject(prefix) || /[*>]/.test(prefix)) {
    throw new ConfigError(`NATS subject prefix ${JSON.stringify(prefix)} must be dot-separated tokens without wildcards or spaces`);
  }
  const streamPrefix = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  const depth = prefix.split('.').length;
  return {
    prefix,
    trigger: (agent) => `${prefix}.trigger.${agent}`,
    anyTrigger: `${prefix}.trigger.>`,
    jobs: (agent) => `${prefix}.jobs.${agent}`,
    thread: (threadId, op) => `${prefix}.thread.${threadId}.${op}`,
    anyThread: `${prefix}.thread.*.*`,
    owner: (threadId, op) => `${INTERNAL_ROOT}.${prefix}.owner.${threadId}.${op}`,
    anyOwner: (threadId) => `${INTERNAL_ROOT}.${prefix}.owner.${threadId}.*`,
    events: (agent, threadId, type) => `${prefix}.events.${agent}.${threadId}.${type}`,
    anyEvent: `${prefix}.events.>`,
    human: (agent, threadId) => `${prefix}.human.${agent}.${threadId}`,
    deleted: (agent, threadId) => `${prefix}.deleted.${agent}.${threadId}`,
    anyDeleted: `${prefix}.deleted.>`,
    inspect: (processId, sessionId) => `${prefix}.inspect.${processId}.${sessionId}`,
    anyInspect: `${prefix}.inspect.>`,
    queueName: (agent) => `${streamPrefix}_${agent}`,
    threadsBucket: `${streamPrefix}_threads`,
    apiGroup: `${prefix}.api`,
    triggerGroup: `${prefix}.trigger-check`,
    tokens(subject) {
      if (!subject.startsWith(`${prefix}.`)) return undefined;
      return subject.split('.').slice(depth);
    },
  };
}
