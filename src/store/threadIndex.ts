import { THREAD_STATUSES, type ThreadStatus } from '../thread/state.js';
import type { CreatedKey } from './createdCursor.js';
import { needsEnd, type IndexEntry } from './indexEntry.js';
import { IdTable } from './idTable.js';
import { timeValue } from './indexTime.js';
import type { ListQuery } from './listQuery.js';
import { FailureTable } from './failureTable.js';
import type { FailureSummary } from './threadStore.js';

/**
 * One entry as a snapshot stores it: times as epoch ms when their ISO string round-trips, as text
 * otherwise.
 */
export interface IndexRow {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  readonly version: number;
  readonly created: number | string;
  readonly updated: number | string;
  readonly size: number;
  /** `wakeAt` in epoch ms (an ISO time: it always round-trips). */
  readonly wake?: number;
  readonly failure?: FailureSummary;
  /** `wakeAt` and `failure` are not known (see {@link IndexEntry.unknownEnd}). */
  readonly unknownEnd?: true;
}

const INITIAL_CAPACITY = 1024;
const UNKNOWN_END = 0xffffffff;

function grow<T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(array: T, capacity: number): T {
  const bigger = new (array.constructor as new (n: number) => T)(capacity);
  bigger.set(array);
  return bigger;
}

/**
 * The file store's index of every thread, in memory, compact enough for millions of threads (some
 * 50 bytes a thread in typed-array columns, and the id's bytes: see `idTable.ts`; and the text of
 * failures, each distinct one once and 32 MB at most: see `failureTable.ts`).
 *
 * - Entries are replaced only by a newer version of the thread (records of several processes and
 *   reads of files may arrive in any order), unless the caller read the thread file itself
 *   (`authoritative`), which is the truth.
 * - `page` walks the threads by (`createdAt`, id), a key that never changes, from a sorted array
 *   of slots: one binary search, then a scan of the slots that follow.
 * - `latest` picks the most recently updated with a bounded heap over all slots: a few ms per
 *   million threads, and no second ordering to keep up to date on every append.
 */
export class ThreadIndex {
  readonly #ids = new IdTable();
  readonly #agents: string[] = [];
  readonly #agentCode = new Map<string, number>();
  /** Status code + 1 per slot; 0 marks a free slot. */
  #status = new Uint8Array(INITIAL_CAPACITY);
  #agent = new Uint32Array(INITIAL_CAPACITY);
  #version = new Float64Array(INITIAL_CAPACITY);
  #created = new Float64Array(INITIAL_CAPACITY);
  #updated = new Float64Array(INITIAL_CAPACITY);
  #size = new Float64Array(INITIAL_CAPACITY);
  /** `wakeAt` in epoch ms per slot, NaN for none. */
  #wake = new Float64Array(INITIAL_CAPACITY);
  /**
   * `failure` per slot: its code in {@link #failures}, 0 for none, or {@link UNKNOWN_END} when
   * neither it nor `wakeAt` is known (an entry of an earlier build's index, or a failure the
   * table had no room for).
   */
  #failure = new Uint32Array(INITIAL_CAPACITY);
  readonly #failures: FailureTable;
  /** Times that are not plain ISO strings, by slot. */
  readonly #createdText = new Map<number, string>();
  readonly #updatedText = new Map<number, string>();
  /** Live slots sorted by (createdAt, id). */
  #order = new Int32Array(INITIAL_CAPACITY);
  #ordered = 0;
  #slots = 0;
  readonly #free: number[] = [];
  /** The newest mtime of the thread directory a write of the index's own has seen. */
  dirMtimeMs = 0;
  /** Counts changes; a snapshot records the count it saved. */
  changes = 0;

  /** `failureBytes`: what the text of failures may take (see `failureTable.ts`). */
  constructor(failureBytes?: number) {
    this.#failures = new FailureTable(failureBytes);
  }

  /** Number of threads. */
  get size(): number {
    return this.#ids.size;
  }

  get(id: string): IndexEntry | undefined {
    const slot = this.#ids.find(id);
    return slot === -1 ? undefined : this.#entryAt(slot);
  }

  /** The thread's version, without building its entry (a cheap look on every read). */
  versionOf(id: string): number | undefined {
    const slot = this.#ids.find(id);
    return slot === -1 ? undefined : this.#version[slot];
  }

  /** Agent names, as the snapshot writes them. */
  get agents(): readonly string[] {
    return this.#agents;
  }

  /**
   * Records an entry; answers whether anything changed. An older version than the one known is
   * ignored unless `authoritative` (read from the thread file just now).
   */
  apply(entry: IndexEntry, authoritative = false): boolean {
    const found = this.#ids.find(entry.id);
    let slot = found === -1 ? undefined : found;
    if (slot !== undefined) {
      const known = this.#version[slot]!;
      if (!authoritative && entry.version < known) return false;
      if (entry.version === known && entry.size === this.#size[slot] && this.#statusOf(slot) === entry.status && !this.#learnsEnd(slot, entry)) return false;
      if (!this.#createdIs(slot, entry.createdAt) || this.#agents[this.#agent[slot]!] !== entry.agent) {
        // A thread file replaced by another thread of the same id: its place in the order moves.
        this.remove(entry.id);
        slot = undefined;
      }
    }
    if (slot === undefined) {
      slot = this.#allocate(entry.id);
      this.#setTime(this.#created, this.#createdText, slot, entry.createdAt);
      this.#agent[slot] = this.#agentCodeOf(entry.agent);
      this.#insertOrdered(slot);
    }
    this.#status[slot] = THREAD_STATUSES.indexOf(entry.status) + 1;
    this.#version[slot] = entry.version;
    this.#size[slot] = entry.size;
    this.#setTime(this.#updated, this.#updatedText, slot, entry.updatedAt);
    this.#setEnd(slot, entry.wakeAt === undefined ? undefined : Date.parse(entry.wakeAt), entry.failure, entry.unknownEnd);
    this.changes++;
    return true;
  }

  /** Whether `entry`, of the version the slot holds, knows the `wakeAt` and `failure` the slot does not. */
  #learnsEnd(slot: number, entry: IndexEntry): boolean {
    return this.#failure[slot] === UNKNOWN_END && entry.unknownEnd !== true && (entry.failure === undefined || this.#failures.accepts(entry.failure));
  }

  /**
   * Keeps a slot's `wakeAt` (ms), `failure`, or that it knows neither: only for a status that
   * {@link needsEnd}. A failure the table has no room for is not known: read from the thread.
   */
  #setEnd(slot: number, wake: number | undefined, failure: FailureSummary | undefined, unknown: true | undefined): void {
    const kept = this.#status[slot] !== 0 && needsEnd(this.#statusOf(slot)!);
    this.#wake[slot] = kept && wake !== undefined ? wake : Number.NaN;
    const old = this.#failure[slot]!;
    if (old !== UNKNOWN_END) this.#failures.release(old);
    const code = kept && failure !== undefined && unknown !== true ? this.#failures.add(failure) : 0;
    this.#failure[slot] = kept && (unknown === true || (failure !== undefined && code === 0)) ? UNKNOWN_END : code;
  }

  /** Forgets a thread (its file is gone, unreadable, or deleted). */
  remove(id: string): void {
    const slot = this.#ids.find(id);
    if (slot === -1) return;
    const at = this.#positionOf(slot);
    this.#order.copyWithin(at, at + 1, this.#ordered);
    this.#ordered--;
    this.#ids.remove(id);
    this.#status[slot] = 0;
    this.#createdText.delete(slot);
    this.#updatedText.delete(slot);
    this.#setEnd(slot, undefined, undefined, undefined);
    this.#free.push(slot);
    this.changes++;
  }

  /**
   * Forgets a thread deleted at `entry` (its last entry, as a tombstone holds it); answers whether
   * it was here. An entry of a thread created again since (a higher version, another creation
   * time or agent) is kept.
   */
  removeDeleted(entry: IndexEntry): boolean {
    const slot = this.#ids.find(entry.id);
    if (slot === -1 || this.#version[slot]! > entry.version) return false;
    if (!this.#createdIs(slot, entry.createdAt) || this.#agents[this.#agent[slot]!] !== entry.agent) return false;
    this.remove(entry.id);
    return true;
  }

  /** Notes the thread directory's mtime seen by a write of this index's own. */
  noteDirMtime(mtimeMs: number): void {
    if (mtimeMs > this.dirMtimeMs) this.dirMtimeMs = mtimeMs;
  }

  /**
   * Up to `max` entries matching the query's filters, in (`createdAt`, id) order, after `from`
   * (from the start when undefined). With `updatedBefore`, the scan ends at the first thread
   * created at or after it (none after it was updated before it: `updatedAt >= createdAt`).
   */
  page(query: ListQuery, from: CreatedKey | undefined, max: number): IndexEntry[] {
    const match = this.#matcher(query);
    const out: IndexEntry[] = [];
    if (match === undefined) return out;
    const bound = query.updatedBefore ?? Number.POSITIVE_INFINITY;
    for (let at = from === undefined ? 0 : this.#firstAfter(from); at < this.#ordered && out.length < max; at++) {
      const slot = this.#order[at]!;
      if (this.#created[slot]! >= bound) break; // a time kept as text (NaN) ends nothing
      if (match(slot)) out.push(this.#entryAt(slot));
    }
    return out;
  }

  /** The `limit` most recently updated entries matching the query's filters (ties by id). */
  latest(query: ListQuery, limit: number): IndexEntry[] {
    const match = this.#matcher(query);
    if (match === undefined || limit <= 0) return [];
    const after = (a: number, b: number): boolean => this.#comesAfter(a, b);
    // A max-heap on "comes later in the order": its root is the first to drop when a better one comes.
    const heap: number[] = [];
    for (let slot = 0; slot < this.#slots; slot++) {
      if (this.#status[slot] === 0 || !match(slot)) continue;
      if (heap.length < limit) {
        heap.push(slot);
        siftUp(heap, heap.length - 1, after);
      } else if (after(heap[0]!, slot)) {
        heap[0] = slot;
        siftDown(heap, 0, after);
      }
    }
    heap.sort((a, b) => (after(a, b) ? 1 : after(b, a) ? -1 : 0));
    return heap.map((slot) => this.#entryAt(slot));
  }

  /** Every entry in (`createdAt`, id) order. */
  *entries(): Generator<IndexEntry> {
    for (let at = 0; at < this.#ordered; at++) yield this.#entryAt(this.#order[at]!);
  }

  /** A copy of the slots in (`createdAt`, id) order, for a snapshot written over several turns. */
  orderedSlots(): Int32Array {
    return this.#order.slice(0, this.#ordered);
  }

  /** The row of a slot, or `undefined` when the slot is free (its thread was removed meanwhile). */
  row(slot: number): IndexRow | undefined {
    if (this.#status[slot] === 0) return undefined;
    const created = this.#created[slot]!;
    const updated = this.#updated[slot]!;
    return {
      id: this.#ids.idAt(slot),
      agent: this.#agents[this.#agent[slot]!]!,
      status: this.#statusOf(slot)!,
      version: this.#version[slot]!,
      created: created === created ? created : this.#createdText.get(slot)!,
      updated: updated === updated ? updated : this.#updatedText.get(slot)!,
      size: this.#size[slot]!,
      ...this.#endOf(slot),
    };
  }

  #failureOf(slot: number): FailureSummary | undefined {
    const code = this.#failure[slot]!;
    return code === UNKNOWN_END ? undefined : this.#failures.get(code);
  }

  /** The slot's `wakeAt` (in ms), `failure` and whether they are unknown, each only when set. */
  #endOf(slot: number): { wake?: number; failure?: FailureSummary; unknownEnd?: true } {
    const wake = this.#wake[slot]!;
    const failure = this.#failureOf(slot);
    return {
      ...(wake === wake ? { wake } : {}),
      ...(failure === undefined ? {} : { failure }),
      ...(this.#failure[slot] === UNKNOWN_END ? { unknownEnd: true as const } : {}),
    };
  }

  /** Adds a row read from a snapshot, skipping the checks of `apply` (rows come in order). */
  restore(row: IndexRow): void {
    if (this.#ids.find(row.id) !== -1) return;
    const slot = this.#allocate(row.id);
    this.#agent[slot] = this.#agentCodeOf(row.agent);
    this.#status[slot] = THREAD_STATUSES.indexOf(row.status) + 1;
    this.#version[slot] = row.version;
    this.#size[slot] = row.size;
    this.#restoreTime(this.#created, this.#createdText, slot, row.created);
    this.#restoreTime(this.#updated, this.#updatedText, slot, row.updated);
    this.#setEnd(slot, row.wake, row.failure, row.unknownEnd);
    this.#insertOrdered(slot);
  }

  #restoreTime(column: Float64Array, texts: Map<number, string>, slot: number, value: number | string): void {
    if (typeof value === 'number') column[slot] = value;
    else this.#setTime(column, texts, slot, value);
  }

  #matcher(query: ListQuery): ((slot: number) => boolean) | undefined {
    let agent = -1;
    if (query.agent !== undefined) {
      const code = this.#agentCode.get(query.agent);
      if (code === undefined) return undefined;
      agent = code;
    }
    let statusMask = 0;
    for (const status of query.statuses ?? THREAD_STATUSES) statusMask |= 1 << (THREAD_STATUSES.indexOf(status) + 1);
    const statuses = this.#status;
    const agents = this.#agent;
    const filters = agent === -1
      ? (slot: number) => (statusMask & (1 << statuses[slot]!)) !== 0
      : (slot: number) => agents[slot] === agent && (statusMask & (1 << statuses[slot]!)) !== 0;
    const bound = query.updatedBefore;
    return bound === undefined ? filters : (slot) => filters(slot) && this.#updatedMs(slot) < bound;
  }

  /** The slot's `updatedAt` in ms (NaN when its text is no time). */
  #updatedMs(slot: number): number {
    const value = this.#updated[slot]!;
    return value === value ? value : Date.parse(this.#updatedText.get(slot)!);
  }

  /** Whether slot `a` comes after slot `b` among the most recently updated (later = older). */
  #comesAfter(a: number, b: number): boolean {
    const ua = this.#updated[a]!;
    const ub = this.#updated[b]!;
    if (ua === ua && ub === ub) {
      if (ua !== ub) return ua < ub;
    } else {
      const ta = this.#updatedTextOf(a);
      const tb = this.#updatedTextOf(b);
      if (ta !== tb) return ta < tb;
    }
    return this.#ids.idAt(a) > this.#ids.idAt(b);
  }

  /** Position in the order of the first slot whose key is after `key`. */
  #firstAfter(key: CreatedKey): number {
    return this.#firstAfterKey(timeValue(key.createdAt), key.createdAt, key.id);
  }

  #firstAfterKey(ms: number, text: string, id: string): number {
    let lo = 0;
    let hi = this.#ordered;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareToKey(this.#order[mid]!, ms, text, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Compares a slot's (createdAt, id) with a key: numbers when both times are plain, else the strings. */
  #compareToKey(slot: number, ms: number, text: string, id: string): number {
    const created = this.#created[slot]!;
    if (created === created && ms === ms) {
      if (created !== ms) return created < ms ? -1 : 1;
    } else {
      const own = this.#createdTextOf(slot);
      const other = ms === ms ? new Date(ms).toISOString() : text;
      if (own !== other) return own < other ? -1 : 1;
    }
    const own = this.#ids.idAt(slot);
    return own < id ? -1 : own > id ? 1 : 0;
  }

  #positionOf(slot: number): number {
    const ms = this.#created[slot]!;
    const at = this.#firstAfterKey(ms, ms === ms ? '' : this.#createdTextOf(slot), this.#ids.idAt(slot)) - 1;
    if (this.#order[at] !== slot) throw new Error(`thread index out of order at slot ${slot}`);
    return at;
  }

  #insertOrdered(slot: number): void {
    if (this.#ordered === this.#order.length) this.#order = grow(this.#order, this.#order.length * 2);
    const ms = this.#created[slot]!;
    const text = ms === ms ? '' : this.#createdTextOf(slot);
    const id = this.#ids.idAt(slot);
    const last = this.#ordered === 0 ? undefined : this.#order[this.#ordered - 1]!;
    // New threads are usually the newest: append without a search.
    const at = last === undefined || this.#compareToKey(last, ms, text, id) < 0 ? this.#ordered : this.#firstAfterKey(ms, text, id);
    this.#order.copyWithin(at + 1, at, this.#ordered);
    this.#order[at] = slot;
    this.#ordered++;
  }

  #allocate(id: string): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slots++;
      if (slot === this.#status.length) {
        const capacity = this.#status.length * 2;
        this.#status = grow(this.#status, capacity);
        this.#agent = grow(this.#agent, capacity);
        this.#version = grow(this.#version, capacity);
        this.#created = grow(this.#created, capacity);
        this.#updated = grow(this.#updated, capacity);
        this.#size = grow(this.#size, capacity);
        this.#wake = grow(this.#wake, capacity);
        this.#failure = grow(this.#failure, capacity);
      }
    }
    this.#ids.add(id, slot);
    return slot;
  }

  #agentCodeOf(agent: string): number {
    let code = this.#agentCode.get(agent);
    if (code === undefined) {
      code = this.#agents.length;
      this.#agents.push(agent);
      this.#agentCode.set(agent, code);
    }
    return code;
  }

  #setTime(column: Float64Array, texts: Map<number, string>, slot: number, text: string): void {
    const value = timeValue(text);
    column[slot] = value;
    if (value === value) texts.delete(slot);
    else texts.set(slot, text);
  }

  #createdIs(slot: number, text: string): boolean {
    const ms = timeValue(text);
    return ms === ms ? this.#created[slot] === ms : this.#createdText.get(slot) === text;
  }

  #createdTextOf(slot: number): string {
    const value = this.#created[slot]!;
    return value === value ? new Date(value).toISOString() : this.#createdText.get(slot)!;
  }

  #updatedTextOf(slot: number): string {
    const value = this.#updated[slot]!;
    return value === value ? new Date(value).toISOString() : this.#updatedText.get(slot)!;
  }

  #statusOf(slot: number): ThreadStatus | undefined {
    return THREAD_STATUSES[this.#status[slot]! - 1];
  }

  #entryAt(slot: number): IndexEntry {
    const entry = {
      id: this.#ids.idAt(slot),
      agent: this.#agents[this.#agent[slot]!]!,
      status: this.#statusOf(slot)!,
      version: this.#version[slot]!,
      createdAt: this.#createdTextOf(slot),
      updatedAt: this.#updatedTextOf(slot),
      size: this.#size[slot]!,
    };
    if (!needsEnd(entry.status)) return entry;
    const { wake, ...end } = this.#endOf(slot);
    return { ...entry, ...(wake === undefined ? {} : { wakeAt: new Date(wake).toISOString() }), ...end };
  }
}

function siftUp(heap: number[], at: number, after: (a: number, b: number) => boolean): void {
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (!after(heap[at]!, heap[parent]!)) return;
    [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
    at = parent;
  }
}

function siftDown(heap: number[], at: number, after: (a: number, b: number) => boolean): void {
  for (;;) {
    const left = 2 * at + 1;
    const right = left + 1;
    let top = at;
    if (left < heap.length && after(heap[left]!, heap[top]!)) top = left;
    if (right < heap.length && after(heap[right]!, heap[top]!)) top = right;
    if (top === at) return;
    [heap[at], heap[top]] = [heap[top]!, heap[at]!];
    at = top;
  }
}
