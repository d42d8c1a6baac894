import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import { z } from 'zod';
import { strictUtf8 } from '../bus/busMessage.js';
import { InvalidInputError } from '../errors.js';
import { THREAD_ID_PATTERN, THREAD_ID_RULE } from '../runtime/runtime.js';
import { USERINFO_UNDECODED, userinfoDecodes } from '../store/deliveryTarget.js';
import { launchInputSchema } from '../thread/events.js';
import { humanResponseInputSchema } from '../thread/humanResponse.js';
import { keyedThreadId, MAX_OUTSIDE_KEY_CHARS } from '../thread/keyedThreadId.js';
import { isThreadStatus, THREAD_STATUSES, type ThreadStatus } from '../thread/state.js';
import { errorBody, formatIssues } from './errorMapper.js';

/**
 * The message of a field that is missing or of another type. An issue is shown after its field
 * (`agent: is required`, see {@link formatIssues}), so the messages here never name the field.
 */
const required = (type: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${type}`);

/** A string field's schema: the message when missing or not a string, and at most `max` characters. */
const boundedString = (max: number) => z.string({ error: required('a string') }).max(max, `must be at most ${max} characters`);

/** `POST /threads`. */
export const launchBodySchema = z
  .object({
    agent: z.string({ error: required('a string naming an agent') }).min(1, 'must not be empty'),
    input: launchInputSchema,
    threadId: z.string({ error: required('a string') }).regex(THREAD_ID_PATTERN, THREAD_ID_RULE).optional(),
    /**
     * Called (signed) when the thread needs a human and when it ends; userinfo in it is sent as
     * `Authorization: Basic`, so it must percent-decode.
     */
    callbackUrl: z
      .string({ error: required('an http or https URL') })
      .max(2048, 'must be at most 2048 characters')
      .refine(isHttpUrl, 'must be an http or https URL')
      .refine((url) => !isHttpUrl(url) || new URL(url).port !== '0', 'must name a port from 1 to 65535 (no receiver listens on port 0)')
      .refine(userinfoDecodes, USERINFO_UNDECODED)
      .optional(),
  })
  .strict();

/** Whether `value` is an absolute http or https URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `POST /threads/:id/respond`: the runtime's own schema of a human response. */
export const respondBodySchema = humanResponseInputSchema;

/** `POST /threads/:id/pause|resume|cancel` (the body is optional). */
export const controlBodySchema = z
  .object({
    reason: boundedString(2000).optional(),
    by: boundedString(200).optional(),
  })
  .strict();

/** `Content-Type` of a JSON body: `application/json` or `application/<x>+json`, with parameters. */
export const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * An empty body whose request announced one (`Content-Length` above 0): the bytes were read before
 * the app got the request, most likely by a body parser of the host app mounted before it
 * (`express.json()`), and the client, who sent a body, could not act on `a JSON body is required`
 * (a JSON route) or `bad or stale signature` (a signed hook, whose signature covers the lost bytes).
 */
function refuseBodyReadElsewhere(c: Context): void {
  const announced = Number(c.req.header('content-length') ?? '0');
  if (!(announced > 0)) return;
  throw new InvalidInputError(
    `the request's body is empty here: Content-Length said ${announced} bytes and none arrived (was it read before switchyard, by a body parser of the app it is mounted in? Mount switchyard before it)`,
  );
}

/**
 * A request's body as sent (its bytes, which a signature covers): 415 when it comes with a
 * Content-Encoding other than `identity` (a compressed body is not read); 400 when it is empty
 * though Content-Length announced bytes (see {@link refuseBodyReadElsewhere}).
 */
export async function readBodyBytes(c: Context): Promise<Uint8Array> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length === 0) refuseBodyReadElsewhere(c);
  const encoding = c.req.header('content-encoding')?.trim() ?? '';
  if (bytes.length > 0 && encoding !== '' && encoding.toLowerCase() !== 'identity') {
    throw new HTTPException(415, { message: `the body must be sent without Content-Encoding (got ${encoding.slice(0, 100)})` });
  }
  return bytes;
}

/** A body's bytes as text: 400 naming `what` when they are not UTF-8 (see `strictUtf8`). */
export function bodyText(bytes: Uint8Array, what = 'body'): string {
  const text = strictUtf8(bytes);
  if (text === undefined) throw new InvalidInputError(`${what} is not valid UTF-8`);
  return text;
}

/**
 * Reads a JSON body and validates it. An empty body is `undefined` (the schema decides whether
 * that is allowed); a body must be sent as `application/json` (415 otherwise: a browser cannot send
 * that cross-site without a preflight this server never grants), as UTF-8 (400 otherwise) without a
 * Content-Encoding (415 otherwise).
 */
export async function readJsonBody<T extends z.ZodType>(c: Context, schema: T, emptyAs?: unknown): Promise<z.output<T>> {
  const bytes = await readBodyBytes(c);
  const text = bodyText(bytes);
  let value: unknown = emptyAs;
  if (text.trim() !== '') {
    const type = c.req.header('content-type') ?? '';
    if (!JSON_CONTENT_TYPE.test(type)) {
      throw new HTTPException(415, { message: `the body must be sent with Content-Type: application/json (got ${type === '' ? 'none' : type.slice(0, 100)})` });
    }
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new InvalidInputError('body is not valid JSON', [error instanceof Error ? error.message : String(error)]);
    }
  }
  if (value === undefined) throw new InvalidInputError('a JSON body is required');
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidInputError('invalid request body', formatIssues(parsed.error.issues));
  return parsed.data;
}

/**
 * The thread an `Idempotency-Key` header names: the key itself when it is a thread id, else
 * `key-` and its hash (see {@link keyedThreadId}), as NATS msg ids and hook delivery ids are.
 * 400 for an empty key or one over 200 characters.
 */
export function idempotencyThreadId(key: string): string {
  if (key === '' || key.length > MAX_OUTSIDE_KEY_CHARS) {
    throw new InvalidInputError('invalid Idempotency-Key header', [`Idempotency-Key: must be 1 to ${MAX_OUTSIDE_KEY_CHARS} characters (a retry sends the same key)`]);
  }
  return THREAD_ID_PATTERN.test(key) ? key : keyedThreadId('key-', key);
}

/** What a `?token=` is told: the server reads the bearer token from the header only. */
const TOKEN_IN_QUERY = 'the server takes no token in the query: send the header Authorization: Bearer <token> (a browser EventSource cannot send it: read the stream with fetch)';

/**
 * The refusal of a query naming a parameter the route does not take (`accepted`; none when
 * empty), naming it and the ones the route takes: a typo (`?stauts=done`) would otherwise be
 * answered as if it were absent, as JSON bodies refuse an unknown key. `undefined` when it names none.
 */
export function unknownQueryOf(c: Context, accepted: readonly string[]): InvalidInputError | undefined {
  const unknown = Object.keys(c.req.queries()).filter((name) => !accepted.includes(name));
  if (unknown.length === 0) return undefined;
  const shown = unknown.slice(0, 10).map((name) => name.slice(0, 40));
  const takes = `${c.req.method} ${routePath(c)} takes ${accepted.length === 0 ? 'no query parameter' : accepted.join(', ')}`;
  return new InvalidInputError(
    `unknown query parameter${unknown.length > 1 ? 's' : ''}: ${shown.join(', ')}`,
    shown.map((name) => `${name}: ${name === 'token' ? TOKEN_IN_QUERY : takes}`),
  );
}

/** 400 when the query names a parameter the route does not take (see {@link unknownQueryOf}). Checked first, before the route reads or looks anything up. */
export function refuseUnknownQuery(c: Context, accepted: readonly string[]): void {
  const refused = unknownQueryOf(c, accepted);
  if (refused !== undefined) throw refused;
}

/**
 * The middleware of a route that takes the query parameters `accepted` (none when there are
 * none): 400 for any other (see {@link unknownQueryOf}), before the route reads or looks anything
 * up. It answers itself, with the HTTP API's error body, so a route of an app that has no error
 * mapper (the inspector's routes mounted alone) answers the same.
 *
 * @example
 * ```ts
 * app.get('/threads/:id', takesQuery(), handler);
 * app.get('/threads/:id/wait', takesQuery('timeoutMs'), handler);
 * ```
 */
export function takesQuery(...accepted: string[]): MiddlewareHandler {
  return async (c, next) => {
    const refused = unknownQueryOf(c, accepted);
    if (refused === undefined) return next();
    return c.json(errorBody(400, refused.message, { issues: refused.issues }), 400);
  };
}

/** A thread id from the path, checked before it reaches a store. */
export function threadIdParam(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!THREAD_ID_PATTERN.test(id)) throw new InvalidInputError('invalid thread id in the path', [`id: ${THREAD_ID_RULE}`]);
  return id;
}

/**
 * The `status` query parameters (`?status=a&status=b` or `?status=a,b`) split into statuses, and
 * the values that are not statuses.
 */
export function parseStatuses(raw: readonly string[] | undefined): { statuses: ThreadStatus[]; unknown: string[] } {
  const values = (raw ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  return { statuses: values.filter(isThreadStatus), unknown: values.filter((v) => !isThreadStatus(v)) };
}

/** Statuses from `?status=a&status=b` or `?status=a,b`. */
export function statusQuery(c: Context): ThreadStatus[] | undefined {
  const { statuses, unknown } = parseStatuses(c.req.queries('status'));
  if (unknown.length > 0) {
    throw new InvalidInputError(`unknown thread status: ${unknown.join(', ')}`, [`status: must be one of ${THREAD_STATUSES.join(', ')}`]);
  }
  return statuses.length === 0 ? undefined : statuses;
}

/** A non-negative integer within `max` from a query parameter or header: `fallback` when absent or empty, `undefined` when not such an integer. */
export function parseInteger(raw: string | undefined, fallback: number, max: number): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  // 16 digits: every safe integer (2^53 - 1 has 16), so the range the error names is the one read.
  if (!/^\d{1,16}$/.test(raw.trim()) || Number(raw) > max) return undefined;
  return Number(raw);
}

/** A non-negative integer query parameter or header, within `max` (see {@link parseInteger}); 400 otherwise. */
export function integerParam(name: string, raw: string | undefined, fallback: number, max: number): number {
  const value = parseInteger(raw, fallback, max);
  if (value === undefined) {
    throw new InvalidInputError(`invalid ${name}`, [`${name}: must be an integer from 0 to ${max} (got ${JSON.stringify(raw?.slice(0, 40))})`]);
  }
  return value;
}
