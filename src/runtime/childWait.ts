import { openDelegation, parentIdOf } from '../pipeline/delegations.js';
import type { Thread } from '../thread/events.js';
import { TERMINAL_STATUSES, threadStatus } from '../thread/state.js';
import type { ThreadEvents } from './threadEvents.js';

/** What {@link followChildWait} reads: the pipelines' names, the store, the writes heard here. */
export interface ChildWaitSources {
  readonly events: ThreadEvents;
  readonly pipelines: ReadonlySet<string>;
  load(threadId: string): Promise<Thread>;
}

/** Follows the child a waited-on pipeline waits on (see {@link followChildWait}). */
export interface ChildWait {
  /** The pipeline as just read or changed: looks at the child its open step waits on. */
  check(pipeline: Thread): void;
  stop(): void;
}

/**
 * Tells `onWaiting` when a pipeline waits on a child: its status `running`, its open step's
 * delegation in its log, and that child thread there, launched by it and not ended. Read from the
 * store and the writes heard in this process, so it holds where no actor of the pipeline runs (an
 * API process over NATS hears the worker's writes); the child's own writes are followed too (its
 * creation, when its launch is still on its way). A child that ended does not count: the pipeline moves on.
 */
export function followChildWait(sources: ChildWaitSources, onWaiting: (pipeline: Thread) => void): ChildWait {
  let latest: Thread | undefined;
  let followed: { readonly childId: string; readonly stop: () => void } | undefined;
  const judge = (pipeline: Thread, child: Thread | undefined): void => {
    if (pipeline !== latest || child === undefined) return;
    if (parentIdOf(child) === pipeline.id && !TERMINAL_STATUSES.includes(threadStatus(child))) onWaiting(pipeline);
  };
  const follow = (childId: string | undefined): void => {
    if (followed?.childId === childId) return;
    followed?.stop();
    followed = childId === undefined ? undefined : { childId, stop: sources.events.subscribeThread(childId, (change) => latest !== undefined && judge(latest, change.thread)) };
  };
  return {
    check(pipeline) {
      latest = pipeline;
      const status = threadStatus(pipeline);
      const childId = sources.pipelines.has(pipeline.agent) && status === 'running' ? openDelegation({ events: pipeline.events, status })?.threadId : undefined;
      follow(childId);
      if (childId === undefined) return;
      // Not there yet (its launch is on its way): its creation is heard. A failed read: the next write is.
      sources.load(childId).then((child) => judge(pipeline, child), () => undefined);
    },
    stop: () => follow(undefined),
  };
}
