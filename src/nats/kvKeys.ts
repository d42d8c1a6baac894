import { InvalidInputError } from '../errors.js';

const PLAIN = /^[A-Za-z0-9_-]+$/;
const PLAIN_CHAR = /[A-Za-z0-9_-]/;

/**
 * The longest key {@link threadKey} writes. With a bucket name (up to several hundred characters)
 * and a reply inbox, the subject of a read or write then stays inside a NATS server's default 4 KiB
 * control line: a longer line closes the connection, and every request on it fails.
 */
export const MAX_KEY_LENGTH = 2048;

/**
 * The NATS KV key of a thread id. KV keys allow only letters, digits and `-/_=.`, and a `.` splits
 * a key into subject tokens, so every other character (`:` in pipeline child ids, `.`, `=`, any
 * non-ASCII) is written as `=XX` per UTF-8 byte (a lone surrogate as the three bytes UTF-8 would
 * give its code point, so it never shares a key with U+FFFD). Injective and case-preserving, so
 * distinct ids never share a key; ids made of letters, digits, `_` and `-` are their own key.
 * Throws `InvalidInputError` for the empty id and for an id whose key would pass
 * {@link MAX_KEY_LENGTH} characters.
 *
 * @example
 * ```ts
 * threadKey('th_1'); // 'th_1'
 * threadKey('a:b'); // 'a=3Ab'
 * ```
 */
export function threadKey(id: string): string {
  const key = threadKeyOf(id);
  if (key === undefined) {
    // Thread ids, and agent names in index subjects: name the value, not what it was for.
    const what = id.length === 0 ? 'an empty name' : `${JSON.stringify(id.slice(0, 40))}... (too long)`;
    throw new InvalidInputError(`${what} cannot be a NATS KV key`, [`must be non-empty, at most ${MAX_KEY_LENGTH} characters once escaped`]);
  }
  return key;
}

/** Whether {@link threadKey} has a key for `id`. */
export function hasThreadKey(id: string): boolean {
  return threadKeyOf(id) !== undefined;
}

/** The key {@link threadKey} writes for `id`, `undefined` where it would throw. */
export function threadKeyOf(id: string): string | undefined {
  if (PLAIN.test(id)) return id.length <= MAX_KEY_LENGTH ? id : undefined;
  let key = '';
  for (const char of id) {
    if (PLAIN_CHAR.test(char)) key += char;
    else key += escapeCodePoint(char.codePointAt(0)!);
    if (key.length > MAX_KEY_LENGTH) return undefined;
  }
  return key.length === 0 ? undefined : key;
}

/** `=XX` per byte of the UTF-8 form of a code point (surrogates included, as WTF-8 writes them). */
function escapeCodePoint(cp: number): string {
  if (cp < 0x80) return hexByte(cp);
  if (cp < 0x800) return hexByte(0xc0 | (cp >> 6)) + hexByte(0x80 | (cp & 0x3f));
  if (cp < 0x10000) return hexByte(0xe0 | (cp >> 12)) + hexByte(0x80 | ((cp >> 6) & 0x3f)) + hexByte(0x80 | (cp & 0x3f));
  return hexByte(0xf0 | (cp >> 18)) + hexByte(0x80 | ((cp >> 12) & 0x3f)) + hexByte(0x80 | ((cp >> 6) & 0x3f)) + hexByte(0x80 | (cp & 0x3f));
}

function hexByte(byte: number): string {
  return `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * The thread id of a KV key written by {@link threadKey}, or `undefined` for a foreign key (one
 * that id would not be written as: `=41` is not the key of `A`).
 */
export function threadIdOfKey(key: string): string | undefined {
  if (PLAIN.test(key)) return key.length <= MAX_KEY_LENGTH ? key : undefined;
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < key.length; ) {
    const char = key[i]!;
    if (char === '=') {
      const hex = key.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else if (PLAIN_CHAR.test(char)) {
      bytes.push(char.charCodeAt(0));
      i += 1;
    } else {
      return undefined;
    }
  }
  const id = decodeCodePoints(bytes);
  // Only the canonical key names a thread (rejects escaped letters, overlong forms, split pairs).
  return id !== undefined && threadKeyOf(id) === key ? id : undefined;
}

/** The string of UTF-8 bytes, surrogate code points allowed (the inverse of `escapeCodePoint`). */
function decodeCodePoints(bytes: readonly number[]): string | undefined {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return undefined;
    let cp = length === 1 ? lead : lead & (0xff >> (length + 1));
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k]!;
      if ((next & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (next & 0x3f);
    }
    if (cp > 0x10ffff) return undefined;
    out += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
    i += length;
  }
  return out;
}

/** The summaries bucket key that marks a built index (see {@link indexSubjects}). */
export const INDEX_MARKER_KEY = 'm.index';

/**
 * The index of a KV thread store: a plain JetStream stream `<bucket>_index` (not a KV bucket: a
 * subject holds many messages), one message per entry, on few subjects, so a consumer filtered
 * on them is cheap to create on nats-server 2.9 (its cost grows with the subjects it matches).
 *
 * - `<prefix>c.<agent>`: `{"i": id, "c": createdAt}`, one per thread, published when it is created. Read in
 *   stream order, every thread once, in the order they were created.
 * - `<prefix>s.<status>.<agent>`: `{"i": id, "s": since, "c": createdAt, "a": enteredAt}`, published when the thread enters the
 *   status (at version `since`) and deleted (by sequence) when it leaves: the threads in a status
 *   in the order they entered it.
 *
 * Both are deleted (by sequence) when the thread is deleted (those its deleter knows of: listings
 * remove the others once they find the thread gone), and by the writer that published them when
 * its write lost its compare-and-set. Their message ids are unique to each publish (see
 * `IndexWriter`), so only a retry of the same publish is dropped as a repeat.
 *
 * Agents are spelled with {@link threadKey}, so a subject has a fixed number of tokens.
 */
export interface IndexSubjects {
  readonly stream: string;
  /** `$SWITCHYARD_INDEX.<bucket>.` */
  readonly prefix: string;
}

export function indexSubjects(bucket: string): IndexSubjects {
  return { stream: `${bucket}_index`, prefix: `$SWITCHYARD_INDEX.${bucket}.` };
}

/** The creation subject of an agent's threads (`'*'`: every agent's). */
export function creationSubject(index: IndexSubjects, agent: string | undefined): string {
  return `${index.prefix}c.${agent === undefined ? '*' : threadKey(agent)}`;
}

/** The subject of an agent's threads in a status (`'*'`: every agent's). */
export function statusSubject(index: IndexSubjects, status: string, agent: string | undefined): string {
  return `${index.prefix}s.${status}.${agent === undefined ? '*' : threadKey(agent)}`;
}

/**
 * What an index message says: the kind of entry, its status, the thread, `since`, the thread's
 * `createdAt` (absent in entries written before it), which tells the entries of a thread from
 * those of a deleted thread of the same id, and `enteredAt`, the time of the event at which it
 * entered the status (absent in entries written before it), which a walk with `updatedBefore`
 * goes by.
 */
export type IndexEntry =
  | { readonly kind: 'creation'; readonly id: string; readonly createdAt?: string }
  | { readonly kind: 'status'; readonly status: string; readonly id: string; readonly since: number; readonly createdAt?: string; readonly enteredAt?: string };

/** Reads an index message (its subject after the prefix, and its JSON payload). */
export function parseIndexEntry(key: string, payload: unknown): IndexEntry | undefined {
  const tokens = key.split('.');
  const body = payload as { i?: unknown; s?: unknown; c?: unknown; a?: unknown } | null;
  // Written by something else, an id with no key would fail the listing that looks it up.
  if (typeof body?.i !== 'string' || !hasThreadKey(body.i)) return undefined;
  const createdAt = typeof body.c === 'string' ? { createdAt: body.c } : {};
  if (tokens[0] === 'c' && tokens.length === 2) return { kind: 'creation', id: body.i, ...createdAt };
  if (tokens[0] === 's' && tokens.length === 3 && Number.isSafeInteger(body.s) && (body.s as number) >= 0) {
    const enteredAt = typeof body.a === 'string' ? { enteredAt: body.a } : {};
    return { kind: 'status', status: tokens[1]!, id: body.i, since: body.s as number, ...createdAt, ...enteredAt };
  }
  return undefined;
}
