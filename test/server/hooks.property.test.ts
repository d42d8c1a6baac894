import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { hookThreadId } from '../../src/server/hooks.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { call, createHarness, type JsonResponse } from './harness.js';

const SECRET = 'hook-secret-for-properties';
let base = '';
let stop: () => Promise<void> = async () => undefined;
let runtime: ReturnType<typeof createHarness>['runtime'];

beforeAll(async () => {
  ({ runtime } = createHarness());
  const started = await startHttpServer(runtime, { port: 0, token: '', hookSecret: SECRET });
  base = started.url;
  stop = async () => {
    await started.close();
    await runtime.close();
  };
});
afterAll(() => stop());

/**
 * POSTs a delivery of `raw`, signed for the run's own second (`run` seconds ago): two deliveries of
 * one body signed within the same second would carry the same signature, which a server takes for
 * one delivery only (a replay under another id is refused).
 */
function deliver(agent: string, raw: string, delivery: string): Promise<JsonResponse> {
  const timestamp = String(Math.floor(Date.now() / 1000) - run);
  return call(base, 'POST', `/hooks/${agent}`, raw, {
    'content-type': 'application/json',
    'X-Switchyard-Timestamp': timestamp,
    'X-Switchyard-Signature': signWebhook(raw, SECRET, timestamp),
    'X-Switchyard-Delivery': delivery,
  });
}

/** A body as a sender may send it: JSON of any value, JSON no thread can hold, or not JSON. */
const rawBody = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 3 },
  fc.constantFrom(`{"deep":${'['.repeat(300)}${']'.repeat(300)}}`, '{"n":1e999}', '{"__proto__":{"a":1}}', '{', 'null', ''),
  fc.string({ maxLength: 20 }),
);
/** Delivery ids a header can carry (Latin-1, no control characters), from plain tokens to long ones. */
const deliveryId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_:-]{1,40}$/),
  fc.string({ unit: fc.constantFrom(...'ab ~/%.é=+'.split('')), minLength: 1, maxLength: 30 }),
  fc.integer({ min: 190, max: 260 }).map((n) => 'x'.repeat(n)),
);
let run = 0;

describe('POST /hooks/:agent with any body and delivery id (property)', () => {
  it('answers with a status that names the problem (never 500); a retry finds the same thread; another body under its id is a conflict', async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, deliveryId, fc.constantFrom('calculator', 'echo', 'nosuch'), async (raw, id, agent) => {
        const delivery = `r${++run}-${id}`;
        const first = await deliver(agent, raw, delivery);
        expect([201, 400, 404, 415]).toContain(first.status);
        if (first.status !== 201) {
          expect(first.body).toEqual({ error: expect.any(String), code: expect.any(String), ...(first.body.issues ? { issues: expect.any(Array) } : {}) });
          return;
        }
        const thread = first.body as ThreadView;
        expect(thread.id).toBe(hookThreadId(delivery.trim()));
        expect(thread.events[0]).toMatchObject({ type: 'input', data: { input: JSON.parse(raw) as unknown } });
        const again = await deliver(agent, raw, delivery);
        expect(again.status).toBe(200);
        expect((again.body as ThreadView).id).toBe(thread.id);
        const other = await deliver(agent, `[${raw}]`, delivery);
        expect(other.status).toBe(409);
      }),
      { numRuns: 60, seed: 91 },
    );
  });
});
