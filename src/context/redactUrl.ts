/** What replaces a credential in a printed or shown URL. */
export const MASK = '***';

/** Options of {@link redactUrl}. */
export interface RedactUrlOptions {
  /**
   * Whether the value of the query parameter `name` is a credential to mask; the others are kept
   * (`?api-version=2024-06-01&api-key=***`). @default every value is masked
   */
  secretParam?: (name: string) => boolean;
}

/**
 * One URL as it may be printed or logged: the password of its userinfo masked
 * (`nats://opuser:***@host`), a userinfo without a password masked whole (`nats://***@host`: a
 * token), the query values masked (`?api-key=***`) and the fragment dropped. The userinfo is
 * everything between the scheme's `//` (or the start) and the last `@`, whatever it holds: a
 * password written raw with `#`, `?`, `/` or `@` (which no URL parser reads as one) is masked all
 * the same. So an `@` in a path or query masks what comes before it too: hiding too much, never
 * too little. Text that does not parse as a URL gets the same treatment by its shape.
 *
 * @example
 * ```ts
 * redactUrl('nats://opuser:S3cret@127.0.0.1:4222'); // 'nats://opuser:***@127.0.0.1:4222'
 * redactUrl('nats://opuser:pa/ss#1@127.0.0.1:4222'); // 'nats://opuser:***@127.0.0.1:4222'
 * redactUrl('https://host/v1?api-key=sk-1'); // 'https://host/v1?api-key=***'
 * ```
 */
export function redactUrl(url: string, options: RedactUrlOptions = {}): string {
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  // The last `@` ends the userinfo: any `@`, `/`, `?` or `#` before it may be a password's.
  const at = rest.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : maskedUserinfo(rest.slice(0, at));
  const hostAndPath = at === -1 ? rest : rest.slice(at + 1);
  const hash = hostAndPath.indexOf('#');
  const withoutHash = hash === -1 ? hostAndPath : hostAndPath.slice(0, hash);
  const question = withoutHash.indexOf('?');
  const base = question === -1 ? withoutHash : withoutHash.slice(0, question);
  const query = question === -1 ? '' : `?${maskQuery(withoutHash.slice(question + 1), options.secretParam)}`;
  return `${scheme}${userinfo === undefined ? '' : `${userinfo}@`}${base}${query}`;
}

/**
 * A comma-separated list of server URLs without a query (`NATS_URL`), each redacted by
 * {@link redactUrl}. A comma is taken to separate URLs, as the list is read (a password holding one
 * must be percent-encoded to be used at all).
 */
export function redactUrlList(list: string): string {
  return list
    .split(',')
    .map((url) => redactUrl(url))
    .join(',');
}

/** `user:password` -> `user:***`; a token (no `:`) -> `***`. */
function maskedUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  return colon === -1 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`;
}

/** `a=1&b=2&flag` -> `a=***&b=***&flag` (with `secretParam`, only the values of the names it accepts). */
function maskQuery(query: string, secretParam: (name: string) => boolean = () => true): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq === -1 || !secretParam(formDecoded(pair.slice(0, eq))) ? pair : `${pair.slice(0, eq)}=${MASK}`;
    })
    .join('&');
}

/**
 * Query text as a receiver reads it, percent- and form-decoded (`%74oken` and `api%5Fkey` are
 * `token` and `api_key`, `+` a space), or as written when it does not decode.
 */
export function formDecoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
