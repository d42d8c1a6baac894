// A relaunch (POST /threads naming a thread that exists) is the same launch or a conflict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp, type HttpApp } from '../../src/server/httpServer.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
let app: HttpApp;

beforeAll(() => {
  h = createHarness();
  app = createHttpApp(h.runtime, { token: '' });
});

afterAll(async () => {
  await app.close();
  await h.runtime.close();
});

async function launch(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

async function inputOf(id: string): Promise<unknown> {
  const first = (await h.runtime.get(id))?.events[0];
  return first?.type === 'input' ? first.data.input : undefined;
}

describe('POST /threads relaunch', () => {
  it('answers 409 when a threadId is relaunched with another input; the same input (keys in any order) is the same launch', async () => {
    const input = { order: 77, items: [{ sku: 'a', qty: 1 }], note: null };
    expect((await launch({ agent: 'echo', input, threadId: 'order-77' })).status).toBe(201);
    // The same JSON value, its keys in another order: a retry serialized by another client.
    const reordered = await launch({ agent: 'echo', input: { note: null, items: [{ qty: 1, sku: 'a' }], order: 77 }, threadId: 'order-77' });
    expect(reordered).toMatchObject({ status: 200, body: { id: 'order-77' } });
    const other = await launch({ agent: 'echo', input: { ...input, order: 78 }, threadId: 'order-77' });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatch(/^thread order-77 already exists and was launched with another input; a relaunch does not change it/);
    // An array in another order is another input.
    expect((await launch({ agent: 'echo', input: { ...input, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 1 }] }, threadId: 'order-77' })).status).toBe(409);
    expect(await inputOf('order-77')).toEqual(input);
  });

  it('answers 409 when an Idempotency-Key is sent again with another input', async () => {
    const key = { 'idempotency-key': '6f1c2b1e-aaaa-bbbb-cccc-000000000001' };
    const first = await launch({ agent: 'echo', input: 'idem B' }, key);
    expect(first.status).toBe(201);
    expect((await launch({ agent: 'echo', input: 'idem B' }, key))).toMatchObject({ status: 200, body: { id: first.body.id } });
    const other = await launch({ agent: 'echo', input: 'totally other body' }, key);
    expect(other.status).toBe(409);
    expect(other.body.error).toMatch(new RegExp(`^thread ${first.body.id} already exists and was launched with another input`));
    expect(await inputOf(first.body.id as string)).toBe('idem B');
  });

  it('refuses a threadId together with an Idempotency-Key (400): one names the thread', async () => {
    const both = await launch({ agent: 'echo', input: 'x', threadId: 'tid-zz' }, { 'idempotency-key': 'k1' });
    expect(both.status).toBe(400);
    expect(both.body.error).toBe('give threadId or an Idempotency-Key header, not both: each names the thread');
    expect(await h.runtime.get('tid-zz')).toBeUndefined();
    expect(await h.runtime.get('k1')).toBeUndefined();
  });
});
