import type { Context, Hono, MiddlewareHandler } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';
import { errorBody } from './errorMapper.js';

/** Options of {@link browserGuard}. */
export interface BrowserGuardOptions {
  /** Answer only requests whose `Host` names a loopback host (see {@link isLoopbackHost}). */
  readonly loopbackHostsOnly: boolean;
  /**
   * Host names answered besides the loopback's (a `.name` with its subdomains; lower case, see
   * {@link allowedHostsProblem}): when there are any, the `Host` check is on whatever
   * `loopbackHostsOnly` says.
   */
  readonly allowedHosts?: readonly string[] | undefined;
  /**
   * Whether a bearer token is required: then a cross-site request that sends an `Authorization`
   * header passes (a page with the token, under CORS of a host app); the bodiless no-cors request
   * the refusal is for cannot send one.
   */
  readonly tokenRequired?: boolean | undefined;
  /**
   * Requests not checked: those that carry a credential of their own a page cannot make (a signed
   * hook), and those of no route of the app (a host app's own, where the app is mounted at `/`).
   */
  readonly exempt?: ((c: Context) => boolean) | undefined;
}

/**
 * Refuses (403 `forbidden`) what a browser may send on behalf of a page of another site:
 * - a request its `Sec-Fetch-Site` says comes from another site (`cross-site`, `same-site`),
 *   unless it is a link followed (a `GET` or `HEAD` navigation): the API sends no CORS headers,
 *   so no page of another origin calls it, and one that tries may still send a POST without a
 *   body and without a preflight (`mode: 'no-cors'`), which a pause, resume or cancel takes (and
 *   which cannot carry an `Authorization` header: with `tokenRequired`, a request with one passes);
 * - with `loopbackHostsOnly` or `allowedHosts`, a `Host` that names neither a loopback host nor
 *   one listed: a page on a site whose name
 *   its owner points at 127.0.0.1 (DNS rebinding) is same-origin with a server listening there,
 *   and reads and writes it as its own when no token guards it.
 * A request without these headers (curl, the CLI, a backend, a webhook sender) passes, and so does
 * one `exempt` names.
 */
export function browserGuard({ loopbackHostsOnly, allowedHosts = [], tokenRequired = false, exempt }: BrowserGuardOptions): MiddlewareHandler {
  const checksHost = loopbackHostsOnly || allowedHosts.length > 0;
  const refusal = allowedHosts.length > 0 ? notAllowed : notLoopback;
  return async (c, next) => {
    if (exempt?.(c) === true) return next();
    const site = c.req.header('sec-fetch-site');
    const credentialed = tokenRequired && c.req.header('authorization') !== undefined;
    if ((site === 'cross-site' || site === 'same-site') && !credentialed && !isNavigation(c.req.method, c.req.header('sec-fetch-mode'))) {
      return c.json(errorBody(403, CROSS_SITE), 403);
    }
    const host = c.req.header('host');
    if (checksHost && host !== undefined && !isLoopbackHost(host) && !isAllowedHost(host, allowedHosts)) return c.json(errorBody(403, refusal(host)), 403);
    await next();
  };
}

const CROSS_SITE =
  'forbidden: a page of another site sent this request (Sec-Fetch-Site); the API answers its own pages, and clients that are not browsers: call it from your backend';

function shownHost(host: string): string {
  return JSON.stringify(host.length > 100 ? `${host.slice(0, 100)}…` : host);
}

function notAllowed(host: string): string {
  return `forbidden: this server answers the names of this machine's loopback and those its allowed hosts list (--allowed-hosts, SWITCHYARD_ALLOWED_HOSTS), not ${shownHost(host)}, which may be a site whose name was pointed at this machine (DNS rebinding); add the name the clients use to the list`;
}

function notLoopback(host: string): string {
  return `forbidden: this server listens on a loopback address without a token and answers the names of this machine's loopback only (localhost, 127.0.0.1, [::1]), not ${shownHost(host)}, which may be a site whose name was pointed at this machine (DNS rebinding); to serve other names (a reverse proxy), list them (SWITCHYARD_ALLOWED_HOSTS or --allowed-hosts) or require a token (SWITCHYARD_TOKEN or --token)`;
}

/**
 * Whether a path (within the app) is one of `app`'s routes, not only of its `use('*')`
 * middleware: hono copies those onto a host app that mounts it at `/`, where they see the host's
 * own routes too. Read from `app.routes` at the first call, once every route is added.
 */
export function routeOf(app: Hono): (path: string) => boolean {
  let router: TrieRouter<true> | undefined;
  return (path) => {
    if (router === undefined) {
      router = new TrieRouter<true>();
      for (const route of app.routes) if (route.path !== '/*' && route.path !== '*') router.add('ALL', route.path, true);
    }
    return router.match('ALL', path)[0].length > 0;
  };
}

function isNavigation(method: string, mode: string | undefined): boolean {
  return (method === 'GET' || method === 'HEAD') && mode === 'navigate';
}

/**
 * Whether a `Host` header (a name or an address, and maybe `:<port>`) names this machine's
 * loopback: `localhost` and `*.localhost` (which browsers resolve to it themselves, RFC 6761),
 * an address of 127.0.0.0/8, `[::1]`.
 */
function isLoopbackHost(host: string): boolean {
  const name = hostName(host.trim().toLowerCase());
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether `host` names one of `allowed` (as {@link BrowserGuardOptions.allowedHosts} lists them). */
function isAllowedHost(host: string, allowed: readonly string[]): boolean {
  const name = hostName(host.trim().toLowerCase());
  return allowed.some((entry) => (entry.startsWith('.') ? name === entry.slice(1) || name.endsWith(entry) : name === entry));
}

/**
 * What is wrong with an entry of an allowed hosts list, if anything: each is a host name or an
 * address without a port or a scheme (`agents.example.com`, `10.0.0.5`, `[fd00::1]`), or `.name`
 * for the name and its subdomains.
 */
export function allowedHostsProblem(entries: readonly string[]): string | undefined {
  const bad = entries.find((entry) => !/^(\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/i.test(entry));
  return bad === undefined ? undefined : `${JSON.stringify(bad)} is not a host name (give names without a scheme or a port, comma-separated: agents.example.com, or .example.com for it and its subdomains)`;
}

/** `host` without its port (an IPv6 address keeps its brackets). */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1) || host;
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** Whether a server listening on `address` (as `--host` gives it, or as the socket reports it) listens on loopback only. */
export function isLoopbackAddress(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
