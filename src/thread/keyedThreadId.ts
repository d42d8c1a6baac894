import { createHash } from 'node:crypto';

/** The longest outside key taken (an `Idempotency-Key`, a hook's delivery id): a retry sends the same one. */
export const MAX_OUTSIDE_KEY_CHARS = 200;

/** An outside key that is a plain token names its thread as is (with the prefix); any other is hashed. */
const PLAIN_KEY = /^[A-Za-z0-9_:-]{1,120}$/;

/**
 * The thread id an outside key names (a NATS msg id, an inbound hook's delivery id, an HTTP
 * `Idempotency-Key`), the same for every retry that sends the key: `prefix` and the key when it is
 * a plain token (1 to 120 letters, digits or `_ : -`), else `prefix` and 40 hex digits of its
 * SHA-256. With a prefix of at most 8 characters it is a valid thread id whatever the key.
 *
 * @example keyedThreadId('hook-', 'evt_1') // 'hook-evt_1'; keyedThreadId('hook-', 'a b') // 'hook-<40 hex>'
 */
export function keyedThreadId(prefix: string, key: string): string {
  return `${prefix}${PLAIN_KEY.test(key) ? key : hashOfKey(key)}`;
}

/** 40 hex digits of the SHA-256 of `key`: how an outside key too long or odd for a thread id is named. */
export function hashOfKey(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 40);
}
