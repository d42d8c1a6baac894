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

  it('asks the human about a provider message ending in a full stop without doubling it', async () => {
    const said = 'POST http://a/v1/chat/completions: 401 Incorrect API key provided. You can find your API key at https://example.test/keys.';
    const refused = await runWith([{ kind: 'http', status: 401, message: said }]);
    const [asked] = eventsOf(refused.end.thread, 'human_request');
    expect(asked!.data.question).toContain('https://example.test/keys. Fix the cause');
    const failing: ModelFailure = { kind: 'http', status: 502, message: 'Bad gateway.' };
    const exhausted = await runWith([failing, failing, failing]);
    const [stopped] = eventsOf(exhausted.end.thread, 'human_request');
    expect(stopped!.data.question).toContain('the last: HTTP 502: Bad gateway. Answer with guidance');
  });

  /** How long after an error the thread waits before asking again, as recorded. */
  const waitOf = (error: { at: string; data: { retryAt?: string } }): number => Date.parse(error.data.retryAt!) - Date.parse(error.at);

  it.each([500, 502, 504, 529, 503, 429])('a %i whose server asks for 5 s is retried no sooner', async (status) => {
    const { end, model } = await runWith([{ kind: 'http', status, message: 'overloaded', retryAfterMs: 5_000 }]);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(2);
    const [error] = eventsOf(end.thread, 'error');
    // The agent's own first backoff is about 1 s: only the server's wait makes it 5.
    expect(waitOf(error!)).toBeGreaterThanOrEqual(5_000);
  });

  it('a 529 (an overload) whose server says when to come back counts as a rate limit, as a 503 does', async () => {
    const overloaded: ModelFailure = { kind: 'http', status: 529, message: 'Overloaded', retryAfterMs: 2_000 };
    const { end, model } = await runWith([overloaded, overloaded, overloaded, overloaded]);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(5);
    const errors = eventsOf(end.thread, 'error');
    expect(errors.map((e) => e.data.rateLimited)).toEqual([true, true, true, true]);
    expect(errors[0]!.data.message).toMatch(/^rate limited: retrying at /);
  });

  it('a failure its model says not to retry (a 429 insufficient_quota) escalates at once, not waited out as a rate limit', async () => {
    const quota: ModelFailure = { kind: 'http', status: 429, retryable: false, message: 'POST http://a/v1/chat/completions: 429 insufficient_quota: the quota is reached' };
    const { end, model } = await runWith([quota]);
    expect(model.requests).toHaveLength(1);
    expect(end.status).toBe('escalated');
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data.rateLimited).toBeUndefined();
    expect(eventsOf(end.thread, 'escalation')[0]!.data.reason).toBe('non_retryable_error');
  });

  it('a 502 without Retry-After keeps the agent\'s own backoff and counts as an error', async () => {
    const bad: ModelFailure = { kind: 'http', status: 502, message: 'bad gateway' };
    const { end } = await runWith([bad, bad, bad]);
    expect(end.status).toBe('escalated');
    const errors = eventsOf(end.thread, 'error');
    expect(errors[0]!.data.rateLimited).toBeUndefined();
    expect(waitOf(errors[0]!)).toBeLessThanOrEqual(1_200);
    expect(eventsOf(end.thread, 'escalation')[0]!.data.reason).toBe('max_consecutive_errors');
  });

  it('a malformed answer a model reports (several tool calls) is recorded as invalid_json, as an unparseable one, and retried', async () => {
    const { end, model } = await runWith([{ kind: 'malformed', message: 'answer with exactly one tool call; this answer had 2: add, add (none was run)' }]);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(2);
    const [error] = eventsOf(end.thread, 'error');
    expect(error!.data).toMatchObject({ kind: 'invalid_json', attempt: 1, message: 'answer with exactly one tool call; this answer had 2: add, add (none was run)' });
    expect(error!.data.retryAt).toBeDefined();
  });

  it('rate limits up to maxConsecutiveRateLimits escalate with a reason of their own, so a filter on reasons tells them from errors', async () => {
    const limited: ModelFailure = { kind: 'http', status: 429, message: 'rate limit reached', retryAfterMs: 1_000 };
    const { end, model } = await runWith(Array.from({ length: 10 }, () => limited));
    expect(model.requests).toHaveLength(10);
    expect(end.status).toBe('escalated');
    const [escalation] = eventsOf(end.thread, 'escalation');
    expect(escalation!.data.reason).toBe('max_consecutive_rate_limits');
    expect(escalation!.data.message).toMatch(/^10 rate limits in a row \(maxConsecutiveRateLimits\); the last: /);
  });
});
