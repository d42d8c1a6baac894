import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { ModelFailure } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { eventsOf, runToEnd, startRun } from '../support/agentHarness.js';

// How a decision step records a model endpoint's failure: retried or not, and after how long.

const done = { toolCall: { name: 'done_for_now', arguments: '{"message":"5"}' } };

async function runWith(failures: ModelFailure[]) {
  const model = scriptedModel([...failures.map((error) => ({ error })), done]);
  const { actor, clock } = await startRun({ agent: calculator, model, input: 'what is 2 + 3?' });
  const end = await runToEnd(actor, clock);
  return { end, model };
}

describe('a model failure in a decision step', () => {
  it.each([301, 302, 303])('a %i the transport did not follow (the base URL moved) escalates at once, not retried', async (status) => {
    const { end, model } = await runWith([{ kind: 'http', status, message: `POST http://a/v1/chat/completions: ${status} redirects to https://a/v1/chat/completions` }]);
    expect(model.requests).toHaveLength(1);
    expect(end.status).toBe('escalated');
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('non_retryable_error');
    expect(escalation!.data.message).toContain(`HTTP ${status}`);
  });
});
