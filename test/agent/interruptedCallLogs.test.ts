import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool, type Tool } from '../../src/agent/tool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createAgentActor } from '../../src/runtime/agentActor.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createClock, eventsOf, runToEnd, threadOf } from '../support/agentHarness.js';
import { capturingLogger } from '../support/capturingLogger.js';

const SECRET = 'tok-SUPERSECRET-999';

/** A tool named `name` that counts its runs (its input `{ value: string }` unless `input` says otherwise). */
function counted(name: string, idempotent: boolean, input: z.ZodType<Record<string, unknown>> = z.object({ value: z.string() }), approval = false): { tool: Tool; runs: () => number } {
  let runs = 0;
  const t = tool({
    name,
    description: `the ${name} tool`,
    input,
    idempotent,
    approval,
    run: async (args) => {
      runs++;
      return { done: args };
    },
  });
  return { tool: t, runs: () => runs };
}

/**
 * Continues a thread whose call of `tool` was started (journaled) with no outcome, as a worker
 * killed mid-call leaves it, under an agent whose tools are `tools`: the lines logged, and where
 * the actor came to rest.
 */
async function continueInterrupted(tools: Tool[], tool: string) {
  const clock = createClock();
  const store = createMemoryStore({ clock });
  const args = { value: `pay with ${SECRET}` };
  const thread = await store.create(
    threadOf('thread-1', 'payer', [
      { type: 'input', data: { input: 'pay it' } },
      { type: 'decision', data: { callId: 'call_2', step: 1, intent: tool, args, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_2', tool, args, idempotencyKey: 'thread-1:call_2', attempt: 1 } },
    ]),
  );
  const { logger, out } = capturingLogger('info');
  const payer = agent({ name: 'payer', description: 'pays', prompt: 'You are {{agent}}.\n{{tools}}', tools, secrets: [SECRET] });
  const actor = createAgentActor({ agent: payer, thread, model: scriptedModel([{ intent: 'done_for_now', args: { message: 'paid' } }]), store, clock, logger });
  const end = await runToEnd(actor, clock);
  const interrupted = out.lines.filter((l) => l.callId === 'call_2' && typeof l.msg === 'string' && l.msg.includes('interrupted'));
  return { end, out, interrupted };
}

describe('a call found interrupted (started, no outcome), in the logs', () => {
  it('of a tool that is not idempotent: one warn naming thread, agent, tool, call and that a human is asked', async () => {
    const charge = counted('charge', false);
    const { end, out, interrupted } = await continueInterrupted([charge.tool], 'charge');
    expect(end.state).toBe('awaitingHuman');
    const [request] = eventsOf(end.thread, 'human_request');
    expect(request!.data).toMatchObject({ kind: 'interrupted', callId: 'call_2' });
    expect(interrupted).toEqual([
      expect.objectContaining({
        level: 40,
        threadId: 'thread-1',
        agent: 'payer',
        tool: 'charge',
        callId: 'call_2',
        idempotent: false,
        attempts: 1,
        humanAsked: true,
        requestId: request!.data.requestId,
        msg: 'interrupted tool call charge (call call_2): it was started and its outcome is not recorded; a human is asked whether it took effect',
      }),
    ]);
    expect(charge.runs()).toBe(0);
    expect(out.text).not.toContain('SUPERSECRET');
  });

  it('of a tool this version no longer has: the same warn, saying the tool is gone', async () => {
    const other = counted('refund', false);
    const { end, interrupted } = await continueInterrupted([other.tool], 'charge');
    expect(end.state).toBe('awaitingHuman');
    expect(interrupted).toEqual([expect.objectContaining({ level: 40, threadId: 'thread-1', agent: 'payer', tool: 'charge', callId: 'call_2', toolGone: true, humanAsked: true })]);
  });

  it('of an idempotent tool whose recorded args this version refuses: the same warn, saying why it cannot run again (qa24 D1)', async () => {
    const sync = counted('sync', true, z.object({ value: z.number() }));
    const { end, out, interrupted } = await continueInterrupted([sync.tool], 'sync');
    expect(end.state).toBe('awaitingHuman');
    expect(sync.runs()).toBe(0);
    const [request] = eventsOf(end.thread, 'human_request');
    expect(interrupted).toEqual([
      expect.objectContaining({
        level: 40,
        threadId: 'thread-1',
        agent: 'payer',
        tool: 'sync',
        callId: 'call_2',
        idempotent: true,
        invalidArgs: true,
        humanAsked: true,
        requestId: request!.data.requestId,
        msg: 'interrupted tool call sync (call call_2): it was started and its outcome is not recorded; a human is asked whether it took effect (its recorded arguments are not valid for this version of the tool)',
      }),
    ]);
    expect(out.text).not.toContain('SUPERSECRET');
  });

  it('of an idempotent tool this version asks approval for: the same warn, saying so (qa24 D3)', async () => {
    const sync = counted('sync', true, undefined, true);
    const { end, interrupted } = await continueInterrupted([sync.tool], 'sync');
    expect(end.state).toBe('awaitingHuman');
    expect(sync.runs()).toBe(0);
    const [request] = eventsOf(end.thread, 'human_request');
    expect(interrupted).toEqual([
      expect.objectContaining({
        level: 40,
        tool: 'sync',
        callId: 'call_2',
        idempotent: true,
        needsApproval: true,
        humanAsked: true,
        requestId: request!.data.requestId,
        msg: 'interrupted tool call sync (call call_2): it was started and its outcome is not recorded; a human is asked whether it took effect (this version of the agent asks approval before the tool runs)',
      }),
    ]);
  });

  it('of an idempotent tool: one info line saying it is run again (its attempt), and no warn', async () => {
    const sync = counted('sync', true);
    const { end, interrupted } = await continueInterrupted([sync.tool], 'sync');
    expect(end.status).toBe('done');
    expect(sync.runs()).toBe(1);
    expect(interrupted).toEqual([
      expect.objectContaining({
        level: 30,
        threadId: 'thread-1',
        agent: 'payer',
        tool: 'sync',
        callId: 'call_2',
        idempotent: true,
        attempt: 2,
        msg: 'interrupted tool call sync (call call_2): it was started and its outcome is not recorded; the tool is idempotent, so it runs again',
      }),
    ]);
  });
});
