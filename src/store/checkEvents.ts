import { formatIssues, InvalidInputError, ThreadEndedError } from '../errors.js';
import { eventSchema, type Thread, type ThreadEvent } from '../thread/events.js';
import { endedBefore, type ThreadState } from '../thread/state.js';
import { isStampedBatch, parseEvents } from '../thread/thread.js';

const eventsSchema = eventSchema.array();


/**
 * Validates a thread handed to `create`: a non-empty id and agent, schema-valid events with seqs
 * 1..n. Returns a deep copy (zod builds new objects), so the caller's later mutations cannot reach
 * the store.
 */
export function checkThread(thread: Thread): Thread {
  if (typeof thread?.id !== 'string' || thread.id.length === 0) {
    throw new InvalidInputError('a thread needs a non-empty string id', ['id: must be a non-empty string']);
  }
  if (typeof thread.agent !== 'string' || thread.agent.length === 0) {
    throw new InvalidInputError(`thread ${thread.id} needs a non-empty agent name`, ['agent: must be a non-empty string']);
  }
  const parsed = eventsSchema.safeParse(thread.events);
  if (!parsed.success) {
    throw new InvalidInputError(`thread ${thread.id} has invalid events`, formatIssues(parsed.error.issues));
  }
  const badSeq = parsed.data.findIndex((event, index) => event.seq !== index + 1);
  if (badSeq !== -1) {
    throw new InvalidInputError(`thread ${thread.id} events must have seqs 1..n`, [`event ${badSeq} has seq ${parsed.data[badSeq]!.seq}`]);
  }
  // JSON payloads pass validation by reference: copy them so the caller's objects stay theirs.
  return { id: thread.id, agent: thread.agent, events: structuredClone(parsed.data) };
}

/**
 * Validates events handed to `append`: schema-valid, seqs continuing from `expectedVersion + 1`.
 * Returns deep copies. Throws `InvalidInputError`; nothing has been written at that point.
 */
export function checkAppend(id: string, expectedVersion: number, events: readonly ThreadEvent[]): ThreadEvent[] {
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
    throw new InvalidInputError(`expected version of thread ${id} must be a non-negative integer`, [
      `expectedVersion: ${String(expectedVersion)}`,
    ]);
  }
  if (!Array.isArray(events)) {
    throw new InvalidInputError(`events for thread ${id} must be an array`, [`events: ${events === null ? 'null' : typeof events}`]);
  }
  if (isStampedBatch(events)) {
    // Built by the runtime from typed values: only the seqs need checking.
    events.forEach((event, index) => {
      const expected = expectedVersion + index + 1;
      if (event.seq !== expected) {
        throw new InvalidInputError(`event seq ${event.seq} does not continue thread ${id} (expected ${expected})`, [
          `${index}.seq: expected ${expected}, got ${event.seq}`,
        ]);
      }
    });
    return [...events];
  }
  const parsed = eventsSchema.safeParse(events);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid events for thread ${id}`, formatIssues(parsed.error.issues));
  }
  parsed.data.forEach((event, index) => {
    const expected = expectedVersion + index + 1;
    if (event.seq !== expected) {
      throw new InvalidInputError(`event seq ${event.seq} does not continue thread ${id} (expected ${expected})`, [
        `${index}.seq: expected ${expected}, got ${event.seq}`,
      ]);
    }
  });
  // JSON payloads pass validation by reference: copy them so the caller's objects stay theirs.
  return structuredClone(parsed.data);
}

/**
 * Refuses `added` (checked by {@link checkAppend}) when the stored thread, `events` folded into
 * `state`, ended before one of them: a thread takes no event after its end (see
 * {@link endedBefore}). Every store calls it under its write's version check, so a control or a
 * late step that lost the race to the end is refused with a {@link ThreadEndedError} and nothing is
 * written. Only appends are checked: a log that already holds such events still reads.
 */
export function checkNotEnded(id: string, events: readonly ThreadEvent[], state: ThreadState, added: readonly ThreadEvent[]): void {
  const ended = endedBefore(events, state, added);
  if (ended !== null) throw new ThreadEndedError(id, ended);
}

/**
 * Validates events read back from storage that must continue after `version`: the zod schemas
 * (via `parseEvents` for a whole log) and contiguous seqs.
 */
export function parseStoredEvents(
  raw: unknown,
  version: number,
): { success: true; data: ThreadEvent[] } | { success: false; error: string } {
  if (version === 0) return parseEvents(raw);
  const parsed = eventsSchema.safeParse(raw);
  if (!parsed.success) return { success: false, error: parsed.error.message };
  for (let i = 0; i < parsed.data.length; i++) {
    const seq = parsed.data[i]!.seq;
    if (seq !== version + i + 1) return { success: false, error: `event has seq ${seq}, expected ${version + i + 1}` };
  }
  return { success: true, data: parsed.data };
}

/** Freezes a JSON-like value and everything in it, so a shared copy cannot be changed by callers. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // Walked without Object.keys, which builds an array of the keys for every object of every
  // appended event: an index loop for arrays, for...in (own keys only) for objects.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    const object = value as Record<string, unknown>;
    for (const key in object) if (Object.hasOwn(object, key)) deepFreeze(object[key]);
  }
  return value;
}
