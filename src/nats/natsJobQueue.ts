import type { JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { startJobPuller } from './jobPuller.js';
import type { BusPayload, ConsumeOptions, DeadLetter, EnqueueOptions, EnqueueResult, JobConsumer, JobHandler, JobQueue } from '../bus/bus.js';
import { BusError } from '../bus/bus.js';
import { encodePayload, parseJson } from '../bus/busMessage.js';
import { assertCaptured, consumeConcurrency, runJob, type NormalizedJobQueueOptions } from '../bus/jobRunner.js';
import { deadLetterExpired, natsJob, publishToStream, type DeadLetterRecord, type NatsJobHost, type NatsJobSource } from './natsJob.js';
import { natsQueueNames, unavailable } from './natsQueueSetup.js';

/**
 * How long one pull request waits for a job before it is renewed. The server heartbeats a waiting
 * pull every `expires / 2`; two missed heartbeats (a lost consumer leader, a dead server) end the
 * pull, so this also bounds how long a slot can sit on a pull that nobody will answer.
 */
const FETCH_EXPIRES_MS = 5_000;
/** Pause after a failed pull (server restarting, consumer missing) before the next one; it doubles with each failure in a row. */
const FETCH_RETRY_MS = 250;
/** The longest pause between pulls refused in a row (a server without JetStream refuses them all). */
const FETCH_MAX_RETRY_MS = 5_000;

/** A running consumer of a queue, as the bus keeps it. */
export interface TrackedConsumer {
  readonly queue: string;
  halt(): void;
  /** Pulls again: the queue's consumer was just created again. */
  askAgain(): void;
}

/** The bus-side hooks a NATS job queue needs. */
export interface NatsJobQueueHost extends NatsJobHost {
  readonly jsm: JetStreamManager;
  report(error: unknown, queue: string, subject?: string): void;
  /** Headers for a JetStream publish: fresh ones, since the publish writes its msg id into them. */
  toHeaders(record: Record<string, string> | undefined): MsgHdrs | undefined;
  /** Called when a consumer starts and stops, so `close()` can stop the rest (and a restored queue's consumers ask again). */
  track(consumer: TrackedConsumer, running: boolean): void;
  /** The connection's `inboxPrefix`, when it has one. */
  readonly inboxPrefix?: string;
  /**
   * Checks that the queue's streams and consumer exist, creating again (and logging) what is gone;
   * resolves true when something was.
   */
  restore(name: string, config: NormalizedJobQueueOptions): Promise<boolean>;
}

/** A {@link JobQueue} over a JetStream work-queue stream. */
export function natsJobQueue(
  host: NatsJobQueueHost,
  name: string,
  config: NormalizedJobQueueOptions,
): JobQueue {
  const names = natsQueueNames(name);
  const source: NatsJobSource = { host, name, config };
  const report = (error: unknown, subject?: string): void => host.report(error, name, subject);

  function consume(handler: JobHandler, options: ConsumeOptions = {}): JobConsumer {
    const concurrency = consumeConcurrency(options);
    if (host.nc.isClosed()) throw new BusError('closed', 'the bus is closed');
    /** Dead-letters the job an advisory names, then tells `onExpired` (see {@link ConsumeOptions.onExpired}). */
    const expired = async (advisory: Uint8Array): Promise<void> => {
      try {
        const letter = await deadLetterExpired(source, host.jsm, advisory);
        if (letter === undefined || options.onExpired === undefined) return;
        const { queue: _queue, seq: _seq, ...deadLetter } = letter;
        await options.onExpired(deadLetter);
      } catch (error) {
        report(error);
      }
    };
    const advisories = host.nc.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.stream}.${names.durable}`,
      {
        callback: (error, msg) => {
          if (error) report(error);
          else void expired(msg.data);
        },
      },
    );
    /** Jobs run after the stop (see `late` below). */
    const lateRuns = new Set<Promise<void>>();
    /** `stop()` was called: it awaits the jobs run late (`halt()` alone does not). */
    let stopping = false;
    const puller = startJobPuller({
      nc: host.nc,
      stream: names.stream,
      durable: names.durable,
      expiresMs: FETCH_EXPIRES_MS,
      heartbeatMs: FETCH_EXPIRES_MS / 2,
      retryMs: FETCH_RETRY_MS,
      maxRetryMs: FETCH_MAX_RETRY_MS,
      ...(host.inboxPrefix === undefined ? {} : { inboxPrefix: host.inboxPrefix }),
      onError: (error) => report(error),
      // Pulls unanswered: the consumer may be gone with the server's data.
      restore: () => host.restore(name, config),
      // A job on its last delivery that reaches this consumer after its stop: a nak would not hand
      // it back (the server delivers it no more), so it is run here, as if it had come before,
      // and awaited by the stop. Not after a plain halt (the bus closing): nobody would await it,
      // and its connection is closing.
      late: (delivery) => {
        if (!stopping || delivery.deliveryCount < config.maxDeliver) return false;
        const run: Promise<void> = runJob(natsJob(source, delivery), handler, (error) => report(error, delivery.subject)).finally(() => lateRuns.delete(run));
        lateRuns.add(run);
        return true;
      },
    });
    let halted = false;
    const halt = (): void => {
      if (halted) return;
      halted = true;
      advisories.unsubscribe();
      void puller.stop();
    };

    // Each slot asks for a job only when it is free (the puller asks the server for all of them).
    async function slot(): Promise<void> {
      for (;;) {
        const delivery = await puller.next();
        if (delivery === undefined) return;
        await runJob(natsJob(source, delivery), handler, (error) => report(error, delivery.subject));
      }
    }

    const tracked: TrackedConsumer = { queue: name, halt, askAgain: () => puller.askAgain() };
    host.track(tracked, true);
    const slots = Array.from({ length: concurrency }, () => slot());
    return {
      stop: async () => {
        stopping = true;
        halt();
        await Promise.allSettled(slots);
        // Jobs that were on their way when it stopped (see `late`) have come, and have settled.
        await puller.stop();
        while (lateRuns.size > 0) await Promise.allSettled([...lateRuns]);
        host.track(tracked, false);
      },
    };
  }

  return {
    name,
    async enqueue(subject: string, payload: BusPayload, options: EnqueueOptions = {}): Promise<EnqueueResult> {
      assertCaptured(name, config.subjects, subject);
      if (host.nc.isClosed()) throw new BusError('closed', 'the bus is closed');
      const headers = host.toHeaders(options.headers);
      try {
        const ack = await publishToStream(host.js, subject, encodePayload(payload), {
          ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
          ...(headers ? { headers } : {}),
          expect: { streamName: names.stream },
        });
        return { duplicate: ack.duplicate, seq: ack.seq };
      } catch (error) {
        throw unavailable(`enqueue on ${subject} failed`, error);
      }
    },
    consume,
    async deadLetters(): Promise<DeadLetter[]> {
      try {
        const info = await host.jsm.streams.info(names.dlqStream);
        const letters: DeadLetter[] = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const stored = await host.jsm.streams.getMessage(names.dlqStream, { seq });
          if (!stored) continue;
          const parsed = parseJson(stored.data);
          if (!parsed.success) continue;
          const { queue: _queue, seq: _seq, ...letter } = parsed.data as DeadLetterRecord;
          letters.push(letter);
        }
        return letters;
      } catch (error) {
        throw unavailable(`cannot read dead letters of ${name}`, error);
      }
    },
  };
}
