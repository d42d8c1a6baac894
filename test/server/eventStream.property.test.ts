import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { incarnationOf } from '../../src/thread/incarnation.js';
import { createHarness, launchAndWait } from './harness.js';

let base = '';
let done: ThreadView;
let stop: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  const { runtime } = createHarness();
  const started = await startHttpServer(runtime, { port: 0, token: '' });
  base = started.url;
  stop = async () => {
    await started.close();
    await runtime.close();
  };
  done = await launchAndWait(base, 'calculator', { op: 'add', a: 2, b: 3 });
});
afterAll(() => stop());

/** The seqs of the `id: <incarnation>:<seq>` lines of an event stream's text, and whether it ended with `event: end`. */
function framesOf(text: string): { ids: number[]; ended: boolean } {
  const ids = [...text.matchAll(/^id: [0-9a-z]+:(\d+)$/gm)].map((m) => Number(m[1]));
  return { ids, ended: /^event: end$/m.test(text) };
}

/** The incarnation of the thread followed, in a generated position. */
const CURRENT = '{current}';

/**
 * Where a client may ask a stream to start: a seq, in range or not, an id of the thread's
 * incarnation or of another, or anything else.
 */
const position = fc.oneof(
  fc.nat(20).map(String),
  fc.nat(20).map((seq) => `${CURRENT}:${seq}`),
  fc.nat(20).map((seq) => `mx0ther1:${seq}`),
  fc.constantFrom('', ' 3', '3 ', '-1', '1.5', '1e2', '0x2', '٣', '9007199254740991', '9007199254740992', '99999999999999999'),
  fc.string({ unit: fc.constantFrom(...'0123456789 abc-+.'.split('')), maxLength: 18 }),
);

/**
 * Where a Last-Event-ID starts the stream: after its seq when it names the thread's incarnation or
 * none (a bare seq), from the start when it names another; undefined for what is no id.
 */
function fromId(id: string): number | undefined {
  const match = /^(?:([0-9a-z]+):)?(\d{1,16})$/.exec(id);
  if (match === null || Number(match[2]) > Number.MAX_SAFE_INTEGER) return undefined;
  return match[1] === undefined || match[1] === incarnationOf(done.createdAt!) ? Number(match[2]) : 0;
}

describe('GET /threads/:id/events with any after or Last-Event-ID (property)', () => {
  it('streams exactly the events after the position asked for, answers 204 at the end, 409 past it, and 400 for anything else', async () => {
    await fc.assert(
      fc.asyncProperty(position, fc.boolean(), async (generated, asHeader) => {
        const raw = generated.replace(CURRENT, incarnationOf(done.createdAt!));
        fc.pre(!asHeader || /^[\x20-\x7e]*$/.test(raw)); // what a header can carry
        const path = `/threads/${done.id}/events${asHeader ? '' : `?after=${encodeURIComponent(raw)}`}`;
        const response = await fetch(`${base}${path}`, { headers: asHeader ? { 'last-event-id': raw } : {} });
        const text = await response.text();
        // HTTP trims a header's surrounding spaces; a query keeps them.
        const sent = asHeader ? raw.trim() : raw;
        const after = sent === '' ? 0 : asHeader ? fromId(sent) : /^\s*\d{1,16}\s*$/.test(sent) && Number(sent) <= Number.MAX_SAFE_INTEGER ? Number(sent) : undefined;
        if (after === undefined) {
          expect(response.status).toBe(400);
          expect(JSON.parse(text)).toMatchObject({ error: expect.stringContaining(asHeader ? 'Last-Event-ID' : 'after') });
        } else if (after > done.version) {
          expect(response.status).toBe(409);
          expect(JSON.parse(text)).toMatchObject({ error: expect.stringContaining('past the last event') });
        } else if (after === done.version) {
          expect(response.status).toBe(204);
        } else {
          expect(response.status).toBe(200);
          const { ids, ended } = framesOf(text);
          expect(ids).toEqual(done.events.filter((e) => e.seq > after).map((e) => e.seq));
          expect(ended).toBe(true);
        }
      }),
      { numRuns: 100, seed: 111 },
    );
  });

  it('a thread id in the path with any characters is 400 or 404, never a server error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 140 }), async (id) => {
        const response = await fetch(`${base}/threads/${encodeURIComponent(id)}/events`);
        await response.body?.cancel();
        expect([400, 404, 405]).toContain(response.status);
      }),
      { numRuns: 100, seed: 112 },
    );
  });
});
