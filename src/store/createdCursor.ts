import { InvalidInputError } from '../errors.js';
import type { ThreadSummary } from './threadStore.js';

/**
 * The paging order of the memory and file stores: `createdAt` (as the strings compare), then id,
 * oldest first. Neither ever changes for a thread, so a walk in this order meets every thread at
 * one fixed place, whatever happens to it meanwhile.
 */
export interface CreatedKey {
  readonly createdAt: string;
  readonly id: string;
}

const PREFIX = 'c.';

/** Orders two keys: negative when `a` comes first. */
export function compareCreated(a: CreatedKey, b: CreatedKey): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The cursor that continues a walk after `key`. */
export function encodeCreatedCursor(key: CreatedKey): string {
  return PREFIX + Buffer.from(JSON.stringify([key.createdAt, key.id]), 'utf8').toString('base64url');
}

/**
 * The key a cursor continues after, or `undefined` for `''` (the first page). Throws
 * `InvalidInputError` for anything else this module did not write.
 */
export function decodeCreatedCursor(cursor: string): CreatedKey | undefined {
  if (cursor === '') return undefined;
  const invalid = (): InvalidInputError => new InvalidInputError('invalid list cursor', [`after: ${JSON.stringify(cursor.slice(0, 80))}`]);
  if (!cursor.startsWith(PREFIX)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') throw invalid();
  return { createdAt: parsed[0], id: parsed[1] };
}

/** A summary with the cursor that continues a walk after it. */
export function withCreatedCursor(summary: ThreadSummary): ThreadSummary {
  return Object.freeze({ ...summary, cursor: encodeCreatedCursor(summary) });
}
