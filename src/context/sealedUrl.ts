import { ConfigError } from '../errors.js';
import { isSecretParam } from './redact.js';
import { formDecoded, MASK } from './redactUrl.js';
import { openToken as open, SEALED_VALUE, sealingKey as keyOf, sealText as seal } from './sealing.js';

/**
 * Where a URL holds a sealed credential: its userinfo
 * (`https://sealed.v1.<token>@host/path`) or the value of a secret-named query parameter
 * (`?token=sealed.v1.<token>`). The token is base64url(nonce | ciphertext | tag), AES-256-GCM of the
 * credential as written in the URL (percent-encoded) under a key derived (HKDF-SHA256) from the
 * webhook secret, bound to the receiver (origin and path; a query value also to its parameter's name
 * and place): it opens only with that secret, and only there (see `sealing.ts`). Other purposes
 * than the secret's HMAC signatures, and than each other: a key each. The userinfo's is the one
 * threads were sealed with before query values were.
 */
const USERINFO_KEY_INFO = 'switchyard callbackUrl userinfo v1';
const QUERY_KEY_INFO = 'switchyard callbackUrl query v1';

/** A URL with its sealed credentials opened, or why it could not be (never naming a token). */
export type OpenedUrl = { readonly success: true; readonly data: string } | { readonly success: false; readonly error: string };

/** Why sealed credentials did not open. */
const SEALED_UNOPENED =
  'has sealed credentials that do not open with this process’s webhook secret nor a previous one (SWITCHYARD_WEBHOOK_SECRET changed since the launch? list the one it replaced in SWITCHYARD_WEBHOOK_SECRET_PREVIOUS)';

/**
 * The URL with its credentials sealed, so a thread may hold it without holding them: its userinfo
 * (`user:password@`) and the value of every query parameter {@link isSecretParam} names, each
 * replaced by a token. Everything else is kept byte for byte (the URL as `new URL` writes it: a
 * URL already in that form comes back with only the credentials changed); a URL without credentials
 * comes back as it is. Each call seals with fresh nonces. `url` must be an absolute URL and
 * `secret` not empty.
 *
 * @example
 * ```ts
 * sealUrl('https://user:pw@example.com/hook?b=1&token=abc', secret);
 * // 'https://sealed.v1.Zm9v…@example.com/hook?b=1&token=sealed.v1.YmFy…'
 * ```
 */
export function sealUrl(url: string, secret: string): string {
  if (secret === '') throw new ConfigError('sealing a URL’s credentials needs a secret');
  if (!hasCredentials(url)) return url;
  const parsed = new URL(url);
  const receiver = receiverBinding(parsed);
  if (parsed.username !== '' || parsed.password !== '') {
    const userinfo = parsed.password === '' ? parsed.username : `${parsed.username}:${parsed.password}`;
    parsed.username = seal(userinfo, keyOf(secret, USERINFO_KEY_INFO), receiver);
    parsed.password = '';
  }
  const queryKey = keyOf(secret, QUERY_KEY_INFO);
  return withSecretValues(parsed.href, (value, name, index) => seal(value, queryKey, paramBinding(receiver, name, index)));
}

/**
 * The URL {@link sealUrl} was given, its credentials opened with `secret`, or with the first of
 * `secrets` they open with (a rotation: the current secret, then the ones it replaced); a URL
 * without sealed credentials comes back as it is. A token that does not open (another secret,
 * tampered with, moved to another receiver or parameter) is an error value, not an exception.
 */
export function openUrl(url: string, secret: string | readonly string[]): OpenedUrl {
  if (!hasSealedCredentials(url)) return { success: true, data: url };
  for (const each of typeof secret === 'string' ? [secret] : secret) {
    const opened = openUrlWith(url, each);
    if (opened.success) return opened;
  }
  return { success: false, error: SEALED_UNOPENED };
}

function openUrlWith(url: string, secret: string): OpenedUrl {
  const unopened = { success: false, error: SEALED_UNOPENED } as const;
  if (secret === '') return unopened;
  const parsed = new URL(url);
  const receiver = receiverBinding(parsed);
  const userinfoToken = sealedUserinfoOf(parsed);
  if (userinfoToken !== undefined) {
    const userinfo = open(userinfoToken, keyOf(secret, USERINFO_KEY_INFO), receiver);
    if (userinfo === undefined) return unopened;
    const colon = userinfo.indexOf(':');
    parsed.username = colon === -1 ? userinfo : userinfo.slice(0, colon);
    parsed.password = colon === -1 ? '' : userinfo.slice(colon + 1);
  }
  const queryKey = keyOf(secret, QUERY_KEY_INFO);
  let opened = true;
  const data = withSecretValues(parsed.href, (value, name, index) => {
    const token = SEALED_VALUE.exec(value)?.[1];
    if (token === undefined) return value;
    const plain = open(token, queryKey, paramBinding(receiver, name, index));
    opened &&= plain !== undefined;
    return plain ?? value;
  });
  return opened ? { success: true, data } : unopened;
}

/** Whether `url` holds a sealed credential: a userinfo or a secret-named query value of {@link sealUrl}'s form. */
export function hasSealedCredentials(url: string): boolean {
  const parsed = parse(url);
  return parsed !== undefined && (sealedUserinfoOf(parsed) !== undefined || secretValuesOf(parsed.href).some((value) => SEALED_VALUE.test(value)));
}

/** Whether `url` holds a credential in clear: a userinfo, or a secret-named query value, not sealed (and not empty). */
export function hasCredentials(url: string): boolean {
  const parsed = parse(url);
  if (parsed === undefined) return false;
  if ((parsed.username !== '' || parsed.password !== '') && sealedUserinfoOf(parsed) === undefined) return true;
  return secretValuesOf(parsed.href).some((value) => !SEALED_VALUE.test(value));
}

/**
 * An http(s) URL as a surface shows it: the credentials it holds in clear (recorded by a version
 * before they were sealed) masked: the password of its userinfo (`https://user:***@host/hook`), a
 * userinfo without a password whole, the value of each secret-named query parameter
 * (`?b=1&token=***`). Sealed credentials hold nothing and are shown as they are; anything else
 * (another URL, a NATS subject) comes back as it is.
 */
export function maskedCredentials(url: string): string {
  if (!/^https?:\/\//i.test(url) || !hasCredentials(url)) return url;
  const parsed = new URL(url);
  if (sealedUserinfoOf(parsed) === undefined) {
    if (parsed.password !== '') parsed.password = MASK;
    else if (parsed.username !== '') parsed.username = MASK;
  }
  return withSecretValues(parsed.href, (value) => (SEALED_VALUE.test(value) ? value : MASK));
}

/**
 * `href` with `change` applied to the value of every secret-named query parameter that has one
 * (not empty), and every other byte as it was. `href` is as `new URL` writes it, so its first `?`
 * starts the query and its first `#` the fragment; pairs are split at `&` only, as receivers do.
 */
function withSecretValues(href: string, change: (value: string, name: string, index: number) => string): string {
  const { base, query, fragment } = queryOf(href);
  if (query === undefined) return href;
  const pairs = query.split('&').map((pair, index) => {
    const eq = pair.indexOf('=');
    if (eq === -1 || eq === pair.length - 1) return pair;
    const name = pair.slice(0, eq);
    return isSecretParam(formDecoded(name)) ? `${name}=${change(pair.slice(eq + 1), name, index)}` : pair;
  });
  return `${base}?${pairs.join('&')}${fragment}`;
}

/** The values (as written) of the secret-named query parameters of `href` that have one. */
function secretValuesOf(href: string): string[] {
  const values: string[] = [];
  withSecretValues(href, (value) => {
    values.push(value);
    return value;
  });
  return values;
}

function queryOf(href: string): { base: string; query: string | undefined; fragment: string } {
  const hash = href.indexOf('#');
  const beforeHash = hash === -1 ? href : href.slice(0, hash);
  const fragment = hash === -1 ? '' : href.slice(hash);
  const question = beforeHash.indexOf('?');
  if (question === -1) return { base: beforeHash, query: undefined, fragment };
  return { base: beforeHash.slice(0, question), query: beforeHash.slice(question + 1), fragment };
}

/** The token of `url`'s userinfo when it is a sealed one. */
function sealedUserinfoOf(url: URL): string | undefined {
  if (url.password !== '') return undefined;
  return SEALED_VALUE.exec(url.username)?.[1];
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * What a userinfo's token is bound to: the receiver as the logs name it (origin and path). Not
 * `originAndPath` of the delivery target, which answers undefined for an origin `null` (a scheme
 * that has none): the tokens already sealed bind `null/path` there, and must still open.
 */
function receiverBinding(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** What a query value's token is bound to: the receiver, and the parameter's name and place. */
function paramBinding(receiver: string, name: string, index: number): string {
  return `${receiver}?${index}:${name}`;
}
