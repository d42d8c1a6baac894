/**
 * `switchyard/testing` carries `stepEvents`: a step of the author's (here a before-decision step)
 * unit-tested without a runtime, from the kit a user's tests already import. A judge or an intent
 * on a thread it is not due on (by the runtime's own rule) is refused, saying why.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision, intent, judge } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import { sealArgs } from '../../src/context/sealedArgs.js';
import { InvalidStateError } from '../../src/errors.js';
import type { Json, Thread, ThreadEvent } from '../../src/thread/events.js';
import * as testing from '../../src/testing/index.js';
import { capturingLogger } from '../support/capturingLogger.js';

const greeter = agent({
  name: 'greeter',
  description: 'greets',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  tools: [],
  beforeDecision: [beforeDecision({ name: 'profile', run: ({ input }) => ({ output: { vip: input === 'vip' } }) })],
});

const thread = (input: string): Thread => ({ id: 'th_1', agent: 'greeter', events: [{ seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'input', data: { input } }] });

describe('switchyard/testing: stepEvents', () => {
  it('is exported, and gives the events a before-decision step adds to a thread', async () => {
    expect(typeof testing.stepEvents).toBe('function');
    const events = await testing.stepEvents(greeter, 'profile', thread('vip'));
    expect(events).toEqual([{ type: 'custom', data: expect.objectContaining({ step: 'profile', output: { vip: true } }) }]);
  });
});

describe('stepEvents on a thread the step is not due on', () => {
  const refund = tool({ name: 'refund', description: 'refunds', input: z.object({ orderId: z.string(), amount: z.number() }), approval: true, run: () => 'refunded' });
  const withinTotal = judge({
    name: 'within_total',
    output: z.object({ n: z.number() }),
    run: (call) => ((call.args as { amount?: number }).amount! > 40 ? { verdict: 'reject', feedback: 'at most 40', output: { n: 40 } } : { verdict: 'accept', output: { n: 0 } }),
  });
  const waitForCarrier = intent({ name: 'wait_for_carrier', description: 'waits', input: z.object({ hours: z.number() }), run: ({ hours }) => ({ waitMs: hours * 3_600_000 }) });
  const support = agent({ name: 'support', description: 'refunds', prompt: 'p', tools: [refund], afterDecision: [withinTotal], intents: [waitForCarrier] });

  const at = '2026-01-01T00:00:00.000Z';
  const decision = (intentName: string, args: Record<string, Json>): ThreadEvent => ({
    seq: 2, at, type: 'decision',
    data: { step: 1, intent: intentName, args, callId: 'c1', model: 'm', promptHash: 'sha256:0', tokens: { prompt: 0, completion: 0 }, latencyMs: 0 },
  });
  const input: ThreadEvent = { seq: 1, at, type: 'input', data: { input: 'refund A-1' } };
  const threadOf = (...events: ThreadEvent[]): Thread => ({ id: 'th_1', agent: 'support', events: [input, ...events] });

  it('a judge on a thread with no pending call throws naming the agent, the step and why, instead of returning []', async () => {
    const error = await testing.stepEvents(support, 'within_total', threadOf()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(String(error)).toMatch(/agent support's judge within_total is not due on thread th_1: it has no pending call/);
  });

  it('a judge on a call already started (a tool_call recorded) throws: the runtime judges a call only before it starts', async () => {
    const started: ThreadEvent = { seq: 3, at, type: 'tool_call', data: { callId: 'c1', tool: 'refund', args: { orderId: 'A-1', amount: 99 }, idempotencyKey: 'th_1:c1', attempt: 1 } };
    await expect(testing.stepEvents(support, 'within_total', threadOf(decision('refund', { orderId: 'A-1', amount: 99 }), started))).rejects.toThrow(
      /agent support's judge within_total is not due on thread th_1: its pending call c1 \(refund\) has started/,
    );
  });

  it('an intent on a thread with no pending call, or whose pending call is another tool, throws saying so', async () => {
    await expect(testing.stepEvents(support, 'wait_for_carrier', threadOf())).rejects.toThrow(/agent support's intent wait_for_carrier is not due on thread th_1: it has no pending call/);
    const refunding = threadOf(decision('refund', { orderId: 'A-1', amount: 10 }));
    await expect(testing.stepEvents(support, 'wait_for_carrier', refunding)).rejects.toThrow(
      /agent support's intent wait_for_carrier is not due on thread th_1: its pending call c1 is to refund, not wait_for_carrier/,
    );
  });

  it('an intent whose call a judge has still to judge throws naming the judge', async () => {
    await expect(testing.stepEvents(support, 'wait_for_carrier', threadOf(decision('wait_for_carrier', { hours: 2 })))).rejects.toThrow(
      /agent support's intent wait_for_carrier is not due on thread th_1: the judge within_total is due first on its pending call c1/,
    );
  });

  it('still runs a due judge and a due intent', async () => {
    expect(await testing.stepEvents(support, 'within_total', threadOf(decision('refund', { orderId: 'A-1', amount: 99 })))).toEqual([
      { type: 'custom', data: { step: 'within_total', phase: 'after_decision', callId: 'c1', verdict: 'reject', feedback: 'at most 40', output: { n: 40 } } },
    ]);
    // The judge judges every call, an intent's too: the intent is due once it accepted.
    const accepted: ThreadEvent = { seq: 3, at, type: 'custom', data: { step: 'within_total', phase: 'after_decision', callId: 'c1', verdict: 'accept' } };
    expect(await testing.stepEvents(support, 'wait_for_carrier', threadOf(decision('wait_for_carrier', { hours: 2 }), accepted), { now: 1000 })).toEqual([
      { type: 'custom', data: { step: 'wait_for_carrier', phase: 'intent', callId: 'c1', until: 1000 + 7_200_000 } },
    ]);
  });

  it("prefixes an output that fails the step's schema with the step's name, as the runtime does", async () => {
    const sloppy = judge({ name: 'sloppy', output: z.object({ n: z.number() }), run: () => ({ verdict: 'accept', output: { n: 'one' } as unknown as { n: number } }) });
    const a = agent({ name: 'support', description: 'refunds', prompt: 'p', tools: [refund], afterDecision: [sloppy] });
    await expect(testing.stepEvents(a, 'sloppy', threadOf(decision('refund', { orderId: 'A-1', amount: 1 })))).rejects.toThrow(/^sloppy failed: its output does not match its schema: n: /);
  });
});

describe('stepEvents on an intent whose call holds sealed arguments (review: not redacted as the runtime does)', () => {
  const TOKEN = 'Intent-Tok-5566778899';
  const at = '2026-01-01T00:00:00.000Z';
  const connect = intent({
    name: 'connect',
    description: 'connects',
    input: z.object({ host: z.string(), token: z.string() }),
    output: z.string(),
    run: ({ host, token }, context) => {
      context.logger.info(`connecting to ${host} with ${token}`);
      return { output: `connected to ${host} as ${token}` };
    },
  });
  const links = agent({ name: 'links', description: 'connects', prompt: 'p', tools: [], intents: [connect] });
  const sealed = sealArgs({ host: 'wh1', token: TOKEN }, 'seal-secret-one', [], { threadId: 'th_1', callId: 'c1' });
  const thread: Thread = {
    id: 'th_1',
    agent: 'links',
    events: [
      { seq: 1, at, type: 'input', data: { input: 'go' } },
      { seq: 2, at, type: 'decision', data: { step: 1, intent: 'connect', args: sealed as Record<string, Json>, callId: 'c1', model: 'm', promptHash: 'sha256:0', tokens: { prompt: 0, completion: 0 }, latencyMs: 0 } },
    ],
  };

  it('redacts what they open to from its output and its log lines', async () => {
    const { logger, out } = capturingLogger();
    const events = await testing.stepEvents(links, 'connect', thread, { sealSecret: 'seal-secret-one', logger });
    expect(events).toEqual([{ type: 'custom', data: { step: 'connect', phase: 'intent', callId: 'c1', output: 'connected to wh1 as [REDACTED]' } }]);
    expect(out.text).toContain('connecting to wh1 with [REDACTED]');
    expect(out.text).not.toContain(TOKEN);
  });
});
