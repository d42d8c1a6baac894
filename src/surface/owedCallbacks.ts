import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Thread } from '../thread/events.js';
import type { ThreadStatus } from '../thread/state.js';
import { dueCallbackOf, type DueCallback } from './callbackPayload.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';

/** Statuses at which a thread's rest is reported: it waits for a human, or has ended. */
const REPORTED: readonly ThreadStatus[] = ['awaiting_human', 'escalated', 'done', 'failed', 'cancelled'];
/** Threads listed per page of the walk. */
const PAGE = 200;
/** Owed callbacks in flight at once. */
const CONCURRENCY = 16;

/** What {@link sendOwedCallbacks} needs. */
export interface OwedCallbacks {
  readonly runtime: Pick<Runtime, 'list' | 'get'>;
  readonly ledger: DeliveryLedger;
  /** Sends one (and records it when delivered). */
  send(thread: Thread, due: DueCallback): Promise<unknown>;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /**
   * Epoch ms when the sender was attached: the walk covers the rests stored until then (later ones
   * are this process's own, sent as they are written).
   */
  readonly until: number;
}

/**
 * Sends the callbacks the runtime's threads owe: each thread at a reported rest, stored before
 * `until`, whose callback (its own, or its pipeline's for a child's request) has no delivery
 * recorded under it. A new ledger (the first start with one) records the rests it finds instead, as
 * the processes before it may have sent them; the rests written since `until` are this process's
 * own, sent or failed as they were written, and never taken as delivered. Resolves with how many it sent (or recorded) once the walk is over and they are settled.
 */
export async function sendOwedCallbacks(owed: OwedCallbacks): Promise<number> {
  const { runtime, ledger, signal, logger } = owed;
  const baseline = await ledger.isNew();
  const sending = new Set<Promise<unknown>>();
  let count = 0;
  let after = '';
  while (!signal.aborted) {
    const page = await runtime.list({ status: REPORTED, after, limit: PAGE });
    for (const summary of page) {
      if (signal.aborted) break;
      if (Date.parse(summary.updatedAt) > owed.until) continue;
      // The id of a rest is `<threadId>:<version>`: a recorded one needs no read of the thread.
      if ((await ledger.get(summary.id)) === `${summary.id}:${summary.version}`) continue;
      const thread = await runtime.get(summary.id);
      const due = thread === undefined ? undefined : await dueCallbackOf(thread, runtime);
      if (thread === undefined || due === undefined || (await ledger.get(thread.id)) === due.payload.id) continue;
      count++;
      if (baseline) {
        await ledger.record(thread.id, due.payload.id);
        continue;
      }
      logger.info({ threadId: thread.id, delivery: due.payload.id, url: due.url }, 'callback owed since the last process: sending it');
      const sent = owed.send(thread, due).catch((error: unknown) => logger.error({ threadId: thread.id, err: messageOf(error) }, 'owed callback failed'));
      sending.add(sent);
      void sent.finally(() => sending.delete(sent));
      if (sending.size >= CONCURRENCY) await Promise.race(sending);
    }
    const last = page.at(-1)?.cursor;
    if (page.length < PAGE || last === undefined) break;
    after = last;
  }
  await Promise.allSettled([...sending]);
  return count;
}
