/**
 * Error lines: `show` prints an error's message whole (a rate limit's own explanation is at its
 * end, after switchyard's prefix and the endpoint); a follow's line (launch, watch) is still cut,
 * but keeps the message's end, where the provider's text is.
 */
import { describe, expect, it } from 'vitest';
import { eventLine, threadDetails } from '../../src/cli/format.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { ThreadEvent } from '../../src/thread/events.js';

const provider = 'You exceeded your current quota, please check your plan and billing details.';
const message = `rate limited: retrying at 2026-12-06T12:28:06.032Z (in 20 s, as the server asked); HTTP 429: POST https://myco-eastus.openai.azure.com/openai/deployments/gpt-4o-mini-prod/chat/completions?api-version=2024-08-01-preview: 429 ${provider}`;
const events = [
  { type: 'input', data: { input: 'go' } },
  { type: 'error', data: { kind: 'model_http', message, attempt: 1, rateLimited: true, retryAt: '2026-12-06T12:28:06.032Z' } },
  { type: 'escalation', data: { reason: 'max_consecutive_rate_limits', message: `10 rate limits in a row; the last: ${message}` } },
].map((e, i) => ({ ...e, seq: i + 1, at: '2026-12-06T12:27:46.000Z' })) as ThreadEvent[];

describe('an error line', () => {
  it('is printed whole by show, the escalation that quotes it too', () => {
    const details = threadDetails(viewOf({ id: 't1', agent: 'worker', events }));
    // The instant in the message is shown in local time, as the timeline's (messageTimes.test.ts).
    const shown = message.replace('2026-12-06T12:28:06.032Z', new Date('2026-12-06T12:28:06.032Z').toTimeString().slice(0, 8));
    expect(details).toContain(`✗ model_http: ${shown}`);
    expect(details).toContain(`! escalated (max_consecutive_rate_limits): 10 rate limits in a row; the last: ${shown}`);
  });

  it('keeps the end of the message (the provider’s text) when a follow cuts it short', () => {
    const line = eventLine(events[1]!, 't1')!;
    expect(line.length).toBeLessThanOrEqual(200);
    expect(line).toContain(provider);
    expect(line.startsWith('✗ model_http: rate limited: retrying at')).toBe(true);
  });
});
