/**
 * A call that was started (its `tool_call` journaled, no outcome: the process running it was
 * killed) continued by a new version of the agent whose tool changed under it (qa24 D1-D3). It may
 * have taken effect, so whenever this version cannot simply run it again as recorded, a human is
 * asked (`kind: "interrupted"`) and told why; nothing turns it into an error the model retries
 * under a new call id, and approving does what the question said it does.
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool, type Tool, type ToolContext } from '../../src/agent/tool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { sealArgs } from '../../src/context/sealedArgs.js';
import type { HumanRequest, Json, NewEvent, Thread } from '../../src/thread/events.js';
import { eventsOf, runToEnd, startRun, threadOf, type Answerer } from '../support/agentHarness.js';

/** A `charge` tool of the new version (input `schema`, `flags`) that records each run. */
function charge(schema: z.ZodType<Record<string, unknown>>, flags: { idempotent: boolean; approval?: boolean }) {
  const runs: { args: unknown; ctx: ToolContext }[] = [];
  const t = tool({
    name: 'charge',
    description: 'charges a card',
    input: schema,
    ...flags,
    run: async (args, ctx) => {
      runs.push({ args, ctx });
      return 'charged';
    },
  });
  return { tool: t as Tool, runs };
}

/** The old version's call, started and never finished: `charge({"orderId":"C-1"})`. */
const startedCharge: readonly NewEvent[] = [
  { type: 'input', data: { input: 'charge C-1' } },
  { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { orderId: 'C-1' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
  { type: 'tool_call', data: { callId: 'call_2', tool: 'charge', args: { orderId: 'C-1' }, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
];

/**
 * Continues `events` under a `support` agent whose tools are `tools`; the model, when asked, calls
 * charge again with args the new schema takes (as the qa24 stand-in did), then is done. `answer`
 * answers the human's request(s).
 */
async function continueUnder(tools: Tool[], events: readonly NewEvent[], answer?: Answerer) {
  const support = agent({ name: 'support', description: 'charges', prompt: 'You are {{agent}}.\n{{tools}}', tools });
  const model = scriptedModel([{ intent: 'charge', args: { orderId: 7 } }, { intent: 'done_for_now', args: { message: 'done' } }]);
  const { actor, clock } = await startRun({ agent: support, model, thread: threadOf('thread-1', 'support', events) });
  const end = await runToEnd(actor, clock, answer === undefined ? {} : { answer });
  return { end, model };
}

/** The first human request `thread` holds. */
function firstRequest(thread: Thread): HumanRequest {
  const [request] = eventsOf(thread, 'human_request');
  if (request === undefined) throw new Error('no human request');
  return request.data;
}

const numberOrder = z.object({ orderId: z.number() });

describe('a started call whose recorded args the new version refuses (qa24 D1)', () => {
  it.each([
    ['idempotent', true],
    ['not idempotent', false],
  ])('of a tool %s: a human is asked (rerun false, saying why), nothing runs, no invalid_args for the model to retry', async (_, idempotent) => {
    const tool = charge(numberOrder, { idempotent });
    const { end, model } = await continueUnder([tool.tool], startedCharge);
    expect(end.state).toBe('awaitingHuman');
    expect(tool.runs).toHaveLength(0);
    expect(model.requests).toHaveLength(0);
    expect(eventsOf(end.thread, 'error')).toEqual([]);
    const request = firstRequest(end.thread);
    expect(request).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge', args: { orderId: 'C-1' }, rerun: false });
    expect(request.question).toContain('charge({"orderId":"C-1"}) was started and its outcome was not recorded');
    expect(request.question).toContain('its recorded arguments are not valid for charge in this version of agent support');
    expect(request.question).toContain('orderId');
    expect(request.question).toContain('so it cannot be run again as recorded');
    expect(request.question).toContain('Approve only if it did not take effect (the model is told it was not run again)');
  });

  it('approved ("it did not take effect"): recorded as not run again for the model; the call is never run', async () => {
    const tool = charge(numberOrder, { idempotent: true });
    const { end, model } = await continueUnder([tool.tool], startedCharge, () => ({ approved: true, comment: 'no charge at the bank' }));
    expect(end.status).toBe('done');
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'tool_error', callId: 'call_2', tool: 'charge' });
    expect(error!.data.message).toContain('charge({"orderId":"C-1"}) was not run again');
    expect(error!.data.message).toContain('a human said it did not take effect: no charge at the bank');
    expect(model.requests[0]!.context).toContain('was not run again');
    // Only the model's own new call (a new call id) ran: the started one was not run with other args.
    expect(tool.runs.map((r) => r.ctx.callId)).not.toContain('call_2');
  });
});

/** The interrupted-call request about the started charge, as a version asked it: `rerun` as given (absent when undefined). */
function asked(question: string, rerun?: boolean): NewEvent {
  const request: HumanRequest = { requestId: 'req_4_x', kind: 'interrupted', question, urgency: 'high', format: 'yes_no', callId: 'call_2', tool: 'charge', args: { orderId: 'C-1' } };
  return { type: 'human_request', data: rerun === undefined ? request : { ...request, rerun } };
}

/** What a version without the tool asked (qa24 D2's log): approving means it did not take effect, and it is not run again. */
const GONE_TOOL_QUESTION =
  'charge({"orderId":"C-1"}) was started and its outcome was not recorded (...); charge is not a tool of agent support in this version, so it cannot be run again. Approve only if it did not take effect (the model is told it was not run again); deny, describing the outcome, if it did.';

describe('an interrupted request that said approving does not run the call again (rerun: false) (qa24 D2)', () => {
  it('approved after a rollback brought its tool back: the call is recorded as not run again, never run', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: false });
    const answered: NewEvent[] = [...startedCharge, asked(GONE_TOOL_QUESTION, false), { type: 'human_response', data: { requestId: 'req_4_x', approved: true, comment: 'redone by hand', by: 'root' } }];
    const { end, model } = await continueUnder([tool.tool], answered);
    expect(tool.runs).toHaveLength(0);
    expect(eventsOf(end.thread, 'tool_call')).toHaveLength(1);
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'tool_error', callId: 'call_2', tool: 'charge' });
    expect(error!.data.message).toContain('charge({"orderId":"C-1"}) was not run again');
    expect(error!.data.message).toContain('a human said it did not take effect: redone by hand');
    expect(model.requests[0]!.context).toContain('was not run again');
  });

  it('a request without the field (or rerun: true) still runs the call again when approved', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: false });
    for (const rerun of [undefined, true]) {
      const events: NewEvent[] = [...startedCharge, asked('charge(...) ... Run it again?', rerun), { type: 'human_response', data: { requestId: 'req_4_x', approved: true } }];
      await continueUnder([tool.tool], events);
    }
    expect(tool.runs.filter((r) => r.ctx.callId === 'call_2').map((r) => r.ctx.attempt)).toEqual([2, 2]);
  });
});

describe('a started call of a tool the new version asks approval for (qa24 D3)', () => {
  it('asks the interrupted question (the call already started), not a plain approval', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: true, approval: true });
    const { end } = await continueUnder([tool.tool], startedCharge);
    expect(end.state).toBe('awaitingHuman');
    expect(tool.runs).toHaveLength(0);
    const request = firstRequest(end.thread);
    expect(request).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'charge' });
    expect(request.rerun).toBeUndefined();
    expect(request.question).toContain('charge({"orderId":"C-1"}) was started and its outcome was not recorded');
    expect(request.question).toContain('asks approval before charge runs');
  });

  it('denied ("it went through"): nothing runs, the model reads what the human said', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: true, approval: true });
    const support = agent({ name: 'support', description: 'charges', prompt: 'You are {{agent}}.\n{{tools}}', tools: [tool.tool] });
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'charged once' } }]);
    const { actor, clock } = await startRun({ agent: support, model, thread: threadOf('thread-1', 'support', startedCharge) });
    const end = await runToEnd(actor, clock, { answer: () => ({ approved: false, comment: 'it went through' }) });
    expect(end.status).toBe('done');
    expect(tool.runs).toHaveLength(0);
    expect(model.requests[0]!.context).toContain('<human_request kind="interrupted"');
    expect(model.requests[0]!.context).toContain('took_effect="true">it went through</human_response>');
  });

  it('approved: runs again as attempt 2 with the same idempotency key, with no second question', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: true, approval: true });
    const support = agent({ name: 'support', description: 'charges', prompt: 'You are {{agent}}.\n{{tools}}', tools: [tool.tool] });
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'charged' } }]);
    const { actor, clock } = await startRun({ agent: support, model, thread: threadOf('thread-1', 'support', startedCharge) });
    const end = await runToEnd(actor, clock, { answer: () => ({ approved: true }) });
    expect(end.status).toBe('done');
    expect(end.answers).toBe(1);
    expect(tool.runs.map((r) => [r.ctx.callId, r.ctx.attempt, r.ctx.idempotencyKey])).toEqual([['call_2', 2, 'thread-1:call_2']]);
  });

  it('approved before it started (the tool asked approval then too): runs again at once, nothing asked again', async () => {
    const tool = charge(z.object({ orderId: z.string() }), { idempotent: true, approval: true });
    const approval: NewEvent = {
      type: 'human_request',
      data: { requestId: 'req_3_x', kind: 'approval', question: 'Approve charge({"orderId":"C-1"})?', urgency: 'medium', format: 'yes_no', callId: 'call_2', tool: 'charge', args: { orderId: 'C-1' } },
    };
    const [input, decision, started] = startedCharge;
    const events: NewEvent[] = [input!, decision!, approval, { type: 'human_response', data: { requestId: 'req_3_x', approved: true } }, started!];
    const { end } = await continueUnder([tool.tool], events);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'human_request')).toHaveLength(1);
    expect(tool.runs.map((r) => [r.ctx.callId, r.ctx.attempt])).toEqual([['call_2', 2]]);
  });
});

describe('a started call whose sealed arguments the new schema refuses (review: refusal not redacted)', () => {
  it('asks the human without quoting what they opened to', async () => {
    const TOKEN = 'Charge-Tok-11223344';
    const args = sealArgs({ orderId: 'C-1', token: TOKEN }, 'seal-secret-one', [], { threadId: 'thread-1', callId: 'call_2' }) as Record<string, Json>;
    const events = startedCharge.map((e): NewEvent => (e.type === 'decision' || e.type === 'tool_call' ? ({ ...e, data: { ...e.data, args } } as NewEvent) : e));
    // The new version parses the token as JSON: JSON.parse quotes its input.
    const { tool: t } = charge(z.object({ orderId: z.string(), token: z.string().transform((v) => JSON.parse(v) as unknown) }), { idempotent: true });
    const support = agent({ name: 'support', description: 'charges', prompt: 'You are {{agent}}.\n{{tools}}', tools: [t] });
    const { actor, clock } = await startRun({ agent: support, model: scriptedModel([]), thread: threadOf('thread-1', 'support', events), sealSecret: 'seal-secret-one' });
    const end = await runToEnd(actor, clock);
    const question = firstRequest(end.thread).question;
    expect(question).toContain('is not valid JSON');
    expect(question).not.toContain(TOKEN);
  });
});
