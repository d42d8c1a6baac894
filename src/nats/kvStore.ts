import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError, messageOf, NotFoundError, SystemError, ThreadTooLargeError, VersionConflictError } from '../errors.js';
import { bounded, systemClock, type Clock } from '../clock.js';
import { checkAppend, checkNotEnded, checkThread, deepFreeze } from '../store/checkEvents.js';
import { parseListOptions } from '../store/listQuery.js';
import { foldStatus } from '../store/statusSince.js';
import type { ListOptions, ThreadStore, ThreadSummary } from '../store/threadStore.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { rememberState, statusOf, withState } from '../thread/state.js';
import { isWrongLastSequence, openBuckets, retryRead, systemError, type Buckets } from './kvBuckets.js';
import { enteredAtOf, ensureIndex, IndexWriter } from './kvIndex.js';
import { threadKey, threadKeyOf } from './kvKeys.js';
import { listThreads } from './kvListing.js';
import { casPurge, casWrite } from './kvWrite.js';
import { WalkCache } from './kvPaging.js';
import { parseSummary, SummaryWriter, type Known, type StoredSummary } from './kvSummaries.js';
import { encodeThread, knownOf, threadSizeLimit, type ThreadSizeLimit } from './kvThread.js';
import { DEFAULT_MAX_PAYLOAD } from './natsBus.js';

export { DEFAULT_THREADS_BUCKET } from './kvBuckets.js';
export { CorruptThreadError, type StoredThreadValue } from './kvThread.js';

/** Options of {@link createNatsKvStore}. */
export interface NatsKvStoreOptions {
  /**
   * The connection to open the two buckets on (creating them when missing), and to write and read
   * the index with. The store never closes it.
   */
  nc?: NatsConnection | undefined;
  /**
   * A second connection (to the same servers) for the store's work that may be slow on the server
   * and that no thread write waits for: summary writes, index clean-up, and listings. nats-server
   * 2.9 handles a connection's messages one after the other, and removing a message (the index
   * entry of a status a thread left, the summary a new one replaces) first reads the whole block
   * that holds it when that block is not in memory (4 to 8 MB): on `nc`, such a removal holds up
   * the thread reads and writes sent after it. The store never closes it.
   * @default nc
   */
  background?: NatsConnection | undefined;
  /**
   * The `inboxPrefix` the connections were opened with, when they were (a user allowed to
   * subscribe only there): a listing's page reads its summaries with replies under it.
   */
  inboxPrefix?: string | undefined;
  /** Buckets the caller opened on `nc`, used instead of opening them: the threads and their summaries. */
  buckets?: { threads: KV; summaries: KV } | undefined;
  /**
   * The threads bucket; summaries and the index go to `<bucket>_summaries`.
   * @default 'switchyard_threads'
   */
  bucket?: string | undefined;
  /**
   * JetStream replicas of both buckets (1, 3 or 5), when this store creates them.
   * @default 1
   */
  replicas?: number | undefined;
  /**
   * Revisions kept per key, when this store creates the buckets. 1 keeps only the current thread
   * (the thread is its own history).
   * @default 1
   */
  history?: number | undefined;
  /**
   * Stamps the creation time of threads created without events (their summary's `createdAt`), and
   * tells listings the age of an index entry whose thread is gone.
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * How long a summary write waits, coalescing the writes of a thread that moves on meanwhile. A
   * `list` in this process writes the waiting ones first; other processes see them this much later
   * (or repair them from the thread).
   * @default 50
   */
  summaryDelayMs?: number | undefined;
  /**
   * Threads whose last known revision is kept in memory, so an append by the process that wrote
   * the thread last needs no read first. A stale entry costs one failed compare-and-set and a read.
   * @default 1000
   */
  cacheSize?: number | undefined;
  /**
   * The largest value, in bytes, the store writes to the threads bucket: a thread is one value, so
   * this bounds each thread. A thread may take all of it less a reserve (1/16 of it, between 2 and
   * 16 KiB): a create or append past that is refused with a {@link ThreadTooLargeError} before it
   * is sent, and the reserve leaves room for the events that end a thread (a cancel, the failure
   * that says it grew too large). A value larger than the server's `max_payload` is taken as that;
   * one below 8 KiB is refused (a `ConfigError`).
   * @default the server's `max_payload` (1 MB unless its config sets it), as the connection reports it
   */
  maxPayload?: number | undefined;
}

/** Compare-and-set attempts before an append gives up on a key that keeps changing under it. */
const MAX_CAS_ATTEMPTS = 5;

/**
 * A {@link ThreadStore} in a NATS KV bucket (JetStream), for any number of processes on any number
 * of machines. Targets nats-server 2.9.
 *
 * - Key: the thread id (see {@link threadKey} for ids with characters KV keys do not allow); value:
 *   JSON `{ agent, events, createdAt }` ({@link StoredThreadValue}).
 * - `create` writes only if the key has no value (none ever, or the purge marker of a deleted
 *   thread); `append` writes with the revision it read (`kv.update`, compare-and-set). When the
 *   revision moved, it reads again: a thread at another version is a {@link VersionConflictError}.
 *   Nothing is ever overwritten.
 * - `delete` purges the key with the revision it read (compare-and-set, as `append`): the value
 *   and its history give way to one purge marker (headers only), which a read takes for no
 *   thread and a `create` of the same id writes over. Then it removes the marker (a purge of the
 *   stream by the key's subject, up to the marker's sequence: a create that wrote over it stays),
 *   the thread's summary, and the index entries it knows of (from its summary and this process).
 *   A listing skips the others (their thread is gone) and removes them: at once while the key
 *   holds a marker newer than the entry (a deleter died before removing it), else once the
 *   entry is ten minutes old (a create still in flight publishes its entries before its write).
 *   A retry after an unanswered purge that finds the id created again (another `createdAt`)
 *   answers `true` and leaves the new thread.
 * - `<bucket>_summaries` holds each thread's summary (written after its writes, coalesced over
 *   `summaryDelayMs`, without waiting for an ack) and an index (`kvKeys.ts`): a key per thread in
 *   creation order and a key per thread in its status, written before the thread write that
 *   creates or moves it. Paged listings (`after`) and listings by status read the index through
 *   consumers filtered on those keys, so they cost what they return, not the number of threads;
 *   each key is checked against the thread's summary, and the summary against the thread's current
 *   revision (one get per key, all sent at once: a writer killed between a thread write and its
 *   summary leaves the summary behind, and one killed in a delete the summary of a thread that is
 *   gone); a summary that lags its thread, or is older than the key, is rebuilt from the thread,
 *   and a key the thread has left is deleted. Other listings read every summary and rebuild those
 *   that lag their thread. The index is built once when missing (a bucket from before it).
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
  if (options.maxPayload !== undefined && !(Number.isSafeInteger(options.maxPayload) && options.maxPayload >= MIN_MAX_PAYLOAD)) {
    throw new ConfigError(`maxPayload must be a whole number of bytes, at least ${MIN_MAX_PAYLOAD}; got ${options.maxPayload}`);
  }
  const buckets = await openBuckets(options);
  /** The limit of a write of `events`; the server's read at each write (a reconnect may land on a server with another max_payload). */
  const sizeLimit = (events: readonly ThreadEvent[]): ThreadSizeLimit => {
    const server = buckets.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    return options.maxPayload !== undefined && options.maxPayload < server
      ? threadSizeLimit(options.maxPayload, 'the store\'s maxPayload option', events)
      : threadSizeLimit(server, 'the NATS server\'s max_payload', events);
  };
  const index: IndexWriter = new IndexWriter(buckets, () => summaries.touch());
  const summaries: SummaryWriter = new SummaryWriter(buckets, summaryDelayMs, index);
  await ensureIndex(buckets, index, summaries).catch((error: unknown) => Promise.reject(systemError('cannot build the thread index', error)));
  const cache = new Map<string, Known>();
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
    const known = knownOf(id, entry);
    remember(id, known);
    return known;
  }

  async function read(id: string): Promise<Known | undefined> {
    // No key can hold it, so no thread has it (as in the other stores): not a store failure.
    const key = threadKeyOf(id);
    if (key === undefined) return undefined;
    let entry: KvEntry | null;
    try {
      entry = await retryRead(() => buckets.threads.get(key));
    } catch (error) {
      throw systemError(`cannot read thread ${id}`, error);
    }
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return fromEntry(id, entry);
  }

  const listing = { buckets, index, summaries, read: (id: string) => read(id).catch(() => undefined), walks: new WalkCache(), now: () => clock.now() };

  return {
    async create(thread: Thread): Promise<Thread> {
      checkOpen();
      return createThread(buckets, index, summaries, clock, thread, sizeLimit, (id, known) => remember(id, known), read);
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
        // Against what this write replaces (read again after a lost compare-and-set).
        checkNotEnded(id, current.thread.events, current.state, added);
        const next = advance(current, added);
        const value = encodeThread(next.thread.agent, next.eventsJson, next.createdAt);
        checkSize(id, value, sizeLimit(added));
        const moved = statusOf(next.state) !== statusOf(current.state);
        const entered = moved ? index.entering(next.thread.agent, id, statusOf(next.state), next.since, next.createdAt, enteredAtOf(next)) : undefined;
        try {
          const key = threadKey(id);
          // next.revision is still the one this update expects to replace.
          const revision = await casWrite(() => buckets.threads.update(key, value, next.revision), () => buckets.threads.get(key), value);
          entered?.confirm();
          const known = { ...next, revision };
          if (moved) index.left(id, current.since, undefined);
          remember(id, known);
          summaries.write(known);
          return known.thread;
        } catch (error) {
          // The write may have happened (a lost ack): forget what we knew, read again next time.
          cache.delete(id);
          if (!isWrongLastSequence(error)) throw systemError(`cannot append to thread ${id}`, error);
          // Not written (another write, or a delete, won): its status entry would only be skipped.
          entered?.retract();
          if (attempt >= MAX_CAS_ATTEMPTS) throw systemError(`thread ${id} kept changing under ${attempt} appends`, error);
          current = await read(id);
        }
      }
    },

    async get(id: string): Promise<Thread | undefined> {
      checkOpen();
      return (await read(id))?.thread;
    },

    async delete(id: string, expectedVersion: number): Promise<boolean> {
      checkOpen();
      const key = threadKeyOf(id);
      if (key === undefined) return false;
      let current = cache.get(id);
      if (current === undefined || current.state.version !== expectedVersion) current = await read(id);
      // The thread this delete is for: one of the id created at another time is not it.
      const createdAt = current?.createdAt;
      for (let attempt = 1; ; attempt++) {
        if (current === undefined) return false;
        // Created again since the first read: the thread is gone (an earlier purge of ours went
        // unanswered, or another process deleted it), and this one is not it. Its entries are
        // left to listings, which judge them by createdAt.
        if (current.createdAt !== createdAt) return true;
        if (current.state.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, current.state.version);
        // What the thread's index entries are, from this process and from its stored summary: read
        // before the purge (which commits the delete), as the summary goes with the thread.
        await index.settled(id);
        const stored = await storedSummary(buckets, key);
        try {
          // Only while the key is still at the revision read: an append that won meanwhile fails it.
          const revision = current.revision;
          await casPurge(() => buckets.threads.purge(key, { previousSeq: revision }), () => buckets.threads.get(key));
        } catch (error) {
          cache.delete(id);
          if (!isWrongLastSequence(error)) throw systemError(`cannot delete thread ${id}`, error);
          if (attempt >= MAX_CAS_ATTEMPTS) throw systemError(`thread ${id} kept changing under ${attempt} deletes`, error);
          current = await read(id);
          continue;
        }
        cache.delete(id);
        summaries.forget(id);
        // The thread is gone: its summary, its purge marker and its index entries only cost listings
        // a read until removed.
        await Promise.all([
          index.forget(id, [stored?.created, stored?.entry]),
          buckets.side.jsm.streams.purge(buckets.summariesStream, { filter: buckets.summariesSubject + key }).catch(() => undefined),
          removeMarker(buckets, key),
        ]);
        return true;
      }
    },

    async list(listOptions?: ListOptions): Promise<ThreadSummary[]> {
      checkOpen();
      return listThreads(listing, parseListOptions(listOptions));
    },

    async ready(): Promise<void> {
      checkOpen();
      try {
        // rtt() fails at once while the connection is down; the bucket's status needs JetStream.
        await bounded(
          (async () => {
            await buckets.nc.rtt();
            await buckets.threads.status();
          })(),
          READY_TIMEOUT_MS,
        );
      } catch (error) {
        throw new SystemError(`NATS is unreachable: ${messageOf(error)}`, { cause: error });
      }
    },

    async close(): Promise<void> {
      closed = true;
      await listing.walks.close();
      await summaries.settle();
    },
  };
}

/** The stored summary of a thread (by key), `undefined` when missing, unreadable or not a summary. */
async function storedSummary(buckets: Buckets, key: string): Promise<StoredSummary | undefined> {
  try {
    const entry = await retryRead(() => buckets.side.summaries.get(key));
    return entry?.operation === 'PUT' ? parseSummary(entry.value) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the purge marker a delete left under a thread's key (a stream purge by the key's subject
 * leaves nothing), and nothing newer: a create that wrote over the marker meanwhile stays. A
 * create finds the key empty or holding the marker, and writes over either. Failures leave the
 * marker (a listing reads it as no thread).
 */
async function removeMarker(buckets: Buckets, key: string): Promise<void> {
  try {
    const marker = await retryRead(() => buckets.threads.get(key));
    if (marker === null || marker.operation === 'PUT') return;
    await buckets.side.jsm.streams.purge(buckets.threadsStream, { filter: buckets.threadsSubject + key, seq: marker.revision + 1 });
  } catch {
    // left for good: one marker
  }
}

/** How long {@link ThreadStore.ready} waits for the server. */
const READY_TIMEOUT_MS = 2_000;

/** The smallest `maxPayload` option: smaller leaves a thread too little room beside its reserve. */
const MIN_MAX_PAYLOAD = 8 * 1024;

/**
 * Throws a {@link ThreadTooLargeError} when the stored value would pass `limit` bytes. Its UTF-8
 * length is counted only when its UTF-16 length (a third of that at most) does not settle it.
 */
function checkSize(id: string, value: string, limit: ThreadSizeLimit): void {
  if (value.length * 3 <= limit.bytes) return;
  const size = Buffer.byteLength(value);
  if (size <= limit.bytes) return;
  throw new ThreadTooLargeError(
    id,
    size,
    limit.bytes,
    `(a thread is one NATS KV value: ${limit.source}, ${limit.maxPayload} bytes, less a reserve); raise max_payload in the nats-server config, or keep inputs, answers and tool results smaller`,
  );
}

/** The thread after `added` (not yet written: its revision is still the old one). */
function advance(current: Known, added: readonly ThreadEvent[]): Known {
  const { state, since } = foldStatus(added, { state: current.state, status: statusOf(current.state), since: current.since });
  // The state folded here rides on the new events array: the runtime derives it again and again.
  const thread: Thread = Object.freeze({ id: current.thread.id, agent: current.thread.agent, events: withState(current.thread.events.concat(added), state) });
  const addedJson = added.map((event) => JSON.stringify(event)).join(',');
  const eventsJson = current.eventsJson === '[]' ? `[${addedJson}]` : `${current.eventsJson.slice(0, -1)},${addedJson}]`;
  return { revision: current.revision, thread, eventsJson, state, createdAt: current.createdAt, since };
}

async function createThread(
  buckets: Buckets,
  index: IndexWriter,
  summaries: SummaryWriter,
  clock: Clock,
  thread: Thread,
  sizeLimit: (events: readonly ThreadEvent[]) => ThreadSizeLimit,
  remember: (id: string, known: Known) => void,
  read: (id: string) => Promise<Known | undefined>,
): Promise<Thread> {
  const copy = deepFreeze(checkThread(thread));
  const createdAt = copy.events[0]?.at ?? new Date(clock.now()).toISOString();
  const eventsJson = JSON.stringify(copy.events);
  const value = encodeThread(copy.agent, eventsJson, createdAt);
  checkSize(copy.id, value, sizeLimit(copy.events));
  const frozen = Object.freeze({ id: copy.id, agent: copy.agent, events: Object.freeze(copy.events) });
  const { state, since } = foldStatus(frozen.events);
  rememberState(frozen.events, state);
  const key = threadKey(copy.id);
  let revision: number | undefined;
  // What the create writes over: nothing (0), then the purge marker a delete left, if any.
  for (let replaces = 0, attempt = 1; revision === undefined; attempt++) {
    const published = index.created({ thread: frozen, state, since, createdAt });
    try {
      const previousSeq = replaces;
      revision = await casWrite(() => buckets.threads.put(key, value, { previousSeq }), () => buckets.threads.get(key), value);
      published.confirm();
    } catch (error) {
      if (!isWrongLastSequence(error)) throw systemError(`cannot create thread ${copy.id}`, error);
      published.retract();
      let entry: KvEntry | null;
      try {
        entry = await retryRead(() => buckets.threads.get(key));
      } catch (readError) {
        throw systemError(`cannot create thread ${copy.id}`, readError);
      }
      const marker = entry === null ? 0 : entry.operation === 'PUT' ? undefined : entry.revision;
      if (marker !== undefined && marker !== replaces && attempt < MAX_CAS_ATTEMPTS) {
        replaces = marker;
        continue;
      }
      const existing = marker === undefined ? await read(copy.id) : undefined;
      throw new VersionConflictError(copy.id, 0, existing?.state.version ?? 0);
    }
  }
  const known: Known = { revision, thread: frozen, eventsJson, state, createdAt, since };
  remember(copy.id, known);
  summaries.write(known);
  return frozen;
}
