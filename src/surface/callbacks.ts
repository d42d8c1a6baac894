import { createHmac } from 'node:crypto';
import { sleep, systemClock, type Clock } from '../clock.js';
import { ConfigError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import { callbackUrlOf, parentIdOf } from '../runtime/threadView.js';
import type { Thread } from '../thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import type { TriggerResult } from './payloads.js';

/**
 * The headers of a callback: those of switchyard's webhooks (`WEBHOOK_HEADERS` of
 * `switchyard/server`), so `verifyWebhookSignature` checks a callback as it checks a webhook.
 */
export const CALLBACK_HEADERS = {
  timestamp: 'X-Switchyard-Timestamp',
  signature: 'X-Switchyard-Signature',
  event: 'X-Switchyard-Event',
  delivery: 'X-Switchyard-Delivery',
} as const;

/**
 * The JSON body of a callback: what a NATS trigger's `replyTo` receives at the same rest (a
 * {@link TriggerResult}: status, version, output, failure, pending request), with an id, a type
 * and a time.
 */
export interface CallbackPayload extends TriggerResult {
  /**
   * `<threadId>:<version>`: the same each time this rest of the thread is reported (a callback is
   * sent at least once; drop repeats by id). Also in the `X-Switchyard-Delivery` header.
   */
  readonly id: string;
  /** `thread.human_request` (answer `pendingRequest` with its `requestId`) or `thread.finished`. */
  readonly type: 'thread.human_request' | 'thread.finished';
  /** ISO time of the thread's last event. */
  readonly at: string;
  /**
   * A pipeline's `thread.human_request` for a request of one of its children (at any depth): the
   * thread that waits, where `pendingRequest` is answered (`POST /threads/<childThreadId>/respond`
   * with its `requestId`). The `id` is then `<childThreadId>:<child's version>`; `threadId`,
   * `agent`, `status` and `version` stay the pipeline's. Absent on a thread's own rests.
   */
  readonly childThreadId?: string;
  /** The agent of {@link childThreadId}. */
  readonly childAgent?: string;
}

/** Reads threads: the pipelines above a child thread, whose callback hears of the child's requests. */
export interface CallbackThreads {
  get(threadId: string): Promise<Thread | undefined>;
}

/** How a callback ended. */
export interface CallbackDelivery {
  readonly id: string;
  readonly url: string;
  readonly threadId: string;
  readonly ok: boolean;
  readonly attempts: number;
  /** The last HTTP status, when there was a response. */
  readonly status?: number;
  /** Why the last attempt failed. */
  readonly error?: string;
  /**
   * The receiver answered with a status that is not retried (a 4xx other than 408 and 429): the
   * callback is not sent again. A callback that failed otherwise (network error, timeout, 408, 429,
   * 5xx) is sent again when its job comes back.
   */
  readonly refused?: boolean;
  /** The sender was closed before the callback was delivered (a worker hands its job back). */
  readonly stopped?: boolean;
}

/** Options of {@link createCallbackSender}. */
export interface CallbackOptions {
  /**
   * The HMAC secret callbacks are signed with: `X-Switchyard-Signature: sha256=HMAC(secret,
   * "<X-Switchyard-Timestamp>.<body>")`, as switchyard's webhooks. Callbacks are always signed: a
   * process without a secret sends none (and logs why, once per thread).
   * @default process.env.SWITCHYARD_WEBHOOK_SECRET
   */
  secret?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default a silent logger */
  logger?: Logger;
  /** Attempts per callback, the first included; retried on a network error, a timeout, 408, 429 or 5xx. @default 4 */
  attempts?: number;
  /** Delay before the first retry; it doubles each time. @default 500 */
  initialDelayMs?: number;
  /** Longest delay between attempts. @default 8000 */
  maxDelayMs?: number;
  /** Time allowed for one attempt. @default 5000 */
  timeoutMs?: number;
  /** Timestamps and backoff. @default the system clock */
  clock?: Clock;
  /** Told how every callback ended (delivered or given up). */
  onDelivery?: (delivery: CallbackDelivery) => void;
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
   * not delivered nor refused: the job comes back and sends it again.
   */
  send(thread: Thread, threads?: CallbackThreads): Promise<CallbackDelivery | undefined>;
  /**
   * For a process that runs threads without jobs (the embedded server): sends on this runtime's
   * own writes of a human request or of a thread's end. Returns the function that detaches it.
   */
  attach(runtime: Pick<Runtime, 'subscribe' | 'get'>): () => void;
  /** Resolves when no callback is in flight. */
  idle(): Promise<void>;
  /** Stops retrying, waits for callbacks in flight, and sends nothing more. */
  close(): Promise<void>;
}

export { callbackUrlOf };

/** The callback of a thread as it rests now, or undefined when it neither waits for a human nor has ended. */
export function callbackPayloadOf(thread: Thread): CallbackPayload | undefined {
  const state = deriveState(thread.events);
  const status = statusOf(state);
  const type = TERMINAL_STATUSES.includes(status) ? 'thread.finished' : state.pendingRequest === null ? undefined : 'thread.human_request';
  if (type === undefined) return undefined;
  const result: TriggerResult = {
    threadId: thread.id,
    agent: thread.agent,
    status,
    version: state.version,
    ...(state.output === undefined ? {} : { output: state.output }),
    ...(state.failure === undefined ? {} : { failure: state.failure }),
    ...(state.pendingRequest === null ? {} : { pendingRequest: state.pendingRequest }),
  };
  return { id: `${thread.id}:${state.version}`, type, at: thread.events.at(-1)?.at ?? '', ...result };
}

/** How far up a child's pipelines are looked for a callback. */
const MAX_PIPELINE_DEPTH = 32;

/**
 * The pipeline (at any depth above `thread`) whose launch named a callback URL, and the URL;
 * undefined when none did, or when that pipeline has ended.
 */
async function callingPipelineOf(thread: Thread, threads: CallbackThreads): Promise<{ pipeline: Thread; url: string } | undefined> {
  const seen = new Set([thread.id]);
  let parentId = parentIdOf(thread);
  for (let depth = 0; parentId !== undefined && !seen.has(parentId) && depth < MAX_PIPELINE_DEPTH; depth++) {
    seen.add(parentId);
    const parent = await threads.get(parentId);
    if (parent === undefined) return undefined;
    const url = callbackUrlOf(parent);
    if (url !== undefined) return deriveState(parent.events).terminal === null ? { pipeline: parent, url } : undefined;
    parentId = parentIdOf(parent);
  }
  return undefined;
}

/** A pipeline's callback for the human request of its child `child` (see {@link CallbackPayload.childThreadId}). */
export function childRequestPayloadOf(pipeline: Thread, child: Thread): CallbackPayload | undefined {
  const own = callbackPayloadOf(child);
  if (own?.type !== 'thread.human_request' || own.pendingRequest === undefined) return undefined;
  const state = deriveState(pipeline.events);
  return {
    id: own.id,
    type: own.type,
    at: own.at,
    threadId: pipeline.id,
    agent: pipeline.agent,
    status: statusOf(state),
    version: state.version,
    pendingRequest: own.pendingRequest,
    childThreadId: child.id,
    childAgent: child.agent,
  };
}

/** A callback due: where it goes and what it says. */
interface DueCallback {
  readonly url: string;
  readonly payload: CallbackPayload;
}

/** The callback of a thread's own launch that its rest calls for, if any. */
function ownCallbackOf(thread: Thread): DueCallback | undefined {
  const url = callbackUrlOf(thread);
  const payload = url === undefined ? undefined : callbackPayloadOf(thread);
  return url === undefined || payload === undefined ? undefined : { url, payload };
}

/** The callback of the pipeline above a child that waits for a human, if a pipeline's launch named one. */
async function pipelineCallbackOf(child: Thread, threads: CallbackThreads): Promise<DueCallback | undefined> {
  if (parentIdOf(child) === undefined || deriveState(child.events).pendingRequest === null) return undefined;
  const calling = await callingPipelineOf(child, threads);
  const payload = calling === undefined ? undefined : childRequestPayloadOf(calling.pipeline, child);
  return calling === undefined || payload === undefined ? undefined : { url: calling.url, payload };
}

/** Whether this change is one a callback reports: a human request stored, or the change that ended the thread. */
function reportable(change: ThreadChange): boolean {
  if (change.events.some((event) => event.type === 'human_request')) return true;
  if (!TERMINAL_STATUSES.includes(change.status) || change.events.length === 0) return false;
  const before = change.thread.events.slice(0, change.thread.events.length - change.events.length);
  return deriveState(before).terminal === null;
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
    fetch: post = globalThis.fetch,
    logger = silentLogger(),
    attempts = 4,
    initialDelayMs = 500,
    maxDelayMs = 8_000,
    timeoutMs = 5_000,
    clock = systemClock,
    onDelivery,
  } = options;
  if (!Number.isInteger(attempts) || attempts < 1) throw new ConfigError('callback attempts must be a positive integer');
  if (!(timeoutMs > 0) || !(initialDelayMs >= 0) || !(maxDelayMs >= 0)) throw new ConfigError('callback timings must be positive numbers');
  const inFlight = new Set<Promise<CallbackDelivery | undefined>>();
  const stopping = new AbortController();
  const unsigned = new Set<string>();

  /** One attempt: the HTTP status, or why there was none. Signed per attempt (a fresh timestamp). */
  async function attempt(url: string, body: string, payload: CallbackPayload): Promise<{ status?: number; error?: string }> {
    const timestamp = String(Math.floor(clock.now() / 1000));
    const signature = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
    try {
      const response = await post(url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          [CALLBACK_HEADERS.timestamp]: timestamp,
          [CALLBACK_HEADERS.signature]: signature,
          [CALLBACK_HEADERS.event]: payload.type,
          [CALLBACK_HEADERS.delivery]: payload.id,
        },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stopping.signal]),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? { status: response.status } : { status: response.status, error: `HTTP ${response.status}` };
    } catch (error) {
      return { error: messageOf(error) };
    }
  }

  async function deliver(url: string, payload: CallbackPayload): Promise<CallbackDelivery> {
    const body = JSON.stringify(payload);
    const log = { url, delivery: payload.id, threadId: payload.threadId };
    let last: { status?: number; error?: string } = { error: 'not sent' };
    let tries = 0;
    let refused = false;
    while (tries < attempts && !stopping.signal.aborted) {
      if (tries > 0) await sleep(clock, Math.min(maxDelayMs, initialDelayMs * 2 ** (tries - 1)), stopping.signal).catch(() => undefined);
      if (stopping.signal.aborted) break;
      tries++;
      last = await attempt(url, body, payload);
      if (last.error === undefined) break;
      const { status } = last;
      const retriable = status === undefined || status >= 500 || status === 408 || status === 429;
      logger.warn({ ...log, attempt: tries, ...last }, retriable ? 'callback attempt failed' : 'callback refused');
      refused = !retriable;
      if (refused) break;
    }
    const ok = last.error === undefined;
    if (!ok) logger.error({ ...log, attempts: tries, ...last }, 'callback given up');
    const stopped = !ok && !refused && stopping.signal.aborted;
    const delivery: CallbackDelivery = { id: payload.id, url, threadId: payload.threadId, ok, attempts: tries, ...last, ...(refused ? { refused } : {}), ...(stopped ? { stopped } : {}) };
    try {
      onDelivery?.(delivery);
    } catch (error) {
      logger.error({ ...log, err: messageOf(error) }, 'callback onDelivery failed');
    }
    return delivery;
  }

  function send(thread: Thread, threads?: CallbackThreads): Promise<CallbackDelivery | undefined> {
    if (stopping.signal.aborted) return Promise.resolve(undefined);
    // A thread with a callback of its own needs no read (a pipeline's child has none).
    if (callbackUrlOf(thread) !== undefined || threads === undefined) return sendDue(thread, ownCallbackOf(thread));
    const sent = pipelineCallbackOf(thread, threads).then(
      (due) => sendDue(thread, due), // closed meanwhile: reported as stopped, not sent
      (error: unknown): CallbackDelivery => {
        logger.error({ threadId: thread.id, err: messageOf(error) }, 'callback: the thread’s pipelines could not be read');
        // Not delivered: a job reporting this rest fails and comes back to read them again.
        const id = callbackPayloadOf(thread)?.id ?? thread.id;
        return { id, url: '', threadId: thread.id, ok: false, attempts: 0, error: `the pipelines above the thread could not be read: ${messageOf(error)}` };
      },
    );
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
    return sent;
  }

  function sendDue(thread: Thread, due: DueCallback | undefined): Promise<CallbackDelivery | undefined> {
    if (due === undefined) return Promise.resolve(undefined);
    const { url, payload } = due;
    const undelivered = (error: string): CallbackDelivery => ({ id: payload.id, url, threadId: thread.id, ok: false, attempts: 0, error });
    if (secret === '') {
      if (!unsigned.has(thread.id)) {
        if (unsigned.size >= 10_000) unsigned.clear();
        unsigned.add(thread.id);
        logger.warn({ threadId: thread.id, agent: thread.agent }, `the thread has a callbackUrl but ${NO_SECRET}, none sent`);
      }
      // Not delivered: a job reporting this rest fails, so a process that has the secret can send it.
      return Promise.resolve(undelivered(NO_SECRET));
    }
    const delivery = deliver(url, payload).catch((error: unknown): CallbackDelivery => {
      logger.error({ threadId: thread.id, err: messageOf(error) }, 'callback crashed');
      return undelivered(messageOf(error));
    });
    inFlight.add(delivery);
    void delivery.finally(() => inFlight.delete(delivery));
    return delivery;
  }

  return {
    send,
    attach(runtime) {
      return runtime.subscribe((change) => {
        // Another process wrote (and reports) these; only the writer calls back.
        if (change.ingested || !reportable(change)) return;
        void send(change.thread, runtime);
      });
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async close() {
      stopping.abort(new Error('callbacks closed'));
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** A sender that sends nothing (callbacks turned off). */
export function noCallbacks(): CallbackSender {
  return { send: () => Promise.resolve(undefined), attach: () => () => undefined, idle: () => Promise.resolve(), close: () => Promise.resolve() };
}
