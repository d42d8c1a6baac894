/** A webhook or callback receiver on 127.0.0.1 for the server suites, every wait bounded. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../src/server/webhooks.js';
import { within } from '../bus/waiting.js';

export interface Received {
  /** The request's path and query, as it arrived. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Resolves once `count` requests have arrived (rejects after `ms`). */
  waitFor(count: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/**
 * Answers the n-th request with `statuses[n]` (the last one from then on), or every request with
 * `statuses` when it is a number.
 */
export async function startReceiver(statuses: number | readonly number[] = 200): Promise<Receiver> {
  const received: Received[] = [];
  const waiters: { count: number; resolve: (all: Received[]) => void }[] = [];
  const statusOf = (n: number): number => (typeof statuses === 'number' ? statuses : (statuses[n] ?? statuses.at(-1) ?? 200));
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const status = statusOf(received.length);
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
      for (const waiter of waiters.filter((w) => received.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve([...received]);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor: (count, ms = 15_000) =>
      received.length >= count
        ? Promise.resolve([...received])
        : within(new Promise((resolve) => waiters.push({ count, resolve })), ms, () => `${count} requests at the receiver (got ${received.length})`),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Whether a received request carries a valid signature made with `secret`. */
export function signedWith(received: Received, secret: string): boolean {
  const { ['x-switchyard-timestamp']: timestamp, ['x-switchyard-signature']: signature } = received.headers;
  return verifyWebhookSignature(received.body, { timestamp, signature }, secret);
}
