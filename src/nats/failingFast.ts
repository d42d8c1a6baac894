import type { Runtime } from '../runtime/runtime.js';
import type { ConnectionWatch } from './connectionWatch.js';

/** The runtime's methods that wait for NATS, which {@link failingFast} answers at once while it is down. */
const WAITS_FOR_NATS: ReadonlySet<PropertyKey> = new Set<keyof Runtime>(['launch', 'get', 'list', 'respond', 'pause', 'resume', 'cancel', 'delete', 'settled']);

/**
 * The runtime as requests from outside the process use it (the HTTP API): while `watch` knows a
 * connection is down, what would wait for NATS (reads, listings, launches, responses, controls, deletions,
 * waits) fails at once with the watch's `SystemError` (HTTP 503 with `Retry-After`) instead of
 * waiting out nats.js's request timeouts and the store's read retries (about 20 s, longer than a
 * load balancer or a client waits); one already waiting when the connection drops fails then (what
 * it sent may still land, as after a timeout). Serving resumes with the reconnect.
 *
 * Only this view fails fast: the node's own work (jobs, a tool call's outcome retried in place,
 * the store's writers) keeps riding out a short outage as before.
 */
export function failingFast(runtime: Runtime, watch: ConnectionWatch): Runtime {
  // A proxy rather than a copy: a runtime may keep its methods on a prototype. Its target inherits
  // from the runtime rather than being it (a proxy must return a frozen target's own values as they
  // are), as `httpRuntime`'s does.
  return new Proxy(Object.create(runtime) as Runtime, {
    get(_, key) {
      const value: unknown = Reflect.get(runtime, key, runtime);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(runtime);
      return WAITS_FOR_NATS.has(key) ? gated(bound as (...args: unknown[]) => Promise<unknown>, watch) : bound;
    },
  });
}

/** `method`, failing at once while `watch` knows a connection is down, and when one drops while it waits. */
function gated<T>(method: (...args: unknown[]) => Promise<T>, watch: ConnectionWatch): (...args: unknown[]) => Promise<T> {
  return (...args) => {
    const down = watch.down();
    if (down !== undefined) return Promise.reject(down);
    return new Promise<T>((resolve, reject) => {
      const stop = watch.onDown(reject);
      method(...args)
        .then(resolve, reject)
        .finally(stop);
    });
  };
}
