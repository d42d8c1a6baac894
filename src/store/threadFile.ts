import type { Thread, ThreadEvent } from '../thread/events.js';
import { reduceState, initialState, type ThreadState } from '../thread/state.js';
import { deepFreeze, parseStoredEvents } from './checkEvents.js';

/**
 * The on-disk format of one thread of the file store: a JSONL file, one line per committed batch.
 *
 * ```
 * {"v":1,"id":"t1","agent":"triage","at":"2024-01-01T00:00:00.000Z","events":[{"seq":1,...}]}
 * {"v":3,"events":[{"seq":2,...},{"seq":3,...}]}
 * ```
 *
 * The first line (the header) also names the thread, its agent and its creation time; `v` is the
 * thread's version after the line. A line counts only when it ends in a newline and parses; a last
 * line that does not is a torn write (the writer died before its append resolved) and is ignored,
 * and the next writer truncates it away. Anything else that does not parse or validate is
 * corruption, reported instead of guessed around; so is a file holding fewer events than the
 * store committed (see `cutBack.ts`): a torn tail is only ever the last, unacknowledged write.
 */

/** Extension of thread files. */
export const THREAD_FILE_EXT = '.jsonl';

/** Longest encoded id: leaves room in a 255-byte file name for the lock and temp suffixes. */
const MAX_ENCODED = 200;
const SAFE_CHAR = /^[a-z0-9_-]$/;
const LONE_SURROGATE = /\p{Surrogate}/u;
/** An id made only of characters kept as they are, short enough: its own stem. */
const PLAIN_STEM = /^[a-z0-9_-]{1,200}$/;

/**
 * The characters of the thread ids every surface accepts (the runtime's `THREAD_ID_PATTERN`), in
 * the order of their digits in a packed stem.
 */
const ID_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:-';
const ID_CHARS = /^[A-Za-z0-9_:-]+$/;
/** The characters of a packed stem (after its `~`): one case only, none that needs escaping. */
const STEM_DIGITS = 'abcdefghijklmnopqrstuvwxyz0123456789_-';
const PACKED_STEM = /^~[a-z0-9_-]+$/;

/**
 * The file name stem of a thread id, or `undefined` when the id cannot be stored.
 *
 * Lower-case letters, digits, `_` and `-` are kept; every other character becomes `%xx` per UTF-8
 * byte (lower-case hex). So `.`, `/` and `..` never reach the file system, and ids that differ only
 * in case map to different names even on case-insensitive file systems. An id of the characters
 * every surface accepts (letters, digits, `_ : -`) whose escaped form would be too long (upper-case
 * letters and `:` take three characters each) is packed instead: `~` and the id read as a number in
 * base 65, written in base 38 (about 1.15 characters per character), so every id of up to 128 such
 * characters, the limit the surfaces enforce, has a stem (an escaped one only takes 66 of them).
 */
export function encodeThreadId(id: string): string | undefined {
  if (typeof id === 'string' && PLAIN_STEM.test(id)) return id; // nothing to escape
  if (typeof id !== 'string' || id.length === 0 || LONE_SURROGATE.test(id)) return undefined;
  let out = '';
  for (const char of id) {
    if (SAFE_CHAR.test(char)) {
      out += char;
    } else {
      for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).padStart(2, '0')}`;
    }
    if (out.length > MAX_ENCODED) return packedStem(id);
  }
  return out;
}

/** The packed stem of an id too long to escape, if it is made of {@link ID_DIGITS} and fits. */
function packedStem(id: string): string | undefined {
  if (!ID_CHARS.test(id)) return undefined;
  // A leading 1 keeps leading zero digits (`A`) apart.
  let value = 1n;
  for (const char of id) value = value * 65n + BigInt(ID_DIGITS.indexOf(char));
  let digits = '';
  for (; value > 0n; value /= 38n) digits = STEM_DIGITS[Number(value % 38n)]! + digits;
  return digits.length < MAX_ENCODED ? `~${digits}` : undefined;
}

/** The id of a packed stem (see {@link packedStem}), or `undefined` if it reads as none. */
function unpackStem(stem: string): string | undefined {
  let value = 0n;
  for (const char of stem.slice(1)) value = value * 38n + BigInt(STEM_DIGITS.indexOf(char));
  let id = '';
  for (; value > 1n; value /= 65n) id = ID_DIGITS[Number(value % 65n)]! + id;
  return value === 1n && id.length > 0 ? id : undefined;
}

/** The id of a file name stem made by {@link encodeThreadId}, or `undefined` if it is not one. */
export function decodeThreadId(stem: string): string | undefined {
  if (PLAIN_STEM.test(stem)) return stem; // nothing escaped: the stem is the id
  if (PACKED_STEM.test(stem)) {
    const id = unpackStem(stem);
    // Only the canonical stem names a thread (an id that escapes short enough is never packed).
    return id !== undefined && encodeThreadId(id) === stem ? id : undefined;
  }
  if (!/^(?:[a-z0-9_-]|%[0-9a-f]{2})+$/.test(stem)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < stem.length; ) {
    if (stem[i] === '%') {
      bytes.push(parseInt(stem.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(stem.charCodeAt(i));
      i += 1;
    }
  }
  const id = Buffer.from(bytes).toString('utf8');
  // Only the canonical encoding names a thread (rejects invalid UTF-8 and needless escapes).
  return encodeThreadId(id) === stem ? id : undefined;
}

/** One batch line, newline included. The header line (`header` given) starts a thread file. */
export function formatLine(
  version: number,
  events: readonly ThreadEvent[],
  header?: { id: string; agent: string; at: string },
): string {
  const line = header
    ? { v: version, id: header.id, agent: header.agent, at: header.at, events }
    : { v: version, events };
  return `${JSON.stringify(line)}\n`;
}

/** A thread as read from its file: the events, the folded state and how far the file is good. */
export interface ThreadFileContent {
  /** Deeply frozen. */
  readonly thread: Thread;
  readonly state: ThreadState;
  /**
   * The thread's creation time (its summary's `createdAt`): the first event's time when the
   * header line holds events, else the header's `at` (the store's clock at creation).
   */
  readonly createdAt: string;
  /** Bytes of the file that hold complete, valid lines; anything after is a torn tail. */
  readonly goodSize: number;
}

/** What {@link parseThreadFile} found. */
export type ParsedThreadFile =
  | { readonly ok: true; readonly content: ThreadFileContent | undefined }
  | { readonly ok: false; readonly error: string; /** Where in the file the bad line starts, when one is to blame. */ readonly byte?: number };

/**
 * Parses `bytes`, the part of a thread file after `base.goodSize` (or the whole file when `base` is
 * undefined), continuing `base`. Only the new events are validated and folded, so re-reading a
 * file that grew costs the new lines only. `content` is `undefined` when the file has no complete
 * header yet (a create in progress or one that died before it finished).
 *
 * `trusted`: the bytes are ones this store's index vouches for (written by a store, or read and
 * validated when indexed): the lines are checked as always, the events neither validated against
 * the schemas (most of the cost of a read) nor frozen. Such content is for a one-off look only
 * (a listing's pending request), never to be cached or handed out.
 */
export function parseThreadFile(id: string, bytes: Buffer, base?: ThreadFileContent, trusted = false): ParsedThreadFile {
  let agent = base?.thread.agent;
  let createdAt = base?.createdAt;
  let headerEvents = 0;
  let version = base?.state.version ?? 0;
  let offset = 0;
  const raw: unknown[] = [];
  while (offset < bytes.length) {
    const newline = bytes.indexOf(10, offset);
    if (newline === -1) break; // torn tail: no newline yet
    let line: unknown;
    try {
      line = JSON.parse(bytes.toString('utf8', offset, newline));
    } catch (error) {
      if (newline === bytes.length - 1) break; // an unparseable last line is a torn tail too
      const byte = (base?.goodSize ?? 0) + offset;
      return { ok: false, error: `line at byte ${byte} is not JSON: ${(error as Error).message}`, byte };
    }
    const byte = (base?.goodSize ?? 0) + offset;
    const where = `line at byte ${byte}`;
    if (typeof line !== 'object' || line === null || Array.isArray(line)) return { ok: false, error: `${where} is not an object`, byte };
    const record = line as { v?: unknown; id?: unknown; agent?: unknown; at?: unknown; events?: unknown };
    if (!Array.isArray(record.events)) return { ok: false, error: `${where} has no events array`, byte };
    if (agent === undefined) {
      if (record.id !== id) return { ok: false, error: `header names thread ${JSON.stringify(record.id)}, not ${JSON.stringify(id)}`, byte };
      if (typeof record.agent !== 'string' || record.agent.length === 0) return { ok: false, error: 'header has no agent', byte };
      if (typeof record.at !== 'string') return { ok: false, error: 'header has no creation time', byte };
      agent = record.agent;
      createdAt = record.at;
      headerEvents = record.events.length;
    }
    if (record.v !== version + record.events.length) {
      return { ok: false, error: `${where} has version ${String(record.v)}, expected ${version + record.events.length}`, byte };
    }
    for (const event of record.events) raw.push(event);
    version += record.events.length;
    offset = newline + 1;
  }
  if (agent === undefined || createdAt === undefined) return { ok: true, content: undefined };
  if (base !== undefined && raw.length === 0) {
    return { ok: true, content: offset === 0 ? base : { ...base, goodSize: base.goodSize + offset } };
  }
  const parsed = trusted ? { success: true as const, data: raw as ThreadEvent[] } : parseStoredEvents(raw, base?.state.version ?? 0);
  if (!parsed.success) return { ok: false, error: `invalid events: ${parsed.error}` };
  const added = trusted ? parsed.data : deepFreeze(parsed.data);
  if (base === undefined && headerEvents > 0) createdAt = added[0]!.at;
  let state = base?.state ?? initialState;
  for (const event of added) state = reduceState(state, event);
  const events = base === undefined ? added : base.thread.events.concat(added);
  return {
    ok: true,
    content: {
      thread: Object.freeze({ id, agent, events: Object.freeze(events) }),
      state,
      createdAt,
      goodSize: (base?.goodSize ?? 0) + offset,
    },
  };
}
