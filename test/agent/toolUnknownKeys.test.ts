/**
 * Argument keys a plain z.object() does not list (its schema, strict or not, says
 * additionalProperties: false) are refused, naming them, instead of being recorded and then
 * silently dropped; loose and catchall objects and records keep taking them.
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { agent } from '../../src/agent/agent.js';
import { decideStep } from '../../src/agent/decideStep.js';
import { requestHumanInput } from '../../src/agent/humanTools.js';
import { tool } from '../../src/agent/tool.js';
import { silentLogger } from '../../src/logger.js';
import type { Model, ModelOutput } from '../../src/model/model.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { deriveState } from '../../src/thread/state.js';
import { threadOf, T0 } from '../support/agentHarness.js';

const base = { description: 'd', run: () => null };

function refused(result: { success: boolean; error?: string }): string {
  expect(result.success).toBe(false);
  return result.error ?? '';
}

describe('tool.parse with keys the schema does not list', () => {
  const charge = tool({ ...base, name: 'charge', input: z.object({ amount: z.number(), note: z.string().optional() }) });

  it('refuses an unknown key of a plain object, naming it', () => {
    expect(refused(charge.parse({ amount: 5, currency: 'usd' }))).toMatch(/currency/);
    expect(charge.parse({ amount: 5 })).toEqual({ success: true, data: { amount: 5 } });
    // A strict model's null for the absent optional is still dropped; the unknown key is still refused.
    expect(charge.parse({ amount: 5, note: null })).toEqual({ success: true, data: { amount: 5 } });
    expect(refused(charge.parse({ amount: 5, note: null, currency: 'usd' }))).toMatch(/currency/);
  });

  it('refuses unknown keys at any depth: nested objects, arrays, unions, recursive schemas', () => {
    const pay = tool({
      ...base,
      name: 'pay',
      input: z.object({
        payee: z.object({ name: z.string() }),
        lines: z.array(z.object({ sku: z.string() })).optional(),
        how: z.union([z.object({ card: z.string() }), z.object({ iban: z.string() })]),
        act: z.discriminatedUnion('kind', [z.object({ kind: z.literal('now') }), z.object({ kind: z.literal('later'), at: z.string() })]),
      }),
    });
    const ok = { payee: { name: 'a' }, lines: [{ sku: 's' }], how: { card: 'c' }, act: { kind: 'now' } };
    expect(pay.parse(ok)).toEqual({ success: true, data: ok });
    expect(refused(pay.parse({ ...ok, payee: { name: 'a', iban: 'x' } }))).toMatch(/payee.*iban/);
    expect(refused(pay.parse({ ...ok, lines: [{ sku: 's', qty: 2 }] }))).toMatch(/lines\.0.*qty/);
    expect(refused(pay.parse({ ...ok, how: { card: 'c', cvv: '1' } }))).toMatch(/cvv/);
    expect(refused(pay.parse({ ...ok, act: { kind: 'now', at: 'x' } }))).toMatch(/\bat\b/);

    type Node = { name: string; children: Node[] };
    const node: z.ZodType<Node> = z.object({
      name: z.string(),
      get children() {
        return z.array(node);
      },
    });
    const tree = tool({ ...base, name: 'tree', input: z.object({ root: node }) });
    const root = { name: 'r', children: [{ name: 'c', children: [] }] };
    expect(tree.parse({ root })).toEqual({ success: true, data: { root } });
    expect(refused(tree.parse({ root: { name: 'r', children: [{ name: 'c', children: [], color: 'red' }] } }))).toMatch(/color/);
  });

  it('keeps the author\'s refinements, transforms and defaults', () => {
    const t = tool({
      ...base,
      name: 'sized',
      input: z.object({ word: z.string().transform((s) => s.length), n: z.number().default(1) }).refine((v) => v.word > 0, { message: 'empty word' }),
    });
    expect(t.parse({ word: 'abc' })).toEqual({ success: true, data: { word: 3, n: 1 } });
    expect(refused(t.parse({ word: '' }))).toMatch(/empty word/);
    expect(refused(t.parse({ word: 'abc', extra: 1 }))).toMatch(/extra/);
    expect(refused(requestHumanInput.parse({ question: 'Which?', deadline: 'now' }))).toMatch(/deadline/);
    expect(refused(requestHumanInput.parse({ question: 'Which?', format: 'multiple_choice', choices: [' '] }))).toMatch(/non-blank choice/);
  });

  it('keeps taking the extra keys of loose and catchall objects, and any key of a record', () => {
    const loose = tool({ ...base, name: 'loose', input: z.looseObject({ a: z.string() }) });
    expect(loose.parse({ a: 'x', b: 2 })).toEqual({ success: true, data: { a: 'x', b: 2 } });
    const caught = tool({ ...base, name: 'caught', input: z.object({ opts: z.object({ a: z.string() }).catchall(z.number()) }) });
    expect(caught.parse({ opts: { a: 'x', b: 2 } })).toEqual({ success: true, data: { opts: { a: 'x', b: 2 } } });
    expect(refused(caught.parse({ opts: { a: 'x', b: 'not a number' } }))).toMatch(/opts/);
    const tally = tool({ ...base, name: 'tally', input: z.object({ byKey: z.record(z.string(), z.object({ n: z.number() })) }) });
    expect(tally.parse({ byKey: { x: { n: 1 } } })).toEqual({ success: true, data: { byKey: { x: { n: 1 } } } });
    // A record's values are plain objects: their unknown keys are refused too.
    expect(refused(tally.parse({ byKey: { x: { n: 1, m: 2 } } }))).toMatch(/\bm\b/);
  });
});

describe('a decision with an unknown argument key', () => {
  it('records an invalid_args error the model sees, naming the key, and no call', async () => {
    const charge = tool({ ...base, name: 'charge', input: z.object({ amount: z.number() }) });
    const payer = agent({ name: 'payer', description: 'pays', prompt: 'You are {{agent}}.\n{{context}}', tools: [charge] });
    const output: ModelOutput = { toolCall: { name: 'charge', arguments: '{"amount":5,"currency":"usd"}' }, usage: { prompt: 1, completion: 1 }, model: 'm' };
    const model: Model = { name: 'm', complete: async () => ({ success: true, data: output }) };
    const clock = new SimulatedClock();
    clock.set(T0);
    const store = createMemoryStore({ clock });
    const thread = await store.create(threadOf('t-1', 'payer', [{ type: 'input', data: { input: 'go' } }]));
    const deps = { model, store, clock, logger: silentLogger() };
    const { thread: after } = await decideStep({ agent: payer, thread, state: deriveState(thread.events), deps }, new AbortController());
    const added = after.events.slice(1);
    expect(added.map((e) => e.type)).toEqual(['error']);
    expect(added[0]).toMatchObject({ type: 'error', data: { kind: 'invalid_args', tool: 'charge' } });
    expect(JSON.stringify(added[0])).toMatch(/arguments for charge are invalid: .*currency/);
  });

  it('names the key in the message itself, not [REDACTED] (qa27 security D6: the text rule for "key: value" hid it)', async () => {
    const refund = tool({ ...base, name: 'refund', input: z.object({ orderId: z.string() }) });
    const support = agent({ name: 'support', description: 'refunds', prompt: 'You are {{agent}}.', tools: [refund] });
    const output: ModelOutput = { toolCall: { name: 'refund', arguments: '{"orderId":"A","approved":true}' }, usage: { prompt: 1, completion: 1 }, model: 'm' };
    const model: Model = { name: 'm', complete: async () => ({ success: true, data: output }) };
    const clock = new SimulatedClock();
    clock.set(T0);
    const store = createMemoryStore({ clock });
    const thread = await store.create(threadOf('t-2', 'support', [{ type: 'input', data: { input: 'go' } }]));
    const { thread: after } = await decideStep({ agent: support, thread, state: deriveState(thread.events), deps: { model, store, clock, logger: silentLogger() } }, new AbortController());
    const error = after.events.at(-1)!;
    expect(error.type === 'error' && error.data.message).toBe('arguments for refund are invalid: (root): unknown key "approved"');
  });
});

describe('a call recorded before unknown keys were refused', () => {
  it('still runs once approved, its unknown key dropped as then: the approval is not lost to an invalid_args error', async () => {
    const { runToEnd, startRun, eventsOf } = await import('../support/agentHarness.js');
    const { scriptedModel } = await import('../../src/model/scriptedModel.js');
    const ran: unknown[] = [];
    const charge = tool({ name: 'charge', description: 'charges', input: z.object({ amount: z.number() }), approval: true, run: (args) => (ran.push(args), 'charged') });
    const payer = agent({ name: 'payer', description: 'pays', prompt: 'p', tools: [charge] });
    // The decision an earlier version recorded (arguments were stripped, not refused), asked about and approved.
    const thread = threadOf('thread-1', 'payer', [
      { type: 'input', data: { input: 'charge 5' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { amount: 5, currency: 'usd' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'human_request', data: { requestId: 'req_3', kind: 'approval', question: 'charge?', urgency: 'high', format: 'yes_no', callId: 'call_2', tool: 'charge', args: { amount: 5, currency: 'usd' } } },
      { type: 'human_response', data: { requestId: 'req_3', approved: true } },
    ]);
    const { actor, clock } = await startRun({ agent: payer, model: scriptedModel([{ intent: 'done_for_now', args: { message: 'charged' } }]), thread });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(ran).toEqual([{ amount: 5 }]);
    expect(eventsOf(end.thread, 'error')).toEqual([]);
  });
});
