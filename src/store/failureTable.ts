import { FAILURE_KINDS } from './failureSummary.js';
import type { FailureSummary } from './threadStore.js';

/**
 * About the bytes the file store's index may spend on the text of failures: 32 MB (the estimate
 * of a failure is its text's bytes, one a character when all are Latin-1, else two, and
 * {@link OVERHEAD}). With the rest of the index, a million
 * threads then stay within issue 13's budget (RSS growth under 200 MB) whatever they failed with.
 */
export const MAX_FAILURE_BYTES = 32 << 20;
/** What a distinct failure costs beyond its text: its key, map entry and array cells. */
const OVERHEAD = 64;
const ELLIPSIS = '…';
const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/**
 * The failures of the file store's index, each distinct one once (threads that failed alike,
 * a storm of refusals, share it), by a code the index keeps per thread, counted so that a failure
 * no thread holds any more is forgotten. The text is bounded by {@link MAX_FAILURE_BYTES}: past
 * it, `add` refuses a new failure (the index then reads that thread's from its file).
 */
export class FailureTable {
  readonly #codes = new Map<string, number>();
  /** Key by code (undefined for a free code; code 0 is never used: "none" in the index). */
  readonly #keys: (string | undefined)[] = [undefined];
  readonly #refs: number[] = [0];
  readonly #free: number[] = [];
  #bytes = 0;

  constructor(readonly maxBytes = MAX_FAILURE_BYTES) {}

  /** The estimated bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether `add(failure)` would be taken. */
  accepts(failure: FailureSummary): boolean {
    const key = keyOf(failure);
    return this.#codes.has(key) || this.#bytes + costOf(key) <= this.maxBytes;
  }

  /** The code of `failure`, held once more; 0 when it is new and the table is full. */
  add(failure: FailureSummary): number {
    const key = keyOf(failure);
    let code = this.#codes.get(key);
    if (code === undefined) {
      const cost = costOf(key);
      if (this.#bytes + cost > this.maxBytes) return 0;
      code = this.#free.pop() ?? this.#keys.length;
      // A copy: the key built from slices of a longer text (a reason cut to 200 characters) would keep that text alive.
      const own = JSON.parse(JSON.stringify(key)) as string;
      this.#keys[code] = own;
      this.#refs[code] = 0;
      this.#codes.set(own, code);
      this.#bytes += cost;
    }
    this.#refs[code]!++;
    return code;
  }

  /** Lets go of one hold of `code` (0: none). */
  release(code: number): void {
    if (code === 0 || --this.#refs[code]! > 0) return;
    const key = this.#keys[code]!;
    this.#codes.delete(key);
    this.#keys[code] = undefined;
    this.#bytes -= costOf(key);
    this.#free.push(code);
  }

  /** The failure of `code` (a new object each call), `undefined` for 0. */
  get(code: number): FailureSummary | undefined {
    const key = code === 0 ? undefined : this.#keys[code];
    return key === undefined ? undefined : parseKey(key);
  }
}

/**
 * One string for a failure: the kind's digit, then `-` or who cancelled as `<length>:<by>`, then
 * `-` or `=<message>`, or `+<message>` for a message that ends in `…` (cut), without it: the one
 * character not Latin-1 would make V8 keep the whole text in two bytes a character.
 */
function keyOf({ kind, message, by }: FailureSummary): string {
  const text = message === undefined ? '-' : message.endsWith(ELLIPSIS) ? `+${message.slice(0, -1)}` : `=${message}`;
  return `${FAILURE_KINDS.indexOf(kind)}${by === undefined ? '-' : `${by.length}:${by}`}${text}`;
}

function costOf(key: string): number {
  return (NOT_LATIN1.test(key) ? 2 * key.length : key.length) + OVERHEAD;
}

function parseKey(key: string): FailureSummary {
  const kind = FAILURE_KINDS[Number(key[0])]!;
  let at = 1;
  let by: string | undefined;
  if (key[at] === '-') {
    at++;
  } else {
    const colon = key.indexOf(':', at);
    const length = Number(key.slice(at, colon));
    by = key.slice(colon + 1, colon + 1 + length);
    at = colon + 1 + length;
  }
  const message = key[at] === '=' ? key.slice(at + 1) : key[at] === '+' ? `${key.slice(at + 1)}${ELLIPSIS}` : undefined;
  return Object.freeze({ kind, ...(message === undefined ? {} : { message }), ...(by === undefined ? {} : { by }) });
}
