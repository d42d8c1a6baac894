import { clipText } from '../errors.js';
import { humanRequestKindSchema, type Json, type ThreadEvent } from '../thread/events.js';
import { pendingRequestEvent, type ThreadState } from '../thread/state.js';
import type { PendingRequestSummary } from './threadStore.js';

/** The most characters of a pending request's question, and of its arguments' JSON, a summary keeps. */
export const MAX_PENDING_TEXT = 500;

/**
 * The summary of the human request a thread waits for (`state`, folded from `events`), or
 * `undefined` when it waits for none: its question and arguments cut to {@link MAX_PENDING_TEXT}.
 */
export function pendingRequestSummary(events: readonly ThreadEvent[], state: ThreadState): PendingRequestSummary | undefined {
  const request = state.pendingRequest;
  if (request === null) return undefined;
  const { requestId, kind, question, tool, args } = request;
  // The request's own event is the last but a few (a pause, the outcome of a call): found from the end.
  const at = pendingRequestEvent(events, state)?.at ?? state.updatedAt ?? '';
  return Object.freeze({
    requestId,
    kind,
    question: clipText(question, MAX_PENDING_TEXT),
    ...(tool === undefined ? {} : { tool }),
    ...(args === undefined ? {} : { args: clippedArgs(args) }),
    at,
  });
}

function clippedArgs(args: Record<string, Json>): Record<string, Json> | string {
  const json = JSON.stringify(args);
  return json.length > MAX_PENDING_TEXT ? clipText(json, MAX_PENDING_TEXT) : args;
}

/**
 * A pending request read back from storage (a commit record, a snapshot, a KV summary), or
 * `undefined` when `value` is none a writer writes (it is then left out: the row shows none).
 */
export function parsePendingRequestSummary(value: unknown): PendingRequestSummary | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { requestId, kind, question, tool, args, at } = value as Record<string, unknown>;
  if (typeof requestId !== 'string' || !humanRequestKindSchema.safeParse(kind).success || typeof question !== 'string' || typeof at !== 'string') return undefined;
  if (tool !== undefined && typeof tool !== 'string') return undefined;
  if (args !== undefined && typeof args !== 'string' && (typeof args !== 'object' || args === null || Array.isArray(args))) return undefined;
  return Object.freeze({
    requestId,
    kind: kind as PendingRequestSummary['kind'],
    question,
    ...(tool === undefined ? {} : { tool }),
    ...(args === undefined ? {} : { args: args as Record<string, Json> | string }),
    at,
  });
}
