import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
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

/** The `id:` lines of an event stream's text, and whether it ended with `event: end`. */
function framesOf(text: string): { ids: number[]; ended: boolean } {
  const ids = [...text.matchAll(/^id: (.*)$/gm)].map((m) => Number(m[1]));
  return { ids, ended: /^event: end$/m.test(text) };
}

/** Where a client may ask a stream to start: a seq, in range or not, or anything else. */
const position = fc.oneof(
  fc.nat(20).map(String),
  fc.constantFrom('', ' 3', '3 ', '-1', '1.5', '1e2', '0x2', '٣', '9007199254740991', '9007199254740992', '99999999999999999'),
  fc.string({ unit: fc.constantFrom(...'0123456789 abc-+.'.split('')), maxLength: 18 }),
);

describe('GET /threads/:id/events with any after or Last-Event-ID (property)', () => {
  it('streams exactly the events after the position asked for, answers 204 past the end, and 400 for anything else', async () => {
    await fc.assert(
      fc.asyncProperty(position, fc.boolean(), async (raw, asHeader) => {
        fc.pre(!asHeader || /^[\x20-\x7e]*$/.test(raw)); // what a header can carry
        const path = `/threads/${done.id}/events${asHeader ? '' : `?after=${encodeURIComponent(raw)}`}`;
        const response = await fetch(`${base}${path}`, { headers: asHeader ? { 'last-event-id': raw } : {} });
        const text = await response.text();
        // HTTP trims a header's surrounding spaces; a query keeps them.
        const sent = asHeader ? raw.trim() : raw;
        const after = sent === '' ? 0 : /^\s*\d{1,16}\s*$/.test(sent) && Number(sent) <= Number.MAX_SAFE_INTEGER ? Number(sent) : undefined;
        if (after === undefined) {
          expect(response.status).toBe(400);
          expect(JSON.parse(text)).toMatchObject({ error: expect.stringContaining(asHeader ? 'Last-Event-ID' : 'after') });
        } else if (after >= done.version) {
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
