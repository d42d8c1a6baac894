import { formatIssues, messageOf } from '../errors.js';
import type { BusSubscription } from '../bus/bus.js';
import { deletionNoticeSchema, type DeletionNotice } from './payloads.js';
import { PROCESS_HEADER } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';

/** The deletion side of the NATS surface. */
export interface DeletionNotices {
  close(): Promise<void>;
}

/**
 * Takes a thread's deletion to every process of the deployment. Each deletion this runtime makes
 * is published on `<prefix>.deleted.<agent>.<id>` (`{ threadId, agent, incarnation }`, header
 * `Switchyard-Process`); each one another process publishes is handed to the runtime
 * (`Runtime.ingestDeletion`), which reads the thread and, gone, ends its followers here as
 * deleted and tells its `onDelete` listeners (the callbacks and webhooks of the thread under way
 * or waiting to retry here are dropped); a thread launched again under the id since is left alone,
 * only the deleted incarnation's followers here end. The callbacks this process sends from its
 * jobs are dropped on either deletion.
 *
 * A plain publish: a process away when a notice is published misses it. What it follows then ends
 * as before a notice existed (a follower when its wait runs out; a callback at its next attempt,
 * which first reads the thread), so nothing deleted is called back.
 */
export function startDeletionNotices(ctx: SurfaceContext): DeletionNotices {
  const { runtime, bus, subjects, processId, logger, callbacks } = ctx;
  const headers = Object.freeze({ [PROCESS_HEADER]: processId });

  const unlisten = runtime.onDelete((threadId, deletion) => {
    void callbacks.dropThread(threadId);
    // Heard from another process: it told everyone already.
    if (deletion.elsewhere === true) return;
    const notice: DeletionNotice = { threadId, agent: deletion.agent, incarnation: deletion.incarnation };
    void ctx.publish(subjects.deleted(deletion.agent, threadId), notice, { headers });
  });

  /** The notices being applied now, so `close()` waits for them. */
  const hearing = new Set<Promise<void>>();

  async function hear(notice: DeletionNotice): Promise<void> {
    try {
      const applied = await runtime.ingestDeletion(notice);
      const log = { threadId: notice.threadId, agent: notice.agent, incarnation: notice.incarnation };
      if (applied) logger.debug(log, 'deletion notice applied: the thread is gone');
      else logger.debug(log, 'deletion notice: the thread is there, only followers of the incarnation deleted end');
    } catch (error) {
      logger.warn({ threadId: notice.threadId, err: messageOf(error) }, 'could not apply a deletion another process made');
    }
  }

  const subscription: BusSubscription = bus.subscribe(subjects.anyDeleted, (msg) => {
    if (msg.headers[PROCESS_HEADER] === processId) return;
    const json = msg.json();
    const parsed = json.success ? deletionNoticeSchema.safeParse(json.data) : undefined;
    if (parsed?.success !== true) {
      const error = json.success ? formatIssues(parsed?.error.issues ?? []).join('; ') : json.error;
      logger.warn({ subject: msg.subject, err: error }, 'deletion notice ignored: not a valid notice');
      return;
    }
    const heard: Promise<void> = hear(parsed.data).finally(() => hearing.delete(heard));
    hearing.add(heard);
  });

  return {
    async close() {
      unlisten();
      await subscription.unsubscribe();
      // The notices being applied (hear never rejects): none is left reading a store about to close.
      await Promise.all([...hearing]);
    },
  };
}
