import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  jetstreamManager,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { BusError, QueueOwnerError } from '../bus/bus.js';
import { errorText, type NormalizedJobQueueOptions } from '../bus/jobRunner.js';

// JetStream API error codes (nats-server errors.json).
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_ALREADY_EXISTS = 10148; // 2.10+: create with a different config
const CONSUMER_NAME_EXISTS = 10013;
const STREAM_SUBJECT_OVERLAP = 10065;
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NOT_FOUND = 10059;

/** Whether an error says a stream or consumer does not exist (a server that lost its JetStream data, say). */
export function isMissing(error: unknown): boolean {
  const code = apiCode(error);
  return code === CONSUMER_NOT_FOUND || code === STREAM_NOT_FOUND;
}

/** The names a queue uses on the server. */
export function natsQueueNames(name: string): { stream: string; durable: string; dlqStream: string; dlqSubject: string } {
  return { stream: name, durable: `${name}_workers`, dlqStream: `${name}_DLQ`, dlqSubject: `_DLQ.${name}` };
}

/** How a queue's stream description binds it to its owner (nats-server 2.9 has no stream metadata). */
const OWNER_DESCRIPTION = 'switchyard job queue bound to: ';

/** The description of a queue's stream bound to `owner`. */
function ownerDescription(owner: string): string {
  return `${OWNER_DESCRIPTION}${owner}`;
}

/** The owner a stream's description binds it to; undefined when it binds it to none (set up before bindings, or by hand). */
function ownerOf(description: string | undefined): string | undefined {
  return description?.startsWith(OWNER_DESCRIPTION) ? description.slice(OWNER_DESCRIPTION.length) : undefined;
}

/** The JetStream API error code of an error, if it is one. */
export function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** A {@link BusError} `unavailable`: JetStream did not do what was asked. */
export function unavailable(what: string, error: unknown): BusError {
  return new BusError('unavailable', `${what}: ${errorText(error)}`, { cause: error });
}

/**
 * Creates or updates the queue's streams and durable consumer (idempotent, safe to race from
 * several processes): a WorkQueue stream `name` with a dedup window, a limits stream `name_DLQ`
 * for dead letters, and a durable pull consumer `name_workers` with explicit acks. With an
 * `owner`, the stream is bound to it (its description); a stream bound to another owner is left as
 * it is and a {@link QueueOwnerError} thrown, before anything else is set up.
 */
export async function ensureNatsJobQueue(
  jsm: JetStreamManager,
  name: string,
  config: NormalizedJobQueueOptions,
): Promise<ConsumerInfo> {
  const names = natsQueueNames(name);
  const work: Partial<StreamConfig> & { name: string } = {
    name: names.stream,
    subjects: [...config.subjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: config.replicas,
    duplicate_window: nanos(config.dedupWindowMs),
    ...(config.owner === undefined ? {} : { description: ownerDescription(config.owner) }),
  };
  const dlq: Partial<StreamConfig> & { name: string } = {
    name: names.dlqStream,
    subjects: [names.dlqSubject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: config.replicas,
  };
  try {
    await ensureStream(jsm, work, config.owner);
    await ensureStream(jsm, dlq);
    const consumer = {
      durable_name: names.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(config.ackWaitMs),
      max_deliver: config.maxDeliver,
    };
    try {
      // On 2.9 adding an existing durable updates it; 2.10+ refuses a changed config instead.
      return await jsm.consumers.add(names.stream, consumer);
    } catch (error) {
      const code = apiCode(error);
      if (code !== CONSUMER_ALREADY_EXISTS && code !== CONSUMER_NAME_EXISTS) throw error;
      return await jsm.consumers.update(names.stream, names.durable, {
        ack_wait: consumer.ack_wait,
        max_deliver: consumer.max_deliver,
      });
    }
  } catch (error) {
    if (error instanceof QueueOwnerError) throw error;
    if (apiCode(error) === STREAM_SUBJECT_OVERLAP) {
      throw new BusError('invalid_subject', `job queue ${name}: subjects ${config.subjects.join(', ')} overlap another stream's`, {
        cause: error,
      });
    }
    throw unavailable(`cannot set up job queue ${name}`, error);
  }
}

/**
 * Checks that the queue's streams and consumer exist and, when one is gone, sets the queue up again
 * as {@link ensureNatsJobQueue} did. Resolves with the names of what was missing (none: all there).
 */
export async function restoreNatsJobQueue(jsm: JetStreamManager, name: string, config: NormalizedJobQueueOptions): Promise<string[]> {
  const names = natsQueueNames(name);
  const missing: string[] = [];
  const check = async (asset: string, info: () => Promise<unknown>): Promise<void> => {
    try {
      await info();
    } catch (error) {
      if (!isMissing(error)) throw unavailable(`cannot check job queue ${name}`, error);
      missing.push(asset);
    }
  };
  await check(names.stream, () => jsm.streams.info(names.stream));
  if (missing.length === 0) await check(names.durable, () => jsm.consumers.info(names.stream, names.durable));
  else missing.push(names.durable);
  await check(names.dlqStream, () => jsm.streams.info(names.dlqStream));
  if (missing.length > 0) await ensureNatsJobQueue(jsm, name, config);
  return missing;
}

/**
 * Creates the stream, or updates the one there (a changed option; retention and storage cannot
 * change). An update leaves out what `config` leaves out (nats.js merges it into the stream's
 * config): a stream's description (its owner) is kept unless `config` sets one. With an `owner`, a
 * stream bound to another owner is not updated: a {@link QueueOwnerError}; one bound to none
 * (earlier versions set up none) is bound to `owner` by the update (nats-server 2.9 lets an
 * update change the description).
 */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, owner?: string): Promise<void> {
  try {
    await jsm.streams.add(config);
    return;
  } catch (error) {
    if (apiCode(error) !== STREAM_NAME_IN_USE) throw error;
  }
  const { name, retention: _retention, storage: _storage, ...changeable } = config;
  if (owner !== undefined) {
    const boundTo = ownerOf((await jsm.streams.info(name)).config.description);
    if (boundTo !== undefined && boundTo !== owner) throw new QueueOwnerError(name, boundTo, owner);
  }
  await jsm.streams.update(name, changeable);
}

/**
 * Reads how many jobs of a queue are not done yet (waiting for a worker, or taken and not
 * acknowledged), on a JetStream manager opened once on first use (again after a failed open).
 */
export function queueBacklog(nc: NatsConnection): (name: string) => Promise<number> {
  let jsm: Promise<JetStreamManager> | undefined;
  return async (name) => {
    jsm ??= jetstreamManager(nc).catch((error: unknown) => {
      jsm = undefined;
      throw error;
    });
    const names = natsQueueNames(name);
    const info = await (await jsm).consumers.info(names.stream, names.durable);
    return info.num_pending + info.num_ack_pending;
  };
}
