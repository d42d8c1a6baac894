/**
 * The CLI client's follow (`client.events`) and frames of a thread's event stream that are not
 * thread events: one whose data has no numeric seq is passed over (the cursor stays on the last
 * event; it once became undefined and the next open asked `?after=undefined`: 'invalid after'),
 * and a follow that gives up keeps what the server last said when it ended the stream.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createClient, UnreachableError } from '../../src/cli/client.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';
import { followedSeqs, stubServers } from './stubServers.js';

const serve = stubServers();

function event(seq: number): string {
  const data: ThreadEvent = { seq, type: 'input', at: new Date(0).toISOString(), data: { input: seq } } as unknown as ThreadEvent;
  return `event: thread\nid: inc1:${seq}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The `?after=` of a request for the stream. */
function afterOf(req: IncomingMessage): string | null {
  return new URL(req.url!, 'http://x').searchParams.get('after');
}

describe("the CLI client's follow and frames that are not thread events", () => {
  it('passes over a frame whose data has no numeric seq, and opens the stream again after the last event', async () => {
    const asked: (string | null)[] = [];
    const url = await serve((req, res) => {
      asked.push(afterOf(req));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // A frame of a kind the client does not know, JSON without a seq, then the stream is cut.
      if (asked.length === 1) res.end(`${event(1)}event: note\ndata: {"note":"not an event"}\n\nevent: thread\ndata: {"seq":"2"}\n\n`);
      else res.end(`${event(2)}event: end\ndata: {}\n\n`);
    });
    const client = createClient({ url, reconnect: { firstDelayMs: 10, maxDelayMs: 20, giveUpAfterMs: 5_000 } });
    expect(await followedSeqs(client, 't1')).toEqual([1, 2]);
    expect(asked).toEqual(['0', '1']);
  });

  it('gives up with the last stream ending as the cause, naming what the server said', async () => {
    // Every open brings the server's event: error and no event (a server stuck shutting down).
    let opens = 0;
    const url = await serve((_req, res) => {
      opens++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: error\ndata: ${JSON.stringify({ error: 'the server is shutting down; reconnect with Last-Event-ID' })}\n\n`);
    });
    const client = createClient({ url, reconnect: { firstDelayMs: 10, maxDelayMs: 20, giveUpAfterMs: 200 } });
    const error = await within(
      (async () => {
        for await (const e of client.events('t1')) void e;
      })().catch((e: unknown) => e),
      10_000,
      'the follow to give up',
    );
    expect(opens).toBeGreaterThan(1);
    expect(error).toBeInstanceOf(UnreachableError);
    expect(((error as Error).cause as Error | undefined)?.message).toBe('the event stream ended: the server is shutting down; reconnect with Last-Event-ID');
  });
});
