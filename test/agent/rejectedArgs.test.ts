import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { eventsOf, runToEnd, startRun } from '../support/agentHarness.js';

const SECRET = 'tok-SUPERSECRET-999';

const lookup = tool({ name: 'lookup', description: 'looks an item up', input: z.object({ id: z.string() }), idempotent: true, run: async ({ id }) => ({ id, found: true }) });

/** Runs an agent over `lookup` whose model answers `first`, then finishes: the error recorded, and what the model was shown next. */
async function rejected(first: ScriptStep) {
  const a = agent({ name: 'finder', description: 'finds items', prompt: 'You are {{agent}}.\n{{tools}}', tools: [lookup], secrets: [SECRET] });
  const model = scriptedModel([first, { intent: 'done_for_now', args: { message: 'ok' } }]);
  const { actor, clock } = await startRun({ agent: a, model });
  const end = await runToEnd(actor, clock);
  expect(end.status).toBe('done');
  const errors = eventsOf(end.thread, 'error');
  expect(errors).toHaveLength(1);
  return { error: errors[0]!.data, next: model.requests[1]!.context, text: JSON.stringify(end.thread) };
}

describe("the arguments of a decision that is refused are recorded and shown to the model", () => {
  it('invalid_args: the arguments the model sent are on the error event and in its next context', async () => {
    const { error, next } = await rejected({ intent: 'lookup', args: { identifier: 42 } });
    expect(error).toMatchObject({ kind: 'invalid_args', tool: 'lookup', args: { identifier: 42 } });
    expect(next).toContain(`<error kind="invalid_args" tool="lookup" attempt="1">${error.message}\nargs: {"identifier":42}</error>`);
  });

  it('unknown_intent: the arguments sent with the unknown name too', async () => {
    const { error, next } = await rejected({ intent: 'find_item', args: { id: 'A-1' } });
    expect(error).toMatchObject({ kind: 'unknown_intent', args: { id: 'A-1' } });
    expect(next).toContain('args: {"id":"A-1"}</error>');
  });

  it("the agent's secrets are redacted from the recorded arguments", async () => {
    const { error, next, text } = await rejected({ intent: 'lookup', args: { identifier: SECRET } });
    expect(error.args).toEqual({ identifier: '[REDACTED]' });
    expect(next).toContain('args: {"identifier":"[REDACTED]"}</error>');
    expect(text).not.toContain('SUPERSECRET');
  });

  it('arguments whose JSON is over 1000 characters are recorded as the start of their JSON, and the context shows at most 500 characters of them', async () => {
    const { error, next } = await rejected({ intent: 'lookup', args: { identifier: 'x'.repeat(3000) } });
    expect(typeof error.args).toBe('string');
    expect(error.args).toBe(`${JSON.stringify({ identifier: 'x'.repeat(3000) }).slice(0, 1000)}…`);
    const shown = /\nargs: (.*)<\/error>/.exec(next)?.[1];
    expect(shown).toBe(`${String(error.args).slice(0, 500)}…`);
  });
});
