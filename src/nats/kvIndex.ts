import { randomBytes } from 'node:crypto';
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
/** Threads whose entries' sequences are remembered for their removal (the summary carries them too). */
const REMEMBERED_ENTRIES = 10_000;
/** Status entries remembered per thread. */
const MAX_ENTRIES_PER_THREAD = 8;

/**
 * Writes the index stream (see `indexSubjects` in `kvKeys.ts`). Entries are published without
 * waiting for the ack (a `Nats-Msg-Id` unique to the publish makes a retry of it within
 * JetStream's duplicate window a no-op); the ack's sequence is remembered, written into the
 * thread's summary, and used to delete the entry when the thread leaves the status, when the
 * write it was published for lost its compare-and-set, or when the thread is deleted.
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
  /**
   * Sequences of the status entries of a thread (by id) not known to be deleted, with the `since`
   * each is for, newest last (a few: those of the stays a write did not see the ack of in time).
   */
  readonly #entries = new Map<string, Array<{ since: number; seq: number }>>();
  /** Sequence of the creation entry of a thread (by id). */
  readonly #creations = new Map<string, number>();
  /** The publishes of each thread not yet answered (a delete waits for them, to know what to remove). */
  readonly #inflight = new Map<string, Set<Promise<unknown>>>();
  /** Makes this writer's message ids its own (see {@link #publish}). */
  readonly #token = randomBytes(6).toString('base64url');
  #published = 0;

  constructor(
    readonly buckets: Buckets,
    /** Told of every publish (so a listing knows to wait for the server to have it). */
    readonly onPublish: () => void = () => {},
  ) {}

  /**
   * A new thread: its creation entry and its first status entry (an index build's too: their
   * message ids, unique to each publish, are never taken for repeats of the ones it replaces).
   * Answers the entries, to confirm or retract once the create's outcome is known (see
   * {@link Published}).
   */
  created(known: Pick<Known, 'thread' | 'state' | 'since' | 'createdAt'>): Published {
    const { agent, id } = known.thread;
    const creation = this.#retractable(
      id,
      this.#publish(creationSubject(this.buckets.index, agent), JSON.stringify({ i: id, c: known.createdAt }), `c.${threadKey(id)}`),
      (seq) => remember(this.#creations, id, seq),
    );
    const status = this.entering(agent, id, statusOf(known.state), known.since, known.createdAt, enteredAtOf(known));
    return {
      confirm: () => {
        creation.confirm();
        status.confirm();
      },
      retract: () => {
        creation.retract();
        status.retract();
      },
    };
  }

  /**
   * The thread (created at `createdAt`) enters `status` at version `since`, by an event of
   * `enteredAt` (call before the write). Answers the entry, to confirm or retract once the
   * write's outcome is known (see {@link Published}).
   */
  entering(agent: string, id: string, status: string, since: number, createdAt: string, enteredAt: string): Published {
    const payload = JSON.stringify({ i: id, s: since, c: createdAt, a: enteredAt });
    return this.#retractable(
      id,
      this.#publish(statusSubject(this.buckets.index, status, agent), payload, `s.${threadKey(id)}.${status}.${since}`),
      (seq) => remember(this.#entries, id, [...(this.#entries.get(id) ?? []), { since, seq }].slice(-MAX_ENTRIES_PER_THREAD)),
    );
  }

  /**
   * An entry of the thread whose write is not yet settled: its sequence is recorded once the
   * publish is answered and the write confirmed (a summary written before may not name the entry
   * of a write that loses), and the entry is deleted once answered and retracted.
   */
  #retractable(id: string, publish: Promise<number | undefined>, record: (seq: number) => void): Published {
    let outcome: 'pending' | 'confirmed' | 'retracted' = 'pending';
    let answered: number | undefined;
    void this.#track(id, publish).then((seq) => {
      if (seq === undefined) return;
      answered = seq;
      if (outcome === 'confirmed') record(seq);
      else if (outcome === 'retracted') this.remove(seq);
    });
    return {
      confirm: () => {
        if (outcome !== 'pending') return;
        outcome = 'confirmed';
        if (answered !== undefined) record(answered);
      },
      retract: () => {
        if (outcome !== 'pending') return;
        outcome = 'retracted';
        if (answered !== undefined) this.remove(answered);
      },
    };
  }

  /** The sequence of the thread's status entry for `since`, when this process knows it. */
  entryOf(id: string, since: number): number | undefined {
    return this.#entries.get(id)?.findLast((entry) => entry.since === since)?.seq;
  }

  /** The sequence of the thread's creation entry, when this process knows it. */
  creationOf(id: string): number | undefined {
    return this.#creations.get(id);
  }

  /** The thread left the status it entered at `since` (call after the write succeeded). */
  left(id: string, since: number, seq: number | undefined): void {
    const known = seq ?? this.entryOf(id, since);
    if (known === undefined) return;
    this.#forgetEntry(id, known);
    this.remove(known);
  }

  /** Forgets one status entry of the thread. */
  #forgetEntry(id: string, seq: number): void {
    const kept = this.#entries.get(id)?.filter((entry) => entry.seq !== seq) ?? [];
    if (kept.length === 0) this.#entries.delete(id);
    else this.#entries.set(id, kept);
  }

  /** Deletes an index entry. */
  remove(seq: number): void {
    void this.removeNow(seq);
  }

  /** Deletes an index entry, resolving once the server answered (failures are left to listings). */
  async removeNow(seq: number): Promise<void> {
    await this.buckets.side.jsm.streams.deleteMessage(this.buckets.index.stream, seq, false).catch(() => undefined);
  }

  /** Resolves once every entry published so far for the thread was answered (or given up). */
  async settled(id: string): Promise<void> {
    const pending = this.#inflight.get(id);
    if (pending !== undefined) await Promise.all(pending);
  }

  /**
   * The thread was deleted: deletes the entries this process or its stored summary knows of
   * (`known`: their sequences) and forgets them. Resolves once the server answered.
   */
  async forget(id: string, known: readonly (number | undefined)[]): Promise<void> {
    const seqs = new Set<number>();
    for (const seq of [...known, this.#creations.get(id), ...(this.#entries.get(id) ?? []).map((entry) => entry.seq)]) if (seq !== undefined) seqs.add(seq);
    this.#creations.delete(id);
    this.#entries.delete(id);
    await Promise.all([...seqs].map((seq) => this.removeNow(seq)));
  }

  #track<T>(id: string, publish: Promise<T>): Promise<T> {
    let pending = this.#inflight.get(id);
    if (pending === undefined) this.#inflight.set(id, (pending = new Set()));
    pending.add(publish);
    void publish.finally(() => {
      pending.delete(publish);
      if (pending.size === 0 && this.#inflight.get(id) === pending) this.#inflight.delete(id);
    });
    return publish;
  }

  /**
   * Publishes an entry. Its message id is `name` made unique to this publish, so a retry of it is
   * dropped as a repeat and nothing else is: an entry another writer published for the same stay
   * (one that lost the compare-and-set, and takes its entry back), or one of a deleted thread of
   * the same id, never stands in for this one.
   */
  async #publish(subject: string, payload: string, name: string): Promise<number | undefined> {
    this.onPublish();
    const msgID = `${name}~${this.#token}${(++this.#published).toString(36)}`;
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
 * Index entries published for a write: `confirm` once it happened (their sequences are then
 * remembered), `retract` once it did not (they are deleted). A write whose outcome is unknown (a
 * system error) does neither: its entries stay, unnamed, for listings to judge.
 */
export interface Published {
  confirm(): void;
  retract(): void;
}

/** When the thread entered its status: the time of the event at `since`, its creation for 0. */
export function enteredAtOf(known: Pick<Known, 'thread' | 'since' | 'createdAt'>): string {
  return known.thread.events[known.since - 1]?.at ?? known.createdAt;
}

/** Remembers `value` for `id` as the newest, forgetting the oldest past REMEMBERED_ENTRIES. */
function remember<T>(map: Map<string, T>, id: string, value: T): void {
  map.delete(id);
  map.set(id, value);
  if (map.size > REMEMBERED_ENTRIES) map.delete(map.keys().next().value!);
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
  if (!(await claimBuild(buckets))) return false; // another process is building it
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
      index.created(known).confirm();
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
 * answers whether this process holds it (`false` when another process holds a fresh claim).
 */
async function claimBuild(buckets: Buckets): Promise<boolean> {
  const token = `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.`;
  const claim = JSON.stringify({ token, at: Date.now() });
  try {
    await buckets.summaries.create(BUILD_CLAIM_KEY, claim);
    return true;
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
  if (held === null || Date.now() - at < BUILD_CLAIM_MS) return false;
  try {
    await buckets.summaries.update(BUILD_CLAIM_KEY, claim, held.revision);
    return true;
  } catch (error) {
    if (isWrongLastSequence(error)) return false;
    throw error;
  }
}
