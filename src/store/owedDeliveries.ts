import { messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Thread } from '../thread/events.js';
import { deliveryAfter, deliveryIdAt, isDelivered } from '../thread/incarnation.js';
import { RESTING_STATUSES, type ThreadStatus } from '../thread/state.js';
import type { DeliveryLedger, OwedRecord } from './deliveryLedger.js';
import type { ListOptions, ThreadSummary } from './threadStore.js';

/** Statuses at which a thread's rest is reported (callbacks, webhooks): it waits for a human, or has ended. */
const REPORTED_STATUSES: readonly ThreadStatus[] = RESTING_STATUSES.filter((status) => status !== 'paused');
/** Threads listed per page of the walk. */
const PAGE = 200;
/** Owed deliveries in flight at once. */
const CONCURRENCY = 16;
/**
 * How long before the oldest mark a walk on a shared ledger starts reading rests: 5 minutes. A
 * rest's time is its writer's clock, the mark a walking process's, and on NATS a rest shows in a
 * listing only once its summary and index entry, written in the background, are in (tens of
 * milliseconds; seconds across a reconnect); hosts kept in time by NTP differ by milliseconds. A
 * rest that a complete walk missed by less than this is read by the next; it costs reading again
 * only the threads that rested in the 5 minutes before the last start.
 */
const SHARED_LEDGER_MARGIN_MS = 5 * 60_000;

/** One delivery a thread's rest calls for: its scope, the ledger key it is recorded under, its id, and what to send. */
export interface OwedDelivery<TDue> {
  /** One of {@link OwedDeliveries.scopes}. */
  readonly scope: string;
  readonly key: string;
  readonly id: string;
  readonly due: TDue;
}

/** What {@link sendOwedDeliveries} needs. */
export interface OwedDeliveries<TDue> {
  /** The threads (a runtime, or a store). */
  readonly threads: { list(options: ListOptions): Promise<ThreadSummary[]>; get(id: string): Promise<Thread | undefined> };
  readonly ledger: DeliveryLedger;
  /**
   * Epoch ms when the sender started: the walk covers the rests stored until then (later ones are
   * this process's own, sent as they are written).
   */
  readonly until: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** What is delivered, for the logs: `callback`, `webhook`. */
  readonly what: string;
  /**
   * The scopes of the deliveries (`callback`; `webhook <url>`, one per receiver). The first walk
   * of a scope (the ledger has no mark of one) records the rests it finds as delivered instead of
   * sending them (the processes before it, that kept no ledger, may have; a receiver added to the
   * configuration is not sent the whole past), and marks the scope once it is over.
   */
  readonly scopes: readonly string[];
  /**
   * The ledger keys a thread's deliveries are recorded under: when each holds
   * `<threadId>@<incarnation>:<version>` (the id of a rest that is the last event; see
   * {@link isDelivered}), the thread is not read. The deliveries owed under other keys are other
   * senders'.
   */
  keysOf(threadId: string): readonly string[];
  /**
   * The receiver a ledger key of this sender's kind names when this sender no longer sends to it
   * (a webhook URL removed from the configuration); undefined for a key of its receivers, or of
   * another sender. On a ledger one process writes ({@link DeliveryLedger.exclusive}) what is
   * owed to such a receiver is cleared, logged once per receiver; on a shared one it is left to
   * the processes that may still send to it.
   */
  unconfigured?(key: string): string | undefined;
  /** The deliveries the thread's current rest calls for. */
  dueOf(thread: Thread): Promise<readonly OwedDelivery<TDue>[]>;
  /** Sends one (and records it when delivered, as owed when given up). */
  send(thread: Thread, due: TDue): Promise<unknown>;
}

/**
 * Sends the deliveries the threads owe: those recorded as owed in the ledger (given up by any
 * process, whenever their thread rested), and those a thread's current rest (stored before `until`,
 * after the scopes' marks) calls for and that have no delivery recorded under their key; in a scope
 * walked for the first time, records the latter instead (see {@link OwedDeliveries.scopes}). The
 * rests written since `until` are this process's own, sent or failed as they were written, and
 * never taken as delivered. What it sends and does not deliver is recorded as owed. Resolves with
 * how many it sent (or recorded) once the walk is over and they are settled.
 */
export async function sendOwedDeliveries<TDue>(owed: OwedDeliveries<TDue>): Promise<number> {
  const { threads, ledger, signal, logger, what } = owed;
  const { baseline, since } = await marksOf(ledger, owed.scopes);
  const sending = new Set<Promise<unknown>>();
  let count = 0;
  let failed = false;

  /**
   * Sends one in the background (at most {@link CONCURRENCY} at once), then runs `delivered` once
   * it is, or records it as owed (its sender did when it gave up: this write is the walk's proof).
   * One neither delivered nor recorded as owed keeps the marks as they are.
   */
  async function send(thread: Thread, delivery: OwedDelivery<TDue>, delivered?: () => Promise<void>): Promise<void> {
    count++;
    logger.info({ threadId: thread.id, agent: thread.agent, delivery: delivery.id }, `${what} owed since the last process: sending it`);
    const sent = owed
      .send(thread, delivery.due)
      .catch((error: unknown) => logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, `owed ${what} failed`))
      .then(async () => {
        const recorded = await ledger.get(delivery.key);
        // Delivered, or a later rest of its thread was (it superseded this one).
        if (isDelivered(recorded, delivery.id) || (recorded !== undefined && deliveryAfter(recorded, delivery.id))) await delivered?.();
        else await ledger.owe({ key: delivery.key, id: delivery.id, threadId: thread.id });
      })
      .catch((error: unknown) => {
        failed = true;
        logger.error({ threadId: thread.id, agent: thread.agent, delivery: delivery.id, err: messageOf(error) }, `owed ${what} neither delivered nor recorded as owed`);
      });
    sending.add(sent);
    void sent.finally(() => sending.delete(sent));
    if (sending.size >= CONCURRENCY) await Promise.race(sending);
  }

  /** Clears an owed record once its key's delivery is settled; one left is cleared by a later walk. */
  const clear = (record: OwedRecord): Promise<void> =>
    ledger.clearOwed(record.key, record.id).catch((error: unknown) => {
      logger.warn({ threadId: record.threadId, delivery: record.id, err: messageOf(error) }, `owed ${what} settled but not cleared (a later start clears it)`);
    });

  // What was given up: what its thread's current rest calls for under its key, sent unless delivered.
  const given = await ledger.owed().catch((error: unknown) => {
    logger.error({ err: messageOf(error) }, `${what}s given up before could not be listed (they stay owed, for the next start)`);
    return [];
  });
  const owedKeys = new Set<string>();
  /** Owed to receivers no longer configured, cleared: how many, by receiver. */
  const dropped = new Map<string, number>();
  for (const record of given) {
    if (signal.aborted) break;
    if (!owed.keysOf(record.threadId).includes(record.key)) {
      // A receiver nobody sends to any more: its operator removed it. Else another sender's
      // (callbacks', or a receiver of another process sharing the ledger): left to it.
      const receiver = ledger.exclusive === true ? owed.unconfigured?.(record.key) : undefined;
      if (receiver !== undefined) {
        dropped.set(receiver, (dropped.get(receiver) ?? 0) + 1);
        await clear(record);
      }
      continue;
    }
    owedKeys.add(record.key);
    const thread = await threads.get(record.threadId);
    const delivery = thread === undefined ? undefined : (await owed.dueOf(thread)).find((due) => due.key === record.key);
    // Gone, or moved on from that rest without one due now (its next rest is sent as it is written).
    if (delivery === undefined || isDelivered(await ledger.get(delivery.key), delivery.id)) await clear(record);
    else await send(thread!, delivery, () => clear(record));
  }

  for (const [receiver, count] of dropped) logger.warn({ receiver, count }, `${what}s owed to a receiver no longer configured: cleared, not sent`);

  // The rests since the marks.
  let after = '';
  while (!signal.aborted) {
    const page = await threads.list({ status: REPORTED_STATUSES, after, limit: PAGE });
    for (const summary of page) {
      if (signal.aborted) break;
      const updated = Date.parse(summary.updatedAt);
      if (updated > owed.until || updated <= since || (await recordedAt(ledger, owed.keysOf(summary.id), deliveryIdAt(summary, summary.version)))) continue;
      const thread = await threads.get(summary.id);
      for (const delivery of thread === undefined ? [] : await owed.dueOf(thread)) {
        if (owedKeys.has(delivery.key) || isDelivered(await ledger.get(delivery.key), delivery.id)) continue;
        if (baseline.has(delivery.scope)) {
          count++;
          await ledger.record(delivery.key, delivery.id);
        } else await send(thread!, delivery);
      }
    }
    const last = page.at(-1)?.cursor;
    if (page.length < PAGE || last === undefined) break;
    after = last;
  }
  await Promise.allSettled([...sending]);
  // A complete walk marks its scopes; one that left a delivery neither delivered nor owed keeps
  // the marks it found (the next walk looks from there again), except a first walk's.
  if (!signal.aborted) for (const scope of owed.scopes) if (baseline.has(scope) || !failed) await ledger.record(markOf(scope), new Date(owed.until).toISOString());
  return count;
}

/**
 * {@link sendOwedDeliveries} as a sender runs it in the background: logs how many it settled, or
 * that the walk failed (what it did not send is owed again at the next start); never rejects.
 */
export async function settleOwedDeliveries<TDue>(owed: OwedDeliveries<TDue>): Promise<void> {
  const { logger, what } = owed;
  try {
    const count = await sendOwedDeliveries(owed);
    if (count > 0) logger.info({ count }, `${what}s owed since the last process settled`);
  } catch (error) {
    logger.error({ err: messageOf(error) }, `${what}s owed since the last process: the walk failed (sent at the next start)`);
  }
}

/** The ledger key that marks a scope as walked: the time up to which its walk covered the rests. */
const markOf = (scope: string): string => `walked ${scope}`;

/**
 * The scopes never walked, and the time before which no rest needs reading: the oldest mark of the
 * scopes (every rest before it was sent or recorded by a complete walk, later ones by the process
 * that wrote them or the next walk), on a ledger processes share {@link SHARED_LEDGER_MARGIN_MS}
 * before it (a rest written late, or by a clock behind, may have been missed by that walk); none
 * while a scope was never walked.
 */
async function marksOf(ledger: DeliveryLedger, scopes: readonly string[]): Promise<{ baseline: Set<string>; since: number }> {
  const baseline = new Set<string>();
  let since = Number.POSITIVE_INFINITY;
  for (const scope of scopes) {
    const mark = await ledger.get(markOf(scope));
    if (mark === undefined) baseline.add(scope);
    else since = Math.min(since, Date.parse(mark));
  }
  if (baseline.size > 0 || !Number.isFinite(since)) return { baseline, since: Number.NEGATIVE_INFINITY };
  return { baseline, since: ledger.exclusive === true ? since : since - SHARED_LEDGER_MARGIN_MS };
}

/** Whether every key holds `id` (see {@link isDelivered}). */
async function recordedAt(ledger: DeliveryLedger, keys: readonly string[], id: string): Promise<boolean> {
  for (const key of keys) if (!isDelivered(await ledger.get(key), id)) return false;
  return keys.length > 0;
}
