/**
 * The CLI's client and a server that answers 503 with `Retry-After` (its store is unavailable for a
 * moment, NATS reconnecting): a follow whose event stream closed opens it again after the time the
 * server asked for, not sooner and without giving up at the first 503, and a 503 it reports says
 * when to try again.
 */
import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, serverWaitDelay } from '../../src/agent/backoff.js';
import { createClient, reconnectDelayMs, ServerError } from '../../src/cli/client.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';
import { followedSeqs, stubServers } from './stubServers.js';

const serve = stubServers();

const UNAVAILABLE = JSON.stringify({ error: 'the store is unavailable: NATS is unreachable: connection disconnected' });

function event(seq: number): string {
  const data: ThreadEvent = { seq, type: 'input', at: new Date(0).toISOString(), data: { input: seq } } as unknown as ThreadEvent;
  return `event: thread\ndata: ${JSON.stringify(data)}\n\n`;
}

describe('the CLI client and a 503 with Retry-After', () => {
  it('opens a closed event stream again after the Retry-After the server asked for, and gets the rest', async () => {
    // The stream brings event 1 and closes; the next open meets a store that is unavailable for a
    // second; a request within that second would get another 503 (counted).
    let unavailableSince: number | undefined;
    let tooSoon = 0;
    const url = await serve((req, res) => {
      const after = Number(new URL(req.url!, 'http://x').searchParams.get('after'));
      if (after === 0) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(event(1));
        return;
      }
      if (unavailableSince === undefined || Date.now() - unavailableSince < 900) {
        if (unavailableSince === undefined) unavailableSince = Date.now();
        else tooSoon++;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(UNAVAILABLE);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${event(2)}event: end\ndata: {}\n\n`);
    });
    const client = createClient({ url, reconnect: { firstDelayMs: 20, maxDelayMs: 100, giveUpAfterMs: 10_000 } });
    expect(await followedSeqs(client, 't1')).toEqual([1, 2]);
    expect(tooSoon).toBe(0);
  });

  it('reports a 503 with the wait the server asked for', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end(UNAVAILABLE);
    });
    const error = await createClient({ url }).get('t1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ status: 503, retryAfterMs: 2_000 });
    expect((error as ServerError).message).toBe('the store is unavailable: NATS is unreachable: connection disconnected (the server asks to try again in 2 s)');
  });

  it.each([
    ['Retry-After: 0', { 'retry-after': '0' }, 0],
    ['a Retry-After date already past', { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT', date: 'Wed, 21 Oct 2015 07:28:03 GMT' }, 0],
  ] as const)('reports a 503 with %s as one to try again now, not "in 0 s"', async (_what, headers, expected) => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', ...headers });
      res.end(UNAVAILABLE);
    });
    const error = await createClient({ url }).get('t1').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, retryAfterMs: expected });
    expect((error as ServerError).message).toBe('the store is unavailable: NATS is unreachable: connection disconnected (the server asks to try again now)');
  });

  it('rounds a wait under a second up to 1 s', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after-ms': '200' });
      res.end(UNAVAILABLE);
    });
    const error = await createClient({ url }).get('t1').catch((e: unknown) => e);
    expect((error as ServerError).message).toMatch(/\(the server asks to try again in 1 s\)$/);
  });

  it('waits at least its own backoff between tries when the server asks for no wait (Retry-After: 0)', async () => {
    // The stream brings event 1 and closes; every open after that meets a 503 asking for no wait.
    let tries = 0;
    const url = await serve((req, res) => {
      const after = Number(new URL(req.url!, 'http://x').searchParams.get('after'));
      if (after === 0) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(event(1));
        return;
      }
      tries++;
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(UNAVAILABLE);
    });
    // Waits of 50, 100, then 200 ms at least: within 1 s of giving up, 8 tries at most.
    const client = createClient({ url, reconnect: { firstDelayMs: 50, maxDelayMs: 200, giveUpAfterMs: 1_000 } });
    const seqs: number[] = [];
    const error = await within(
      (async () => {
        for await (const e of client.events('t1')) seqs.push(e.seq);
      })().catch((e: unknown) => e),
      10_000,
      'the follow to give up',
    );
    expect(seqs).toEqual([1]);
    expect(error).toMatchObject({ status: 503 });
    expect(tries).toBeGreaterThan(0);
    expect(tries).toBeLessThanOrEqual(8);
  });

  it.each([
    ['a negative number', { 'retry-after': '-5' }, undefined],
    ['a date measured from the response\'s Date', { 'retry-after': 'Wed, 21 Oct 2015 07:28:03 GMT', date: 'Wed, 21 Oct 2015 07:28:00 GMT' }, 3_000],
    ['retry-after-ms', { 'retry-after-ms': '1500', 'retry-after': '9' }, 1_500],
    // Counted as an agent counts a model endpoint's: at most MAX_RETRY_AFTER_MS (10 minutes).
    ['more than ten minutes', { 'retry-after': '86400' }, MAX_RETRY_AFTER_MS],
  ] as const)('reads a Retry-After of %s as OpenAI-compatible clients do', async (_what, headers, expected) => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', ...headers });
      res.end(UNAVAILABLE);
    });
    const error = await createClient({ url }).get('t1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).retryAfterMs).toBe(expected);
  });
});

describe('the wait before a follow opens its stream again after a 503', () => {
  it('is the server\'s Retry-After capped and spread as an agent\'s wait for a model endpoint is, never less than its own backoff', () => {
    // Never sooner than asked; up to 20 % more, so the followers one restart cut off come back apart.
    expect(reconnectDelayMs(250, 1_000, 0)).toBe(1_000);
    expect(reconnectDelayMs(250, 1_000, 1)).toBe(1_200);
    expect(reconnectDelayMs(250, 1_000, 0.5)).toBe(serverWaitDelay(1_000, 0.2, 0.5));
    // More than the cap: counted as the cap, then spread (a cap on the total would bring them all back at once).
    expect(reconnectDelayMs(250, 86_400_000, 0.5)).toBe(serverWaitDelay(86_400_000, 0.2, 0.5));
    expect(reconnectDelayMs(250, 86_400_000, 0.5)).toBe(660_000);
    // No wait asked (none, or Retry-After: 0): its own backoff, unspread.
    expect(reconnectDelayMs(250, 0, 1)).toBe(250);
    expect(reconnectDelayMs(250, undefined, 1)).toBe(250);
    expect(reconnectDelayMs(2_000, 1_000, 1)).toBe(2_000);
  });
});
