import type { KvEntry } from '@nats-io/kv';
import { formatIssues, UnreadableThreadError } from '../errors.js';
import { deepFreeze } from '../store/checkEvents.js';
import { foldStatus } from '../store/statusSince.js';
import { eventSchema, type Thread, type ThreadEvent } from '../thread/events.js';
import { rememberState } from '../thread/state.js';
import { parseEvents } from '../thread/thread.js';
import type { Known } from './kvSummaries.js';

/** What the threads bucket holds under a thread's key: plain JSON any NATS client can read. */
export interface StoredThreadValue {
  readonly agent: string;
  readonly events: readonly ThreadEvent[];
  /**
   * The thread's creation time (its summary's `createdAt`): its first event's time, or the time
   * the store created it when it was created without events.
   */
  readonly createdAt: string;
}

/**
 * A value in the threads bucket that is not a thread (written by something else). Its message (for
 * the log) says all that is wrong; its answer (for clients: an HTTP 500 body, a NATS reply) says
 * `options.brief` instead when given: one short line, whatever the size of the value.
 */
export class CorruptThreadError extends UnreadableThreadError {
  constructor(threadId: string, bucket: string, reason: string, options: { cause?: unknown; brief?: string } = {}) {
    const { brief = reason, ...rest } = options;
    super(
      threadId,
      `thread ${threadId} in bucket ${bucket} is corrupt: ${reason}`,
      `thread ${threadId} is corrupt: ${brief}; it cannot be read or changed until its value is repaired (the server log names the bucket)`,
      rest,
    );
  }
}

/** The longest issue a corrupt thread's answer quotes. */
const MAX_ISSUE_CHARS = 160;

/**
 * What is wrong with events that are not a thread's, in one short line: the first issue zod
 * finds, and how many more (`reason`, what the check said in full, when zod finds none).
 */
function briefOf(events: unknown, reason: string): string {
  const parsed = eventSchema.array().safeParse(events);
  if (parsed.success) return reason;
  const issues = parsed.error.issues;
  const first = (formatIssues(issues)[0] ?? reason).replace(/\s+/g, ' ');
  const quoted = first.length > MAX_ISSUE_CHARS ? `${first.slice(0, MAX_ISSUE_CHARS - 1)}…` : first;
  return issues.length > 1 ? `${quoted} (and ${issues.length - 1} more issues)` : quoted;
}

/** The stored JSON (a {@link StoredThreadValue}), built around the events' JSON. */
export function encodeThread(agent: string, eventsJson: string, createdAt: string): string {
  return `{"agent":${JSON.stringify(agent)},"events":${eventsJson},"createdAt":${JSON.stringify(createdAt)}}`;
}

/** Room a KV write keeps for its headers (`Nats-Expected-Last-Subject-Sequence`), which count toward max_payload. */
const HEADER_ROOM = 512;

/** The most a thread may take in a threads bucket, and where that comes from (for the refusal). */
export interface ThreadSizeLimit {
  readonly bytes: number;
  /** The largest value the store writes (the server's max_payload, or less when configured). */
  readonly maxPayload: number;
  /** What sets `maxPayload`, as a refusal says it. */
  readonly source: string;
}

/**
 * How large a thread may grow with `added`: a value of `maxPayload` bytes less its headers and a
 * reserve (1/16 of it, between 2 and 16 KiB). The reserve is there for the events that end a thread
 * however large it grew: an append of control events only (a pause, a cancel) may use half of
 * it, one of `failed` events only (the short failure that says why a step could not be recorded)
 * all of it.
 */
export function threadSizeLimit(maxPayload: number, source: string, added: readonly ThreadEvent[]): ThreadSizeLimit {
  const whole = maxPayload - HEADER_ROOM;
  const reserve = Math.min(16 * 1024, Math.max(2 * 1024, Math.floor(maxPayload / 16)));
  let closing = added.length > 0 ? 2 : 0;
  for (const event of added) {
    if (event.type === 'control') closing = Math.min(closing, 1);
    else if (event.type !== 'failed') closing = 0;
  }
  const bytes = closing === 2 ? whole : closing === 1 ? whole - reserve / 2 : whole - reserve;
  return { bytes, maxPayload, source };
}

/** What the store knows of a thread from one entry of the threads bucket. */
export function knownOf(id: string, entry: Pick<KvEntry, 'bucket' | 'revision' | 'created' | 'json'>): Known {
  let value: Partial<StoredThreadValue>;
  try {
    value = entry.json<Partial<StoredThreadValue>>();
  } catch (error) {
    // The parser's message may quote the stored bytes: the log has it, clients do not.
    throw new CorruptThreadError(id, entry.bucket, `not JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error, brief: 'not JSON' });
  }
  const events = parseEvents(value?.events);
  if (!events.success) throw new CorruptThreadError(id, entry.bucket, events.error, { brief: briefOf(value?.events, events.error) });
  if (typeof value.agent !== 'string' || value.agent.length === 0) throw new CorruptThreadError(id, entry.bucket, 'no agent');
  const thread = deepFreeze<Thread>({ id, agent: value.agent, events: events.data });
  const createdAt = typeof value.createdAt === 'string' ? value.createdAt : entry.created.toISOString();
  const { state, since } = foldStatus(thread.events);
  rememberState(thread.events, state);
  return { revision: entry.revision, thread, eventsJson: JSON.stringify(thread.events), state, createdAt, since };
}
