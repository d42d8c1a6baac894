import { createHash } from 'node:crypto';
import type { Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';

// Ids derived from a thread (its id and creation instant, `incarnationKeyOf`) and an event's seq:
// the same when a run is replayed, so a restored actor writes exactly what the first run would
// have; another for a thread deleted and launched again under the same id.

/**
 * A request id: unguessable from outside the thread, yet the same when a run is replayed.
 * `threadKey` is the thread's {@link incarnationKeyOf}.
 */
export function requestIdFor(threadKey: string, seq: number): string {
  return `req_${seq}_${createHash('sha256').update(`${threadKey}:${seq}`).digest('hex').slice(0, 10)}`;
}

/** The call id of the decision at `seq`. */
export function callIdFor(seq: number): string {
  return `call_${seq}`;
}

/**
 * The idempotency key a tool is given for a call: the same on every attempt of it. The one its
 * first `tool_call` recorded, once there is one (a call started by a version that keyed calls
 * `<threadId>:<callId>` keeps that key); else `<threadId>@<incarnation>:<callId>`.
 */
export function idempotencyKeyFor(thread: Pick<Thread, 'id' | 'events'>, callId: string): string {
  for (const event of thread.events) if (event.type === 'tool_call' && event.data.callId === callId) return event.data.idempotencyKey;
  return `${incarnationKeyOf(thread)}:${callId}`;
}
