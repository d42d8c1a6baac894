import { InvalidInputError } from '../errors.js';
import { eventSchema, versionOf, type NewEvent, type Thread, type ThreadEvent } from './events.js';

/**
 * `reduce(thread, event) -> thread`: appends one event, checking that its seq continues the log.
 * Pure: the input thread is not modified.
 */
export function reduce(thread: Thread, event: ThreadEvent): Thread {
  const expected = versionOf(thread) + 1;
  if (event.seq !== expected) {
    throw new InvalidInputError(`event seq ${event.seq} does not continue thread ${thread.id} (expected ${expected})`);
  }
  return { ...thread, events: [...thread.events, event] };
}

/**
 * Stamps new events with consecutive seqs after `version` and the time `at`. The returned batch is
 * frozen and marked as built by the runtime (see {@link isStampedBatch}).
 */
export function stampEvents(version: number, events: readonly NewEvent[], at: string): readonly ThreadEvent[] {
  // map, not pushes: the array is made at its size (a push grows it to hold 17).
  const stamped = events.map((event, index) => ({ type: event.type, data: event.data, seq: version + index + 1, at }) as ThreadEvent);
  Object.defineProperty(stamped, STAMPED, { value: true });
  return Object.freeze(stamped);
}

// Batches built here come from typed values whose JSON payloads the runtime already normalized
// (toJson, redactJson), so a store may skip re-validating and copying exactly these arrays. The
// mark is a hidden property of the batch (only this module has its key), not a weak-set entry the
// collector would trace.
const STAMPED = Symbol('switchyard.stampedBatch');

/** Whether the array of events is a batch built by {@link stampEvents} (and not handed in from outside). */
export function isStampedBatch(events: readonly unknown[]): boolean {
  return (events as { readonly [STAMPED]?: true })[STAMPED] === true;
}

/** Validates events read from outside (a file, a KV bucket) with the zod schemas. */
export function parseEvents(value: unknown): { success: true; data: ThreadEvent[] } | { success: false; error: string } {
  const result = eventSchema.array().safeParse(value);
  if (!result.success) return { success: false, error: result.error.message };
  for (let i = 0; i < result.data.length; i++) {
    if (result.data[i]!.seq !== i + 1) return { success: false, error: `event ${i} has seq ${result.data[i]!.seq}` };
  }
  return { success: true, data: result.data };
}
