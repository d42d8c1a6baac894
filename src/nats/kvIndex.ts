import { flushBoth, isWrongLastSequence, retryRead, type Buckets } from './kvBuckets.js';
import { retryDeduplicated } from './unanswered.js';
import { creationSubject, INDEX_MARKER_KEY, statusSubject, threadIdOfKey, threadKey } from './kvKeys.js';
import { scanBucket } from './kvScan.js';
import type { Known, SummaryWriter } from './kvSummaries.js';
import { CorruptThreadError, knownOf } from './kvThread.js';
import { statusOf } from '../thread/state.js';

/** The index format this store writes (`m.index` holds it). */
const INDEX_FORMAT = 2;
/**
 * An index entry's publish waits this long for its ack, and is sent again (its msg id makes a
 * repeat harmless) for up to INDEX_PUBLISH_RETRY_MS: a publish sent to a server that just died is
 * lost without an answer, and a stream electing a leader answers no one.
 */
const INDEX_PUBLISH_TIMEOUT_MS = 10_000;
const INDEX_PUBLISH_RETRY_MS = 60_000;
/** Sequences of status entries remembered for their removal (the summary carries them too). */
const REMEMBERED_ENTRIES = 10_000;

/**
 * Writes the index stream (see `indexSubjects` in `kvKeys.ts`). Entries are published without
 * waiting for the ack (a `Nats-Msg-Id` makes a repeat within JetStream's duplicate window a
 * no-op); the ack's sequence is remembered, written into the thread's summary, and used to delete
 * the entry when the thread leaves the status.
 *
 * A thread's new status entry is published before the thread write that moves it there (sent
 * first; on the store's background connection, when it has one, the server may store it a moment
 * after the thread), and the old one deleted only after that write succeeded. Entries and deletes
 * go over the background connection (`Buckets.side`): a delete can hold the index stream for the
 * read of a whole block, and no thread write should wait for that. So the index may name a
 * status a thread is not in (a write that failed, a writer that died, an ack not yet back):
 * listings check each entry against the thread's summary (and the summary against the thread's
 * revision: the same writer may have died before writing it), and delete the entries they find
 * stale or doubled.
 */
export class IndexWriter {
  /** Sequence of the status entry of a thread (by id), with the `since` it is for. */
  readonly #entries = new Map<string, { since: number; seq: number }>();

  constructor(
    readonly buckets: Buckets,
    /** Told of every publish (so a listing knows to wait for the server to have it). */
    readonly onPublish: () => void = () => {},
  ) {}

  /**
   * A new thread: its creation entry and its first status entry. `build`: the token of an index
   * build (its entries must not be taken for repeats of the ones it replaces).
   */
  created(known: Pick<Known, 'thread' | 'state' | 'since'>, build = ''): void {
    const { agent, id } = known.thread;
    void this.#publish(creationSubject(this.buckets.index, agent), JSON.stringify({ i: id }), `${build}c.${threadKey(id)}`);
    this.entering(agent, id, statusOf(known.state), known.since, build);
  }

  /** The thread enters `status` at version `since` (call before the write). */
  entering(agent: string, id: string, status: string, since: number, build = ''): void {
    const published = this.#publish(statusSubject(this.buckets.index, status, agent), JSON.stringify({ i: id, s: since }), `${build}s.${threadKey(id)}.${status}.${since}`);
    void published.then((seq) => {
      if (seq === undefined) return;
      this.#entries.delete(id);
      this.#entries.set(id, { since, seq });
      if (this.#entries.size > REMEMBERED_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    });
  }

  /** The sequence of the thread's status entry for `since`, when this process knows it. */
  entryOf(id: string, since: number): number | undefined {
    const entry = this.#entries.get(id);
    return entry?.since === since ? entry.seq : undefined;
  }

  /** The thread left the status it entered at `since` (call after the write succeeded). */
  left(id: string, since: number, seq: number | undefined): void {
    const known = seq ?? this.entryOf(id, since);
    if (known !== undefined) this.remove(known);
  }

  /** Deletes an index entry. */
  remove(seq: number): void {
    void this.buckets.side.jsm.streams.deleteMessage(this.buckets.index.stream, seq, false).catch(() => undefined);
  }

  async #publish(subject: string, payload: string, msgID: string): Promise<number | undefined> {
    this.onPublish();
    try {
      const ack = await retryDeduplicated(() => this.buckets.side.js.publish(subject, payload, { msgID, timeout: INDEX_PUBLISH_TIMEOUT_MS }), INDEX_PUBLISH_RETRY_MS);
      return ack.duplicate ? undefined : ack.seq;
    } catch {
      // Not written in a minute of tries (the thread write after it most likely failed too). The
      // thread is then missing from walks until the index is built again.
      return undefined;
    }
  }
}

/**
 * Makes sure every thread has its index entries: when the summaries bucket has no `m.index` (a
 * bucket from before the index, or the marker was deleted to rebuild it), empties the index
 * stream, reads every thread once, writes its entries and summary, then the marker. Answers
 * whether it built the index.
 */
export async function ensureIndex(buckets: Buckets, index: IndexWriter, summaries: SummaryWriter): Promise<boolean> {
  const marker = await retryRead(() => buckets.summaries.get(INDEX_MARKER_KEY));
  if (marker?.operation === 'PUT') return false;
  const build = await claimBuild(buckets);
  if (build === undefined) return false; // another process is building it
  // Entries left from before (the marker was deleted to rebuild the index) would be doubled.
  await buckets.jsm.streams.purge(buckets.index.stream);
  const decoder = new TextDecoder();
  for await (const batch of scanBucket(buckets, buckets.threadsStream, buckets.threadsSubject, { filter: '>', lastPerKey: true })) {
    for (const entry of batch) {
      const id = entry.deleted ? undefined : threadIdOfKey(entry.key);
      if (id === undefined) continue;
      let known: Known;
      try {
        known = knownOf(id, { bucket: buckets.threadsStream, revision: entry.seq, created: new Date(), json: <T>() => JSON.parse(decoder.decode(entry.value)) as T });
      } catch (error) {
        if (error instanceof CorruptThreadError) continue;
        throw error;
      }
      index.created(known, build);
      summaries.put(known);
    }
  }
  await flushBoth(buckets);
  try {
    await buckets.summaries.create(INDEX_MARKER_KEY, JSON.stringify({ format: INDEX_FORMAT, builtAt: new Date().toISOString() }));
  } catch (error) {
    if (!isWrongLastSequence(error)) throw error; // another process finished first
  }
  await buckets.summaries.delete(BUILD_CLAIM_KEY).catch(() => undefined);
  return true;
}

/** The key one index builder holds while it builds, and how long before a silent one is replaced. */
const BUILD_CLAIM_KEY = 'm.building';
const BUILD_CLAIM_MS = 10 * 60_000;

/**
 * Claims the index build (only one process builds it at a time: two would double its entries);
 * answers the build's token, or `undefined` when another process holds a fresh claim.
 */
async function claimBuild(buckets: Buckets): Promise<string | undefined> {
  const token = `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.`;
  const claim = JSON.stringify({ token, at: Date.now() });
  try {
    await buckets.summaries.create(BUILD_CLAIM_KEY, claim);
    return token;
  } catch (error) {
    if (!isWrongLastSequence(error)) throw error;
  }
  const held = await buckets.summaries.get(BUILD_CLAIM_KEY);
  let at = 0;
  try {
    const value = held?.operation === 'PUT' ? held.json<{ at?: unknown }>().at : undefined;
    if (typeof value === 'number') at = value;
  } catch {
    // not ours: replaced
  }
  if (held === null || Date.now() - at < BUILD_CLAIM_MS) return undefined;
  try {
    await buckets.summaries.update(BUILD_CLAIM_KEY, claim, held.revision);
    return token;
  } catch (error) {
    if (isWrongLastSequence(error)) return undefined;
    throw error;
  }
}
