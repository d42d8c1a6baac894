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
