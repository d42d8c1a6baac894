import { jetstream, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import { messageOf, ConfigError, NotFoundError, SystemError, VersionConflictError } from '../errors.js';
import { sleep, systemClock, type Clock } from '../clock.js';
import { checkAppend, checkThread, deepFreeze } from '../store/checkEvents.js';
import { selectSummaries, summaryOf } from '../store/selectSummaries.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../store/threadStore.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { parseEvents } from '../thread/thread.js';
import { deriveState, isThreadStatus, reduceState, type ThreadState } from '../thread/state.js';
import { threadIdOfKey, threadKey } from './kvKeys.js';

/** Options of {@link createNatsKvStore}. */
export interface NatsKvStoreOptions {
  /**
   * The connection to open (creating them when missing) the two buckets on. Give this or
   * `buckets`. The store never closes the connection.
   */
  nc?: NatsConnection;
  /** Buckets opened by the caller instead of `nc`: the threads and their summaries. */
  buckets?: { threads: KV; summaries: KV };
  /**
   * The threads bucket; summaries go to `<bucket>_summaries`.
   * @default 'switchyard_threads'
   */
  bucket?: string;
  /**
   * JetStream replicas of both buckets (1, 3 or 5), when this store creates them.
   * @default 1
   */
  replicas?: number;
  /**
   * Revisions kept per key, when this store creates the buckets. 1 keeps only the current thread
   * (the thread is its own history).
   * @default 1
   */
  history?: number;
  /**
   * Stamps the creation time of threads created without events (their summary times).
   * @default systemClock
   */
  clock?: Clock;
  /**
   * How long a summary write waits, coalescing the writes of a thread that moves on meanwhile. A
   * `list` in this process writes the waiting ones first; other processes see them this much later
   * (or repair them from the thread).
   * @default 50
   */
  summaryDelayMs?: number;
  /**
   * Threads whose last known revision is kept in memory, so an append by the process that wrote
   * the thread last needs no read first. A stale entry costs one failed compare-and-set and a read.
   * @default 1000
   */
  cacheSize?: number;
}

/** The default threads bucket. */
export const DEFAULT_THREADS_BUCKET = 'switchyard_threads';

/** What the threads bucket holds under a thread's key: plain JSON any NATS client can read. */
export interface StoredThreadValue {
  readonly agent: string;
  readonly events: readonly ThreadEvent[];
  /** ISO time the store created the thread (the summary times of a thread without events). */
  readonly createdAt: string;
}

/** What the summaries bucket holds: the summary and the thread revision it was derived from. */
interface StoredSummary extends ThreadSummary {
  readonly revision: number;
}

interface Known {
  readonly revision: number;
  /** Deeply frozen: handed out as is. */
  readonly thread: Thread;
  /** `JSON.stringify(thread.events)`, kept so an append serializes only the new events. */
  readonly eventsJson: string;
  readonly state: ThreadState;
  readonly createdAt: string;
}

/** The buckets, and a fast way to write a summary when the store has the connection. */
interface Buckets {
  readonly threads: KV;
  readonly summaries: KV;
  /**
   * Handles of the same buckets for `list`, whose watches time out sooner: on a 2.9 cluster that
   * lost a node, creating the watch's ephemeral consumer sometimes goes unanswered (it was placed on
   * the dead peer), and a quick retry is placed again.
   */
  readonly listing: { readonly threads: KV; readonly summaries: KV };
  /**
   * Writes a summary with a plain publish on the bucket's subject: no ack to wait for (a lost
   * summary is repaired by the next `list`).
   */
  readonly publishSummary?: (key: string, value: string) => void;
  readonly flush?: () => Promise<void>;
}

/** Tries of a read that JetStream did not answer. */
const READ_ATTEMPTS = 4;
/** Tries of the watches of `list`, and how long each may wait for JetStream. */
const LIST_ATTEMPTS = 8;
const LIST_TIMEOUT_MS = 1_500;
/** Compare-and-set attempts before an append gives up on a key that keeps changing under it. */
const MAX_CAS_ATTEMPTS = 5;

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Runs a read again when JetStream did not answer in time (a clustered stream electing a leader
 * after a node died takes seconds). Reads only: a write that timed out may have happened.
 */
async function retryRead<T>(read: () => Promise<T>, attempts = READ_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= attempts || !isUnanswered(error)) throw error;
      await sleep(systemClock, Math.min(100 * 2 ** attempt, 1_000));
    }
  }
}

function isUnanswered(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof errors.TimeoutError || e instanceof errors.NoRespondersError) return true;
  }
  return false;
}

/** A value in the threads bucket that is not a thread (written by something else). */
export class CorruptThreadError extends SystemError {}

function systemError(what: string, error: unknown): SystemError {
  return new SystemError(`${what}: ${messageOf(error)}`, { cause: error });
}

/**
 * A {@link ThreadStore} in a NATS KV bucket (JetStream), for any number of processes on any number
 * of machines. Targets nats-server 2.9.
 *
 * - Key: the thread id (see {@link threadKey} for ids with characters KV keys do not allow); value:
 *   JSON {@link StoredThreadValue} `{ agent, events, createdAt }`.
 * - `create` writes only if the key has no value; `append` writes with the revision it read
 *   (`kv.update`, compare-and-set). When the revision moved, it reads again: a thread at another
 *   version is a {@link VersionConflictError}. Nothing is ever overwritten.
 * - `list` reads the summaries bucket (`<bucket>_summaries`, key = thread key, value = summary and
 *   the thread revision it was derived from), written after thread writes (coalesced per thread
 *   over `summaryDelayMs`, without waiting for an ack). A summary may lag its thread: written a
 *   moment later, lost when a process died between the two writes, or overtaken when two writers'
 *   summary writes crossed. So `list` compares every summary with its thread's current revision (a
 *   headers-only read of the threads bucket) and rebuilds the stale ones from their threads.
 * - Threads are returned deeply frozen, as the memory store does.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: process.env.NATS_URL });
 * const store = await createNatsKvStore({ nc, replicas: 3 });
 * ```
 */
export async function createNatsKvStore(options: NatsKvStoreOptions): Promise<ThreadStore> {
  const { clock = systemClock, cacheSize = 1000, summaryDelayMs = 50 } = options;
  const { threads, summaries, listing, publishSummary, flush } = await openBuckets(options);
  const cache = new Map<string, Known>();
  const pendingSummaries = new Set<Promise<void>>();
  let closed = false;

  function checkOpen(): void {
    if (closed) throw new SystemError('the NATS KV store is closed');
  }

  function remember(id: string, known: Known): void {
    cache.delete(id);
    cache.set(id, known);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  }

  /** Parses a stored entry; the cached copy when its revision is the one we know. */
  function fromEntry(id: string, entry: KvEntry): Known {
    const cached = cache.get(id);
    if (cached?.revision === entry.revision) return cached;
    let value: Partial<StoredThreadValue>;
    try {
      value = entry.json<Partial<StoredThreadValue>>();
    } catch (error) {
      throw new CorruptThreadError(`thread ${id} in bucket ${entry.bucket} is not JSON`, { cause: error });
    }
    const events = parseEvents(value?.events);
    if (!events.success || typeof value.agent !== 'string' || value.agent.length === 0) {
      throw new CorruptThreadError(`thread ${id} in bucket ${entry.bucket} is corrupt: ${events.success ? 'no agent' : events.error}`);
    }
    const thread = deepFreeze<Thread>({ id, agent: value.agent, events: events.data });
    const createdAt = typeof value.createdAt === 'string' ? value.createdAt : entry.created.toISOString();
    const known: Known = { revision: entry.revision, thread, eventsJson: JSON.stringify(thread.events), state: deriveState(thread.events), createdAt };
    remember(id, known);
    return known;
  }

  async function read(id: string): Promise<Known | undefined> {
    let entry: KvEntry | null;
    try {
      entry = await retryRead(() => threads.get(threadKey(id)));
    } catch (error) {
      throw systemError(`cannot read thread ${id}`, error);
    }
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return fromEntry(id, entry);
  }

  /** The stored JSON (a {@link StoredThreadValue}), built around the events' JSON. */
  function encode(agent: string, eventsJson: string, createdAt: string): string {
    return `{"agent":${JSON.stringify(agent)},"events":${eventsJson},"createdAt":${JSON.stringify(createdAt)}}`;
  }

  // Summary writes wait a moment and are coalesced per thread: a thread moving through its steps
  // costs one summary write per interval, not one per append.
  const dueSummaries = new Map<string, Known>();
  let summaryTimer: NodeJS.Timeout | undefined;

  /** Writes the summary after a thread write, without holding up the writer (see `list`). */
  function writeSummary(known: Known): void {
    dueSummaries.set(known.thread.id, known);
    summaryTimer ??= setTimeout(flushSummaries, summaryDelayMs).unref();
  }

  function flushSummaries(): void {
    clearTimeout(summaryTimer);
    summaryTimer = undefined;
    const due = [...dueSummaries.values()];
    dueSummaries.clear();
    for (const known of due) putSummary(known);
  }

  function putSummary(known: Known): void {
    const summary: StoredSummary = {
      ...summaryOf(known.thread.id, known.thread.agent, known.state, known.createdAt),
      revision: known.revision,
    };
    const key = threadKey(known.thread.id);
    if (publishSummary) {
      try {
        publishSummary(key, JSON.stringify(summary));
      } catch {
        // repaired by the next list
      }
      return;
    }
    const write = summaries.put(key, JSON.stringify(summary)).then(
      () => undefined,
      () => undefined, // a lost summary write is repaired by the next list
    );
    pendingSummaries.add(write);
    void write.then(() => pendingSummaries.delete(write));
  }

  return {
    async create(thread: Thread): Promise<Thread> {
      checkOpen();
      const copy = deepFreeze(checkThread(thread));
      const createdAt = new Date(clock.now()).toISOString();
      const eventsJson = JSON.stringify(copy.events);
      let revision: number;
      try {
        // previousSeq 0: only if the key has never been written.
        revision = await threads.put(threadKey(copy.id), encode(copy.agent, eventsJson, createdAt), { previousSeq: 0 });
      } catch (error) {
        if (!isWrongLastSequence(error)) throw systemError(`cannot create thread ${copy.id}`, error);
        const existing = await read(copy.id);
        throw new VersionConflictError(copy.id, 0, existing?.state.version ?? 0);
      }
      const frozen = Object.freeze({ id: copy.id, agent: copy.agent, events: Object.freeze(copy.events) });
      const known: Known = { revision, thread: frozen, eventsJson, state: deriveState(frozen.events), createdAt };
      remember(copy.id, known);
      writeSummary(known);
      return frozen;
    },

    async append(id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread> {
      checkOpen();
      const added = deepFreeze(checkAppend(id, expectedVersion, events));
      let current = added.length > 0 ? cache.get(id) : undefined;
      if (current === undefined || current.state.version !== expectedVersion) current = await read(id);
      for (let attempt = 1; ; attempt++) {
        if (current === undefined) throw new NotFoundError('thread', id);
        if (current.state.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, current.state.version);
        if (added.length === 0) return current.thread;
        const thread: Thread = Object.freeze({ id, agent: current.thread.agent, events: Object.freeze([...current.thread.events, ...added]) });
        const addedJson = added.map((event) => JSON.stringify(event)).join(',');
        const eventsJson = current.eventsJson === '[]' ? `[${addedJson}]` : `${current.eventsJson.slice(0, -1)},${addedJson}]`;
        let revision: number;
        try {
          revision = await threads.update(threadKey(id), encode(thread.agent, eventsJson, current.createdAt), current.revision);
        } catch (error) {
          // The write may have happened (a lost ack): forget what we knew, read again next time.
          cache.delete(id);
          if (!isWrongLastSequence(error)) throw systemError(`cannot append to thread ${id}`, error);
          if (attempt >= MAX_CAS_ATTEMPTS) throw systemError(`thread ${id} kept changing under ${attempt} appends`, error);
          current = await read(id);
          continue;
        }
        let state = current.state;
        for (const event of added) state = reduceState(state, event);
        const known: Known = { revision, thread, eventsJson, state, createdAt: current.createdAt };
        remember(id, known);
        writeSummary(known);
        return thread;
      }
    },

    async get(id: string): Promise<Thread | undefined> {
      checkOpen();
      return (await read(id))?.thread;
    },

    async list(listOptions?: ListOptions): Promise<ThreadSummary[]> {
      checkOpen();
      // Summaries written so far reach the server first (unacknowledged ones may still be on their
      // way into the bucket; a summary older than its thread is repaired below).
      flushSummaries();
      await Promise.all(pendingSummaries);
      await flush?.().catch(() => undefined);
      const [stored, revisions] = await Promise.all([
        retryRead(() => lastValues(listing.summaries, false), LIST_ATTEMPTS),
        retryRead(() => lastValues(listing.threads, true), LIST_ATTEMPTS),
      ]);
      const current: ThreadSummary[] = [];
      const stale: string[] = [];
      for (const [key, { revision }] of revisions) {
        const entry = stored.get(key);
        const summary = entry === undefined ? undefined : parseSummary(entry.value);
        // Current only when derived from the thread's current revision.
        if (summary === undefined || summary.revision !== revision || threadKey(summary.id) !== key) stale.push(key);
        else current.push(Object.freeze(withoutRevision(summary)));
      }
      const repaired = await Promise.all(
        stale.map(async (key) => {
          const id = threadIdOfKey(key);
          // A foreign or corrupt entry is left out of the list rather than failing it.
          const known = id === undefined ? undefined : await read(id).catch((error: unknown) => (error instanceof CorruptThreadError ? undefined : Promise.reject(error)));
          if (known === undefined) return undefined;
          putSummary(known);
          return summaryOf(known.thread.id, known.thread.agent, known.state, known.createdAt);
        }),
      );
      for (const summary of repaired) if (summary !== undefined) current.push(summary);
      return selectSummaries(current, listOptions);
    },

    async close(): Promise<void> {
      closed = true;
      flushSummaries();
      await Promise.all(pendingSummaries);
      await flush?.().catch(() => undefined);
    },
  };
}

async function openBuckets(options: NatsKvStoreOptions): Promise<Buckets> {
  if (options.buckets) return { ...options.buckets, listing: options.buckets };
  const { nc, bucket = DEFAULT_THREADS_BUCKET, replicas = 1, history = 1 } = options;
  if (nc === undefined) throw new ConfigError('createNatsKvStore needs a connection (nc) or open buckets');
  if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError('replicas must be a positive integer');
  if (!Number.isInteger(history) || history < 1 || history > 64) throw new ConfigError('history must be an integer from 1 to 64');
  const kvm = new Kvm(nc);
  // Direct gets may be answered by a lagging replica; a replicated bucket reads through its leader.
  const bucketOptions = { replicas, history, allow_direct: replicas === 1 };
  try {
    const [threads, summaries] = await Promise.all([
      kvm.create(bucket, { ...bucketOptions, description: 'switchyard threads: key = thread id, value = { agent, events, createdAt }' }),
      kvm.create(`${bucket}_summaries`, { ...bucketOptions, history: 1, description: `switchyard thread summaries of ${bucket}` }),
    ]);
    const summarySubject = `$KV.${bucket}_summaries.`;
    // Binding opens no connection and asks the server nothing.
    const quick = new Kvm(jetstream(nc, { timeout: LIST_TIMEOUT_MS }));
    const [listThreads, listSummaries] = await Promise.all([
      quick.open(bucket, { allow_direct: bucketOptions.allow_direct }),
      quick.open(`${bucket}_summaries`, { allow_direct: bucketOptions.allow_direct }),
    ]);
    return {
      threads,
      summaries,
      listing: { threads: listThreads, summaries: listSummaries },
      publishSummary: (key, value) => nc.publish(summarySubject + key, value),
      flush: () => nc.flush(),
    };
  } catch (error) {
    throw systemError(`cannot open the KV buckets ${bucket} and ${bucket}_summaries`, error);
  }
}

/**
 * The current entry of every key in a bucket: its revision and value (empty with `headersOnly`).
 * Deleted keys are left out.
 */
async function lastValues(kv: KV, headersOnly: boolean): Promise<Map<string, { revision: number; value: Uint8Array }>> {
  const entries = new Map<string, { revision: number; value: Uint8Array }>();
  try {
    // An empty bucket's watch would only wait for updates: ask first. Keys are never removed, so a
    // non-empty bucket stays non-empty for the watch.
    if ((await kv.status()).values === 0) return entries;
    const watch = await kv.watch({ headers_only: headersOnly });
    for await (const entry of watch) {
      if (entry.operation === 'PUT') entries.set(entry.key, { revision: entry.revision, value: entry.value });
      else entries.delete(entry.key);
      // The last of the initial values is the first one marked as an update.
      if (entry.isUpdate) break;
    }
  } catch (error) {
    throw systemError('cannot list threads', error);
  }
  return entries;
}

function parseSummary(bytes: Uint8Array): StoredSummary | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<StoredSummary> | null;
    if (
      typeof parsed?.id !== 'string' ||
      typeof parsed.agent !== 'string' ||
      !isThreadStatus(parsed.status) ||
      typeof parsed.version !== 'number' ||
      typeof parsed.revision !== 'number' ||
      typeof parsed.createdAt !== 'string' ||
      typeof parsed.updatedAt !== 'string'
    ) {
      return undefined;
    }
    return parsed as StoredSummary;
  } catch {
    return undefined;
  }
}

function withoutRevision(summary: StoredSummary): ThreadSummary {
  const { revision: _revision, ...rest } = summary;
  return rest;
}
