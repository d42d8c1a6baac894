import { redactUrl } from '../context/redactUrl.js';
import { hasCredentials, hasSealedCredentials, openUrl, sealUrl } from '../context/sealedUrl.js';
import { InvalidInputError } from '../errors.js';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import { shownEvent, shownView } from '../runtime/threadView.js';
import type { ThreadEvent } from '../thread/events.js';

const NO_SEALING_SECRET =
  'callbackUrl refused: it holds credentials (user:password@, or a query parameter named as a secret: token, api_key, sig, code…), which the thread may only keep sealed with the webhook secret, and this server has none; set SWITCHYARD_WEBHOOK_SECRET (the same on every process that runs threads), or launch with the callbackUrl without its credentials and have the receiver verify the X-Switchyard-Signature instead';

const ALREADY_SEALED =
  'callbackUrl refused: its userinfo or a secret-named query value is a sealed token (as a thread shows it); give the credentials themselves (user:password@, ?token=…), or none';

/**
 * The callbackUrl as a launch records it in the thread: its credentials, if any (its userinfo, the
 * values of its secret-named query parameters), sealed with `secret` (see `sealUrl`), so the thread
 * never holds them in clear. Throws {@link InvalidInputError} (400) when it has credentials and
 * there is no secret to seal them with, or when one of them is already a sealed token.
 */
export function recordedCallbackUrl(given: string, secret: string): string {
  if (hasSealedCredentials(given)) throw new InvalidInputError(ALREADY_SEALED);
  if (!hasCredentials(given)) return given;
  if (secret === '') throw new InvalidInputError(NO_SEALING_SECRET);
  return sealUrl(given, secret);
}

/**
 * Whether a relaunch's callbackUrl is the one the thread recorded: the same URL once its sealed
 * credentials are opened with `secret`, or the first of a list they open with (the current secret,
 * then the ones it replaced); a recorded one that does not open is taken as another.
 */
export function sameCallbackUrl(recorded: string | undefined, given: string, secret: string | readonly string[]): boolean {
  if (recorded === undefined) return false;
  if (recorded === given) return true;
  const opened = openUrl(recorded, secret);
  return opened.success && hrefOf(opened.data) === hrefOf(given);
}

/** A recorded callbackUrl as an error message may name it: no credential, sealed or not. */
export function namedCallbackUrl(recorded: string): string {
  return redactUrl(recorded);
}

function hrefOf(url: string): string | undefined {
  try {
    return new URL(url).href;
  } catch {
    return undefined;
  }
}

/** The runtime's methods that answer with a thread's view. */
const VIEWS: ReadonlySet<PropertyKey> = new Set<keyof Runtime>(['launch', 'get', 'respond', 'pause', 'resume', 'cancel', 'settled', 'run']);

/**
 * The runtime as the HTTP routes and their extensions (the inspector) show it: views and watched
 * events as `shownView` and `shownEvent` show them (a callback URL recorded in clear by an earlier
 * version, masked). Everything else passes through.
 */
export function showingRuntime(runtime: Runtime): Runtime {
  // A proxy rather than a copy: a runtime may keep its methods on a prototype.
  return new Proxy(runtime, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (key === 'watch') return (...args: unknown[]) => shownEvents(bound(...args) as AsyncIterable<ThreadEvent>);
      if (!VIEWS.has(key)) return bound;
      return async (...args: unknown[]) => {
        const view = (await bound(...args)) as ThreadView | undefined;
        return view === undefined ? view : shownView(view);
      };
    },
  });
}

async function* shownEvents(events: AsyncIterable<ThreadEvent>): AsyncIterable<ThreadEvent> {
  for await (const event of events) yield shownEvent(event);
}
