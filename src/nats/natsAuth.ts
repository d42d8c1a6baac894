import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { ConfigError, messageOf } from '../errors.js';

/**
 * Credentials of a NATS connection as plain values (what the CLI reads from `NATS_CREDS`,
 * `NATS_TOKEN`, `NATS_USER` and `NATS_PASSWORD`): one kind at a time.
 */
export type NatsCredentials = { readonly user: string; readonly pass: string } | { readonly token: string } | { readonly credsFile: string };

/** The connect options that authenticate with what a {@link ConnectionOptions} may say. */
type AuthOptions = Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator'>;

/**
 * The nats.js connect options of `credentials`: user and password, a token, or the JWT and nkey
 * seed of a `.creds` file (read now; one that cannot be read is a {@link ConfigError}).
 */
export function natsAuthOptions(credentials: NatsCredentials): AuthOptions {
  if ('token' in credentials) return { token: credentials.token };
  if ('user' in credentials) return { user: credentials.user, pass: credentials.pass };
  let creds: Uint8Array;
  try {
    creds = readFileSync(credentials.credsFile);
  } catch (error) {
    throw new ConfigError(`NATS_CREDS: cannot read ${credentials.credsFile}: ${messageOf(error)}`, { cause: error });
  }
  return { authenticator: credsAuthenticator(creds) };
}

/**
 * Server URLs without their userinfo, and the credentials it held: nats.js connects to
 * `nats://user:pass@host` but never sends what the URL carries, so the bus passes them as options
 * (`user:pass@` is a user and password, `token@` a token; percent-encoding is decoded). URLs that
 * carry different credentials are a {@link ConfigError} (one connection has one identity).
 */
export function splitServerCredentials(servers: string | readonly string[]): { servers: string[]; auth: AuthOptions | undefined } {
  const list = typeof servers === 'string' ? [servers] : [...servers];
  let auth: AuthOptions | undefined;
  let userinfo: string | undefined;
  const stripped = list.map((server) => {
    const match = /^(\s*(?:[a-z][a-z0-9+.-]*:\/\/)?)([^/?#]*)@([^/?#@]*)(.*)$/i.exec(server);
    if (!match) return server;
    const [, scheme, info, host, rest] = match as unknown as [string, string, string, string, string];
    if (info === '') return `${scheme}${host}${rest}`;
    if (userinfo !== undefined && userinfo !== info) throw new ConfigError('the NATS server URLs carry different credentials: give them once, on every URL alike or in the environment');
    userinfo = info;
    auth = authOf(info);
    return `${scheme}${host}${rest}`;
  });
  return { servers: stripped, auth };
}

function authOf(userinfo: string): AuthOptions {
  const colon = userinfo.indexOf(':');
  if (colon === -1) return { token: decode(userinfo) };
  return { user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether connect options already say how to authenticate (they win over a URL's userinfo). */
export function hasAuth(options: AuthOptions | undefined): boolean {
  return options !== undefined && (options.user !== undefined || options.pass !== undefined || options.token !== undefined || options.authenticator !== undefined);
}
