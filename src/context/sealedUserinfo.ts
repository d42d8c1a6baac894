import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';

/**
 * How a sealed userinfo starts: `https://sealed.v1.<token>@host/path`. The token is
 * base64url(nonce | ciphertext | tag), AES-256-GCM of the URL's userinfo (`user:password`, as
 * percent-encoded in the URL) under a key derived (HKDF-SHA256) from the webhook secret, bound to
 * the receiver (origin and path): it opens only with that secret, and only for that receiver.
 */
export const SEALED_USERINFO_PREFIX = 'sealed.v1.';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// Another purpose than the secret's HMAC signatures: its own key.
const KEY_INFO = 'switchyard callbackUrl userinfo v1';
const KEY_SALT = 'switchyard';

/** A URL with its sealed userinfo opened, or why it could not be (never naming the token). */
export type OpenedUrl = { readonly success: true; readonly data: string } | { readonly success: false; readonly error: string };

/** Why a sealed userinfo did not open. */
export const SEALED_USERINFO_UNOPENED = 'has sealed credentials that do not open with this process’s webhook secret (SWITCHYARD_WEBHOOK_SECRET changed since the launch?)';

/**
 * The URL with its userinfo (`user:password@`) replaced by a sealed token, so a thread may hold it
 * without holding the credentials; a URL without userinfo comes back as it is. Each call seals
 * with a fresh nonce. `url` must be an absolute URL and `secret` not empty.
 *
 * @example
 * ```ts
 * sealUserinfo('https://user:pw@example.com/hook', secret); // 'https://sealed.v1.Zm9v…@example.com/hook'
 * ```
 */
export function sealUserinfo(url: string, secret: string): string {
  if (secret === '') throw new ConfigError('sealing a URL’s credentials needs a secret');
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return url;
  const userinfo = parsed.password === '' ? parsed.username : `${parsed.username}:${parsed.password}`;
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), nonce);
  cipher.setAAD(receiverOf(parsed));
  const sealed = Buffer.concat([nonce, cipher.update(userinfo, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  parsed.username = `${SEALED_USERINFO_PREFIX}${sealed.toString('base64url')}`;
  parsed.password = '';
  return parsed.href;
}

/** Whether `url` is a URL whose userinfo is a token of {@link sealUserinfo}. */
export function hasSealedUserinfo(url: string): boolean {
  return tokenOf(url) !== undefined;
}

/**
 * The URL {@link sealUserinfo} was given, its credentials opened with `secret`; a URL without a
 * sealed userinfo comes back as it is. A token that does not open (another secret, tampered with,
 * moved to another receiver) is an error value, not an exception.
 */
export function openUserinfo(url: string, secret: string): OpenedUrl {
  const found = tokenOf(url);
  if (found === undefined) return { success: true, data: url };
  const { parsed, token } = found;
  const sealed = Buffer.from(token, 'base64url');
  if (secret === '' || sealed.length < NONCE_BYTES + TAG_BYTES) return { success: false, error: SEALED_USERINFO_UNOPENED };
  let userinfo: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(receiverOf(parsed));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    userinfo = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return { success: false, error: SEALED_USERINFO_UNOPENED };
  }
  const colon = userinfo.indexOf(':');
  parsed.username = colon === -1 ? userinfo : userinfo.slice(0, colon);
  parsed.password = colon === -1 ? '' : userinfo.slice(colon + 1);
  return { success: true, data: parsed.href };
}

function tokenOf(url: string): { parsed: URL; token: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const { username, password } = parsed;
  if (password !== '' || !username.startsWith(SEALED_USERINFO_PREFIX)) return undefined;
  const token = username.slice(SEALED_USERINFO_PREFIX.length);
  return /^[A-Za-z0-9_-]+$/.test(token) ? { parsed, token } : undefined;
}

/** What the token is bound to: the receiver as the logs name it (origin and path). */
function receiverOf(url: URL): Buffer {
  return Buffer.from(`${url.origin}${url.pathname}`, 'utf8');
}

function keyOf(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, KEY_SALT, KEY_INFO, 32));
}
