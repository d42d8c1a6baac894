import type { Agent } from '../agent/agent.js';
import { isoTime, type Clock } from '../clock.js';
import { InvalidStateError, NotFoundError, NotSupportedError, VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import { delegations } from '../pipeline/delegations.js';
import type { ThreadStore } from '../store/threadStore.js';
import type { Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, statusOf, TERMINAL_STATUSES, type ThreadStatus, type UnrecordedCall } from '../thread/state.js';
import { parentIdOf } from './threadView.js';
import { awaitedOutcome } from './watchThread.js';

/** What deleting a thread needs from the runtime. */
export interface DeleteSources {
  /** The store the thread is deleted from (its `delete`, when it has one). */
  readonly store: ThreadStore;
  load(threadId: string): Promise<Thread>;
  /** Lets go of whatever this process keeps for the thread deleted: its actor, timers, followers. */
  forget(thread: Thread): void;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The agents this process knows: the timeouts of their tools bound the wait for an outcome. */
  readonly agents: ReadonlyMap<string, Agent>;
}

/** What {@link Runtime.delete} deleted. */
export interface DeletedThread {
  readonly id: string;
  readonly agent: string;
  /** The status it ended with: `done`, `failed` or `cancelled`. */
  readonly status: ThreadStatus;
  /**
   * The tool call its cancel left running whose outcome was never recorded (the process running it
   * stopped, or the call outlived its timeout): the thread deleted was the only record of a call
   * that may have taken effect; its idempotency key is what to check that effect with. Absent when
   * there was none.
   */
  readonly unrecordedCall?: Pick<UnrecordedCall, 'callId' | 'tool' | 'idempotencyKey'>;
  /**
   * The child threads a pipeline's steps delegated to that are still stored, in the order they were
   * launched: a deletion leaves them (delete them on their own). Absent when there is none.
   */
  readonly children?: readonly string[];
}

/**
 * Deletes a thread that ended (done, failed or cancelled) from the store, for good (see
 * {@link Runtime.delete}). Refused with an {@link InvalidStateError}: a thread that has not ended
 * (cancel it first), a thread cancelled while a call of it ran elsewhere whose outcome is still
 * awaited (see {@link awaitedOutcome}: until the tool's timeout + 10 s from the call's start; the
 * outcome would otherwise come after the deletion, maybe to a thread launched again under the id),
 * a pipeline's child while its pipeline has not ended (it may still need the child's result; a
 * pipeline launched again under the id of the one that launched the child does not), and
 * any thread when the store cannot delete (a {@link NotSupportedError}). A version conflict (an
 * event that landed after the read: the outcome of the call a cancel left running) reads and
 * checks the thread again, once; a second one is thrown. Resolves with what it deleted.
 */
export async function deleteThread(sources: DeleteSources, threadId: string): Promise<DeletedThread> {
  const { store, logger } = sources;
  for (let attempt = 1; ; attempt++) {
    const thread = await sources.load(threadId);
    const { version, status, unrecorded } = await deletable(sources, thread);
    if (store.delete === undefined) throw new NotSupportedError(`thread ${threadId} cannot be deleted: this store cannot delete threads`, threadId, status);
    let deleted: boolean;
    try {
      deleted = await store.delete(threadId, version);
    } catch (error) {
      if (error instanceof VersionConflictError && attempt === 1) continue;
      throw error;
    }
    // Deleted by someone else since the read.
    if (!deleted) throw new NotFoundError('thread', threadId);
    sources.forget(thread);
    logger.info({ threadId, agent: thread.agent }, 'thread deleted');
    const children = await childrenOf(store, thread);
    const deletedThread: DeletedThread = { id: threadId, agent: thread.agent, status, ...(children.length > 0 ? { children } : {}) };
    if (unrecorded === undefined) return deletedThread;
    // Its log was the only record of a call that may have taken effect: this line keeps one.
    const { callId, tool, idempotencyKey } = unrecorded;
    logger.warn({ threadId, agent: thread.agent, callId, tool, idempotencyKey }, "deleted a thread whose cancel left a tool call's outcome unrecorded: it may have taken effect");
    return { ...deletedThread, unrecordedCall: { callId, tool, idempotencyKey } };
  }
}

/**
 * The threads `thread`'s delegations launched (a pipeline's children) that are still stored, each
 * once, in order: one read per thread named. A thread named that is gone, or that does not record
 * `thread` as its pipeline (a plain agent's tool call whose arguments hold `threadId` and `agent`),
 * is none.
 */
async function childrenOf(store: ThreadStore, thread: Thread): Promise<string[]> {
  const stored = await Promise.all(delegations(thread).map((child) => store.get(child.threadId)));
  return stored.flatMap((child) => (child !== undefined && parentIdOf(child) === thread.id ? [child.id] : []));
}

/**
 * The version to delete `thread` at, when it may be deleted, the status it ended with, and the call
 * its cancel left with no outcome recorded (whose wait is over), if any; else why not.
 */
async function deletable(sources: DeleteSources, thread: Thread): Promise<{ version: number; status: ThreadStatus; unrecorded: UnrecordedCall | undefined }> {
  const state = deriveState(thread.events);
  const status = statusOf(state);
  if (!TERMINAL_STATUSES.includes(status)) throw new InvalidStateError(`thread ${thread.id} is ${status}: it has not ended; cancel it first`, thread.id, status);
  const awaited = awaitedOutcome(thread, sources.agents);
  if (awaited !== undefined && sources.clock.now() < awaited.until) {
    throw new InvalidStateError(
      `thread ${thread.id} was cancelled while its call ${awaited.callId} of ${awaited.tool} ran, and that call's outcome may still be recorded: delete it once it is, or after ${isoTime(awaited.until)}`,
      thread.id,
      status,
    );
  }
  const parentId = parentIdOf(thread);
  // A pipeline gone (deleted before its child) needs nothing more from it; nor does one launched
  // again under its id since (the child records its pipeline's incarnation: that one refuses it).
  const parent = parentId === undefined ? undefined : await sources.store.get(parentId);
  const launchedBy = thread.events[0]?.type === 'input' ? thread.events[0].data.source?.triggerId : undefined;
  if (parent !== undefined && (launchedBy === undefined || launchedBy === incarnationKeyOf(parent))) {
    const parentStatus = statusOf(deriveState(parent.events));
    if (!TERMINAL_STATUSES.includes(parentStatus)) {
      throw new InvalidStateError(
        `thread ${thread.id} belongs to pipeline ${parent.id}, which is ${parentStatus} and may still need its result; delete it once ${parent.id} has ended`,
        thread.id,
        status,
      );
    }
  }
  return { version: state.version, status, unrecorded: awaited };
}
