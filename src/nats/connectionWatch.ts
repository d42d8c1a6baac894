import type { NatsConnection } from '@nats-io/transport-node';
import { SystemError } from '../errors.js';
import type { Runtime } from '../runtime/runtime.js';

/**
 * What a process knows of its NATS connections without asking a server: whether one of them is
 * down (lost and reconnecting, or closed), from the status events nats.js gives.
 */
export interface ConnectionWatch {
  /** The error to fail with while a connection is known to be down; undefined while all are up. */
  down(): SystemError | undefined;
  /** Calls `listener` each time a connection goes down, until the returned function is called. */
  onDown(listener: (error: SystemError) => void): () => void;
  /** Stops watching. */
  close(): void;
}

/**
 * Watches `connections` (a node's bus connection and its store's background one): a connection is
 * down from its `disconnect` status until its `reconnect`, and for good once closed.
 */
export function watchConnections(connections: readonly NatsConnection[]): ConnectionWatch {
  /** When each connection that is down now was lost. */
  const lostAt = new Map<NatsConnection, number>();
  const listeners = new Set<(error: SystemError) => void>();
  let stopped = false;

  function down(): SystemError | undefined {
    const closed = connections.some((nc) => nc.isClosed());
    if (closed) return new SystemError('NATS is unreachable: the connection is closed');
    if (lostAt.size === 0) return undefined;
    const seconds = ((Date.now() - Math.min(...lostAt.values())) / 1000).toFixed(1);
    return new SystemError(`NATS is unreachable: the connection was lost ${seconds} s ago and is reconnecting`);
  }

  for (const nc of connections) {
    void (async () => {
      for await (const status of nc.status()) {
        // Leaving the loop unregisters the iterator (the connection closing ends it too).
        if (stopped) break;
        if (status.type === 'disconnect' || status.type === 'close') {
          if (!lostAt.has(nc)) lostAt.set(nc, Date.now());
          const error = down()!;
          for (const listener of [...listeners]) listener(error);
        } else if (status.type === 'reconnect') {
          lostAt.delete(nc);
        }
      }
    })().catch(() => undefined);
  }

  return {
    down,
    onDown(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    close() {
      stopped = true;
      listeners.clear();
    },
  };
}

/** The runtime's methods that wait for NATS, which {@link failingFast} answers at once while it is down. */
const WAITS_FOR_NATS = ['launch', 'get', 'list', 'respond', 'pause', 'resume', 'cancel', 'delete', 'settled'] as const;

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
  function gated<TArgs extends unknown[], T>(method: (...args: TArgs) => Promise<T>): (...args: TArgs) => Promise<T> {
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
  const view: Runtime = { ...runtime };
  for (const name of WAITS_FOR_NATS) {
    const method = runtime[name] as (...args: unknown[]) => Promise<unknown>;
    (view as unknown as Record<string, unknown>)[name] = gated(method.bind(runtime));
  }
  return view;
}
