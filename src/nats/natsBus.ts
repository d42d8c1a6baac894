import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  connect,
  errors,
  headers as createHeaders,
  MsgHdrsImpl,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import type {
  Bus,
  BusHandler,
  BusMessage,
  BusOptions,
  BusPayload,
  BusSubscription,
  JobQueue,
  JobQueueOptions,
  PublishOptions,
  RequestOptions,
  RespondOptions,
  StoredPublishOptions,
  SubscribeOptions,
} from '../bus/bus.js';
import { BusError } from '../bus/bus.js';
import { createBusMessage, DEFAULT_REQUEST_TIMEOUT_MS, encodePayload, errorReporter, invokeHandler, respondTo } from '../bus/busMessage.js';
import { errorText, normalizeJobQueueOptions, type NormalizedJobQueueOptions } from '../bus/jobRunner.js';
import { redactUrlList } from '../context/redactUrl.js';
import { hasAuth, splitServerCredentials } from './natsAuth.js';
import { natsJobQueue, type TrackedConsumer } from './natsJobQueue.js';
import { ensureNatsJobQueue, restoreNatsJobQueue } from './natsQueueSetup.js';
import { muxRequests } from './requestMux.js';
import { storedPublisher } from './storedPublish.js';
import { batchWrites } from './writeBatching.js';
import { silentLogger, type Logger } from '../logger.js';
import { assertPattern, assertQueueGroup, assertSubject, isValidSubject } from '../bus/subject.js';

/** The largest message when the connection does not say (nats-server's default max_payload). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Options of {@link createNatsBus}. */
export interface NatsBusOptions extends BusOptions {
  /**
   * One or more server URLs (`nats://host:4222`). Credentials in a URL (`nats://user:pass@host`,
   * `nats://token@host`) authenticate the connection, unless `connectOptions` say how to.
   */
  servers: string | string[];
  /** The connection's name, shown in server monitoring. */
  name?: string | undefined;
  /**
   * Extra nats.js connection options (auth, TLS, timeouts). They override the bus's defaults:
   * reconnect forever (`maxReconnectAttempts: -1`) so a server restart never loses the bus.
   */
  connectOptions?: Omit<NodeConnectionOptions, 'servers' | 'name'> | undefined;
  /**
   * Write what the connection sends during one turn of the event loop in one socket write (see
   * `batchWrites`): fewer system calls here and fewer wake-ups of the server, at the cost of
   * holding a message until the end of the turn.
   * @default true
   */
  batchWrites?: boolean | undefined;
  /**
   * Answer the connection's requests (JetStream publishes, KV writes, API calls) from a small
   * table of its own rather than nats.js's request objects, which cost more than the request
   * (see `muxRequests`).
   * @default true
   */
  muxRequests?: boolean | undefined;
  /**
   * Where the connection's outages are logged: one warn line when it drops, one info line when it
   * is back (with the server's host and port).
   * @default a silent logger
   */
  logger?: Logger | undefined;
}

/** The NATS bus, with its connection for callers that need raw NATS. */
export type NatsBus = Bus & { readonly nc: NatsConnection };

/** What a process logs when it finds JetStream assets gone (a server that lost its data) and creates them again. */
export const ASSETS_RECREATED = 'JetStream assets missing on the server (it lost its data?); created them again';

/** How long `close()` waits for outgoing messages to reach the server. */
const CLOSE_FLUSH_MS = 2_000;

/**
 * The encoded headers of frozen records (a publisher's constant headers, such as the process
 * header on every event): built once, not per message. nats.js only reads a message's headers.
 */
const frozenHeaders = new WeakMap<Record<string, string>, MsgHdrs | undefined>();

function toHeaders(record: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!record) return undefined;
  if (!Object.isFrozen(record)) return buildHeaders(record);
  if (frozenHeaders.has(record)) return frozenHeaders.get(record);
  const hdrs = buildHeaders(record);
  if (hdrs instanceof MsgHdrsImpl) {
    // nats.js encodes a message's headers on every publish; these never change.
    const bytes = hdrs.encode();
    hdrs.encode = () => bytes;
  }
  frozenHeaders.set(record, hdrs);
  return hdrs;
}

/**
 * Headers of a JetStream publish: built afresh each time, never the shared ones of a frozen record,
 * since the publish writes its msg id (and expected stream) into them.
 */
function jetStreamHeaders(record: Record<string, string> | undefined): MsgHdrs | undefined {
  return record === undefined ? undefined : buildHeaders(record);
}

function buildHeaders(record: Record<string, string>): MsgHdrs | undefined {
  const entries = Object.entries(record);
  if (entries.length === 0) return undefined;
  const hdrs = createHeaders();
  for (const [key, value] of entries) hdrs.set(key, value);
  return hdrs;
}

function fromHeaders(hdrs: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (!hdrs) return record;
  for (const [key, values] of hdrs) {
    if (values.length > 0) record[key] = values[0]!;
  }
  return record;
}

function toBusMessage(msg: Msg): BusMessage {
  return createBusMessage(msg.subject, msg.data, fromHeaders(msg.headers), msg.reply || undefined);
}

/** Maps a nats.js failure to a {@link BusError}. */
function toBusError(error: unknown, what: string): BusError {
  if (error instanceof BusError) return error;
  if (error instanceof errors.TimeoutError) return new BusError('timeout', `${what} timed out`, { cause: error });
  if (error instanceof errors.NoRespondersError) return new BusError('no_responders', `${what}: no responders`, { cause: error });
  if (error instanceof errors.RequestError) {
    if (error.isNoResponders()) return new BusError('no_responders', `${what}: no responders`, { cause: error });
    if (error.cause instanceof errors.TimeoutError) return new BusError('timeout', `${what} timed out`, { cause: error });
  }
  if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
    return new BusError('closed', `${what}: the bus is closed`, { cause: error });
  }
  if (error instanceof errors.InvalidSubjectError) return new BusError('invalid_subject', `${what}: ${error.message}`, { cause: error });
  return new BusError('unavailable', `${what}: ${errorText(error)}`, { cause: error });
}

/**
 * A connection as the bus opens its own: reconnecting forever (`maxReconnectAttempts: -1`, unless
 * `connectOptions` say otherwise) so a server restart never loses it, a first connect that fails
 * fast with a {@link BusError} when no server answers, and its writes batched per turn of the
 * event loop and its requests answered from switchyard's own table unless told otherwise
 * (`batchWrites`, `muxRequests`).
 */
export async function connectNats(options: Pick<NatsBusOptions, 'servers' | 'name' | 'connectOptions' | 'batchWrites' | 'muxRequests'>): Promise<NatsConnection> {
  // nats.js ignores the credentials of `nats://user:pass@host`: they become options, unless the
  // options already say how to authenticate.
  const { servers, auth } = splitServerCredentials(options.servers);
  let nc: NatsConnection;
  try {
    nc = await connect({
      maxReconnectAttempts: -1,
      ...(hasAuth(options.connectOptions) ? {} : auth),
      ...options.connectOptions,
      servers,
      ...(options.name === undefined ? {} : { name: options.name }),
    });
  } catch (error) {
    throw toBusError(error, `cannot connect to NATS at ${redactUrlList(String(options.servers))}`);
  }
  if (options.batchWrites ?? true) batchWrites(nc);
  if (options.muxRequests ?? true) muxRequests(nc, options.connectOptions?.inboxPrefix);
  return nc;
}

/**
 * Connects the NATS bus: core NATS for publish/subscribe/request (headers included) and JetStream
 * for job queues (one WorkQueue stream per queue, a durable pull consumer, a `<name>_DLQ` stream of
 * dead letters). Targets nats-server 2.9+, using no 2.10+ feature.
 *
 * The connection reconnects forever. A plain publish is at most once: nats.js drops what was
 * published while it was disconnected (it empties its buffer at each reconnect attempt), and the
 * server may drop what it routed but did not store; what must arrive goes through JetStream (job
 * queues, `publishStored`). The first connect does fail fast when no server answers.
 *
 * @example
 * ```ts
 * const bus = await createNatsBus({ servers: process.env.NATS_URL!, name: 'switchyard-worker' });
 * // Subjects of your own: switchyard's queues already capture `<prefix>.trigger.<agent>`.
 * const jobs = await bus.jobQueue('orders', { subjects: ['myapp.orders.>'] });
 * jobs.consume(async (job) => handle(job.json()));
 * ```
 */
export async function createNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const report = errorReporter(options.onError);
  const logger = options.logger ?? silentLogger();
  const nc = await connectNats(options);
  const js = jetstream(nc);
  let jsmPromise: ReturnType<typeof jetstreamManager> | undefined;
  const manager = (): ReturnType<typeof jetstreamManager> =>
    (jsmPromise ??= jetstreamManager(nc).catch((error: unknown) => {
      jsmPromise = undefined;
      throw error;
    }));
  const stored = storedPublisher(js, manager, (error) => report(toBusError(error, 'cannot list the streams (which subjects reports are stored for)'), {}));
  const consumers = new Set<TrackedConsumer>();
  /** The queues this bus set up, and the check of each one in progress (one at a time). */
  const queues = new Map<string, NormalizedJobQueueOptions>();
  const restoring = new Map<string, Promise<boolean>>();
  function restoreQueue(name: string, config: NormalizedJobQueueOptions): Promise<boolean> {
    let check = restoring.get(name);
    if (check === undefined) {
      check = (async () => {
        const missing = await restoreNatsJobQueue(await manager(), name, config);
        if (missing.length === 0) return false;
        stored.forget(); // the queue's stream captures its subjects again
        logger.warn({ queue: name, assets: missing }, ASSETS_RECREATED);
        // Their pulls since the reconnect went to a consumer that was not there.
        for (const consumer of consumers) if (consumer.queue === name) consumer.askAgain();
        return true;
      })().finally(() => restoring.delete(name));
      restoring.set(name, check);
    }
    return check;
  }
  const reconnected = new Set<() => void>();
  const tellReconnected = (): void => {
    for (const listener of [...reconnected]) {
      try {
        listener();
      } catch (error) {
        report(error, {});
      }
    }
  };
  let closing = false;

  // Surface asynchronous server errors (permissions, slow consumer); an outage is bracketed by one
  // line each way, so an operator can tell from the log when the connection was down.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') report(status.error, {});
      else if (status.type === 'disconnect' && !closing) logger.warn({ server: status.server }, 'NATS connection lost; reconnecting');
      else if (status.type === 'reconnect') {
        logger.info({ server: status.server }, 'NATS connection is back');
        // A server back without its JetStream data: the queues set up here are created again.
        for (const [name, config] of queues) restoreQueue(name, config).catch((error: unknown) => report(error, { queue: name }));
        tellReconnected();
      }
    }
  })().catch(() => undefined);

  function assertOpen(): void {
    if (closing || nc.isClosed()) throw new BusError('closed', 'the bus is closed');
  }

  const bus: NatsBus = {
    nc,

    async publish(subject: string, payload: BusPayload, publishOptions: PublishOptions = {}) {
      assertOpen();
      assertSubject(subject);
      const headers = toHeaders(publishOptions.headers);
      try {
        nc.publish(subject, encodePayload(payload), {
          ...(headers ? { headers } : {}),
          ...(publishOptions.reply === undefined ? {} : { reply: publishOptions.reply }),
        });
      } catch (error) {
        throw toBusError(error, `publish on ${subject}`);
      }
    },

    // Read at each call: a reconnect may land on a server with another max_payload.
    maxMessageBytes: () => nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,

    onReconnect(listener: () => void) {
      reconnected.add(listener);
      return () => void reconnected.delete(listener);
    },

    async publishStored(subject: string, payload: BusPayload, storedOptions: StoredPublishOptions) {
      assertOpen();
      assertSubject(subject);
      try {
        if (!(await stored.captured(subject))) return false;
        await stored.publish(subject, { data: encodePayload(payload), msgId: storedOptions.msgId, headers: jetStreamHeaders(storedOptions.headers) });
        return true;
      } catch (error) {
        throw toBusError(error, `stored publish on ${subject}`);
      }
    },

    subscribe(pattern: string, handler: BusHandler, subscribeOptions: SubscribeOptions = {}): BusSubscription {
      assertOpen();
      assertPattern(pattern);
      if (subscribeOptions.queue !== undefined) assertQueueGroup(subscribeOptions.queue);
      let sub;
      try {
        sub = nc.subscribe(pattern, {
          ...(subscribeOptions.queue === undefined ? {} : { queue: subscribeOptions.queue }),
          callback: (error, msg) => {
            if (error) report(error, { subject: pattern });
            else invokeHandler(handler, toBusMessage(msg), report);
          },
        });
      } catch (error) {
        throw toBusError(error, `subscribe to ${pattern}`);
      }
      return {
        async unsubscribe() {
          if (sub.isClosed() || sub.isDraining()) return;
          // Drained, not dropped: a message the server routed here before it took the unsubscribe
          // is still handled (a request routed to a process that stops answering a thread would
          // otherwise wait its whole timeout: its requester hears no "no responders"). The
          // unsubscribe goes out now, so nothing published after this call is routed here.
          if (closing || nc.isClosed()) sub.unsubscribe();
          else sub.drain().catch(() => sub.unsubscribe());
        },
      };
    },

    async request(subject: string, payload: BusPayload, requestOptions: RequestOptions = {}): Promise<BusMessage> {
      assertOpen();
      assertSubject(subject);
      const headers = toHeaders(requestOptions.headers);
      try {
        const reply = await nc.request(subject, encodePayload(payload), {
          timeout: requestOptions.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          ...(headers ? { headers } : {}),
        });
        return toBusMessage(reply);
      } catch (error) {
        throw toBusError(error, `request on ${subject}`);
      }
    },

    respond: (msg: BusMessage, payload: BusPayload, respondOptions?: RespondOptions) =>
      respondTo((subject, body, options) => bus.publish(subject, body, options), msg, payload, respondOptions),

    async queueFor(subject: string): Promise<string | undefined> {
      if (closing || nc.isClosed() || !isValidSubject(subject)) return undefined;
      try {
        return await (await manager()).streams.find(subject);
      } catch {
        // Not found, or JetStream unreachable: either way nothing stores it now.
        return undefined;
      }
    },
    async jobQueue(name: string, queueOptions?: JobQueueOptions): Promise<JobQueue> {
      assertOpen();
      const config = normalizeJobQueueOptions(name, queueOptions);
      let jsm;
      try {
        jsm = await manager();
      } catch (error) {
        throw toBusError(error, 'JetStream is not available');
      }
      await ensureNatsJobQueue(jsm, name, config);
      queues.set(name, config);
      stored.forget(); // the queue's stream captures subjects now
      return natsJobQueue(
        {
          nc,
          js,
          jsm,
          report: (error, queue, subject) => report(error, { queue, ...(subject ? { subject } : {}) }),
          toHeaders: jetStreamHeaders,
          fromHeaders,
          track: (consumer, running) => (running ? consumers.add(consumer) : consumers.delete(consumer)),
          restore: restoreQueue,
          ...(options.connectOptions?.inboxPrefix === undefined ? {} : { inboxPrefix: options.connectOptions.inboxPrefix }),
        },
        name,
        config,
      );
    },

    async flush() {
      assertOpen();
      try {
        await nc.flush();
      } catch (error) {
        throw toBusError(error, 'flush');
      }
    },

    async close() {
      if (closing) return;
      closing = true;
      for (const consumer of consumers) consumer.halt();
      consumers.clear();
      if (nc.isClosed()) return;
      // Send what is buffered, but never hang on a server that is away.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        nc.flush().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_FLUSH_MS);
        }),
      ]);
      clearTimeout(timer);
      await nc.close().catch(() => undefined);
    },
  };
  return bus;
}
