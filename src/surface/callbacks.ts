import { systemClock, type Clock } from '../clock.js';
import { openUrl } from '../context/sealedUrl.js';
import { secretsListedIn } from '../context/secretList.js';
import { ConfigError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import { callbackUrlOf } from '../runtime/threadView.js';
import type { Thread } from '../thread/events.js';
import { settlesEnd } from '../thread/state.js';
import { callbackPayloadOf, dueCallbackOf, ownCallbackOf, pipelineCallbackOf, type CallbackPayload, type DueCallback } from './callbackPayload.js';
import type { PipelineThreads } from './childRequests.js';
import type { DeliveryLedger } from '../store/deliveryLedger.js';
import { createDeliveryBook, type Standing } from '../store/deliveryBook.js';
import { retryDelivery, type DeliveryAttempts, type DeliveryRetries } from '../store/retryDelivery.js';
import { DELIVERY_HEADERS, postSigned } from '../store/signedPost.js';
import { settleOwedDeliveries } from '../store/owedDeliveries.js';
import { deliveryTargetOf, receiverOf } from '../store/deliveryTarget.js';

/**
 * The headers of a callback: those of switchyard's webhooks (`WEBHOOK_HEADERS` of
 * `switchyard/server`), so `verifyWebhookSignature` checks a callback as it checks a webhook.
 */
export const CALLBACK_HEADERS = DELIVERY_HEADERS;

/** How a callback ended. */
export interface CallbackDelivery extends DeliveryAttempts {
  readonly id: string;
  /**
   * The receiver it was sent to, by origin and path: without the URL's userinfo and query (either
   * may hold a credential); empty when the URL does not parse.
   */
  readonly url: string;
  readonly threadId: string;
  /**
   * The receiver answered with a status that is not retried (a 4xx other than 408 and 429): the
   * callback is not sent again. A callback that failed otherwise (network error, timeout, 408, 429,
   * 5xx) is sent again when its job comes back.
   */
  readonly refused?: boolean;
  /** The sender was closed before the callback was delivered (a worker hands its job back). */
  readonly stopped?: boolean;
  /**
   * The thread was deleted before the callback was delivered (by the runtime the sender is attached
   * to, or told by {@link CallbackSender.dropThread}; or found gone from the store, or there as
   * another incarnation, before a retry): it is not attempted again, nor recorded in the ledger.
   */
  readonly deleted?: boolean;
  /**
   * The thread rested again before the callback was delivered: a later callback of it went to the
   * receiver, or (a `thread.human_request`) the request was answered, found before a retry. It is
   * not attempted again, nor recorded: the receiver is never sent a rest after a later one.
   */
  readonly superseded?: boolean;
}

/** Options of {@link createCallbackSender}. */
export interface CallbackOptions {
  /**
   * The HMAC secret callbacks are signed with: `X-Switchyard-Signature: sha256=HMAC(secret,
   * "<X-Switchyard-Timestamp>.<body>")`, as switchyard's webhooks. Callbacks are always signed: a
   * process without a secret sends none (and logs why, once per thread). It also opens the
   * credentials an HTTP launch sealed in its callbackUrl (`HttpOptions.callbackSecret`, the same secret).
   * @default process.env.SWITCHYARD_WEBHOOK_SECRET
   */
  secret?: string | undefined;
  /**
   * The webhook secrets {@link secret} replaced (a rotation): credentials a launch sealed under one
   * of them still open (tried after {@link secret}, in order), so threads launched before the
   * rotation are still called back. Callbacks are signed with {@link secret} only.
   * @default the comma-separated process.env.SWITCHYARD_WEBHOOK_SECRET_PREVIOUS when {@link secret}
   * is read from the environment too; none when it is given
   */
  previousSecrets?: readonly string[] | undefined;
  /** @default globalThis.fetch */
  fetch?: typeof fetch | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** Attempts per callback, the first included; retried on a network error, a timeout, 408, 429 or 5xx. @default 4 */
  attempts?: number | undefined;
  /** Delay before the first retry; it doubles each time. @default 500 */
  initialDelayMs?: number | undefined;
  /** Longest delay between attempts. @default 8000 */
  maxDelayMs?: number | undefined;
  /** Time allowed for one attempt. @default 5000 */
  timeoutMs?: number | undefined;
  /** Timestamps and backoff. @default the system clock */
  clock?: Clock | undefined;
  /** Told how every callback ended (delivered or given up). */
  onDelivery?: ((delivery: CallbackDelivery) => void) | undefined;
  /**
   * Where deliveries are recorded beside the store (`fileDeliveryLedger` beside a file store), for
   * a process that runs threads without jobs: a callback delivered, or refused by its receiver, is
   * recorded under the thread whose rest it reports, one given up (or unsent at close) as owed, and
   * {@link CallbackSender.attach} first sends what the runtime's threads owe: what is recorded as
   * owed, and each rest stored since the last walk (before then, by {@link clock}: give the sender
   * the runtime's) with no delivery recorded (the last process stopped or died before it was
   * delivered), so a callback arrives at least once across restarts. The first walk with a ledger
   * takes the rests it finds as sent. The sender closes it.
   * @default none: a callback is retried only in memory
   */
  ledger?: DeliveryLedger | undefined;
}

/** Why a process without a webhook secret sends no callback (they are always signed). */
const NO_SECRET = 'this process has no webhook secret (SWITCHYARD_WEBHOOK_SECRET): callbacks are always signed';

/**
 * Retries for a process that runs threads without jobs (the embedded server), where nothing sends
 * a callback again once the sender gives up: 12 attempts, the delay doubling from 0.5 s up to 5
 * minutes, so a receiver may be away for about 13 minutes. A worker keeps the defaults (4 attempts):
 * its job comes back and calls again.
 */
export const PATIENT_CALLBACK_RETRIES = { attempts: 12, initialDelayMs: 500, maxDelayMs: 300_000 } as const;

/**
 * Calls a thread's callback URL (the `callbackUrl` of an HTTP launch, recorded as the `replyTo`
 * of its input's source) when it needs a human and when it ends: a signed POST, retried with
 * backoff, bounded. The reply goes back to the origin as a NATS trigger's `replyTo` does.
 */
export interface CallbackSender {
  /**
   * Sends the callback a thread at rest calls for, if any: its launch named a callback URL and it
   * waits for a human or has ended; or it is a pipeline's child (at any depth) that waits for a
   * human, and the pipeline's launch named one (read through `threads`). Resolves once delivered
   * or given up, with how it ended (undelivered at once when this process has no secret to sign
   * it, or could not read the pipelines; undefined when no callback was due); never rejects. A
   * worker calls it at each rest of a job, before the ack, and fails the job when the callback was
   * not delivered nor refused: the job comes back and sends it again. Before each retry the thread
   * is read again (through `threads`, else the attached runtime): one gone from the store, or there
   * as another incarnation (deleted, and its id launched again), is not called back (`deleted`).
   */
  send(thread: Thread, threads?: PipelineThreads): Promise<CallbackDelivery | undefined>;
  /**
   * For a process that runs threads without jobs (the embedded server): sends on this runtime's
   * own writes of a human request or of a thread's end, and, with a {@link CallbackOptions.ledger},
   * the callbacks its threads owe from before. A thread the runtime deletes (`onDelete`): its
   * callbacks under way or waiting to retry are dropped (no attempt more, nothing recorded), then
   * the ledger forgets its records. Returns the function that detaches it.
   */
  attach(runtime: Pick<Runtime, 'subscribe' | 'get' | 'list'> & Partial<Pick<Runtime, 'onDelete'>>): () => void;
  /**
   * The thread was deleted (by this process or, heard of through `Runtime.onDelete`, by another):
   * its callbacks under way or waiting to retry are dropped (no attempt more, nothing recorded),
   * then the ledger forgets its records. Resolves once done; never rejects.
   */
  dropThread(threadId: string): Promise<void>;
  /** Resolves when no callback is in flight (nor owed ones being looked for). */
  idle(): Promise<void>;
  /** Stops retrying, waits for callbacks in flight, and sends nothing more. */
  close(): Promise<void>;
}

export { callbackUrlOf };
export type { CallbackPayload } from './callbackPayload.js';

/**
 * Whether this change is one a callback reports: a human request stored, the change that ended the
 * thread, or the one that recorded, after its cancel, the outcome of the call it left running
 * ({@link settlesEnd}).
 */
function reportable(change: ThreadChange): boolean {
  return change.events.some((event) => event.type === 'human_request') || settlesEnd(change.thread.events, change.events.length, change.status);
}

/**
 * Builds the sender of callbacks (see {@link CallbackSender}).
 *
 * @example
 * ```ts
 * const callbacks = createCallbackSender({ secret: process.env.SWITCHYARD_WEBHOOK_SECRET });
 * const detach = callbacks.attach(runtime); // an embedded runtime; attachBus sends them from its jobs
 * ```
 */
export function createCallbackSender(options: CallbackOptions = {}): CallbackSender {
  const {
    secret = process.env.SWITCHYARD_WEBHOOK_SECRET ?? '',
    // The environment's previous secrets replaced its current one, not a secret given here.
    previousSecrets = options.secret === undefined ? secretsListedIn(process.env.SWITCHYARD_WEBHOOK_SECRET_PREVIOUS, secret) : [],
    fetch: post = globalThis.fetch,
    logger = silentLogger(),
    attempts = 4,
    initialDelayMs = 500,
    maxDelayMs = 8_000,
    timeoutMs = 5_000,
    clock = systemClock,
    onDelivery,
    ledger,
  } = options;
  if (!Number.isInteger(attempts) || attempts < 1) throw new ConfigError('callback attempts must be a positive integer');
  if (!(timeoutMs > 0) || !(initialDelayMs >= 0) || !(maxDelayMs >= 0)) throw new ConfigError('callback timings must be positive numbers');
  if (!previousSecrets.every((each) => typeof each === 'string')) throw new ConfigError('previousSecrets must be strings');
  // What sealed credentials open with: the current secret, then the ones it replaced.
  const openingSecrets = [secret, ...previousSecrets];
  const book = createDeliveryBook({ ledger, logger, what: 'callback' });
  /** Deliveries under way by id: the same rest asked for twice (a live change and the walk of owed ones) goes out once. */
  const underWay = new Map<string, Promise<CallbackDelivery>>();
  const stopping = new AbortController();
  const retryPolicy: DeliveryRetries = {
    what: 'callback',
    logger,
    clock,
    backoff: { attempts, initialDelayMs, factor: 2, maxDelayMs },
    stopping: stopping.signal,
    owedAtStop: ledger !== undefined,
    // A worker hands its job back.
    unowedAtStop: { level: 'warn', msg: 'callback not sent before the stop (sent again when its job comes back)' },
    refusal: 'callback refused',
  };
  const unsigned = new Set<string>();
  /** The runtime attached last: whether a thread it deleted is there again is read from it. */
  let attached: Pick<Runtime, 'get'> | undefined;

  /**
   * Delivers a callback to `url`: its userinfo, if any, goes as `Authorization: Basic` (fetch
   * refuses a URL with one), and the logs name the receiver by origin and path only (no
   * credentials: neither userinfo nor a query token). Userinfo that cannot be sent (it does not
   * percent-decode: the launch refuses it, an older thread may hold it) is a refusal. Credentials the
   * launch sealed (userinfo, secret query values) are opened with the secret first, to the URL the
   * launch gave (else with each previous secret); ones that do not open (the secret changed, and
   * the old one is not listed) are not sent, and not refused either: a process with the launch's
   * secret may send them. Its thread deleted (`dropped` aborts, or `check` finds it gone before a
   * retry), or rested again since (`superseded` aborts, or `check` finds its request answered), it
   * stops: no attempt more.
   */
  async function deliver(
    recorded: string,
    payload: CallbackPayload,
    dropped: AbortSignal,
    check: (() => Promise<Standing>) | undefined,
    superseded: AbortSignal,
  ): Promise<CallbackDelivery> {
    const opened = openUrl(recorded, openingSecrets);
    if (!opened.success) {
      const error = `the callbackUrl ${opened.error}`;
      logger.warn({ url: receiverOf(recorded), delivery: payload.id, threadId: payload.threadId, agent: payload.agent, state: payload.status, err: error }, 'callback not sent: its sealed credentials do not open');
      return reported({ id: payload.id, url: receiverOf(recorded), threadId: payload.threadId, ok: false, attempts: 0, error });
    }
    const url = opened.data;
    const parsed = deliveryTargetOf(url);
    if (!parsed.success) {
      const error = `the callbackUrl ${parsed.error}`;
      logger.warn({ url: parsed.receiver ?? '(not a URL)', delivery: payload.id, threadId: payload.threadId, agent: payload.agent, state: payload.status, err: error }, 'callback refused');
      return reported({ id: payload.id, url: parsed.receiver ?? '', threadId: payload.threadId, ok: false, attempts: 0, error, refused: true });
    }
    const target = parsed.data;
    const body = JSON.stringify(payload);
    const attempt = (signal: AbortSignal) => postSigned(target, { body, event: payload.type, id: payload.id }, { fetch: post, clock, timeoutMs, secret }, signal);
    const log = { url: target.receiver, delivery: payload.id, threadId: payload.threadId, agent: payload.agent, state: payload.status };
    const { refused, deleted, superseded: passed, stopped, ...sent } = await retryDelivery(retryPolicy, { attempt, log, dropped, check, superseded });
    return reported({
      id: payload.id,
      url: target.receiver,
      threadId: payload.threadId,
      ...sent,
      ...(refused ? { refused } : {}),
      ...(stopped ? { stopped } : {}),
      ...(deleted ? { deleted } : {}),
      ...(passed ? { superseded: true } : {}),
    });
  }

  /** Tells {@link CallbackOptions.onDelivery} how a callback ended; returns it. */
  function reported(delivery: CallbackDelivery): CallbackDelivery {
    try {
      onDelivery?.(delivery);
    } catch (error) {
      logger.error({ url: receiverOf(delivery.url), delivery: delivery.id, threadId: delivery.threadId, err: messageOf(error) }, 'callback onDelivery failed');
    }
    return delivery;
  }

  function send(thread: Thread, threads?: PipelineThreads): Promise<CallbackDelivery | undefined> {
    if (stopping.signal.aborted) return Promise.resolve(undefined);
    // Without a read (a thread's own callback) it is under way before this returns.
    if (callbackUrlOf(thread) !== undefined || threads === undefined) return sendDue(thread, ownCallbackOf(thread), threads);
    const sent = pipelineCallbackOf(thread, threads).then(
      (due) => sendDue(thread, due, threads), // closed meanwhile: reported as stopped, not sent
      (error: unknown): CallbackDelivery => {
        logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, 'callback: the thread’s pipelines could not be read');
        // Not delivered: a job reporting this rest fails and comes back to read them again.
        const id = callbackPayloadOf(thread)?.id ?? thread.id;
        return { id, url: '', threadId: thread.id, ok: false, attempts: 0, error: `the pipelines above the thread could not be read: ${messageOf(error)}` };
      },
    );
    return book.track(sent);
  }

  /** Sends `due`; whether its thread is still there is read through `readFrom`, else the runtime attached. */
  function sendDue(thread: Thread, due: DueCallback | undefined, readFrom?: PipelineThreads): Promise<CallbackDelivery | undefined> {
    if (due === undefined) return Promise.resolve(undefined);
    const { url, payload } = due;
    const undelivered = (error: string): CallbackDelivery => ({ id: payload.id, url: receiverOf(url), threadId: thread.id, ok: false, attempts: 0, error });
    if (secret === '') {
      if (!unsigned.has(thread.id)) {
        if (unsigned.size >= 10_000) unsigned.clear();
        unsigned.add(thread.id);
        logger.warn({ threadId: thread.id, agent: thread.agent }, `the thread has a callbackUrl but ${NO_SECRET}, none sent`);
      }
      // Not delivered: a job reporting this rest fails, so a process that has the secret can send it.
      return Promise.resolve(undelivered(NO_SECRET));
    }
    const already = underWay.get(payload.id);
    if (already !== undefined) return already;
    const threads = readFrom ?? attached;
    const delivery = book.deliver(
      { threadId: thread.id, key: thread.id, id: payload.id, asks: payload.type === 'thread.human_request' },
      (dropped, check, superseded) =>
        deliver(url, payload, dropped, check, superseded)
        .then(async (done) => {
          // Recorded before it is no longer under way; not at all once its thread is deleted, nor superseded.
          if (done.deleted !== true && done.superseded !== true) await book.settle({ key: thread.id, id: payload.id, threadId: thread.id }, done.ok || done.refused === true, { threadId: thread.id, agent: thread.agent, delivery: payload.id }, dropped);
          return done;
        })
        .catch((error: unknown): CallbackDelivery => {
          logger.error({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, 'callback crashed');
          return undelivered(messageOf(error));
        }),
      threads === undefined ? undefined : (id) => threads.get(id),
    );
    underWay.set(payload.id, delivery);
    void delivery.finally(() => underWay.delete(payload.id));
    return delivery;
  }

  /** Forgets what the ledger holds of a deleted thread; never rejects (a failure is logged: its records stay, harmless). */
  function forget(from: DeliveryLedger, threadId: string): Promise<void> {
    return from.forget!(threadId).catch((error: unknown) => logger.warn({ threadId, err: messageOf(error) }, 'callback records of a deleted thread not forgotten'));
  }

  /** Sends the callbacks the runtime's threads owe (see {@link CallbackOptions.ledger}). */
  function sendOwed(runtime: Pick<Runtime, 'get' | 'list'>, owedTo: DeliveryLedger): void {
    const walk = settleOwedDeliveries<DueCallback>({
      threads: runtime,
      ledger: owedTo,
      until: clock.now(),
      signal: stopping.signal,
      logger,
      what: 'callback',
      scopes: ['callback'],
      // Recorded under the thread whose rest it reports (a pipeline's child for its request).
      keysOf: (threadId) => [threadId],
      dueOf: async (thread) => {
        const due = await dueCallbackOf(thread, runtime);
        return due === undefined ? [] : [{ scope: 'callback', key: thread.id, id: due.payload.id, due }];
      },
      send: (thread, due) => sendDue(thread, due),
    });
    void book.track(walk);
  }

  function dropThread(threadId: string): Promise<void> {
    // Its callbacks under way are dropped, then the ledger forgets it (recorded under the
    // thread's id: see sendOwed's keysOf), so none of them records it again.
    return book.track(book.drop(threadId).then(() => (ledger?.forget === undefined ? undefined : forget(ledger, threadId))));
  }

  return {
    send,
    dropThread,
    attach(runtime) {
      attached = runtime;
      const detach = runtime.subscribe((change) => {
        // Another process wrote (and reports) these; only the writer calls back.
        if (change.ingested || !reportable(change)) return;
        void send(change.thread, runtime);
      });
      if (ledger !== undefined && !stopping.signal.aborted) sendOwed(runtime, ledger);
      const forgetting = runtime.onDelete?.((threadId) => void dropThread(threadId));
      return () => {
        detach();
        forgetting?.();
      };
    },
    idle: book.idle,
    async close() {
      stopping.abort(new Error('callbacks closed'));
      await book.idle();
      await ledger?.close();
    },
  };
}

/** A sender that sends nothing (callbacks turned off). */
export function noCallbacks(): CallbackSender {
  return { send: () => Promise.resolve(undefined), attach: () => () => undefined, dropThread: () => Promise.resolve(), idle: () => Promise.resolve(), close: () => Promise.resolve() };
}
