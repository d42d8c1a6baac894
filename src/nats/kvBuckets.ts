import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { sleep, systemClock } from '../clock.js';
import { ConfigError, messageOf, SystemError } from '../errors.js';
import { indexSubjects, type IndexSubjects } from './kvKeys.js';
import { isUnanswered } from './unanswered.js';

/** The default threads bucket. */
export const DEFAULT_THREADS_BUCKET = 'switchyard_threads';

/** Tries of a read that JetStream did not answer. */
const READ_ATTEMPTS = 4;
/** Tries of the watches of `list`, and how long each may wait for JetStream. */
export const LIST_ATTEMPTS = 8;
const LIST_TIMEOUT_MS = 1_500;
/** JetStream's error code for a stream that exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/** What opening the store's buckets needs (see `NatsKvStoreOptions`). */
export interface BucketOptions {
  readonly nc?: NatsConnection;
  readonly background?: NatsConnection;
  readonly inboxPrefix?: string;
  readonly buckets?: { threads: KV; summaries: KV };
  readonly bucket?: string;
  readonly replicas?: number;
  readonly history?: number;
}

/**
 * The connection of the store's work that no thread read or write waits for: index entries,
 * summary writes, index clean-up, and listings (the consumers that read the index, the summaries
 * they check). nats-server 2.9 handles what a client sends one message after the other, in the
 * order sent, and removing a message (an index entry a thread left, the summary a new one
 * replaces) first reads the whole block that holds it (4 to 8 MB) when that block is not in
 * memory, holding its stream meanwhile: on the connection of thread writes, each such removal
 * would hold up the reads and writes sent after it, and so would an index entry published while
 * the index stream is held. Requests time out sooner than thread writes: on a 2.9 cluster that
 * lost a node, creating a listing's ephemeral consumer sometimes goes unanswered (it was placed on
 * the dead peer), and a quick retry is placed again.
 */
export interface SideChannel {
  /** The store's connection when it was given no other. */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The summaries bucket, read through this connection. */
  readonly summaries: KV;
  /** Whether the summaries bucket answers direct gets (a bucket of one replica this store created). */
  readonly direct: boolean;
  /** Whether the threads bucket answers direct gets (a listing checks its summaries' revisions so). */
  readonly threadsDirect: boolean;
  /** The connection's `inboxPrefix`, when it has one. */
  readonly inboxPrefix?: string;
}

/** Waits until the server has everything both connections sent so far (one round trip each). */
export async function flushBoth(buckets: Buckets): Promise<void> {
  await Promise.all([buckets.nc.flush(), buckets.side.nc === buckets.nc ? undefined : buckets.side.nc.flush()]);
}

/** The two buckets, and what the index needs to write and read the summaries bucket directly. */
export interface Buckets {
  readonly threads: KV;
  readonly summaries: KV;
  /** The connection of thread reads and writes. */
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  /** Where the work that may be slow on the server goes (see {@link SideChannel}). */
  readonly side: SideChannel;
  /** The buckets' streams (`KV_<bucket>`) and the subject prefixes of their keys (`$KV.<bucket>.`). */
  readonly threadsStream: string;
  readonly threadsSubject: string;
  readonly summariesStream: string;
  readonly summariesSubject: string;
  /** The index stream (see `indexSubjects`). */
  readonly index: IndexSubjects;
}

export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Runs a read again when JetStream did not answer in time (a clustered stream electing a leader
 * after a node died takes seconds). Reads only: a write that timed out may have happened.
 */
export async function retryRead<T>(read: () => Promise<T>, attempts = READ_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= attempts || !isUnanswered(error)) throw error;
      await sleep(systemClock, Math.min(100 * 2 ** attempt, 1_000));
    }
  }
}

export function systemError(what: string, error: unknown): SystemError {
  return new SystemError(`${what}: ${messageOf(error)}`, { cause: error });
}

/** Opens (creating them when missing) the threads bucket and its summaries bucket. */
export async function openBuckets(options: BucketOptions): Promise<Buckets> {
  const { nc, bucket = DEFAULT_THREADS_BUCKET, replicas = 1, history = 1 } = options;
  if (nc === undefined) throw new ConfigError('createNatsKvStore needs the connection (nc), with or without open buckets');
  if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError('replicas must be a positive integer');
  if (!Number.isInteger(history) || history < 1 || history > 64) throw new ConfigError('history must be an integer from 1 to 64');
  try {
    const opened = options.buckets ?? (await createBuckets(nc, bucket, replicas, history));
    const summariesStatus = await opened.summaries.status();
    const summariesName = summariesStatus.bucket;
    const threadsStatus = await opened.threads.status();
    const threadsName = threadsStatus.bucket;
    // Binding (Kvm.open) opens no connection and asks the server nothing: it takes allow_direct as told.
    const side = options.background ?? nc;
    const sideJs = jetstream(side, { timeout: LIST_TIMEOUT_MS });
    const direct = summariesStatus.streamInfo.config.allow_direct === true;
    const sideSummaries = await new Kvm(sideJs).open(summariesName, { allow_direct: direct });
    const sideJsm = await jetstreamManager(side, { timeout: LIST_TIMEOUT_MS, checkAPI: false });
    const jsm = side === nc ? sideJsm : await jetstreamManager(nc, { timeout: LIST_TIMEOUT_MS, checkAPI: false });
    const index = indexSubjects(threadsName);
    await openIndexStream(jsm, index, replicas);
    return {
      ...opened,
      nc,
      jsm,
      side: { nc: side, js: sideJs, jsm: sideJsm, summaries: sideSummaries, direct, threadsDirect: threadsStatus.streamInfo.config.allow_direct === true, ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }) },
      index,
      threadsStream: `KV_${threadsName}`,
      threadsSubject: `$KV.${threadsName}.`,
      summariesStream: `KV_${summariesName}`,
      summariesSubject: `$KV.${summariesName}.`,
    };
  } catch (error) {
    throw systemError(`cannot open the KV buckets ${bucket} and ${bucket}_summaries`, error);
  }
}

/** Creates the threads and summaries buckets, or opens them as they are. */
async function createBuckets(nc: NatsConnection, bucket: string, replicas: number, history: number): Promise<{ threads: KV; summaries: KV }> {
  // Direct gets may be answered by a lagging replica; a replicated bucket reads through its leader.
  const bucketOptions = { replicas, history, allow_direct: replicas === 1 };
  const kvm = new Kvm(nc);
  const [threads, summaries] = await Promise.all([
    kvm.create(bucket, { ...bucketOptions, description: 'switchyard threads: key = thread id, value = { agent, events, createdAt }' }),
    kvm.create(`${bucket}_summaries`, { ...bucketOptions, history: 1, description: `switchyard thread summaries and index of ${bucket}` }),
  ]);
  return { threads, summaries };
}

/**
 * Whether `stream` is gone from the server (a server that lost its JetStream data); any other
 * failure to read it is a {@link SystemError} saying `failure`.
 */
export async function streamMissing(jsm: JetStreamManager, stream: string, failure: string): Promise<boolean> {
  try {
    await retryRead(() => jsm.streams.info(stream));
    return false;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return true;
    throw systemError(failure, error);
  }
}

/**
 * Checks that the streams of the threads bucket, its summaries bucket and its index exist, and
 * creates again, as {@link openBuckets} did, those that are gone (a server that lost its
 * JetStream data). Resolves with the names of the streams that were missing.
 */
export async function restoreBuckets(options: { nc: NatsConnection; bucket: string; replicas?: number; history?: number }): Promise<string[]> {
  const { nc, bucket, replicas = 1, history = 1 } = options;
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const index = indexSubjects(bucket);
  const streams = [`KV_${bucket}`, `KV_${bucket}_summaries`, index.stream];
  const missing: string[] = [];
  for (const stream of streams) if (await streamMissing(jsm, stream, `cannot check the stream ${stream}`)) missing.push(stream);
  if (missing.length === 0) return missing;
  try {
    await createBuckets(nc, bucket, replicas, history);
    await openIndexStream(jsm, index, replicas);
  } catch (error) {
    throw systemError(`cannot create again the KV buckets ${bucket} and ${bucket}_summaries`, error);
  }
  return missing;
}

/** Creates the index stream, or opens it as it is. */
async function openIndexStream(jsm: JetStreamManager, index: IndexSubjects, replicas: number): Promise<void> {
  try {
    await jsm.streams.add({
      name: index.stream,
      subjects: [`${index.prefix}>`],
      storage: StorageType.File,
      num_replicas: replicas,
      max_msgs_per_subject: -1,
      description: 'switchyard thread index: threads by creation and by status (see kvKeys.ts)',
    });
  } catch (error) {
    // Created already with other settings (replicas): use it as it is.
    if (!(error instanceof JetStreamApiError) || error.code !== STREAM_NAME_IN_USE) throw error;
  }
}
