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
 * `tool_call`s recorded, once there is one (each attempt records its first's: a call started by a
 * version that keyed calls `<threadId>:<callId>` keeps that key); else {@link newIdempotencyKey}.
 * Read from the end, as the call is the thread's latest, and no further back than its decision.
 */
export function idempotencyKeyFor(thread: Pick<Thread, 'id' | 'events'>, callId: string): string {
  const { events } = thread;
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === 'tool_call' && event.data.callId === callId) return event.data.idempotencyKey;
    if (event.type === 'decision' && event.data.callId === callId) break;
  }
  return newIdempotencyKey(incarnationKeyOf(thread), callId);
}

/** The idempotency key of a call no `tool_call` recorded yet: `<threadId>@<incarnation>:<callId>` (`threadKey` is the thread's {@link incarnationKeyOf}). */
export function newIdempotencyKey(threadKey: string, callId: string): string {
  return `${threadKey}:${callId}`;
}
