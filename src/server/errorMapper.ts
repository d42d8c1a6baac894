import { HTTPException } from 'hono/http-exception';
import { InvalidInputError, messageOf, refusalCodeOf, refusalKindOf, RuntimeClosedError, UnreadableThreadError, VersionConflictError, type RefusalCode, type RefusalKind } from '../errors.js';
import type { Logger } from '../logger.js';
import { UNAVAILABLE_MESSAGE, type UnavailableLog } from './unavailableLog.js';

/**
 * What kind of error a response is, for a client to branch on (the `error` text may change; these
 * do not): a refused request's {@link RefusalCode} (`bad_request`, `not_found`, `conflict` or a
 * conflict's own kind, see `StateConflict`, `payload_too_large`, `internal`, `unavailable`: the
 * same code a NATS reply carries for the same refusal), or one only HTTP has (`unauthorized`,
 * `forbidden`, `method_not_allowed`, `unsupported_media_type`).
 */
export type ErrorCode = RefusalCode | 'unauthorized' | 'forbidden' | 'method_not_allowed' | 'unsupported_media_type';

/** The body of every error response: what was wrong, its kind, and the details when there are several. */
export interface ErrorBody {
  readonly error: string;
  readonly code: ErrorCode;
  readonly issues?: readonly string[];
}

/** The statuses the HTTP surface answers errors with. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 500 | 503;

/** The code of an error answered with `status`, when nothing names its kind more closely. */
const STATUS_CODES: Readonly<Record<ErrorStatus, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  500: 'internal',
  503: 'unavailable',
};

/** An error body: `error`, its `code` (by default its status's), and `issues` when there are any. */
export function errorBody(status: ErrorStatus, error: string, options: { code?: ErrorCode | undefined; issues?: readonly string[] } = {}): ErrorBody {
  const { code = STATUS_CODES[status], issues = [] } = options;
  return issues.length > 0 ? { error, code, issues: [...issues] } : { error, code };
}

/** An error response: status and body (see {@link errorBody}). */
function mapped(status: ErrorStatus, error: string, options?: { code?: ErrorCode | undefined; issues?: readonly string[] }): MappedError {
  return { status, body: errorBody(status, error, options) };
}

/** An error as it goes back to the client. */
export interface MappedError {
  readonly status: ErrorStatus;
  readonly body: ErrorBody;
}

/** Where an error happened, for the log line of an unexpected one. */
export interface ErrorContext {
  readonly method?: string;
  readonly path?: string;
  /**
   * Logs a request the store could not serve (503): `createHttpApp` passes one that holds back the
   * lines of a burst (`createUnavailableLog`). @default a warn line for each
   */
  readonly logUnavailable?: UnavailableLog | undefined;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  405: 'method not allowed',
  409: 'conflict',
  413: 'request body too large',
  415: 'unsupported media type',
  503: 'service unavailable',
};

export { formatIssues } from '../errors.js';

/**
 * The `Retry-After` (seconds) of a 503 for a store that cannot serve now: about one reconnect of
 * nats.js (2 s apart by default); a request while NATS is known to be down is answered at once, so
 * a client asking again this often costs little. (A stopping server's 503 says its drain time.)
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/**
 * How long a readiness probe (`GET /ready` of `serve`, and of a worker's `--health-port`) waits for
 * the store before it answers 503.
 */
export const READY_TIMEOUT_MS = 3_000;

/** The status of each kind of refusal. */
const KIND_STATUSES: Readonly<Record<RefusalKind, ErrorStatus>> = {
  bad_request: 400,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  internal: 500,
  unavailable: 503,
};

/**
 * The one place errors become HTTP responses, each body `{ error, code, issues? }` (see
 * {@link ErrorCode}): a switchyard error's code is `refusalCodeOf`'s (a NATS reply names the same
 * refusal with the same code; a 409 names its kind when the error does, see `StateConflict`), and
 * its status follows from the code:
 *
 * - `ThreadTooLargeError` (a launch input or an answer the thread's store cannot hold): 413, its
 *   message naming the limit; the thread is unchanged
 * - `InvalidInputError` (bad bodies, queries, answers; malformed JSON): 400 with its issues
 * - `NotFoundError`: 404
 * - `InvalidStateError` (the thread cannot take the operation now) and `VersionConflictError`
 *   (another writer advanced the thread first): 409
 * - hono's `HTTPException` (401 from the bearer check, 413 from the body limit, 415, 503 from a
 *   server that is shutting down): its status
 * - `UnreadableThreadError` (the thread's stored form is damaged): 500 naming the thread and what
 *   is wrong (not where it is stored: the log line says that)
 * - `SystemError` (the store or NATS did not answer, a file it may not write): 503
 *   `the store is unavailable: <cause>`, logged; not `CorruptDataError` (trying again does not help)
 *
 * Every 503 the server answers carries `Retry-After`: {@link UNAVAILABLE_RETRY_AFTER_SECONDS}, or
 * a stopping server's drain time (`createHttpApp` adds it).
 * - anything else: 500 with a generic message; the details go to the log, never to the client
 */
export function mapError(error: unknown, logger: Logger, context: ErrorContext = {}): MappedError {
  if (error instanceof HTTPException && error.status in STATUS_TEXT) {
    const status = error.status as ErrorStatus;
    return mapped(status, error.message || STATUS_TEXT[status]!);
  }
  // Its code is what every surface names it (refusalCodeOf); its status follows from the code.
  const code = refusalCodeOf(error);
  return mapped(KIND_STATUSES[refusalKindOf(code)], answerOf(error, code, logger, context), { code, issues: error instanceof InvalidInputError ? error.issues : [] });
}

/** The `error` of a refusal's body; what the server's log must hear of (an internal or store failure) is logged. */
function answerOf(error: unknown, code: RefusalCode, logger: Logger, context: ErrorContext): string {
  const where = { method: context.method, path: context.path };
  if (error instanceof VersionConflictError) {
    return `thread ${error.threadId} changed while this request was handled (another response or step won); read it again and retry if still needed`;
  }
  if (error instanceof UnreadableThreadError) {
    logger.error({ err: error, threadId: error.threadId, ...where }, `HTTP request met a corrupt thread: ${error.message}`);
    return error.answer;
  }
  if (error instanceof RuntimeClosedError) return `the server is shutting down: ${error.message}`;
  if (code === 'unavailable') {
    if (context.logUnavailable) context.logUnavailable(error, where);
    else logger.warn({ err: error, ...where }, UNAVAILABLE_MESSAGE);
    return unavailable(error);
  }
  if (code === 'internal') {
    logger.error({ err: error, ...where }, 'HTTP request failed');
    return 'internal server error; the details are in the server log';
  }
  return messageOf(error);
}

/**
 * `the store is unavailable: <message>`, with the errno code of its cause (`EACCES`, `EROFS`) when
 * the message does not name it; not the cause's own text, which may hold more than a client needs.
 */
export function unavailable(error: unknown): string {
  const message = messageOf(error);
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return `the store is unavailable: ${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`;
}
