import { versionOf, type Thread } from '../thread/events.js';
import { deliveryIdOf } from '../thread/incarnation.js';

/** How many threads' last logged rest a process remembers (a repeat comes within moments). */
const REMEMBERED = 1024;

/**
 * The rests a process logged lately, so that a run finding a thread where its last rest left it
 * (a continuation job of a thread already at rest: a revived thread's, once the run that finished
 * it let go; a redelivery) logs no second "agent at rest" line at info. A rest is its thread's
 * incarnation (the time of its first event: a thread deleted and launched again under its id is
 * another) and version, named as a delivery of that rest is (`deliveryIdOf`). Bounded: the last {@link REMEMBERED} threads, oldest forgotten first.
 */
export class LoggedRests {
  readonly #rests = new Map<string, string>();

  /** Records the rest of `thread`; false when it is the rest last recorded for it (a repeat). */
  first(threadId: string, thread: Thread | null): boolean {
    if (thread === null) return true;
    const rest = deliveryIdOf(thread, versionOf(thread));
    if (this.#rests.get(threadId) === rest) return false;
    // Deleted first, so that it moves to the end of the insertion order (the newest).
    this.#rests.delete(threadId);
    this.#rests.set(threadId, rest);
    if (this.#rests.size > REMEMBERED) this.#rests.delete(this.#rests.keys().next().value!);
    return true;
  }
}
