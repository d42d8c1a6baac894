/**
 * Instants inside the messages the CLI prints (a rate limit's `retrying at <ISO>`, recorded in UTC
 * for the model and the escalation's reader) are shown in the same local clock as the rest of the
 * timeline, as a tool error's `retrying at` is (QA20 debug D15). The stored message is unchanged.
 * The time zone is set for this test file's own process (vitest runs each file in a fork).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLine, statusLine, threadDetails } from '../../src/cli/format.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { ThreadEvent } from '../../src/thread/events.js';

let zone: string | undefined;
beforeAll(() => {
  zone = process.env.TZ;
  // UTC-5 in December: a UTC time of day differs from the local one.
  process.env.TZ = 'America/New_York';
});
afterAll(() => {
  if (zone === undefined) delete process.env.TZ;
  else process.env.TZ = zone;
});

const rateLimited = 'rate limited: retrying at 2026-12-06T12:28:06.032Z (in 20 s, as the server asked); HTTP 429: POST https://api.example.com/v1/chat/completions: 429 slow down';
const stamped = (events: readonly object[]): ThreadEvent[] => events.map((e, i) => ({ ...e, seq: i + 1, at: '2026-12-06T12:27:46.000Z' })) as ThreadEvent[];
const events = stamped([
  { type: 'input', data: { input: 'go' } },
  { type: 'error', data: { kind: 'tool_error', tool: 'fetch', message: 'ECONNRESET', attempt: 1, retryAt: '2026-12-06T12:27:47.000Z' } },
  { type: 'error', data: { kind: 'model_http', message: rateLimited, attempt: 2, rateLimited: true, retryAt: '2026-12-06T12:28:06.032Z' } },
  { type: 'escalation', data: { reason: 'max_consecutive_rate_limits', message: `10 rate limits in a row; the last: ${rateLimited}` } },
]);
const local = rateLimited.replace('2026-12-06T12:28:06.032Z', '07:28:06');

describe('show of a rate limit, under TZ=America/New_York', () => {
  it('prints the retry time inside the message in local time, as the tool error’s own retry time is', () => {
    const details = threadDetails(viewOf({ id: 't1', agent: 'worker', events }));
    expect(details).toContain('  2  07:27:46  ✗ tool_error: ECONNRESET; retrying at 07:27:47');
    expect(details).toContain(`  3  07:27:46  ✗ model_http: ${local}`);
    expect(details).toContain(`! escalated (max_consecutive_rate_limits): 10 rate limits in a row; the last: ${local}`);
    expect(details).not.toContain('12:28:06');
  });

  it('prints it so in a follow’s line (launch, watch) too', () => {
    expect(eventLine(events[2]!, 't1')).toContain('rate limited: retrying at 07:28:06 (in 20 s, as the server asked)');
  });

  it('names the local day of an instant on another day than its event, and leaves the stored message as it was', () => {
    const reason = 'step pay: the bank is closed until 2026-12-08T14:00:00Z; try again then';
    const failed = stamped([{ type: 'input', data: { input: 'go' } }, { type: 'failed', data: { reason } }]);
    const view = viewOf({ id: 't2', agent: 'worker', events: failed });
    const shown = 'step pay: the bank is closed until 2026-12-08 09:00:00; try again then';
    expect(threadDetails(view)).toContain(`✗ failed: ${shown}`);
    expect(threadDetails(view)).toContain(`failure  ${shown}`);
    expect(statusLine(view)).toContain(`failure: ${shown}`);
    expect(view.failure).toBe(reason);
  });
});

describe('the pending request of an escalation, under TZ=America/New_York', () => {
  const question = `Agent worker stopped after 10 rate limits in a row; the last: ${rateLimited}. Answer with guidance to continue, or deny to stop it.`;
  const escalated = stamped([
    { type: 'input', data: { input: 'go' } },
    { type: 'escalation', data: { reason: 'max_consecutive_rate_limits', message: `10 rate limits in a row; the last: ${rateLimited}`, requestId: 'req_2' } },
    { type: 'human_request', data: { requestId: 'req_2', kind: 'escalation', question, urgency: 'high', format: 'free_text' } },
  ]);

  it('shows the instant its question quotes from the error in local time, in show and in a status line', () => {
    const view = viewOf({ id: 't3', agent: 'worker', events: escalated });
    const shown = question.replace('2026-12-06T12:28:06.032Z', '2026-12-06 07:28:06');
    expect(threadDetails(view).split('\n')).toContain(`         ${shown}`);
    expect(statusLine(view)).toContain(shown);
    expect(view.pendingRequest?.question).toBe(question);
  });

  it('leaves a question the model asked as the model wrote it: its times are what the answer is about', () => {
    const asked = 'Book the call for 2026-12-08T14:00:00Z?';
    const view = viewOf({
      id: 't4',
      agent: 'worker',
      events: stamped([
        { type: 'input', data: { input: 'go' } },
        { type: 'human_request', data: { requestId: 'req_2', kind: 'input', question: asked, urgency: 'medium', format: 'yes_no' } },
      ]),
    });
    expect(threadDetails(view).split('\n')).toContain(`         ${asked}`);
  });
});
