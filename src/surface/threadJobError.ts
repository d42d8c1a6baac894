import type { BusErrorHandler } from '../bus/bus.js';
import { messageOf, SwitchyardError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * A job about a thread failed (the store could not read it, NATS went away): the error its handler
 * throws, which the queue reports to the bus's `onError` and records, by its message (the cause's),
 * in a dead letter. It names the thread and its agent, so the log line of the failure carries them
 * as fields.
 */
export class ThreadJobError extends SwitchyardError {
  constructor(
    readonly threadId: string,
    readonly agent: string,
    cause: unknown,
  ) {
    super(messageOf(cause), { cause });
  }
}

/** Runs the part of a job that concerns the thread of `target`: what it throws becomes a {@link ThreadJobError} naming it. */
export async function aboutThread(target: { readonly threadId: string; readonly agent: string }, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    throw error instanceof ThreadJobError ? error : new ThreadJobError(target.threadId, target.agent, error);
  }
}

/** A bus's `onError` that logs a warning `message` with the context (queue, subject), and the thread and agent of a failed job about a thread. */
export function busErrorLog(logger: Logger, message: string): BusErrorHandler {
  return (error, context) => {
    const thread = error instanceof ThreadJobError ? { threadId: error.threadId, agent: error.agent } : {};
    logger.warn({ ...context, ...thread, err: messageOf(error) }, message);
  };
}
