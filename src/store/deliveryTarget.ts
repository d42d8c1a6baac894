import { createHash } from 'node:crypto';
import { describeError } from '../errors.js';

/**
 * Where a webhook or a callback is POSTed, read from its URL once: fetch refuses a URL with
 * userinfo (`https://user:pass@host/...`, a common way to protect a receiver), so the userinfo is
 * sent as `Authorization: Basic` instead, and the logs and the delivery ledger name the receiver
 * without its credentials (the userinfo, and the query: a token in it is one too).
 */
export interface DeliveryTarget {
  /** The URL the request goes to: the URL without its userinfo (its query kept). */
  readonly url: string;
  /** `Basic base64(user:password)` of the URL's userinfo (percent-decoded), when it has some. */
  readonly authorization?: string;
  /** The receiver in logs: origin and path. */
  readonly receiver: string;
  /**
   * The receiver in ledger keys: the URL as given when it has neither userinfo nor a query (the
   * keys earlier versions wrote), else origin and path, and `?sha256-<hash of the query>` when it
   * has one (receivers that differ by their query are kept apart).
   */
  readonly key: string;
  /** The ledger key of earlier versions (the whole URL) when it differs from {@link key}. */
  readonly legacyKey?: string;
}

/**
 * A receiver's URL read, or what is wrong with it: `error` says it of the URL (`is not a URL`),
 * `receiver` names it without credentials when it parses.
 */
export type DeliveryTargetResult =
  | { readonly success: true; readonly data: DeliveryTarget }
  | { readonly success: false; readonly error: string; readonly receiver?: string };

/** Why a URL's userinfo cannot be sent as `Authorization: Basic`. */
export const USERINFO_UNDECODED = 'has userinfo (user:password) whose percent-encoding does not decode';

/**
 * Reads an http(s) URL as a {@link DeliveryTarget}; a URL that is not one, or whose userinfo does
 * not percent-decode, is an error that names it without its credentials.
 */
export function deliveryTargetOf(raw: string): DeliveryTargetResult {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { success: false, error: 'is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { success: false, error: 'is not an http or https URL', ...(url.origin === 'null' ? {} : { receiver: url.origin }) };
  const receiver = `${url.origin}${url.pathname}`;
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return { success: false, error: USERINFO_UNDECODED, receiver };
    }
    authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const whole = url.href;
  url.username = '';
  url.password = '';
  const key = url.search === '' ? url.href : `${receiver}?sha256-${createHash('sha256').update(url.search).digest('hex').slice(0, 32)}`;
  return {
    success: true,
    data: { url: url.href, ...(authorization === undefined ? {} : { authorization }), receiver, key, ...(whole === key ? {} : { legacyKey: whole }) },
  };
}

/** The receiver `raw` names, for a log line: origin and path, or `(not a URL)`. */
export function receiverOf(raw: string): string {
  return originAndPath(raw) ?? '(not a URL)';
}

/**
 * A URL as a log line may name it: its origin and path, without userinfo, query or fragment (any
 * of which may hold a credential); undefined when `raw` is not a URL with an origin.
 */
export function originAndPath(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return url.origin === 'null' ? undefined : `${url.origin}${url.pathname}`;
  } catch {
    return undefined;
  }
}

/** Whether the userinfo of `raw`, if it is a URL that has some, percent-decodes (so it can be sent). */
export function userinfoDecodes(raw: string): boolean {
  const parsed = deliveryTargetOf(raw);
  return parsed.success || parsed.error !== USERINFO_UNDECODED;
}

/**
 * The `error` of an attempt that got no answer: what fetch threw with its causes (`fetch failed:
 * connect ECONNREFUSED 127.0.0.1:1234`, `fetch failed: getaddrinfo ENOTFOUND hooks.example.com`,
 * a TLS failure), or `timed out: no answer within <timeoutMs> ms` when the attempt ran out of time.
 */
export function noAnswerError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `timed out: no answer within ${timeoutMs} ms`;
  return describeError(error);
}

/**
 * The `error` of a receiver's answer that is no success: `HTTP 503`; for a redirect, which a
 * delivery does not follow (a POST is not sent on to another URL), also where it points, by origin
 * and path (`location` resolved against `url`; no query or credentials): the URL to configure.
 */
export function answerError(status: number, location: string | null, url: string): string {
  const text = `HTTP ${status}`;
  if (status < 300 || status >= 400 || location === null) return text;
  let to: string | undefined;
  try {
    to = originAndPath(new URL(location, url).href);
  } catch {
    to = undefined;
  }
  return to === undefined ? text : `${text}: redirected to ${to} (not followed: configure that URL)`;
}
