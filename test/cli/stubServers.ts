/** Plain HTTP servers on 127.0.0.1 that a CLI test scripts by hand, closed after each test. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import type { Client } from '../../src/cli/client.js';
import { within } from '../bus/waiting.js';

/** Registers the closing of every server it starts after each test; returns how to start one (its base URL). */
export function stubServers(): (handler: (req: IncomingMessage, res: ServerResponse) => void) => Promise<string> {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });
  return async (handler) => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
}

/** The seqs of the events a follow of `threadId` yields until it ends (10 s at most). */
export async function followedSeqs(client: Client, threadId: string): Promise<unknown[]> {
  const seqs: unknown[] = [];
  await within(
    (async () => {
      for await (const e of client.events(threadId)) seqs.push(e.seq);
    })(),
    10_000,
    'the follow to end',
  );
  return seqs;
}
