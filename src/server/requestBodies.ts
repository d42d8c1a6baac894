import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { InvalidInputError } from '../errors.js';
import { THREAD_ID_PATTERN } from '../runtime/runtime.js';
import { humanResponseInputSchema } from '../thread/humanResponse.js';
import { isThreadStatus, THREAD_STATUSES, type ThreadStatus } from '../thread/state.js';
import { formatIssues } from './errorMapper.js';

/** Thread ids the runtime accepts: the runtime's own pattern. */
export const THREAD_ID = THREAD_ID_PATTERN;

const required = (what: string, type: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? `${what} is required` : `${what} must be ${type}`;

/** `POST /threads`. */
export const launchBodySchema = z
  .object({
    agent: z.string({ error: required('agent', 'a string naming an agent') }).min(1, 'agent must not be empty'),
    input: z.unknown().refine((value) => value !== undefined, 'input is required (any JSON value)'),
    threadId: z
      .string({ error: required('threadId', 'a string') })
      .regex(THREAD_ID, `threadId must be 1 to 128 letters, digits or _ : -`)
      .optional(),
  })
  .strict();

/** `POST /threads/:id/respond`: the runtime's own schema of a human response. */
export const respondBodySchema = humanResponseInputSchema;

/** `POST /threads/:id/pause|resume|cancel` (the body is optional). */
export const controlBodySchema = z
  .object({
    reason: z.string({ error: required('reason', 'a string') }).max(2000).optional(),
    by: z.string({ error: required('by', 'a string') }).max(200).optional(),
  })
  .strict();

/**
 * Reads a JSON body and validates it. An empty body is `undefined` (the schema decides whether
 * that is allowed); a body must be sent as `application/json` (415 otherwise: a browser cannot send
 * that cross-site without a preflight this server never grants).
 */
export async function readJsonBody<T extends z.ZodType>(c: Context, schema: T, emptyAs?: unknown): Promise<z.output<T>> {
  const text = await c.req.text();
  let value: unknown = emptyAs;
  if (text.trim() !== '') {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
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

/** A thread id from the path, checked before it reaches a store. */
export function threadIdParam(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!THREAD_ID.test(id)) throw new InvalidInputError('invalid thread id in the path', [`id: must be 1 to 128 letters, digits or _ : -`]);
  return id;
}

/** Statuses from `?status=a&status=b` or `?status=a,b`. */
export function statusQuery(c: Context): ThreadStatus[] | undefined {
  const raw = c.req.queries('status');
  if (raw === undefined) return undefined;
  const values = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const unknown = values.filter((v) => !isThreadStatus(v));
  if (unknown.length > 0) {
    throw new InvalidInputError(`unknown thread status: ${unknown.join(', ')}`, [`status: must be one of ${THREAD_STATUSES.join(', ')}`]);
  }
  return values.length === 0 ? undefined : (values as ThreadStatus[]);
}

/** A non-negative integer query parameter or header, within `max`. */
export function integerParam(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,15}$/.test(raw.trim()) || Number(raw) > max) {
    throw new InvalidInputError(`invalid ${name}`, [`${name}: must be an integer from 0 to ${max} (got ${JSON.stringify(raw.slice(0, 40))})`]);
  }
  return Number(raw);
}
