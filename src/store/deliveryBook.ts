import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Thread } from '../thread/events.js';
import { isDeliveryOf } from '../thread/incarnation.js';
import type { DeliveryLedger, OwedRecord } from './deliveryLedger.js';

/**
 * What a sender of deliveries (callbacks, webhooks) keeps track of: the work in flight (deliveries,
 * walks for owed ones), and how each delivery ended, recorded in its {@link DeliveryLedger}.
 */
export interface DeliveryBook {
  /** Keeps `work` in flight until it settles (it must not reject); returns it. */
  track<T>(work: Promise<T>): Promise<T>;
  /**
   * Runs delivery `deliveryId` of thread `threadId`, kept in flight until it settles: `work` (which
   * must not reject) gets the signal {@link drop} aborts, its thread deleted, and, given `read`,
   * `stillThere`: whether the thread is still there, the same incarnation (read again each time; a
   * read that fails counts as yes: the receiver dedups by id), for a retry to ask first. A delivery
   * of an id dropped before (from a thread read before its delete, or of one created again under
   * the id) asks it before it starts, and starts dropped when not.
   */
  deliver<T>(
    threadId: string,
    deliveryId: string,
    work: (dropped: AbortSignal, stillThere: (() => Promise<boolean>) | undefined) => Promise<T>,
    read?: (threadId: string) => Promise<Pick<Thread, 'id' | 'events'> | undefined>,
  ): Promise<T>;
  /**
   * Aborts the deliveries of `threadId` under way (its thread was deleted: none is attempted again
   * nor recorded), and resolves once each has ended, its records written, so the ledger's forget
   * comes after them. Told of a deletion once its store delete resolved, before a thread can be
   * created again under the id: the deliveries under way are the deleted incarnation's, and a thread
   * created again starts its own later, untouched. Never rejects.
   */
  drop(threadId: string): Promise<void>;
  /**
   * Records how a delivery ended: `sent` (delivered, or refused by its receiver: not sent again)
   * under its key, else as owed (sent at the next start however long ago its thread rested); not
   * at all once `dropped` aborted (its thread deleted). Without a ledger, nothing; never rejects: a
   * write that fails is logged with `log`.
   */
  settle(delivery: OwedRecord, sent: boolean, log: Record<string, unknown>, dropped?: AbortSignal): Promise<void>;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
}

/** Builds a {@link DeliveryBook}; `what` names the deliveries in the logs (`callback`, `webhook`). */
export function createDeliveryBook(options: { ledger: DeliveryLedger | undefined; logger: Logger; what: string }): DeliveryBook {
  const { ledger, logger, what } = options;
  const inFlight = new Set<Promise<unknown>>();
  /** The deliveries under way by thread id, each removed when it settles. */
  const byThread = new Map<string, Map<AbortController, Promise<unknown>>>();
  /** The thread ids dropped (bounded: the oldest are let go). */
  const droppedIds = new Set<string>();
  function track<T>(work: Promise<T>): Promise<T> {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  }
  return {
    track,
    deliver(threadId, deliveryId, work, read) {
      const controller = new AbortController();
      const stillThere = read === undefined ? undefined : () => read(threadId).then((thread) => isDeliveryOf(thread, deliveryId), () => true);
      const checked =
        stillThere === undefined || !droppedIds.has(threadId)
          ? undefined
          : stillThere().then((there) => {
              if (!there) controller.abort(deletedError(threadId));
            });
      const delivery = checked === undefined ? work(controller.signal, stillThere) : checked.then(() => work(controller.signal, stillThere));
      let running = byThread.get(threadId);
      if (running === undefined) byThread.set(threadId, (running = new Map()));
      running.set(controller, delivery);
      void delivery.finally(() => {
        running.delete(controller);
        if (running.size === 0 && byThread.get(threadId) === running) byThread.delete(threadId);
      });
      return track(delivery);
    },
    async drop(threadId) {
      droppedIds.delete(threadId);
      if (droppedIds.size >= 10_000) droppedIds.delete(droppedIds.values().next().value!);
      droppedIds.add(threadId);
      const running = byThread.get(threadId);
      if (running === undefined) return;
      const ending = [...running];
      for (const [controller] of ending) controller.abort(deletedError(threadId));
      await Promise.allSettled(ending.map(([, delivery]) => delivery));
    },
    async settle(delivery, sent, log, dropped) {
      if (ledger === undefined || dropped?.aborted === true) return;
      const failed = (message: string) => (error: unknown) => logger.error({ ...log, err: messageOf(error) }, `${what} ${message}`);
      if (sent) await ledger.record(delivery.key, delivery.id).catch(failed('delivered but not recorded (it may be sent again)'));
      else await ledger.owe(delivery).catch(failed('given up and not recorded as owed (sent again only if a start finds its rest)'));
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** Why a delivery of a deleted thread was aborted. */
function deletedError(threadId: string): Error {
  return new Error(`thread ${threadId} deleted`);
}
