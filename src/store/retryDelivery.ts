import { sleep, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Standing } from './deliveryBook.js';

/** What one attempt got: the receiver's HTTP status, when it answered, and why it failed (none: delivered). */
export interface AttemptResult {
  readonly status?: number;
  readonly error?: string;
}

/** Attempts and their backoff: retry n waits `min(maxDelayMs, initialDelayMs * factor ** (n - 1))`. */
export interface DeliveryBackoff {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
}

/** How a sender (of webhooks, of callbacks) retries its deliveries: set once, when it is built. */
export interface DeliveryRetries {
  /** Names its deliveries in the log messages: `webhook`, `callback`. */
  readonly what: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly backoff: DeliveryBackoff;
  /** Aborts when the sender stops (closed: SIGTERM, a deploy). */
  readonly stopping: AbortSignal;
  /** A ledger keeps a delivery owed when a stop cuts it short (sent at the next start). */
  readonly owedAtStop: boolean;
  /** How a stop that cuts a delivery short is logged when no ledger keeps it. */
  readonly unowedAtStop: { readonly level: 'warn' | 'error'; readonly msg: string };
  /** The warning an attempt its receiver refused (a status not retried) is logged with; none: not logged. */
  readonly refusal: string | undefined;
}

/** One delivery as {@link retryDelivery} runs it. */
export interface RetriedDelivery {
  /** One attempt (a signed POST), cut short when `signal` aborts; never rejects. */
  attempt(signal: AbortSignal): Promise<AttemptResult>;
  /** The fields of every line logged about it (each sender's own, in its order: its thread's id, agent and `state`…). */
  readonly log: Readonly<Record<string, unknown>>;
  /** From `DeliveryBook.deliver`: its thread deleted, whether it still stands, a later rest delivered. */
  readonly dropped: AbortSignal;
  readonly check: (() => Promise<Standing>) | undefined;
  readonly superseded: AbortSignal;
}

/** What a delivery's attempts came to, as a sender tells it (`WebhookDelivery`, `CallbackDelivery`). */
export interface DeliveryAttempts {
  readonly ok: boolean;
  readonly attempts: number;
  /** The last HTTP status, when there was a response. */
  readonly status?: number;
  /** Why the last attempt failed, or why none was made (`not sent`: stopped before the first). */
  readonly error?: string;
}

/**
 * How a delivery ended: at most one of the flags is set, none when it was delivered or given up.
 * `status` and `error` are there only when they have a value (a report spreads them as they are).
 */
export interface RetriedOutcome extends DeliveryAttempts {
  /** Its receiver answered with a status that is not retried (a 4xx other than 408 and 429, a 3xx). */
  readonly refused: boolean;
  /** Its thread was deleted (`dropped` aborted, or `check` found it gone). */
  readonly deleted: boolean;
  /** Its thread rested again since (`superseded` aborted, or `check` found its request answered). */
  readonly superseded: boolean;
  /** Cut short by the sender's stop. */
  readonly stopped: boolean;
}

/**
 * Runs `delivery`'s attempts, as its sender's `retries` say, with bounded exponential backoff (a network error, a timeout, 408, 429
 * or 5xx is tried again) until one is delivered or refused, its attempts are spent, or it is
 * stopped: its sender stops, its thread is deleted, or it rests again (`superseded` aborts, or
 * `check`, asked before each retry, finds it moved on); an attempt under way is cut only by the
 * stop or the delete. Logs each failed attempt as a warning and how it ended (see
 * {@link logEnding}); recording it is left to the sender.
 */
export async function retryDelivery(retries: DeliveryRetries, delivery: RetriedDelivery): Promise<RetriedOutcome> {
  const { backoff } = retries;
  const { check } = delivery;
  let last: AttemptResult = { error: 'not sent' };
  let tries = 0;
  let refused = false;
  let standing: Standing = 'there';
  const signal = AbortSignal.any([retries.stopping, delivery.dropped]);
  // What stops the retries; an attempt under way is cut only by `signal`.
  const retrying = AbortSignal.any([signal, delivery.superseded]);
  while (tries < backoff.attempts && !retrying.aborted) {
    if (tries > 0) {
      await sleep(retries.clock, Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.factor ** (tries - 1)), retrying).catch(() => undefined);
      // Deleted or moved on meanwhile, though no notice of it came here (another process wrote it).
      if (!retrying.aborted && check !== undefined) standing = await check();
    }
    if (retrying.aborted || standing !== 'there') break;
    tries++;
    last = await delivery.attempt(signal);
    if (last.error === undefined) break;
    refused = !isRetried(last.status);
    const message = refused ? retries.refusal : `${retries.what} attempt failed`;
    if (message !== undefined) retries.logger.warn({ ...delivery.log, attempt: tries, ...logged(last) }, message);
    if (refused) break;
  }
  const outcome = outcomeOf(retries.stopping, delivery, { ok: last.error === undefined, attempts: tries, ...last }, refused, standing);
  if (!outcome.ok) logEnding(retries, outcome, { ...delivery.log, attempts: tries, ...logged(last) });
  return outcome;
}

/** An attempt's result as a log line's fields: its error named `err`, as every line names one. */
function logged({ status, error }: AttemptResult): Record<string, unknown> {
  return { ...(status === undefined ? {} : { status }), ...(error === undefined ? {} : { err: error }) };
}

/** Whether an attempt that failed with `status` (none: no answer) is tried again. */
function isRetried(status: number | undefined): boolean {
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

/** Which way `delivery` ended, its last attempt `sent`: the first of refused, deleted, superseded, stopped that holds. */
function outcomeOf(stopping: AbortSignal, delivery: RetriedDelivery, sent: Pick<RetriedOutcome, 'ok' | 'attempts' | 'status' | 'error'>, refused: boolean, standing: Standing): RetriedOutcome {
  const open = !sent.ok && !refused;
  const deleted = open && (delivery.dropped.aborted || standing === 'gone');
  const superseded = open && !deleted && (delivery.superseded.aborted || standing === 'superseded');
  const stopped = open && !deleted && !superseded && stopping.aborted;
  return { ...sent, refused, deleted, superseded, stopped };
}

/**
 * Logs, with `fields`, how a delivery that was not delivered ended: dropped or superseded (info:
 * nothing is owed), cut short by a stop (a warning when a ledger keeps it owed, else the sender's
 * own line), or given up (an error, refused by its receiver too).
 */
function logEnding(retries: DeliveryRetries, outcome: RetriedOutcome, fields: Record<string, unknown>): void {
  const { logger, what } = retries;
  if (outcome.deleted) logger.info(fields, `${what} dropped: its thread was deleted`);
  else if (outcome.superseded) logger.info(fields, `${what} superseded: its thread rested again since (not sent after its later rest)`);
  // Cut short by a stop (SIGTERM, a deploy): a ledger keeps it owed, and the next start sends it.
  else if (outcome.stopped && retries.owedAtStop) logger.warn(fields, `${what} not sent before the stop: kept as owed, sent at the next start`);
  else if (outcome.stopped) logger[retries.unowedAtStop.level](fields, retries.unowedAtStop.msg);
  else logger.error(fields, `${what} given up`);
}
