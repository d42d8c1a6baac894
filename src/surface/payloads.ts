import { z } from 'zod';
import type { BusHeaders, JsonParseResult } from '../bus/bus.js';
import { isValidSubject } from '../bus/subject.js';
import { InvalidInputError, messageOf, refusalCodeOf, refusalKindOf, type RefusalCode, type RefusalKind } from '../errors.js';
import { THREAD_ID_PATTERN, THREAD_ID_RULE, type ThreadView } from '../runtime/runtime.js';
import { launchInputSchema, type Json, type Thread } from '../thread/events.js';
import { cancelOf, type AskedRequest, type ThreadStatus } from '../thread/state.js';
import { REPLY_TO_HEADER } from './subjects.js';

/**
 * The longest reply subject a trigger may name. A server drops the connection of a client that
 * publishes to a subject past its control line (4 KiB by default), so a reply subject from outside
 * must stay well under it, wherever it comes from.
 */
const MAX_REPLY_SUBJECT = 512;

/**
 * What a reply subject from outside must be (see {@link isReplySubject}), as a refusal of one says
 * it: every rule, so whichever it broke is named.
 */
export const REPLY_SUBJECT_RULE = `must be a NATS subject without wildcards, at most ${MAX_REPLY_SUBJECT} characters, not starting with $ (NATS's own subjects: $JS, $KV, $SYS...)`;

const subjectSchema = z.string().refine(isReplySubject, REPLY_SUBJECT_RULE);
const threadIdSchema = z.string().regex(THREAD_ID_PATTERN, THREAD_ID_RULE);

/**
 * Whether `subject` is one of NATS's own (`$JS.API.…`, `$KV.…`, `$SYS.…`): a message published there
 * is an API request (purge or delete a stream, write a KV key) made with the publisher's rights, so
 * a process never publishes a reply there for a client from outside.
 */
export function isNatsOwnSubject(subject: string): boolean {
  return subject.startsWith('$');
}

/**
 * Whether `subject` may receive a reply to a client from outside (a trigger's results, a thread
 * request's answer): it {@link REPLY_SUBJECT_RULE | must be} a NATS subject without wildcards, at
 * most 512 characters, not starting with `$` (not one of NATS's own: `$JS`, `$KV`, `$SYS`...).
 */
export function isReplySubject(subject: string): boolean {
  return subject.length <= MAX_REPLY_SUBJECT && isValidSubject(subject) && !isNatsOwnSubject(subject);
}

/**
 * The payload of `<prefix>.trigger.<agent>`.
 *
 * ```json
 * { "input": "what is 2 + 3", "threadId": "order-1234", "replyTo": "my.results" }
 * ```
 */
export const triggerPayloadSchema = z
  .object({
    /** The thread's input: any JSON value (the agent may check it with its own input schema). */
    input: launchInputSchema,
    /**
     * The thread id; launching an existing id with the same input is idempotent (with another
     * input it is refused: `thread_exists_other_input`). Default: from the `Nats-Msg-Id` header.
     */
    threadId: threadIdSchema.optional(),
    /** Where results go (also as the `Switchyard-Reply-To` header). */
    replyTo: subjectSchema.optional(),
  })
  .strict();
export type TriggerPayload = z.infer<typeof triggerPayloadSchema>;

/**
 * The bytes a trigger's copy handed back by a stopping worker may add to its original's payload:
 * the thread id the original derived, `,"threadId":"<id>"` (an id is at most 128 one-byte
 * characters, see THREAD_ID_PATTERN).
 */
export const HANDED_BACK_ROOM = ',"threadId":""'.length + 128;

/**
 * The payload of `<prefix>.jobs.<agent>`: which thread to continue.
 *
 * ```json
 * { "threadId": "trg-order-1" }
 * { "threadId": "trg-order-1", "after": 4 }
 * ```
 */
export const jobPayloadSchema = z
  .object({
    threadId: threadIdSchema,
    /**
     * Enqueued before a write from outside a job (a response, a resume, a launch over HTTP), so
     * the write is continued even if its process dies right after it: the thread runs once its
     * version is past `after`; a write that never lands is given up after a few deliveries.
     */
    after: z.number().int().nonnegative().optional(),
    /** A sleeping (or long backing-off) thread's wake-up (epoch ms): the thread runs once this time has come. */
    wakeAt: z.number().int().nonnegative().optional(),
    /**
     * Enqueued by a process that carries on a thread another process's job had settled (a late
     * call's outcome answered the question asked there), holding no job for it: the job is kept
     * while any process runs the thread, then runs it (so it carries the thread if that process
     * dies), instead of being left to that run.
     */
    revived: z.literal(true).optional(),
  })
  .strict();
export type JobPayload = z.infer<typeof jobPayloadSchema>;

/**
 * The payload of `<prefix>.deleted.<agent>.<id>`: which incarnation of the thread a process deleted
 * (`<threadId>@<incarnation>`, see `incarnationKeyOf`). Fields added later are ignored.
 *
 * ```json
 * { "threadId": "order-1234", "agent": "triage", "incarnation": "order-1234@mxbc0rgr" }
 * ```
 */
export const deletionNoticeSchema = z
  .object({
    threadId: threadIdSchema,
    agent: z.string().min(1).max(256),
    incarnation: z.string().max(256),
  })
  .refine((notice) => notice.incarnation === notice.threadId || notice.incarnation.startsWith(`${notice.threadId}@`), {
    message: 'incarnation must be the thread id, then @ and its incarnation',
    path: ['incarnation'],
  });
export type DeletionNotice = z.infer<typeof deletionNoticeSchema>;

/** The payload of `<prefix>.thread.<id>.control`. */
export const controlPayloadSchema = z
  .object({
    action: z.enum(['pause', 'resume', 'cancel']),
    reason: z.string().max(2_000).optional(),
    by: z.string().max(200).optional(),
  })
  .strict();
export type ControlPayload = z.infer<typeof controlPayloadSchema>;

/** What a reply subject receives each time a triggered thread comes to rest. */
export interface TriggerResult {
  readonly threadId: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** The thread's version (seq of its last event) at this rest. */
  readonly version: number;
  /** The final output (status `done`). */
  readonly output?: Json;
  /** Why it failed (status `failed`). */
  readonly failure?: string;
  /** Why it was cancelled (status `cancelled`), as the cancel said (a pipeline's child: `pipeline <id> cancelled`). */
  readonly reason?: string;
  /** Who cancelled it (status `cancelled`), as the cancel said. */
  readonly by?: string;
  /** The open request (status `awaiting_human` or `escalated`), or that of {@link childThreadId}. */
  readonly pendingRequest?: AskedRequest;
  /**
   * On a NATS `replyTo`: the `Nats-Msg-Id` of the trigger it answers, when it had one: the
   * trigger that launched the thread (the `replyTo` its launch recorded hears every rest), or a
   * later trigger of the thread (its own `replyTo` hears where the thread stands).
   */
  readonly msgId?: string;
  /**
   * A pipeline's result while one of its children (at any depth) waits for a human: the thread
   * that waits, where `pendingRequest` is answered (with its `requestId`); `threadId`, `agent`,
   * `status` and `version` stay the pipeline's. Absent on a thread's own rests.
   */
  readonly childThreadId?: string;
  /** The agent of {@link childThreadId}. */
  readonly childAgent?: string;
}

/**
 * Why a request over NATS was refused: what was wrong (`error`, whose text may change), its `code`
 * to branch on (the same as an HTTP error body's for the same refusal: one mapping,
 * `refusalCodeOf`), its `kind` (the code coarsely: `conflict` for every kind of conflict, as the
 * `code` of a thread reply was before it named the kind), and the details when there are several.
 */
export interface Refusal {
  readonly error: string;
  readonly code: ThreadRequestErrorCode;
  readonly kind: ThreadRequestErrorKind;
  readonly issues?: readonly string[];
}

/**
 * What a reply subject receives for a trigger that was refused (bad input, a thread id of another
 * agent, an unknown agent): the {@link Refusal}, and the trigger it answers, in the fields a
 * {@link TriggerResult} names a trigger by, those that can be told.
 *
 * ```json
 * { "error": "invalid trigger for support", "code": "bad_request", "kind": "bad_request",
 *   "issues": ["input: is required (any JSON value)"], "threadId": "trg-order-8", "agent": "support", "msgId": "order-8" }
 * ```
 */
export interface ErrorReply extends Refusal {
  /**
   * The thread id the trigger names, or would have had: `trg-<msg id>` (a msg id that is not a
   * plain token: `trg-` and its hash), else `trg-<queue>-<seq>`. Absent when it names one that is
   * not a thread id, and for a trigger of an unknown agent with neither.
   */
  readonly threadId?: string;
  /** The agent (or pipeline) the trigger's subject names (an unknown one too). */
  readonly agent?: string;
  /** The trigger's `Nats-Msg-Id`, when it had one. */
  readonly msgId?: string;
}

/** The {@link Refusal} of a request that threw `error` (bad input, a conflict, a thread not found): its message, its code, its issues. */
export function refusalOf(error: unknown): Refusal {
  return refusal(refusalCodeOf(error), messageOf(error), error instanceof InvalidInputError ? error.issues : []);
}

/** A {@link Refusal} with `code` (its kind follows from it), saying `error`. */
export function refusal(code: RefusalCode, error: string, issues: readonly string[] = []): Refusal {
  return { error, code, kind: refusalKindOf(code), ...(issues.length > 0 ? { issues: [...issues] } : {}) };
}

/** A thread as the request/reply subjects show it. */
export interface ThreadBrief {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  readonly version: number;
  readonly pendingRequest: AskedRequest | null;
}

/**
 * Why a thread request (or a trigger) was refused: the {@link RefusalCode} HTTP names the same
 * refusal with (`already_answered`, `not_open_request`, `thread_ended`, `not_found`...).
 * `unavailable`: the process answering stops (its runtime drains) or its store cannot serve now:
 * send the request again, another process takes it.
 */
export type ThreadRequestErrorCode = RefusalCode;

/** A {@link ThreadRequestErrorCode} coarsely: `conflict` for every kind of conflict. */
export type ThreadRequestErrorKind = RefusalKind;

/** The reply to `<prefix>.thread.<id>.respond | control | get`. */
export type ThreadReply = { readonly ok: true; readonly thread: ThreadBrief | ThreadView } | ThreadRefusal;

/** A {@link ThreadReply} that refuses the request. */
export type ThreadRefusal = { readonly ok: false } & Refusal;

/** The payload of `<prefix>.human.<agent>.<id>`: the human request with its thread. */
export type HumanRequestNotice = AskedRequest & { readonly threadId: string; readonly agent: string };

/** A trigger's `Switchyard-Reply-To` header, when it is a reply subject (see {@link isReplySubject}). */
export function headerReplyTo(headers: BusHeaders): string | undefined {
  const header = headers[REPLY_TO_HEADER];
  return header !== undefined && isReplySubject(header) ? header : undefined;
}

/**
 * Where to reply to a trigger, read leniently (so even a trigger that fails validation, or that no
 * agent takes, hears why): the payload's `replyTo` when it is a NATS subject, else the header's.
 */
export function replyToOf(json: JsonParseResult, headers: BusHeaders): string | undefined {
  const raw = json.success ? (json.data as { replyTo?: unknown } | null)?.replyTo : undefined;
  return typeof raw === 'string' && isReplySubject(raw) ? raw : headerReplyTo(headers);
}

/** The reply subject a thread's launch recorded, if a NATS trigger launched it with one. */
export function recordedReplyTo(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  if (first?.type !== 'input' || first.data.source?.kind !== 'nats') return undefined;
  const replyTo = first.data.source.replyTo;
  return replyTo !== undefined && isReplySubject(replyTo) ? replyTo : undefined;
}

/**
 * The msg id a trigger id names (a launch's `source.triggerId`): undefined when it is a job id of
 * `queue` (`<queue>:<seq>`: the trigger had no msg id).
 */
export function msgIdOfTrigger(triggerId: string, queue: string): string | undefined {
  return triggerId.startsWith(`${queue}:`) && /^\d+$/.test(triggerId.slice(queue.length + 1)) ? undefined : triggerId;
}

/** The msg id of the NATS trigger that launched a thread of `queue`'s agent, when it had one. */
export function launchMsgIdOf(thread: Pick<Thread, 'events'>, queue: string): string | undefined {
  const first = thread.events[0];
  if (first?.type !== 'input' || first.data.source?.kind !== 'nats') return undefined;
  const { triggerId } = first.data.source;
  return triggerId === undefined ? undefined : msgIdOfTrigger(triggerId, queue);
}

/** `result` naming the trigger it answers by its msg id, when it had one. */
export function answering<T extends TriggerResult>(result: T, msgId: string | undefined): T {
  return msgId === undefined ? result : { ...result, msgId };
}

/** The {@link TriggerResult} of a thread at rest. */
export function resultOf(view: ThreadView): TriggerResult {
  return {
    threadId: view.id,
    agent: view.agent,
    status: view.status,
    version: view.version,
    ...(view.output === undefined ? {} : { output: view.output }),
    ...(view.failure === undefined ? {} : { failure: view.failure }),
    ...(view.status === 'cancelled' ? cancelOf(view.events) : {}),
    ...(view.pendingRequest === null ? {} : { pendingRequest: view.pendingRequest }),
  };
}

/** The {@link ThreadBrief} of a thread. */
export function briefOf(view: ThreadView): ThreadBrief {
  return { id: view.id, agent: view.agent, status: view.status, version: view.version, pendingRequest: view.pendingRequest };
}

