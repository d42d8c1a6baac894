import { createHash } from 'node:crypto';
import type { Thread } from './events.js';

// A thread id may be used again once its thread is deleted (ids keyed by outside systems:
// `order-1234`, `hook-<delivery id>`), so the ids derived from a thread (delivery ids, msg ids,
// request ids, idempotency keys) name its incarnation too: its id and its creation instant. Every
// process derives the same from the thread's first event, so a rest of a thread keeps its ids
// across retries, restarts and processes, and the thread created again under the id gets others.

/**
 * The creation instant `createdAt` (an ISO time) in short form: its epoch milliseconds in base 36
 * (8 characters until 2059: `mxbc0rgr`), or, for a time that does not parse, the first 8 hex digits
 * of its SHA-256. Two threads created under one id within one millisecond share it.
 */
export function incarnationOf(createdAt: string): string {
  const ms = Date.parse(createdAt);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms.toString(36) : createHash('sha256').update(createdAt).digest('hex').slice(0, 8);
}

/**
 * `<threadId>@<incarnation>` (see {@link incarnationOf}) of the thread created at `createdAt`
 * (no thread id holds an `@`); the id alone for a thread with no creation instant (no events).
 */
export function incarnateId(threadId: string, createdAt: string | undefined): string {
  return createdAt === undefined ? threadId : `${threadId}@${incarnationOf(createdAt)}`;
}

/** {@link incarnateId} of a thread: created at its first event's time. */
export function incarnationKeyOf(thread: Pick<Thread, 'id' | 'events'>): string {
  return incarnateId(thread.id, thread.events[0]?.at);
}

/**
 * The delivery id of a thread's rest at `version` (a callback's, `version` its version; a
 * webhook's, the seq of the event that caused it): `<threadId>@<incarnation>:<version>`.
 */
export function deliveryIdOf(thread: Pick<Thread, 'id' | 'events'>, version: number): string {
  return `${incarnationKeyOf(thread)}:${version}`;
}

/** Whether `deliveryId` (see {@link deliveryIdOf}) is of `thread`'s incarnation: false when there is no thread. */
export function isDeliveryOf(thread: Pick<Thread, 'id' | 'events'> | undefined, deliveryId: string): boolean {
  return thread !== undefined && deliveryId.startsWith(`${incarnationKeyOf(thread)}:`);
}

/** {@link deliveryIdOf} read from a thread's summary (its `createdAt` is its first event's time). */
export function deliveryIdAt(summary: { readonly id: string; readonly createdAt: string | undefined }, version: number): string {
  return `${incarnateId(summary.id, summary.createdAt)}:${version}`;
}

const INCARNATION = /@[0-9a-z]+(?=:\d+$)/;

/**
 * Whether `recorded` (a delivery ledger's record) is the delivery `id`: the same id, or the same
 * delivery as versions before incarnations recorded it (`<threadId>:<version>`), so an upgrade
 * sends none of those again. A record of that form may also be an earlier incarnation's, deleted
 * before the upgrade: its rest at the same version is then taken as delivered.
 */
export function isDelivered(recorded: string | undefined, id: string): boolean {
  return recorded !== undefined && (recorded === id || recorded === id.replace(INCARNATION, ''));
}

/**
 * The id of a thread's event `seq` in its event stream (`GET /threads/:id/events`):
 * `<incarnation>:<seq>` (see {@link incarnationOf}; the stream's path names the thread), so a client
 * that resumes with it after the thread was deleted and launched again under its id is told apart.
 * The bare seq for a thread with no creation instant (no events).
 */
export function streamEventIdOf(createdAt: string | undefined, seq: number): string {
  return createdAt === undefined ? String(seq) : `${incarnationOf(createdAt)}:${seq}`;
}

/** A stream event id read (see {@link streamEventIdOf}): its incarnation, absent in a bare seq (as streams sent before incarnations), and its seq. */
export interface StreamEventId {
  readonly incarnation: string | undefined;
  readonly seq: number;
}

/** `<incarnation>:<seq>` or `<seq>` read; undefined for anything else (a seq past the safe integers too). */
export function parseStreamEventId(id: string): StreamEventId | undefined {
  const match = /^(?:([0-9a-z]+):)?(\d{1,16})$/.exec(id);
  const seq = Number(match?.[2]);
  return match === null || !Number.isSafeInteger(seq) ? undefined : { incarnation: match[1], seq };
}

/**
 * A delivery id (see {@link deliveryIdOf}) split at its last `:`: `<threadId>@<incarnation>` and
 * its seq (NaN when it holds none). Ids of one incarnation are ordered by their seqs.
 */
export function splitDeliveryId(id: string): [string, number] {
  const colon = id.lastIndexOf(':');
  return colon < 0 ? [id, Number.NaN] : [id.slice(0, colon), /^\d+$/.test(id.slice(colon + 1)) ? Number(id.slice(colon + 1)) : Number.NaN];
}

/**
 * Whether delivery `id` is of a later rest than `other`: of the same incarnation, with a higher
 * seq. Those of two incarnations are not ordered (the earlier one's end with its deletion).
 */
export function deliveryAfter(id: string, other: string): boolean {
  const [thread, seq] = splitDeliveryId(id);
  const [otherThread, otherSeq] = splitDeliveryId(other);
  return thread === otherThread && seq > otherSeq;
}
