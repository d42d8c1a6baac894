import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeliveryLedger, OwedRecord } from './deliveryLedger.js';

/**
 * What a sender of deliveries (callbacks, webhooks) keeps track of: the work in flight (deliveries,
 * walks for owed ones), and how each delivery ended, recorded in its {@link DeliveryLedger}.
 */
export interface DeliveryBook {
  /** Keeps `work` in flight until it settles (it must not reject); returns it. */
  track<T>(work: Promise<T>): Promise<T>;
  /**
   * Records how a delivery ended: `sent` (delivered, or refused by its receiver: not sent again)
   * under its key, else as owed (sent at the next start however long ago its thread rested).
   * Without a ledger, nothing; never rejects: a write that fails is logged with `log`.
   */
  settle(delivery: OwedRecord, sent: boolean, log: Record<string, unknown>): Promise<void>;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
}

/** Builds a {@link DeliveryBook}; `what` names the deliveries in the logs (`callback`, `webhook`). */
export function createDeliveryBook(options: { ledger: DeliveryLedger | undefined; logger: Logger; what: string }): DeliveryBook {
  const { ledger, logger, what } = options;
  const inFlight = new Set<Promise<unknown>>();
  return {
    track(work) {
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
      return work;
    },
    async settle(delivery, sent, log) {
      if (ledger === undefined) return;
      const failed = (message: string) => (error: unknown) => logger.error({ ...log, err: messageOf(error) }, `${what} ${message}`);
      if (sent) await ledger.record(delivery.key, delivery.id).catch(failed('delivered but not recorded (it may be sent again)'));
      else await ledger.owe(delivery).catch(failed('given up and not recorded as owed (sent again only if a start finds its rest)'));
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
