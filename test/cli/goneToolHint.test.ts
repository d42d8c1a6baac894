/**
 * The CLI's reply hint for an interrupted call whose tool a new version removed or renamed: the
 * question (asked by the real execute step here) says the call cannot be run again, so the hint must
 * not offer to run it again.
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { eventLine, plainHint, replyHint, statusLine, threadDetails } from '../../src/cli/format.js';
import { checkFitsRequest } from '../../src/cli/respondFlags.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { HumanRequest, Thread } from '../../src/thread/events.js';
import { runToEnd, startRun, threadOf } from '../support/agentHarness.js';

const chargeCard = tool({
  name: 'charge_card',
  description: 'charges a card',
  input: z.object({ value: z.string() }),
  idempotent: false,
  run: async ({ value }) => ({ charged: value }),
});

/** A billing agent whose new version has `tools`. */
const billing = (tools: readonly (typeof chargeCard)[]) => agent({ name: 'billing', description: 'charges', prompt: 'You are {{agent}}.\n{{tools}}', tools: [...tools] });

/** A thread whose `charge` call was started (journaled) with no outcome, continued by a version with `tools`. */
async function interruptedUnder(tools: readonly (typeof chargeCard)[]): Promise<{ thread: Thread; request: HumanRequest }> {
  const started = threadOf('th_1', 'billing', [
    { type: 'input', data: { input: 'charge it' } },
    { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'charge', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
    { type: 'tool_call', data: { callId: 'call_2', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: 'th_1:call_2', attempt: 1 } },
  ]);
  const { actor, clock } = await startRun({ agent: billing(tools), model: scriptedModel([]), thread: started });
  const rest = await runToEnd(actor, clock);
  expect(rest.status).toBe('awaiting_human');
  const request = rest.thread.events.findLast((e) => e.type === 'human_request');
  if (request?.type !== 'human_request') throw new Error('no human request');
  expect(request.data.kind).toBe('interrupted');
  return { thread: rest.thread, request: request.data };
}

describe('the reply hint of an interrupted call', () => {
  it.each([
    ['removed', []],
    ['renamed (charge_card)', [chargeCard]],
  ])('of a tool the new version %s says approving means it did not take effect, never that it runs again', async (_, tools) => {
    const { thread, request } = await interruptedUnder(tools);
    expect(request.question).toContain('so it cannot be run again');
    const hint = replyHint('th_1', request);
    expect(hint).toContain(`switchyard respond th_1 --approve --request ${request.requestId}`);
    expect(hint).toContain('did not take effect');
    expect(hint).not.toMatch(/run it again/);
    expect(hint).toContain('--deny --comment "what happened"');
    // Every place the CLI prints it: show, the watch and respond lines, the status after a command.
    const view = viewOf(thread);
    for (const text of [threadDetails(view), eventLine(thread.events.at(-1)!, 'th_1'), statusLine(view)]) {
      expect(text).toContain(hint);
      expect(text).not.toMatch(/to run it again/);
    }
    // `respond` refusing flags that do not answer it says what the thread waits for, and the hint.
    const refused = (() => {
      try {
        checkFitsRequest('th_1', request, { requestId: request.requestId, answer: 'yes' }, { answer: 'yes' }, plainHint);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    })();
    expect(refused).toContain('waits to know whether an interrupted charge call took effect');
    expect(refused).toContain(hint);
  });

  it('of a tool this version still has (not idempotent) still says approving runs it again', async () => {
    const kept = tool({ name: 'charge', description: 'charges', input: z.object({ value: z.string() }), idempotent: false, run: async () => 'ok' });
    const { request } = await interruptedUnder([kept as unknown as typeof chargeCard]);
    expect(request.question).toContain('Approve to run it again');
    expect(replyHint('th_1', request)).toBe(`switchyard respond th_1 --approve --request ${request.requestId} to run it again  (or --deny --comment "what happened")`);
  });

  it('of a tool whose new schema refuses the recorded args says approving means it did not take effect, and not that the tool is gone (qa24 D1)', async () => {
    const changed = tool({ name: 'charge', description: 'charges', input: z.object({ value: z.number() }), idempotent: true, run: async () => 'ok' });
    const { thread, request } = await interruptedUnder([changed as unknown as typeof chargeCard]);
    expect(request.question).toContain('so it cannot be run again as recorded');
    const hint = replyHint('th_1', request);
    expect(hint).toBe(`switchyard respond th_1 --approve --request ${request.requestId} if it did not take effect (it is not run again: the question says why)  (or --deny --comment "what happened")`);
    expect(hint).not.toContain('tool is gone');
    expect(threadDetails(viewOf(thread))).toContain(hint);
  });
});
