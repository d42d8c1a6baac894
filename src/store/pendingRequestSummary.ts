import { z } from 'zod';
import { clipText } from '../errors.js';
import { humanRequestKindSchema, jsonSchema, responseFormatSchema, urgencySchema, type Json, type ThreadEvent } from '../thread/events.js';
import { askedRequestOf, type ThreadState } from '../thread/state.js';
import type { PendingRequestSummary } from './threadStore.js';

/** The most characters of a pending request's question, its context and its arguments' JSON a summary keeps. */
export const MAX_PENDING_TEXT = 500;
/** The most characters a summary keeps of a question's choices, all together: past it, none (read the thread). */
export const MAX_PENDING_CHOICES = 2000;

/**
 * The summary of the human request a thread waits for (`state`, folded from `events`), or
 * `undefined` when it waits for none: its question and arguments cut to {@link MAX_PENDING_TEXT}.
 */
export function pendingRequestSummary(events: readonly ThreadEvent[], state: ThreadState): PendingRequestSummary | undefined {
  const request = askedRequestOf(events, state);
  if (request === null) return undefined;
  const { requestId, kind, question, context, urgency, format, choices, tool, args, at } = request;
  return Object.freeze({
    requestId,
    kind,
    question: clipText(question, MAX_PENDING_TEXT),
    ...(context === undefined ? {} : { context: clipText(context, MAX_PENDING_TEXT) }),
    urgency,
    format,
    // Whole (an answer must be one of them as written), or none when they would make the summary large.
    ...(choices === undefined || charsOf(choices) > MAX_PENDING_CHOICES ? {} : { choices }),
    ...(tool === undefined ? {} : { tool }),
    ...(args === undefined ? {} : { args: clippedArgs(args) }),
    at,
  });
}

function charsOf(texts: readonly string[]): number {
  let chars = 0;
  for (const text of texts) chars += text.length;
  return chars;
}

function clippedArgs(args: Record<string, Json>): Record<string, Json> | string {
  const json = JSON.stringify(args);
  return json.length > MAX_PENDING_TEXT ? clipText(json, MAX_PENDING_TEXT) : args;
}

/**
 * A pending request as stored: what {@link pendingRequestSummary} writes, or a version before it
 * wrote (without `context`, `urgency`, `format` and `choices`). One of those four holding what this
 * version does not know (a later version's urgency) is left out, never the whole request.
 */
const storedPendingSchema = z.object({
  requestId: z.string(),
  kind: humanRequestKindSchema,
  question: z.string(),
  context: z.string().optional().catch(undefined),
  urgency: urgencySchema.optional().catch(undefined),
  format: responseFormatSchema.optional().catch(undefined),
  choices: z.array(z.string()).optional().catch(undefined),
  tool: z.string().optional(),
  args: z.union([z.string(), z.record(z.string(), jsonSchema)]).optional(),
  at: z.string(),
});

/**
 * A pending request read back from storage (a commit record, a snapshot, a KV summary), or
 * `undefined` when `value` is none a writer writes (it is then left out: the row shows none).
 */
export function parsePendingRequestSummary(value: unknown): PendingRequestSummary | undefined {
  const parsed = storedPendingSchema.safeParse(value);
  if (!parsed.success) return undefined;
  // A field left out by its `catch` is absent, not `undefined`.
  const data: Record<string, unknown> = parsed.data;
  for (const key of Object.keys(data)) if (data[key] === undefined) delete data[key];
  return Object.freeze(parsed.data);
}
