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

/**
 * Keys of the summaries bucket besides a thread's summary (whose key is {@link threadKey} of the
 * thread, one token): an index that pages without reading every thread.
 *
 * - `c.<agent>.<thread>`: written once, when the thread is created. A consumer on `c.>` (or
 *   `c.<agent>.*`) meets every thread once, in the order they were created (stream sequence).
 * - `s.<status>.<agent>.<thread>.<since>`: the thread is in `status` since its version `since`.
 *   Written when it enters the status, removed (purged) when it leaves; a consumer on
 *   `s.<status>.>` meets the threads in a status in the order they entered it.
 * - `m.index`: present once every thread has its index keys (the index is built when missing).
 *
 * Agents and threads are spelled with {@link threadKey}, so a key has a fixed number of tokens.
 */
export const INDEX_MARKER_KEY = 'm.index';

/** The creation key of a thread. */
export function creationKey(agent: string, id: string): string {
  return `c.${threadKey(agent)}.${threadKey(id)}`;
}

/** The status key of a thread in `status` since version `since`. */
export function statusKey(status: string, agent: string, id: string, since: number): string {
  return `s.${status}.${threadKey(agent)}.${threadKey(id)}.${since}`;
}

/** What an index key names, or `undefined` for another key. */
export type IndexKey =
  | { readonly kind: 'creation'; readonly agent: string; readonly id: string }
  | { readonly kind: 'status'; readonly status: string; readonly agent: string; readonly id: string; readonly since: number };

/** Parses a key written by {@link creationKey} or {@link statusKey}. */
export function parseIndexKey(key: string): IndexKey | undefined {
  const tokens = key.split('.');
  if (tokens[0] === 'c' && tokens.length === 3) {
    const agent = threadIdOfKey(tokens[1]!);
    const id = threadIdOfKey(tokens[2]!);
    return agent === undefined || id === undefined ? undefined : { kind: 'creation', agent, id };
  }
  if (tokens[0] === 's' && tokens.length === 5 && /^\d+$/.test(tokens[4]!)) {
    const agent = threadIdOfKey(tokens[2]!);
    const id = threadIdOfKey(tokens[3]!);
    return agent === undefined || id === undefined ? undefined : { kind: 'status', status: tokens[1]!, agent, id, since: Number(tokens[4]) };
  }
  return undefined;
}
