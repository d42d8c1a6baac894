// One attempt of a webhook or callback ends at its timeout even when the garbage collector runs
// while it waits: on Node 20 a timeout signal held only by AbortSignal.any() is collected and
// never fires (nodejs/node#57736), and the attempt waited on a silent receiver until the sender closed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { postSigned } from '../../src/store/signedPost.js';

/** A full garbage collection, as the process would run one under load. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

describe('postSigned', () => {
  it('ends an attempt at its timeout when the garbage collector ran meanwhile', async () => {
    // A receiver that takes the request and never answers; it says when the request arrived.
    let arrived!: () => void;
    const request = new Promise<void>((resolve) => (arrived = resolve));
    server = createServer((req) => {
      req.resume();
      arrived();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const never = new AbortController();
    const attempt = postSigned({ url, authorization: undefined }, { body: '{}', event: 'thread.finished', id: 'd1' }, { fetch, clock: systemClock, timeoutMs: 1_000, secret: 's' }, never.signal);
    // The collector runs while the attempt waits for the answer (on a loaded machine the attempt
    // may have timed out before the request arrived: nothing to wait for then).
    await Promise.race([request, attempt]);
    collectGarbage();
    // Bounded: without the fix it would wait until the test's timeout.
    const cut = new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 15_000));
    expect(await Promise.race([attempt, cut])).toEqual({ error: 'timed out: no answer within 1000 ms' });
  });
});
