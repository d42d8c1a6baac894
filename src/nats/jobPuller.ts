import { createInbox, nanos, type Msg, type MsgHdrs, type NatsConnection, type Status } from '@nats-io/transport-node';

/** A job as the server delivered it: the message and where it stands in the queue. */
export interface Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  /** Where acks go (`$JS.ACK.…`). */
  readonly reply: string;
  readonly deliveryCount: number;
  /** The job's sequence in the stream. */
  readonly seq: number;
}

/** Options of {@link startJobPuller}. */
export interface JobPullerOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly durable: string;
  /** How long one pull request waits on the server for jobs before it expires. */
  readonly expiresMs: number;
  /** The server's heartbeat while a pull request waits; two missed ones mean the requests are gone. */
  readonly heartbeatMs: number;
  /**
   * Pause before pulling again after the server refused or lost a pull; it doubles with each
   * refusal in a row (a server without JetStream refuses every pull), up to {@link maxRetryMs}.
   */
  readonly retryMs: number;
  /**
   * The longest pause between refused pulls.
   * @default 16 × retryMs
   */
  readonly maxRetryMs?: number;
  /** The connection's `inboxPrefix`, if it has one. */
  readonly inboxPrefix?: string;
  /** A pull the server refused, or the inbox subscription failing. */
  readonly onError: (error: Error) => void;
  /**
   * Called when pulls go unanswered (two missed heartbeats), before asking again: checks that the
   * consumer is there and creates it again when it is gone (a server that lost its JetStream data
   * answers nothing for it). Resolves true when it was gone and was created again.
   * @default none: the puller only asks again
   */
  readonly restore?: () => Promise<boolean>;
  /**
   * A job delivered after {@link JobPuller.stop} (one the server sent before it had the
   * unsubscribe, or one kept for a slot that never asked): true when the caller takes it (runs and
   * settles it). A job it does not take is nak'ed, to be delivered again at once; but a nak of a
   * job on its last delivery hands nothing back (the server delivers it no more, and sends the
   * max-deliveries advisory), so such a job is for the caller to run.
   * @default none taken: every one is nak'ed
   */
  readonly late?: (delivery: Delivery) => boolean;
}

/** Pulls a durable consumer's jobs for the slots that ask for one. */
export interface JobPuller {
  /** The next job for a free slot; undefined once stopped. */
  next(): Promise<Delivery | undefined>;
  /**
   * Stops pulling; waiting slots get undefined, and a job delivered later (one the server sent
   * before it had the unsubscribe) goes to `late`, or back to the queue at once. Resolves once no
   * job can arrive any more (the inbox is drained).
   */
  stop(): Promise<void>;
  /** Asks again for every waiting slot's job, the requests out counted as lost (its consumer was just created again). */
  askAgain(): void;
}

/** Status codes of a pull's end (nats-server `consumer.go`): 408 expired; 409 and 503 lost or refused. */
const EXPIRED = 408;
const HEARTBEAT = 100;
/** NATS's own answer when nothing serves the pull's subject: no JetStream there (yet). */
const NO_RESPONDERS = 503;
const PENDING_MESSAGES = 'Nats-Pending-Messages';

/** What the reply subject of a delivered job says (`$JS.ACK.…`, the 9-token and the 11+ token forms). */
function parseAck(reply: string): { deliveryCount: number; seq: number } | undefined {
  const tokens = reply.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  const deliveryCount = Number(tokens[at]);
  const seq = Number(tokens[at + 1]);
  return Number.isInteger(deliveryCount) && Number.isInteger(seq) ? { deliveryCount, seq } : undefined;
}

/**
 * Pulls the jobs of a durable pull consumer for N slots through one inbox subscription, asking
 * the server for as many jobs as there are slots waiting, in one pull request per turn of the
 * event loop. A slot asks only when it is free, so no job waits in a client-side buffer while its
 * ack deadline runs (but for one the server delivers on a request this side had counted as lost).
 *
 * nats.js's `consumer.fetch()` per job does the same for one slot with a subscription, a status
 * iterator and timers of its own each time (and the server adds and removes a subscription per
 * job). Requests expire after `expiresMs` and are renewed; while one waits the server heartbeats
 * every `heartbeatMs`, and when two heartbeats go missing (a server restart forgets its pull
 * requests) the puller asks again.
 */
export function startJobPuller(options: JobPullerOptions): JobPuller {
  const { nc, expiresMs, heartbeatMs, retryMs, onError, restore = () => Promise.resolve(false) } = options;
  const maxRetryMs = options.maxRetryMs ?? 16 * retryMs;
  const api = `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.durable}`;
  const inbox = createInbox(options.inboxPrefix);
  const waiting: ((delivery: Delivery | undefined) => void)[] = [];
  /** Jobs delivered with no slot waiting (the server kept a request this side had given up on). */
  const early: Delivery[] = [];
  /** Jobs asked for that the server has neither delivered nor given up on. */
  let requested = 0;
  let scheduled = false;
  let retry: NodeJS.Timeout | undefined;
  let lastHeard = Date.now();
  let stopped = false;
  /** Resolves once the inbox is drained after a stop: no job arrives any more. */
  let drained: Promise<void> = Promise.resolve();
  /** A `restore` in progress: no pull until it is done. */
  let restoring = false;
  /** Pulls refused in a row (reset once the server takes one): sets the pause and what is reported. */
  let refusals = 0;

  const subscription = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error) onError(error);
      else onMessage(msg);
    },
  });
  // Requests the server forgot (a restart) leave slots waiting: ask again on a reconnect, and
  // after two missed heartbeats (a consumer whose leader moved).
  const forget = (): void => {
    requested = 0;
    // A pause after refusals is over too: the server is another one, or the consumer is back.
    clearTimeout(retry);
    retry = undefined;
    schedule();
  };
  const liveness = setInterval(() => {
    if (requested > 0 && !restoring && Date.now() - lastHeard > 2 * heartbeatMs) {
      const silence = new Error(`pull from ${options.stream}: no heartbeat for ${Date.now() - lastHeard} ms (consumer ${options.durable} missing or moving?); asking again`);
      lastHeard = Date.now();
      restoring = true;
      requested = 0;
      restore()
        .then(
          (recreated) => {
            if (!recreated) onError(silence);
          },
          (error: unknown) => onError(error instanceof Error ? error : new Error(String(error))),
        )
        .finally(() => {
          restoring = false;
          lastHeard = Date.now();
          forget();
        });
    }
  }, heartbeatMs / 2).unref();
  // nats.js's status iterator can be stopped (a QueuedIterator), though its type does not say so.
  const statuses: AsyncIterable<Status> & { stop?: () => void } = nc.status();
  void (async () => {
    for await (const status of statuses) if (status.type === 'reconnect') forget();
  })().catch(() => undefined);

  function onMessage(msg: Msg): void {
    lastHeard = Date.now();
    const ack = msg.reply ? parseAck(msg.reply) : undefined;
    if (ack !== undefined) {
      refusals = 0;
      requested = Math.max(0, requested - 1);
      deliver({ subject: msg.subject, data: msg.data, headers: msg.headers, reply: msg.reply!, ...ack });
      return;
    }
    const code = msg.headers?.code ?? 0;
    if (code === HEARTBEAT) {
      refusals = 0;
      return;
    }
    // A pull ended: what it did not deliver is no longer asked for (all of it when the server does not say).
    const left = Number(msg.headers?.get(PENDING_MESSAGES) || Number.NaN);
    requested = Number.isInteger(left) ? Math.max(0, requested - left) : 0;
    if (code === EXPIRED) {
      refusals = 0;
      schedule();
    } else refused(code, msg.headers?.description ?? '');
  }

  /**
   * A pull the server refused or lost: asked again after a pause that doubles with each refusal in
   * a row, and reported at the 1st, 2nd, 4th, 8th... one, so a server that refuses them all (no
   * JetStream) is not a log line per pull.
   */
  function refused(code: number, description: string): void {
    // One that comes in while a stop drains the inbox: nothing more is asked, nothing to report.
    if (stopped) return;
    refusals += 1;
    const pauseMs = Math.min(retryMs * 2 ** Math.min(refusals - 1, 30), maxRetryMs);
    if ((refusals & (refusals - 1)) === 0) {
      const why = description !== '' ? description : code === NO_RESPONDERS ? '(no responders: JetStream is not enabled on the NATS server, or not ready yet)' : '';
      const times = `${refusals} ${refusals === 1 ? 'time' : 'times'}`;
      onError(new Error(`${`pull from ${options.stream}: ${code} ${why}`.trim()}; refused ${times} in a row; asking again in ${pauseMs} ms`));
    }
    retry ??= setTimeout(() => {
      retry = undefined;
      schedule();
    }, pauseMs);
  }

  function deliver(delivery: Delivery): void {
    if (stopped) lateOrBack(delivery);
    else {
      const slot = waiting.shift();
      if (slot !== undefined) slot(delivery);
      // Rare: kept for the next free slot rather than nak'ed, which would spend one of its deliveries.
      else early.push(delivery);
    }
  }

  /**
   * A job delivered with no slot to take it after stop: nak'ed, to be delivered again at once. Sent
   * on the connection that sent this puller's UNSUB first, so the server, which handles a
   * connection's messages in order, already finds no interest in the pull requests this puller
   * left waiting and skips them: nats-server 2.9.10 gives the job to the next consumer that asks
   * (test/nats/jobPuller.test.ts, test/nats/shutdown.test.ts). A nak sent before the UNSUB would
   * go back to those requests.
   */
  function handBack(delivery: Delivery): void {
    if (!nc.isClosed()) nc.publish(delivery.reply, '-NAK');
  }

  /** A job delivered after stop: to `late` if it takes it, else handed back. */
  function lateOrBack(delivery: Delivery): void {
    if (options.late?.(delivery) !== true) handBack(delivery);
  }

  function schedule(): void {
    if (scheduled || stopped) return;
    scheduled = true;
    // At the end of the turn: the slots that come free in one turn share one request.
    setImmediate(pull);
  }

  function pull(): void {
    scheduled = false;
    const want = waiting.length - requested;
    if (stopped || want <= 0 || retry !== undefined || restoring || nc.isClosed()) return;
    try {
      nc.publish(api, JSON.stringify({ batch: want, expires: nanos(expiresMs), idle_heartbeat: nanos(heartbeatMs) }), { reply: inbox });
      if (requested === 0) lastHeard = Date.now();
      requested += want;
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      retry ??= setTimeout(() => {
        retry = undefined;
        schedule();
      }, retryMs);
    }
  }

  const puller: JobPuller = {
    askAgain: forget,
    next() {
      if (stopped) return Promise.resolve(undefined);
      const ready = early.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve) => {
        waiting.push(resolve);
        schedule();
      });
    },
    stop() {
      if (stopped) return drained;
      stopped = true;
      clearInterval(liveness);
      statuses.stop?.();
      clearTimeout(retry);
      // Drained, not unsubscribed: a job the server sent before it had the UNSUB still comes in
      // (until the flush behind it returns) and goes to `late` or back; nats.js drops what arrives
      // for a subscription it has cancelled, and such a job would wait out its ack wait.
      if (!subscription.isClosed() && !nc.isClosed()) drained = subscription.drain().catch(() => undefined);
      for (const slot of waiting.splice(0)) slot(undefined);
      for (const delivery of early.splice(0)) lateOrBack(delivery);
      return drained;
    },
  };
  // A closed connection delivers nothing more: free the slots.
  void nc.closed().then(() => void puller.stop());
  return puller;
}
