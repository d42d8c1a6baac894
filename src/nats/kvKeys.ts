const PLAIN = /^[A-Za-z0-9_-]+$/;
const PLAIN_CHAR = /[A-Za-z0-9_-]/;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The NATS KV key of a thread id. KV keys allow only letters, digits and `-/_=.`, and a `.` splits
 * a key into subject tokens, so every other character (`:` in pipeline child ids, `.`, `=`, any
 * non-ASCII) is written as `=XX` per UTF-8 byte. Injective and case-preserving, so distinct ids
 * never share a key; ids made of letters, digits, `_` and `-` are their own key.
 *
 * @example
 * ```ts
 * threadKey('th_1'); // 'th_1'
 * threadKey('a:b'); // 'a=3Ab'
 * ```
 */
export function threadKey(id: string): string {
  if (PLAIN.test(id)) return id;
  let key = '';
  for (const char of id) {
    if (PLAIN_CHAR.test(char)) {
      key += char;
      continue;
    }
    for (const byte of encoder.encode(char)) key += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return key;
}

/** The thread id of a KV key written by {@link threadKey}, or `undefined` for a foreign key. */
export function threadIdOfKey(key: string): string | undefined {
  if (PLAIN.test(key)) return key;
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
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

/** The summaries bucket key that marks a built index (see {@link indexSubjects}). */
export const INDEX_MARKER_KEY = 'm.index';

/**
 * The index of a KV thread store: a plain JetStream stream `<bucket>_index` (not a KV bucket: a
 * subject holds many messages), one message per entry, on few subjects, so a consumer filtered
 * on them is cheap to create on nats-server 2.9 (its cost grows with the subjects it matches).
 *
 * - `<prefix>c.<agent>`: `{"i": id}`, one per thread, published when it is created. Read in
 *   stream order, every thread once, in the order they were created.
 * - `<prefix>s.<status>.<agent>`: `{"i": id, "s": since}`, published when the thread enters the
 *   status (at version `since`) and deleted (by sequence) when it leaves: the threads in a status
 *   in the order they entered it.
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

/** What an index message says: the kind of entry, its status, the thread and `since`. */
export type IndexEntry =
  | { readonly kind: 'creation'; readonly id: string }
  | { readonly kind: 'status'; readonly status: string; readonly id: string; readonly since: number };

/** Reads an index message (its subject after the prefix, and its JSON payload). */
export function parseIndexEntry(key: string, payload: unknown): IndexEntry | undefined {
  const tokens = key.split('.');
  const body = payload as { i?: unknown; s?: unknown } | null;
  if (typeof body?.i !== 'string' || body.i.length === 0) return undefined;
  if (tokens[0] === 'c' && tokens.length === 2) return { kind: 'creation', id: body.i };
  if (tokens[0] === 's' && tokens.length === 3 && Number.isSafeInteger(body.s) && (body.s as number) >= 0) {
    return { kind: 'status', status: tokens[1]!, id: body.i, since: body.s as number };
  }
  return undefined;
}
