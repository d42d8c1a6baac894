/** What replaces a credential in a printed or shown URL. */
export const MASK = '***';

/**
 * A URL as it may be printed or logged: the password of its userinfo masked (`nats://opuser:***@host`),
 * a userinfo without a password masked whole (`nats://***@host`: a token), every query value masked
 * (`?api-key=***`) and the fragment dropped. A comma-separated list of server URLs without a query
 * (`NATS_URL`) is redacted URL by URL. Text that does not parse as a URL gets the same treatment by
 * its shape, so nothing that looks like a credential is printed as it is.
 *
 * @example
 * ```ts
 * redactUrl('nats://opuser:S3cret@127.0.0.1:4222'); // 'nats://opuser:***@127.0.0.1:4222'
 * redactUrl('https://host/v1?api-key=sk-1'); // 'https://host/v1?api-key=***'
 * ```
 */
export function redactUrl(url: string): string {
  // Server lists carry no query; a query's value may hold a comma, so a URL with one is one URL.
  if (!url.includes('?') && url.includes(',')) return url.split(',').map(redactOne).join(',');
  return redactOne(url);
}

function redactOne(url: string): string {
  const hash = url.indexOf('#');
  const withoutHash = hash === -1 ? url : url.slice(0, hash);
  const question = withoutHash.indexOf('?');
  const base = question === -1 ? withoutHash : withoutHash.slice(0, question);
  const query = question === -1 ? undefined : withoutHash.slice(question + 1);
  return maskUserinfo(base) + (query === undefined ? '' : `?${maskQuery(query)}`);
}

/** Masks the userinfo of `scheme://userinfo@host/path` (or `userinfo@host` without a scheme). */
function maskUserinfo(base: string): string {
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(base)?.[0] ?? '';
  const rest = base.slice(scheme.length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  // The last `@` ends the userinfo: a raw `@` in a password belongs to it.
  const at = authority.lastIndexOf('@');
  if (at === -1) return base;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const masked = colon === -1 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`;
  return `${scheme}${masked}${rest.slice(at)}`;
}

/** `a=1&b=2&flag` -> `a=***&b=***&flag`. */
function maskQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq === -1 ? pair : `${pair.slice(0, eq)}=${MASK}`;
    })
    .join('&');
}
