import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import type {
  Bus,
  BusHandler,
  BusHeaders,
  BusMessage,
  BusOptions,
  BusPayload,
  BusSubscription,
  EnqueueResult,
  JobQueue,
  JobQueueOptions,
  PublishOptions,
  RequestOptions,
  RespondOptions,
  StoredPublishOptions,
  SubscribeOptions,
} from './bus.js';
import { BusError } from './bus.js';
import { createBusMessage, DEFAULT_REQUEST_TIMEOUT_MS, encodePayload, errorReporter, invokeHandler, respondTo } from './busMessage.js';
import { MemoryJobQueue } from './memoryJobQueue.js';
import { MSG_ID_HEADER, normalizeJobQueueOptions } from './jobRunner.js';
import { assertPattern, assertQueueGroup, assertSubject, isValidSubject, patternsOverlap, subjectMatches } from './subject.js';

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions extends BusOptions {
  /**
   * The clock behind request timeouts, ack deadlines and nak delays.
   * @default systemClock
   */
  clock?: Clock | undefined;
}

interface Subscription {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly handler: BusHandler;
  active: boolean;
}

/**
 * Creates the in-process bus: the embedded default. Same semantics as the NATS bus (subject
 * wildcards, queue groups, request/reply with no-responders detection, work-queue job queues with
 * dedup, redelivery and dead letters), with jobs kept in memory: durability across restarts is
 * the thread store's job.
 *
 * Handlers run asynchronously (never inside `publish`), in publish order per subscription.
 *
 * @example
 * ```ts
 * const bus = createMemoryBus({ onError: (error) => logger.warn({ error }, 'bus handler failed') });
 * bus.subscribe('greet.*', (msg) => bus.respond(msg, `hello ${msg.text()}`));
 * const reply = await bus.request('greet.world', 'world');
 * ```
 */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const clock = options.clock ?? systemClock;
  const report = errorReporter(options.onError);
  const subscriptions = new Set<Subscription>();
  const queueTurns = new Map<string, number>();
  const jobQueues = new Map<string, MemoryJobQueue>();
  const pendingRequests = new Set<(error: BusError) => void>();
  let closed = false;

  function invoke(sub: Subscription, msg: BusMessage): void {
    if (sub.active) invokeHandler(sub.handler, msg, report);
  }

  /**
   * Routes a message to subscriptions (one per queue group) and to the job queue capturing its
   * subject. Returns how many receivers it reached and the job queue's result, if any.
   */
  function route(
    subject: string,
    data: Uint8Array,
    headers: BusHeaders,
    reply: string | undefined,
  ): { receivers: number; job: EnqueueResult | undefined } {
    const msg = createBusMessage(subject, data, headers, reply);
    const plain: Subscription[] = [];
    const groups = new Map<string, Subscription[]>();
    for (const sub of subscriptions) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue === undefined) {
        plain.push(sub);
      } else {
        const group = groups.get(sub.queue);
        if (group) group.push(sub);
        else groups.set(sub.queue, [sub]);
      }
    }
    const chosen = [...plain];
    for (const [queue, members] of groups) {
      const turn = queueTurns.get(queue) ?? 0;
      queueTurns.set(queue, turn + 1);
      chosen.push(members[turn % members.length]!);
    }
    for (const sub of chosen) queueMicrotask(() => invoke(sub, msg));

    let job: EnqueueResult | undefined;
    for (const queue of jobQueues.values()) {
      if (!queue.captures(subject)) continue;
      job = queue.store(subject, data, headers);
      // JetStream answers a publish that has a reply subject with its PubAck.
      if (reply !== undefined) {
        const ack = { stream: queue.name, seq: job.seq, ...(job.duplicate ? { duplicate: true } : {}) };
        route(reply, encodePayload(ack), {}, undefined);
      }
      break; // queue subjects never overlap
    }
    return { receivers: chosen.length + (job ? 1 : 0), job };
  }

  function assertOpen(): void {
    if (closed) throw new BusError('closed', 'the bus is closed');
  }

  const bus: Bus = {
    async publish(subject: string, payload: BusPayload, publishOptions: PublishOptions = {}) {
      assertOpen();
      assertSubject(subject);
      route(subject, encodePayload(payload), Object.freeze({ ...publishOptions.headers }), publishOptions.reply);
    },

    onReconnect: () => () => undefined,

    maxMessageBytes: () => Infinity,

    async publishStored(subject: string, payload: BusPayload, storedOptions: StoredPublishOptions) {
      assertOpen();
      assertSubject(subject);
      if ((await bus.queueFor(subject)) === undefined) return false;
      route(subject, encodePayload(payload), Object.freeze({ ...storedOptions.headers, [MSG_ID_HEADER]: storedOptions.msgId }), undefined);
      return true;
    },

    subscribe(pattern: string, handler: BusHandler, subscribeOptions: SubscribeOptions = {}): BusSubscription {
      assertOpen();
      assertPattern(pattern);
      if (subscribeOptions.queue !== undefined) assertQueueGroup(subscribeOptions.queue);
      const sub: Subscription = { pattern, queue: subscribeOptions.queue, handler, active: true };
      subscriptions.add(sub);
      return {
        async unsubscribe() {
          sub.active = false;
          subscriptions.delete(sub);
        },
      };
    },

    request(subject: string, payload: BusPayload, requestOptions: RequestOptions = {}): Promise<BusMessage> {
      return new Promise<BusMessage>((resolve, reject) => {
        assertOpen();
        assertSubject(subject);
        const timeoutMs = requestOptions.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
        const inbox = `_INBOX.${randomUUID().replaceAll('-', '')}`;
        let timer: unknown;
        const inboxSub: Subscription = {
          pattern: inbox,
          queue: undefined,
          active: true,
          handler: (msg) => {
            finish();
            resolve(msg);
          },
        };
        const fail = (error: BusError): void => {
          finish();
          reject(error);
        };
        function finish(): void {
          inboxSub.active = false;
          subscriptions.delete(inboxSub);
          pendingRequests.delete(fail);
          if (timer !== undefined) clock.clearTimeout(timer);
        }
        subscriptions.add(inboxSub);
        pendingRequests.add(fail);
        const { receivers } = route(subject, encodePayload(payload), Object.freeze({ ...requestOptions.headers }), inbox);
        if (receivers === 0) {
          fail(new BusError('no_responders', `no responders for request on ${subject}`));
          return;
        }
        timer = clock.setTimeout(() => {
          fail(new BusError('timeout', `request on ${subject} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      });
    },

    respond: (msg: BusMessage, payload: BusPayload, respondOptions?: RespondOptions) =>
      respondTo((subject, body, options) => bus.publish(subject, body, options), msg, payload, respondOptions),

    async queueFor(subject: string): Promise<string | undefined> {
      if (!isValidSubject(subject)) return undefined;
      for (const queue of jobQueues.values()) if (queue.subjects.some((pattern) => subjectMatches(pattern, subject))) return queue.name;
      return undefined;
    },
    async jobQueue(name: string, queueOptions?: JobQueueOptions): Promise<JobQueue> {
      assertOpen();
      const config = normalizeJobQueueOptions(name, queueOptions);
      // Like JetStream, two queues may not capture the same subject.
      for (const other of jobQueues.values()) {
        if (other.name === name) continue;
        const clash = config.subjects.find((a) => other.subjects.some((b) => patternsOverlap(a, b)));
        if (clash !== undefined) {
          throw new BusError('invalid_subject', `job queue ${name}: subjects ${clash} overlap job queue ${other.name}'s`);
        }
      }
      let queue = jobQueues.get(name);
      if (queue) {
        queue.configure(config);
      } else {
        queue = new MemoryJobQueue(name, config, {
          clock,
          report: (error, queueName, subject) => report(error, { queue: queueName, ...(subject ? { subject } : {}) }),
        });
        jobQueues.set(name, queue);
      }
      return queue.handle((subject, data, headers) => {
        assertOpen();
        // route() always reaches this queue: enqueue checked that it captures the subject, and
        // no other queue's subjects overlap its own.
        return route(subject, data, headers, undefined).job!;
      });
    },

    async flush() {
      assertOpen();
      // Deliveries are microtasks: by the next macrotask every message published so far is routed.
      await new Promise<void>((resolve) => setImmediate(resolve));
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const queue of jobQueues.values()) queue.close();
      for (const sub of subscriptions) sub.active = false;
      subscriptions.clear();
      for (const fail of [...pendingRequests]) fail(new BusError('closed', 'the bus was closed'));
    },
  };
  return bus;
}
