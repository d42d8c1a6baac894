import type { NatsConnection } from '@nats-io/transport-node';
import { SystemError } from '../errors.js';

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
