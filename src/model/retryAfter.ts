/** Response headers as `fetch` gives them (only `get` is used). */
interface HeaderSource {
  get(name: string): string | null;
}

const NUMBER = /^\d+(?:\.\d+)?$/;

/**
 * How long a server asked a client to wait before asking again, in ms, read from an error
 * response's headers as OpenAI-compatible clients read them: `retry-after-ms` (milliseconds, sent
 * by OpenAI and Azure), else `Retry-After` in seconds or as an HTTP date. A date is measured from
 * the response's own `Date` header when it has one (so the server's clock and ours need not
 * agree), else from `now`; a date already past is 0. Undefined without either header, or when
 * the value is none of these (a negative number, text): the caller's own backoff applies then.
 */
export function retryAfterMs(headers: HeaderSource | undefined, now: number): number | undefined {
  if (headers === undefined) return undefined;
  const ms = numberOf(headers.get('retry-after-ms'));
  if (ms !== undefined) return whole(ms);
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  const seconds = numberOf(value);
  if (seconds !== undefined) return whole(seconds * 1000);
  // An HTTP date names its day or month; Date.parse alone also takes bare numbers such as "-5".
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  const sent = Date.parse(headers.get('date') ?? '');
  return Math.max(0, at - (Number.isNaN(sent) ? now : sent));
}

/** Milliseconds as a whole number, at most the largest safe integer (a server may send any number of digits). */
function whole(ms: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(ms));
}

/** A non-negative decimal number written as such (no sign, exponent or unit), if finite. */
function numberOf(text: string | null): number | undefined {
  if (text === null) return undefined;
  const trimmed = text.trim();
  if (!NUMBER.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
