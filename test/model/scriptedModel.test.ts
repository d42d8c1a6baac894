import { describe, expect, it } from 'vitest';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';

const request = (threadId = 'th_1'): ModelRequest => ({ threadId, agent: 'support', system: 's', context: 'c', tools: [], signal: new AbortController().signal });

describe('scriptedModel', () => {
  it('once its script is used up, fails saying so: whose script, and how to give it more (not a bare "script exhausted")', async () => {
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }], { name: 'support-stand-in' });
    expect((await model.complete(request())).success).toBe(true);
    const exhausted = await model.complete(request());
    expect(exhausted.success).toBe(false);
    const message = exhausted.success ? '' : exhausted.error.message;
    expect(message).toContain('support-stand-in');
    expect(message).toContain('no reply left');
    expect(message).toContain('whenExhausted');
  });

  it('answers whenExhausted, a function of the request, once the script is used up', async () => {
    const model = scriptedModel([], { whenExhausted: ({ context }) => ({ intent: 'echo', args: { context } }) });
    const result = await model.complete(request());
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'echo', arguments: JSON.stringify({ context: 'c' }) } } });
  });

  // The README serves a stand-in from switchyard.config.ts until a real model is set: a serve that
  // answers for days must not hold every request (its prompt, context and signal) it ever got.
  it('keeps the most recent 1000 requests by default, not every one a long-running stand-in answers', async () => {
    const model = scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } });
    for (let i = 1; i <= 1005; i++) await model.complete(request(`th_${i}`));
    expect(model.requests).toHaveLength(1000);
    expect(model.requests[0]!.threadId).toBe('th_6');
    expect(model.requests.at(-1)!.threadId).toBe('th_1005');
  });

  it('keeps as many requests as keepRequests says', async () => {
    const model = scriptedModel([{ intent: 'a' }, { intent: 'b' }, { intent: 'c' }], { keepRequests: 2 });
    for (const id of ['th_1', 'th_2', 'th_3']) await model.complete(request(id));
    expect(model.requests.map((r) => r.threadId)).toEqual(['th_2', 'th_3']);
    expect(() => scriptedModel([], { keepRequests: -1 })).toThrow(/keepRequests/);
  });

  it('counts every call answered in requestCount, past the requests it keeps (review28 item 7)', async () => {
    const model = scriptedModel([{ intent: 'a' }, { intent: 'b' }, { intent: 'c' }], { keepRequests: 2 });
    expect(model.requestCount).toBe(0);
    for (const id of ['th_1', 'th_2', 'th_3']) await model.complete(request(id));
    expect(model.requestCount).toBe(3);
    expect(model.requests).toHaveLength(2);
  });
});

describe('scriptedModel: args that are not JSON', () => {
  it('refuses them in the script, naming the step, the member and what it is', () => {
    expect(() => scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }, { intent: 'refund', args: { at: new Date(0) } }])).toThrow(
      /script step 2 \(refund\): args\.at is an instance of Date; args are a plain object of JSON values/,
    );
    expect(() => scriptedModel([{ intent: 'add', args: { a: () => 1 } }])).toThrow(/script step 1 \(add\): args\.a is a function/);
    expect(() => scriptedModel([{ intent: 'add', args: { a: [1, Number.NaN] } }])).toThrow(/args\.a\[1\] is NaN/);
    expect(() => scriptedModel([{ intent: 'add', args: [1, 2] }])).toThrow(/script step 1 \(add\): args is an array/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => scriptedModel([], { whenExhausted: { intent: 'loop', args: cycle } })).toThrow(/whenExhausted \(loop\): args\.self is a cycle/);
  });

  it("answers a stand-in's such args as a failure that is not retried, saying what is wrong", async () => {
    const model = scriptedModel([() => ({ intent: 'refund', args: { amount: 10n } })]);
    const result = await model.complete(request());
    expect(result).toMatchObject({ success: false, error: { kind: 'http', status: 400 } });
    expect(result.success ? '' : result.error.message).toMatch(/^stand-in of scripted model scripted answered refund with args that are not JSON: args\.amount is 10n, a BigInt/);
  });
});
