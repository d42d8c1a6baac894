import { clipText } from '../errors.js';
import type { ModelFailure } from './model.js';

/** The most characters of a failed generation a message quotes. */
const MAX_GENERATION_CHARS = 200;

/**
 * A provider's HTTP error that its status misclassifies, as the failure it really is; `undefined`
 * for any other error, which the status rules handle (a 4xx but 408, 409 and 429 escalates at once).
 *
 * - Groq's 400 `tool_use_failed`: the server checked the model's generation and found no valid tool
 *   call. That is a malformed answer, not a request the server will never take: a `malformed`
 *   failure (recorded as `invalid_json`, retried after a backoff, counted toward `maxConsecutiveErrors`), showing the
 *   `failed_generation` (the only clue, bounded) to the model and the operator.
 * - OpenAI's 429 `insufficient_quota` (its code or type): the account's quota or billing limit, not a
 *   rate limit. Waiting it out as one would escalate only after `maxConsecutiveRateLimits` retries:
 *   a failure not to retry (`retryable: false`), which escalates at once.
 *
 * @param status the HTTP status
 * @param error the `error` object of the response body (the SDK's `APIError.error`)
 * @param endpoint the URL requested, for the message
 * @param clean removes secrets from a message and bounds it
 */
export function providerFailure(status: number, error: unknown, endpoint: string, clean: (message: string) => string): ModelFailure | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, type, message, failed_generation: generation } = error as { code?: unknown; type?: unknown; message?: unknown; failed_generation?: unknown };
  if (status === 400 && code === 'tool_use_failed') {
    const generated = typeof generation === 'string'
      ? `it generated: ${JSON.stringify(clipText(generation, MAX_GENERATION_CHARS))}`
      : 'it did not say what the model generated';
    return { kind: 'malformed', message: clean(`the server refused the model's answer as no valid tool call (HTTP 400 tool_use_failed); ${generated}`) };
  }
  if (status === 429 && (code === 'insufficient_quota' || type === 'insufficient_quota')) {
    const said = typeof message === 'string' && message !== '' ? `: ${message}` : '';
    return {
      kind: 'http',
      status,
      retryable: false,
      message: clean(`POST ${endpoint}: 429 insufficient_quota: the account's quota or billing limit is reached, which retrying will not lift${said}`),
    };
  }
  return undefined;
}
