import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Thread } from '../thread/events.js';
import { deliveryAfter, isDelivered, isDeliveryOf, splitDeliveryId } from '../thread/incarnation.js';
import { pendingRequestEvent } from '../thread/state.js';
import type { DeliveryLedger, OwedRecord } from './deliveryLedger.js';

/**
 * What a sender of deliveries (callbacks, webhooks) keeps track of: the work in flight (deliveries,
 * walks for owed ones), and how each delivery ended, recorded in its {@link DeliveryLedger}.
 */
export interface DeliveryBook {
  /** Keeps `work` in flight until it settles (it must not reject); returns it. */
  track<T>(work: Promise<T>): Promise<T>;
  /**
   * Runs `delivery`, kept in flight until it settles: `work` (which must not reject) gets the signal
   * {@link drop} aborts, its thread deleted; the signal that aborts once a later rest of the thread
   * is delivered to the same receiver (`superseded`: no attempt more, the one under way goes on);
   * and, given `read`, `check`: whether the thread is still there, the same incarnation, and (for a
   * human request) still waits for that request (read again each time; a read that fails counts as
   * there: the receiver dedups by id), for a retry to ask first. Deliveries under one key (one
   * receiver, one thread) go out in the order of their seqs: a later one aborts the retries of the
   * earlier ones and starts once they have ended (their attempt under way answered); one earlier
   * than a delivery under way there starts superseded. A delivery of an id dropped before (from a
   * thread read before its delete, or of one created again under the id) asks before it starts,
   * and starts dropped when the thread is gone.
   */
  deliver<T>(
    delivery: BookedDelivery,
    work: (dropped: AbortSignal, check: (() => Promise<Standing>) | undefined, superseded: AbortSignal) => Promise<T>,
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
   * at all once `dropped` aborted (its thread deleted), nor when the key holds a later rest of its
   * thread (the record never goes back), nor as owed when it holds this one. Without a ledger,
   * nothing; never rejects: a write that fails is logged with `log`.
   */
  settle(delivery: OwedRecord, sent: boolean, log: Record<string, unknown>, dropped?: AbortSignal): Promise<void>;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
}

/** One delivery as {@link DeliveryBook.deliver} runs it. */
export interface BookedDelivery {
  readonly threadId: string;
  /** The ledger key it is recorded under: one receiver and one thread. */
  readonly key: string;
  /** `<threadId>@<incarnation>:<seq>` (see `deliveryIdOf`). */
  readonly id: string;
  /** It reports a human request: a retry once that request is answered (or another asked) helps nobody. */
  readonly asks: boolean;
}

/** What a retry finds of its delivery's thread: still there, deleted, or moved past that rest. */
export type Standing = 'there' | 'gone' | 'superseded';

/** Builds a {@link DeliveryBook}; `what` names the deliveries in the logs (`callback`, `webhook`). */
export function createDeliveryBook(options: { ledger: DeliveryLedger | undefined; logger: Logger; what: string }): DeliveryBook {
  const { ledger, logger, what } = options;
  const inFlight = new Set<Promise<unknown>>();
  /** The deliveries under way by thread id, each removed when it settles. */
  const byThread = new Map<string, Map<AbortController, Promise<unknown>>>();
  /** The deliveries under way by ledger key (one receiver, one thread), each removed when it settles. */
  const lanes = new Map<string, Set<Lane>>();
  /**
   * Queues `lane` under `key`: one earlier than a delivery there starts superseded; the earlier
   * ones there are superseded (no retry more) and waited for. Resolves when it may start.
   */
  function queue(key: string, lane: Lane): Promise<unknown> {
    let queued = lanes.get(key);
    if (queued === undefined) lanes.set(key, (queued = new Set()));
    const before = [...queued];
    queued.add(lane);
    if (before.some((other) => deliveryAfter(other.id, lane.id))) {
      lane.superseded.abort(supersededError(lane.id));
      return Promise.resolve();
    }
    const passed = before.filter((other) => deliveryAfter(lane.id, other.id));
    for (const other of passed) other.superseded.abort(supersededError(other.id));
    return Promise.allSettled(passed.map((other) => other.ended));
  }
  /** The thread ids dropped (bounded: the oldest are let go). */
  const droppedIds = new Set<string>();
  function track<T>(work: Promise<T>): Promise<T> {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  }
  return {
    track,
    deliver(delivery, work, read) {
      const { threadId, key, id } = delivery;
      const controller = new AbortController();
      const check = read === undefined ? undefined : () => read(threadId).then((thread) => standingOf(thread, delivery), (): Standing => 'there');
      const lane = { id, superseded: new AbortController(), ended: Promise.resolve() as Promise<unknown> };
      const earlier = queue(key, lane);
      const gone =
        check === undefined || !droppedIds.has(threadId)
          ? undefined
          : check().then((standing) => {
              if (standing === 'gone') controller.abort(deletedError(threadId));
            });
      const running = Promise.all([earlier, gone]).then(() => work(controller.signal, check, lane.superseded.signal));
      lane.ended = running;
      let underWay = byThread.get(threadId);
      if (underWay === undefined) byThread.set(threadId, (underWay = new Map()));
      underWay.set(controller, running);
      void running.finally(() => {
        underWay.delete(controller);
        if (underWay.size === 0 && byThread.get(threadId) === underWay) byThread.delete(threadId);
        const queued = lanes.get(key);
        queued?.delete(lane);
        if (queued?.size === 0) lanes.delete(key);
      });
      return track(running);
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
      // The ledger never goes back: a later rest of the thread recorded there stays (a read that fails counts as none).
      const recorded = await ledger.get(delivery.key).catch(() => undefined);
      if (recorded !== undefined && deliveryAfter(recorded, delivery.id)) return;
      if (sent) await ledger.record(delivery.key, delivery.id).catch(failed('delivered but not recorded (it may be sent again)'));
      else if (!isDelivered(recorded, delivery.id)) await ledger.owe(delivery).catch(failed('given up and not recorded as owed (sent again only if a start finds its rest)'));
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** A delivery under way under a ledger key: its id, the signal that stops its retries, its end. */
interface Lane {
  readonly id: string;
  readonly superseded: AbortController;
  ended: Promise<unknown>;
}

/** What a retry of `delivery` finds in `thread` as read now (see {@link Standing}). */
function standingOf(thread: Pick<Thread, 'id' | 'events'> | undefined, delivery: BookedDelivery): Standing {
  if (!isDeliveryOf(thread, delivery.id)) return 'gone';
  if (!delivery.asks) return 'there';
  // A request answered (or ended with its thread), or another asked since: the rest is past.
  const asked = pendingRequestEvent(thread!.events);
  return asked !== undefined && asked.seq <= splitDeliveryId(delivery.id)[1] ? 'there' : 'superseded';
}

/** Why a delivery was superseded: a later rest of its thread goes to its receiver. */
function supersededError(id: string): Error {
  return new Error(`delivery ${id} superseded by a later rest of its thread`);
}

/** Why a delivery of a deleted thread was aborted. */
function deletedError(threadId: string): Error {
  return new Error(`thread ${threadId} deleted`);
}
