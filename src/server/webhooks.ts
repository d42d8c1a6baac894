import { timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';
import { createDeliveryBook, type Standing } from '../store/deliveryBook.js';
import { signWebhook } from '../store/deliverySignature.js';
import { retryDelivery, type DeliveryAttempts, type DeliveryRetries } from '../store/retryDelivery.js';
import { DELIVERY_HEADERS, postSigned } from '../store/signedPost.js';
import { deliveryTargetOf, receiverOf, type DeliveryTarget } from '../store/deliveryTarget.js';
import { settleOwedDeliveries, type OwedDelivery } from '../store/owedDeliveries.js';
import type { HumanRequest, Json, Thread } from '../thread/events.js';
import { cancelOf, deriveState, pendingRequestEvent, settlesEnd, statusOf, unrecordedCall, type ThreadStatus } from '../thread/state.js';
import { deliveryIdOf } from '../thread/incarnation.js';

/** What a webhook can be told about. */
export type WebhookEvent = 'human_request' | 'finished';

/** One receiver of webhooks. */
export interface WebhookTarget {
  /**
   * An http or https URL the notifications are POSTed to. Userinfo in it (`https://user:pass@host/...`)
   * is sent as `Authorization: Basic` (percent-decoded), to the URL without it; logs name the
   * receiver by origin and path (no userinfo, no query).
   */
  url: string;
  /** The shared secret the HMAC signature is made with. */
  secret: string;
  /** @default ['human_request', 'finished'] */
  events?: readonly WebhookEvent[] | undefined;
}

/** The JSON body of a webhook. */
export interface WebhookPayload {
  /**
   * The delivery id, `<threadId>@<incarnation>:<seq>` of the event that caused it: the same on
   * every retry and from whichever process sends it, so a receiver can drop duplicates. Also in
   * `X-Switchyard-Delivery`. A thread's webhooks to one receiver go out in the order of their seqs
   * (a retry of an earlier rest is superseded by a later one); a receiver that must never go back
   * (across processes, or a repeat) ignores one whose seq is not above the last it took. The incarnation is the thread's creation instant in short form (its
   * epoch ms in base 36): a thread deleted and launched again under its id gets other ids.
   */
  readonly id: string;
  readonly type: 'thread.human_request' | 'thread.finished';
  readonly threadId: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** `thread.human_request`: the request; answer it with its `requestId`. */
  readonly request?: HumanRequest;
  /** `thread.finished` when done: the final output. */
  readonly output?: Json;
  /** `thread.finished` when failed: why. */
  readonly failure?: string;
  /** `thread.finished` when cancelled: why, as the cancel said (when it said). */
  readonly reason?: string;
  /** `thread.finished` when cancelled: who cancelled it, as the cancel said (when it said). */
  readonly by?: string;
  /**
   * `thread.finished` of a thread cancelled while a tool call of it ran in another process, whose
   * outcome is not recorded yet: that call (it may have taken effect). Once that process records
   * the outcome, after the cancel, another `thread.finished` follows (caused by that event, so
   * another id), without this field: the thread's final view.
   */
  readonly unrecordedCall?: { readonly callId: string; readonly tool: string };
  /** ISO time of the event that caused the notification. */
  readonly at: string;
}

/** How a delivery ended. */
export interface WebhookDelivery extends DeliveryAttempts {
  readonly id: string;
  /** The receiver it was sent to, by origin and path: without the URL's userinfo and query (either may hold a credential). */
  readonly url: string;
  readonly type: WebhookPayload['type'];
  readonly threadId: string;
  /**
   * The thread was deleted before the webhook was delivered (told by the runtime the notifier is
   * attached to, for a deletion of its own or one another process made; or found gone from the
   * store, or there as another incarnation, before a retry): it is not attempted again, nor
   * recorded in the ledger.
   */
  readonly deleted?: boolean;
  /**
   * The thread rested again before the webhook was delivered: a later webhook of it went to this
   * receiver, or (a `thread.human_request`) the request was answered, found before a retry. It is
   * not attempted again, nor recorded: the receiver is never sent a rest after a later one.
   */
  readonly superseded?: boolean;
}

/** Retries of a failed delivery (network error, timeout, 408, 429 or 5xx). */
export interface WebhookRetryOptions {
  /** Attempts in all, the first included. @default 3 */
  attempts?: number | undefined;
  /** Delay before the first retry. @default 1000 */
  initialDelayMs?: number | undefined;
  /** @default 2 */
  factor?: number | undefined;
  /** @default 30000 */
  maxDelayMs?: number | undefined;
}

/** Options of {@link createWebhookNotifier}. */
export interface WebhookNotifierOptions {
  webhooks: readonly WebhookTarget[];
  /** @default globalThis.fetch */
  fetch?: typeof fetch | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  retries?: WebhookRetryOptions | undefined;
  /** Time allowed for one attempt. @default 10000 */
  timeoutMs?: number | undefined;
  /** Timestamps and backoff. @default the system clock */
  clock?: Clock | undefined;
  /** Told how every delivery ended (delivered or given up). */
  onDelivery?: ((delivery: WebhookDelivery) => void) | undefined;
  /**
   * Where deliveries are recorded beside the store (`fileDeliveryLedger` beside a file store), for
   * a process whose own runtime is the source: a webhook delivered, or refused by its receiver, is
   * recorded under its receiver and thread, one given up (or unsent at close) as owed, and
   * {@link WebhookNotifier.attach} first sends, to each receiver, what is recorded as owed and the
   * webhook of every thread's current rest (a pending human request, or its end) stored since the
   * last walk (before then, by {@link clock}: give the notifier the runtime's) with none recorded
   * (the last process stopped or died before it was delivered; on NATS, also one published while
   * no process was listening): at least once across restarts. The first walk for a receiver takes
   * the rests it finds as sent. Needs {@link threads}. The notifier closes it.
   * @default none: a webhook is retried only in memory
   */
  ledger?: DeliveryLedger | undefined;
  /**
   * Where the webhooks owed are looked for (the runtime): required with {@link ledger}. Given, a
   * webhook's thread is read again before each retry: one gone from the store, or there as another
   * incarnation (deleted by another process, its id launched again), is not sent (`deleted`).
   */
  threads?: Pick<Runtime, 'list' | 'get'> | undefined;
}

/** Sends signed webhooks for the changes of a runtime. */
export interface WebhookNotifier {
  /**
   * Subscribes to the runtime's changes, and with a {@link WebhookNotifierOptions.ledger} sends the
   * webhooks owed from before. A thread the runtime deletes (when it has `onDelete`): its webhooks
   * under way or waiting to retry are dropped (no attempt more, nothing recorded), then the ledger
   * forgets its records. Returns the unsubscribe function.
   */
  attach(runtime: Pick<Runtime, 'subscribe'> & Partial<Pick<Runtime, 'onDelete'>>): () => void;
  /** The runtime listener: queues the notifications a change calls for. Never throws, never waits. */
  notify(change: ThreadChange): void;
  /** Resolves when no delivery is in flight (each was delivered or given up), nor owed ones being looked for. */
  idle(): Promise<void>;
  /** Stops retrying, waits for deliveries in flight, and sends nothing more. */
  close(): Promise<void>;
}

/** The headers a webhook carries. */
export const WEBHOOK_HEADERS = DELIVERY_HEADERS;

export { signWebhook };

/**
 * Checks a webhook's signature, for receivers: the HMAC of `<timestamp>.<rawBody>` must match
 * (compared in constant time) and the timestamp must be within `toleranceSeconds` of `now`
 * (epoch ms), so a captured delivery cannot be replayed later. Verify the raw body as received
 * (its bytes, or the text they decode to when that is plain UTF-8), before parsing it. `secret` may be a list: a signature made with any of them is taken (while the
 * sender's secret is rotated: the new one and the one it replaces); empty secrets verify nothing.
 *
 * @example
 * ```ts
 * // An empty secret verifies nothing (false).
 * const ok = verifyWebhookSignature(body, {
 *   timestamp: req.headers['x-switchyard-timestamp'],
 *   signature: req.headers['x-switchyard-signature'],
 * }, [process.env.WEBHOOK_SECRET ?? '', process.env.WEBHOOK_SECRET_OLD ?? '']);
 * ```
 */
export function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  headers: { timestamp?: string | string[] | null | undefined; signature?: string | string[] | null | undefined },
  secret: string | readonly string[],
  toleranceSeconds = 300,
  now: number = Date.now(),
): boolean {
  const { timestamp, signature } = headers;
  const secrets = (typeof secret === 'string' ? [secret] : secret).filter((each) => typeof each === 'string' && each !== '');
  if (typeof timestamp !== 'string' || typeof signature !== 'string' || secrets.length === 0) return false;
  // Written as "not within" so that a NaN tolerance or clock refuses instead of accepting any age.
  if (!/^\d{1,15}$/.test(timestamp) || !(Math.abs(now / 1000 - Number(timestamp)) <= toleranceSeconds)) return false;
  const match = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
  if (match === null) return false;
  const given = Buffer.from(match[1]!, 'hex');
  // Every secret is checked (no early return): the time taken does not tell which one matched.
  let matched = false;
  for (const each of secrets) matched = timingSafeEqual(Buffer.from(signWebhook(rawBody, each, timestamp).slice('sha256='.length), 'hex'), given) || matched;
  return matched;
}

const ALL_EVENTS: readonly WebhookEvent[] = ['human_request', 'finished'];

/**
 * Sends a signed POST to each configured webhook when a thread needs a human (a `human_request`
 * event was appended) or finishes (done, failed, cancelled). Deliveries run in the background with
 * bounded exponential backoff; a slow or failing receiver never blocks or breaks the runtime.
 *
 * @example
 * ```ts
 * const notifier = createWebhookNotifier({ webhooks: [{ url: 'https://example.com/hook', secret }] });
 * const detach = notifier.attach(runtime);
 * ```
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const {
    webhooks,
    fetch: send = globalThis.fetch,
    logger = silentLogger(),
    retries = {},
    timeoutMs = 10_000,
    clock = systemClock,
    onDelivery,
    ledger,
    threads,
  } = options;
  if (ledger !== undefined && threads === undefined) throw new ConfigError('webhooks with a ledger need the threads to look for the webhooks owed (threads: the runtime)');
  const { attempts = 3, initialDelayMs = 1000, factor = 2, maxDelayMs = 30_000 } = retries;
  if (!Number.isInteger(attempts) || attempts < 1) throw new ConfigError('webhook retries.attempts must be a positive integer');
  const targets = webhooks.map((target) => {
    const parsed = deliveryTargetOf(target.url);
    if (!parsed.success) throw new ConfigError(['webhook url', parsed.receiver, parsed.error].filter(Boolean).join(' '));
    if (typeof target.secret !== 'string' || target.secret === '') throw new ConfigError(`webhook ${parsed.data.receiver} needs a secret`);
    return { ...parsed.data, secret: target.secret, events: target.events ?? ALL_EVENTS };
  });
  const book = createDeliveryBook({ ledger, logger, what: 'webhook' });
  const stopping = new AbortController();
  const keyOf = (target: DeliveryTarget, threadId: string): string => `webhook ${target.key} ${threadId}`;
  const retryPolicy: DeliveryRetries = {
    what: 'webhook',
    logger,
    clock,
    backoff: { attempts, initialDelayMs, factor, maxDelayMs },
    stopping: stopping.signal,
    owedAtStop: ledger !== undefined,
    unowedAtStop: { level: 'error', msg: 'webhook given up at the stop (no ledger keeps it: not sent again)' },
    refusal: undefined, // logged as given up only
  };

  /**
   * Delivers `payload` to `target`, retried (see {@link retryDelivery}); its thread deleted
   * (`dropped` aborts, or `check` finds it gone before a retry), or rested again since
   * (`superseded` aborts, or `check` finds its request answered), it stops: no attempt more,
   * nothing recorded. Recorded, then reported.
   */
  const deliver = async (
    target: (typeof targets)[number],
    payload: WebhookPayload,
    dropped: AbortSignal,
    check: (() => Promise<Standing>) | undefined,
    superseded: AbortSignal,
  ): Promise<void> => {
    const body = JSON.stringify(payload);
    const log = { threadId: payload.threadId, agent: payload.agent, state: payload.status, url: target.receiver, delivery: payload.id };
    const attempt = (signal: AbortSignal) => postSigned(target, { body, event: payload.type, id: payload.id }, { fetch: send, clock, timeoutMs, secret: target.secret }, signal);
    const outcome = await retryDelivery(retryPolicy, { attempt, log, dropped, check, superseded });
    const { refused, deleted, superseded: passed, stopped: _stopped, ...sent } = outcome;
    // Recorded under its receiver and thread: not sent again (delivered, or refused), else owed (a record lost costs a repeat).
    if (!deleted && !passed) await book.settle({ key: keyOf(target, payload.threadId), id: payload.id, threadId: payload.threadId }, sent.ok || refused, log, dropped);
    try {
      onDelivery?.({ id: payload.id, url: target.receiver, type: payload.type, threadId: payload.threadId, ...sent, ...(deleted ? { deleted } : {}), ...(passed ? { superseded: true } : {}) });
    } catch (thrown) {
      logger.error({ err: thrown }, 'webhook onDelivery callback failed');
    }
  };

  const dispatch = (target: (typeof targets)[number], payload: WebhookPayload): Promise<void> => {
    return book.deliver(
      { threadId: payload.threadId, key: keyOf(target, payload.threadId), id: payload.id, asks: payload.type === 'thread.human_request' },
      (dropped, check, superseded) =>
        deliver(target, payload, dropped, check, superseded).catch((error: unknown) => {
          logger.error({ err: error, url: target.receiver }, 'webhook delivery crashed');
        }),
      threads === undefined ? undefined : (id) => threads.get(id),
    );
  };

  const enqueue = (thread: Thread, event: WebhookEvent, seq: number, payload: Omit<WebhookPayload, 'id'>): void => {
    for (const target of targets) {
      if (target.events.includes(event)) void dispatch(target, { id: deliveryIdOf(thread, seq), ...payload });
    }
  };

  /** Forgets what the ledger holds of a deleted thread, for every receiver; never rejects (a failure is logged: its records stay, harmless). */
  const forget = async (from: DeliveryLedger, threadId: string): Promise<void> => {
    for (const target of targets) {
      // Under the receiver's key, and the one earlier versions wrote (see withLegacyKeys).
      const keys = [keyOf(target, threadId), ...(target.legacyKey === undefined ? [] : [`webhook ${target.legacyKey} ${threadId}`])];
      for (const key of keys) {
        await from.forget!(key).catch((error: unknown) => logger.warn({ threadId, url: target.receiver, err: messageOf(error) }, 'webhook records of a deleted thread not forgotten'));
      }
    }
  };

  /** Sends the webhooks the threads' current rests owe (see {@link WebhookNotifierOptions.ledger}). */
  const sendOwed = (owedTo: DeliveryLedger, source: Pick<Runtime, 'list' | 'get'>): void => {
    type Due = { target: (typeof targets)[number]; payload: WebhookPayload };
    const walk = settleOwedDeliveries<Due>({
      threads: source,
      ledger: withLegacyKeys(owedTo, targets),
      until: clock.now(),
      signal: stopping.signal,
      logger,
      what: 'webhook',
      scopes: targets.map((target) => `webhook ${target.key}`),
      keysOf: (threadId) => targets.map((target) => keyOf(target, threadId)),
      // `webhook <receiver key> <threadId>`: neither a receiver key (a URL's href) nor a thread id holds a space.
      unconfigured: (key) => {
        const [kind, url] = key.split(' ');
        return kind === 'webhook' && url !== undefined && !targets.some((target) => target.key === url || target.legacyKey === url) ? receiverOf(url) : undefined;
      },
      dueOf: (thread) => {
        const rest = restNotificationOf(thread);
        const due: OwedDelivery<Due>[] = [];
        for (const target of rest === undefined ? [] : targets) {
          if (!target.events.includes(rest!.event)) continue;
          const payload: WebhookPayload = { id: deliveryIdOf(thread, rest!.seq), ...rest!.payload };
          due.push({ scope: `webhook ${target.key}`, key: keyOf(target, thread.id), id: payload.id, due: { target, payload } });
        }
        return Promise.resolve(due);
      },
      send: (_, { target, payload }) => dispatch(target, payload),
    });
    void book.track(walk);
  };

  const notify = (change: ThreadChange): void => {
    if (stopping.signal.aborted || targets.length === 0) return;
    try {
      const { thread, events, status } = change;
      for (const event of events) {
        if (event.type !== 'human_request') continue;
        enqueue(thread, 'human_request', event.seq, { type: 'thread.human_request', threadId: thread.id, agent: thread.agent, status, request: event.data, at: event.at });
      }
      // Terminal is sticky: notify only on the change that ended the thread, and on the one that
      // recorded, after its cancel, the outcome of the call it left running (its final view).
      if (settlesEnd(thread.events, events.length, status)) {
        // The same body a restart sends for it when it is owed (restNotificationOf).
        const rest = restNotificationOf(thread);
        if (rest !== undefined) enqueue(thread, rest.event, rest.seq, rest.payload);
      }
    } catch (error) {
      logger.error({ err: error, threadId: change.thread.id }, 'webhook notification failed');
    }
  };

  const { idle } = book;

  return {
    attach(runtime) {
      const detach = runtime.subscribe(notify);
      if (ledger !== undefined && threads !== undefined && targets.length > 0 && !stopping.signal.aborted) sendOwed(ledger, threads);
      // Its webhooks under way are dropped, then the ledger forgets it, so none of them records it again.
      const forgetting = targets.length === 0 ? undefined : runtime.onDelete?.((threadId) => void book.track(book.drop(threadId).then(() => (ledger?.forget === undefined ? undefined : forget(ledger, threadId)))));
      return () => {
        detach();
        forgetting?.();
      };
    },
    notify,
    idle,
    async close() {
      stopping.abort();
      await idle();
      await ledger?.close();
    },
  };
}

/**
 * The ledger as the walk for owed webhooks reads it: a receiver whose key earlier versions wrote
 * otherwise (the whole URL, with its query or userinfo) is read under that key too, so what they
 * recorded as delivered is not sent again and what they recorded as owed is sent (and cleared
 * there). Writes go under the new keys only.
 */
function withLegacyKeys(ledger: DeliveryLedger, targets: readonly DeliveryTarget[]): DeliveryLedger {
  const renamed = targets.flatMap((target) => (target.legacyKey === undefined ? [] : [{ scope: `webhook ${target.key}`, legacy: `webhook ${target.legacyKey}` }]));
  if (renamed.length === 0) return ledger;
  /** `key` under the earlier name of its receiver (a walk's mark, or a delivery's key), if it has one. */
  const legacyOf = (key: string): string | undefined => {
    for (const { scope, legacy } of renamed) {
      if (key === `walked ${scope}`) return `walked ${legacy}`;
      if (key.startsWith(`${scope} `)) return legacy + key.slice(scope.length);
    }
    return undefined;
  };
  const renewed = (key: string): string => {
    const found = renamed.find(({ legacy }) => key.startsWith(`${legacy} `));
    return found === undefined ? key : found.scope + key.slice(found.legacy.length);
  };
  return {
    ...ledger,
    async get(key) {
      const value = await ledger.get(key);
      const legacy = value === undefined ? legacyOf(key) : undefined;
      return legacy === undefined ? value : ledger.get(legacy);
    },
    record: (key, id) => ledger.record(key, id),
    owe: (owed) => ledger.owe(owed),
    async owed() {
      const records = await ledger.owed();
      // One owed under both names: the one under the new key is the newer write.
      const current = new Set(records.map((record) => record.key));
      return records.flatMap((record) => {
        const key = renewed(record.key);
        return key === record.key ? [record] : current.has(key) ? [] : [{ ...record, key }];
      });
    },
    async clearOwed(key, id) {
      await ledger.clearOwed(key, id);
      const legacy = legacyOf(key);
      if (legacy !== undefined) await ledger.clearOwed(legacy, id);
    },
    close: () => ledger.close(),
  };
}

/**
 * The notification a thread's current rest calls for: its end (caused by its last event), or its
 * pending human request (caused by that request's event); undefined while it moves, or paused.
 */
function restNotificationOf(thread: Thread): { event: WebhookEvent; seq: number; payload: Omit<WebhookPayload, 'id'> } | undefined {
  const state = deriveState(thread.events);
  const status = statusOf(state);
  const last = thread.events.at(-1);
  const base = { threadId: thread.id, agent: thread.agent, status };
  if (state.terminal !== null && last !== undefined) {
    const call = unrecordedCall(thread.events);
    const payload = {
      type: 'thread.finished' as const,
      ...base,
      ...(state.output === undefined ? {} : { output: state.output }),
      ...(state.failure === undefined ? {} : { failure: state.failure }),
      ...(state.terminal === 'cancelled' ? cancelOf(thread.events) : {}),
      ...(call === undefined ? {} : { unrecordedCall: { callId: call.callId, tool: call.tool } }),
      at: last.at,
    };
    return { event: 'finished', seq: last.seq, payload };
  }
  const pending = state.pendingRequest;
  if (pending === null || status === 'paused') return undefined;
  const asked = pendingRequestEvent(thread.events, state);
  if (asked === undefined) return undefined;
  return { event: 'human_request', seq: asked.seq, payload: { type: 'thread.human_request', ...base, request: pending, at: asked.at } };
}
