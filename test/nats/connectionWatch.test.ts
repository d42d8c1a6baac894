/**
 * What a node knows of its NATS connections (watchConnections), from the connections' status
 * events: down from a disconnect until the reconnect, and for good once closed.
 */
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../src/errors.js';
import { watchConnections } from '../../src/nats/connectionWatch.js';
import { startNatsServer } from '../support/natsServer.js';
import { FAST_RECONNECT } from './natsTestKit.js';

describe('watchConnections', () => {
  it('knows a connection is down from its disconnect until its reconnect, and for good once it is closed', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url, ...FAST_RECONNECT, maxReconnectAttempts: -1 });
    const watch = watchConnections([nc]);
    try {
      expect(watch.down()).toBeUndefined();
      const told: SystemError[] = [];
      watch.onDown((error) => told.push(error));
      await server.kill();
      await expect.poll(() => watch.down()?.message, { timeout: 10_000 }).toMatch(/^NATS is unreachable: the connection was lost [\d.]+ s ago and is reconnecting$/);
      expect(told).toHaveLength(1);
      expect(told[0]).toBeInstanceOf(SystemError);
      await server.restart();
      await expect.poll(() => watch.down(), { timeout: 15_000 }).toBeUndefined();
      await nc.close();
      expect(watch.down()?.message).toBe('NATS is unreachable: the connection is closed');
    } finally {
      watch.close();
      await nc.close();
      await server.stop();
    }
  }, 40_000);
});
