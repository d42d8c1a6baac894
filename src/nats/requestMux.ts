import { createInbox, errors, type Msg, type NatsConnection, type Payload, type RequestOptions, type Subscription } from '@nats-io/transport-node';

/** nats.js's default request timeout, when a caller gives none. */
const DEFAULT_TIMEOUT_MS = 1_000;

/** A request waiting for its reply. */
interface Waiting {
  readonly subject: string;
  readonly resolve: (msg: Msg) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const INSTALLED = Symbol('switchyard.requestMux');

/**
 * Answers a connection's plain requests (`nc.request(subject, data, { timeout, headers })`, what
 * JetStream publishes, KV puts and gets, JetStream API calls and the bus's requests all are) from
 * one reply subscription with a small table, instead of nats.js's own mux. Behind each nats.js
 * request go a timer promise raced against the reply and, on every reply, an `Error` built with
 * its stack trace for a cancellation nobody sees: at 50 runs in flight that was about 2% of a
 * worker's CPU. The contract is nats.js's: the reply `Msg`; `RequestError` caused by a
 * `NoRespondersError` when nobody listens; `TimeoutError`; `RequestError("connection closed")`
 * when the connection closes first; the publish's own error when it throws.
 *
 * Requests with options this does not handle (`noMux`, `reply`, message tracing, a timeout below
 * 1 ms) go to nats.js unchanged. Idempotent: a second call changes nothing.
 *
 * @param inboxPrefix the connection's `inboxPrefix` option, when it has one (reply subjects
 *   must stay under it for permissions).
 * @example
 * ```ts
 * const nc = await connect({ servers });
 * muxRequests(nc);
 * await jetstream(nc).publish('orders.1', '{}'); // acked through the table
 * ```
 */
export function muxRequests(nc: NatsConnection, inboxPrefix?: string): void {
  const marked = nc as NatsConnection & { [INSTALLED]?: true };
  if (marked[INSTALLED]) return;
  marked[INSTALLED] = true;
  const original = nc.request.bind(nc);
  const waiting = new Map<string, Waiting>();
  let base = '';
  let subscription: Subscription | undefined;
  let counter = 0;

  const settle = (token: string): Waiting | undefined => {
    const entry = waiting.get(token);
    if (entry === undefined) return undefined;
    waiting.delete(token);
    clearTimeout(entry.timer);
    return entry;
  };

  const failAll = (error: Error): void => {
    for (const token of [...waiting.keys()]) settle(token)?.reject(error);
  };

  const onReply = (error: Error | null, msg: Msg): void => {
    if (error) {
      // The reply subscription itself failed (a permissions error): nothing can be answered.
      failAll(new errors.RequestError(error.message, { cause: error }));
      return;
    }
    const entry = settle(msg.subject.slice(base.length));
    if (entry === undefined) return; // timed out already
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      const cause = new errors.NoRespondersError(entry.subject);
      entry.reject(new errors.RequestError(cause.message, { cause }));
    } else entry.resolve(msg);
  };

  const replyBase = (): string => {
    if (subscription === undefined || subscription.isClosed()) {
      base = `${createInbox(inboxPrefix)}.`;
      subscription = nc.subscribe(`${base}*`, { callback: onReply });
    }
    return base;
  };

  void nc.closed().then(() => failAll(new errors.RequestError('connection closed')));

  marked.request = (subject: string, data?: Payload, opts?: RequestOptions): Promise<Msg> => {
    const timeout = opts?.timeout || DEFAULT_TIMEOUT_MS;
    if (opts?.noMux || opts?.reply !== undefined || opts?.traceDestination !== undefined || opts?.traceOnly || !(timeout >= 1) || nc.isClosed()) {
      return original(subject, data, opts);
    }
    let reply: string;
    try {
      reply = replyBase();
    } catch (error) {
      return Promise.reject(error);
    }
    const token = (counter++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (waiting.delete(token)) reject(new errors.TimeoutError());
      }, timeout);
      waiting.set(token, { subject, resolve, reject, timer });
      try {
        nc.publish(subject, data, { reply: reply + token, ...(opts?.headers ? { headers: opts.headers } : {}) });
      } catch (error) {
        settle(token);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  };
}
