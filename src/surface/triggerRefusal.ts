import { randomUUID } from 'node:crypto';
import type { JsonParseResult } from '../bus/bus.js';
import { THREAD_ID_PATTERN } from '../runtime/runtime.js';
import { keyedThreadId } from '../thread/keyedThreadId.js';
import type { ErrorReply, Refusal } from './payloads.js';

/**
 * A refused trigger, as far as it can be told: what its error reply names it by (so that a client
 * sending every trigger with one `replyTo` can tell which one failed), and what its reply is
 * stored under.
 */
export interface RefusedTrigger {
  /** The subject it was published on (`<prefix>.trigger.<agent>`). */
  readonly subject: string;
  /** The agent (or pipeline) its subject names, when it names one. */
  readonly agent?: string | undefined;
  /** Its `Nats-Msg-Id` (a copy a stopping worker handed back: its original's). */
  readonly msgId?: string | undefined;
  /** The thread id it names, or would have had (see {@link refusedThreadId}). */
  readonly threadId?: string | undefined;
  /** Its place in its queue (`<queue>:<seq>`), when a queue holds it: what names it when it has no msg id. */
  readonly jobId?: string | undefined;
}

/** The error reply to `trigger`: `refusal` (unchanged) and the trigger's `threadId`, `agent` and `msgId`, those it has. */
export function errorReplyOf(refusal: Refusal, trigger: RefusedTrigger): ErrorReply {
  const { threadId, agent, msgId } = trigger;
  return {
    ...refusal,
    ...(threadId === undefined ? {} : { threadId }),
    ...(agent === undefined ? {} : { agent }),
    ...(msgId === undefined ? {} : { msgId }),
  };
}

/**
 * The msg id a refused trigger's error reply is stored under, from the trigger's identity, the same
 * on every path (a worker's refusal, an unknown agent's): `refused.<subject>.<msg id>` (a msg id
 * that is not a plain token as its hash, as its thread id names it), else `refused.<queue>:<seq>`,
 * else (a trigger no queue holds, without a msg id: nothing sends it again) one of its own. A
 * trigger delivered or sent again under its msg id is stored once; two triggers never share one
 * (the msg id part has no dot, so the subject before it is read whole).
 */
export function refusalMsgId(trigger: Pick<RefusedTrigger, 'subject' | 'msgId' | 'jobId'>): string {
  if (trigger.msgId !== undefined) return `refused.${trigger.subject}.${keyedThreadId('', trigger.msgId)}`;
  return `refused.${trigger.jobId ?? randomUUID()}`;
}

/**
 * The thread id a refused trigger names, read leniently from its payload: undefined when it names
 * one that is not a thread id (echoing it would hand a client an id no request takes); when it
 * names none, the one it would have had (`otherwise`: from its msg id, or its place in the queue).
 */
export function refusedThreadId(json: JsonParseResult, otherwise: () => string | undefined): string | undefined {
  const data: unknown = json.success ? json.data : undefined;
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !('threadId' in data)) return otherwise();
  const named = (data as { threadId?: unknown }).threadId;
  return typeof named === 'string' && THREAD_ID_PATTERN.test(named) ? named : undefined;
}
