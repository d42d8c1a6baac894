import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * How a sealed value starts where a thread holds it: `sealed.v1.<token>`, the token
 * base64url(nonce | ciphertext | tag), AES-256-GCM under a key derived (HKDF-SHA256) from a secret
 * for one purpose, and bound (its additional data) to where it was sealed: it opens only with that
 * secret, for that purpose, there. What callbackUrl credentials and tool arguments are sealed with.
 */
export const SEALED_PREFIX = 'sealed.v1.';

/** A sealed value as the whole of a string, its token captured. */
export const SEALED_VALUE = /^sealed\.v1\.([A-Za-z0-9_-]+)$/;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_SALT = 'switchyard';

/** `plain` sealed under `key` for `binding`, fresh nonce each call: `sealed.v1.<token>`. */
export function sealText(plain: string, key: Buffer, binding: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(binding, 'utf8'));
  const sealed = Buffer.concat([nonce, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${SEALED_PREFIX}${sealed.toString('base64url')}`;
}

/** The text sealed in `token` (without its prefix), or undefined when it does not open with `key` for `binding`. */
export function openToken(token: string, key: Buffer, binding: string): string | undefined {
  const sealed = Buffer.from(token, 'base64url');
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(binding, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The 256-bit key of `secret` for one purpose (`info`: each purpose its own, so no key serves two). */
export function sealingKey(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, KEY_SALT, info, 32));
}
