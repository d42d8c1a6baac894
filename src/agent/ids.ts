import { createHash } from 'node:crypto';

// Ids derived from a thread's id and an event's seq: the same when a run is replayed, so a
// restored actor writes exactly what the first run would have.

/** A request id: unguessable from outside the thread, yet the same when a run is replayed. */
export function requestIdFor(threadId: string, seq: number): string {
  return `req_${seq}_${createHash('sha256').update(`${threadId}:${seq}`).digest('hex').slice(0, 10)}`;
}

/** The call id of the decision at `seq`. */
export function callIdFor(seq: number): string {
  return `call_${seq}`;
}


/** The idempotency key a tool is given for a call: the same on every attempt of it. */
export function idempotencyKeyFor(threadId: string, callId: string): string {
  return `${threadId}:${callId}`;
}
