import type { Job } from '../bus/bus.js';
import { formatIssues, InvalidStateError, messageOf } from '../errors.js';
import { THREAD_ID_PATTERN } from '../runtime/runtime.js';
import { hashOfKey, keyedThreadId } from '../thread/keyedThreadId.js';
import { HANDED_BACK_ROOM, headerReplyTo, msgIdOfTrigger, REPLY_SUBJECT_RULE, replyToOf, triggerPayloadSchema, type Refusal, type TriggerPayload } from './payloads.js';
import { publishReport } from './reports.js';
import { REPLY_TO_HEADER, TRIGGER_ID_HEADER } from './subjects.js';
import { errorReplyOf, refusalMsgId, refusedThreadId, type RefusedTrigger } from './triggerRefusal.js';
import { comesBack, type WorkerScope } from './workerScope.js';

/** A trigger job read: what to launch and where to reply, or why it is refused (and where to say so). */
export type TriggerRead =
  | { readonly ok: true; readonly payload: TriggerPayload; readonly replyTo: string | undefined }
  | { readonly ok: false; readonly replyTo: string | undefined; readonly code: 'bad_request' | 'payload_too_large'; readonly error: string; readonly issues?: readonly string[] };

/**
 * Reads a trigger job of `agent`: its size, its JSON, its payload and its reply subject (the
 * payload's `replyTo` or the reply header; both naming two subjects is refused). Never throws: bad input is a refusal that names what
 * was wrong, with a reply subject when enough of the job is usable to have one.
 */
export function readTrigger(job: Pick<Job, 'data' | 'headers' | 'json'>, agent: string, maxPayloadBytes: number): TriggerRead {
  const headerReply = headerReplyTo(job.headers);
  if (job.data.length > payloadLimitOf(job, maxPayloadBytes)) {
    // Still read for its replyTo: the NATS server's max_payload bounds it, and a parse never throws.
    return { ok: false, replyTo: replyToOf(job.json(), job.headers), code: 'payload_too_large', error: `trigger payload is ${job.data.length} bytes; the limit is ${maxPayloadBytes}` };
  }
  const json = job.json();
  if (!json.success) return { ok: false, replyTo: headerReply, code: 'bad_request', error: `trigger payload is not JSON: ${json.error}` };
  const parsed = triggerPayloadSchema.safeParse(json.data);
  if (!parsed.success) {
    // Reply where the sender asked, if that much of the payload is usable.
    return { ok: false, replyTo: replyToOf(json, job.headers), code: 'bad_request', error: `invalid trigger for ${agent}`, issues: formatIssues(parsed.error.issues) };
  }
  if (job.headers[REPLY_TO_HEADER] !== undefined && headerReply === undefined) {
    return { ok: false, replyTo: parsed.data.replyTo, code: 'bad_request', error: `header ${REPLY_TO_HEADER} ${REPLY_SUBJECT_RULE}` };
  }
  const { replyTo } = parsed.data;
  if (replyTo !== undefined && headerReply !== undefined && replyTo !== headerReply) {
    // Which one the sender meant cannot be told: neither is taken silently.
    return { ok: false, replyTo, code: 'bad_request', error: `the trigger names two reply subjects: replyTo ${replyTo} and header ${REPLY_TO_HEADER} ${headerReply}; give one, or the same in both` };
  }
  return { ok: true, payload: parsed.data, replyTo: replyTo ?? headerReply };
}

/**
 * The largest payload a trigger may have: `maxPayloadBytes`, and for a copy handed back (it names
 * its original in {@link TRIGGER_ID_HEADER}) the room its thread id takes, so that a trigger this
 * process accepted is not refused as too large once a stopping worker handed it back.
 */
function payloadLimitOf(job: Pick<Job, 'headers'>, maxPayloadBytes: number): number {
  return job.headers[TRIGGER_ID_HEADER] === undefined ? maxPayloadBytes : maxPayloadBytes + HANDED_BACK_ROOM;
}

/**
 * Refuses bad input (or a thread id of another agent) for good: an error reply (`{ error, code,
 * kind, issues?, threadId?, agent, msgId? }`: see {@link errorReplyOf}) when there is a reply
 * subject, then a dead letter. A reply that a stream captures is stored first (under
 * {@link refusalMsgId}); until it is, the job comes back (on its last delivery it is
 * dead-lettered all the same, for the input's fault). `threadId`: the thread the trigger was
 * refused for, when it got that far; else read from the trigger (see {@link refusedThreadId}).
 */
export async function refuse(scope: WorkerScope, job: Job, agent: string, replyTo: string | undefined, refusal: Refusal, threadId?: string): Promise<void> {
  const { ctx } = scope;
  const { error, issues = [] } = refusal;
  const trigger = refusedTriggerOf(scope, agent, job, threadId);
  const named = { ...(trigger.msgId === undefined ? {} : { msgId: trigger.msgId }), ...(trigger.threadId === undefined ? {} : { threadId: trigger.threadId }) };
  ctx.logger.warn({ agent, jobId: job.id, subject: job.subject, ...named, err: error, code: refusal.code, issues }, 'trigger refused');
  if (replyTo !== undefined) {
    try {
      await publishReport(ctx, replyTo, errorReplyOf(refusal, trigger), { msgId: refusalMsgId(trigger) });
    } catch (failure) {
      if (comesBack(scope, job)) throw failure;
      ctx.logger.error({ agent, jobId: job.id, replyTo, err: messageOf(failure) }, 'the error reply was not stored');
    }
  }
  await job.term(issues.length > 0 ? `${error}: ${issues.join('; ')}` : error);
}

/**
 * A refused trigger job of `agent` as its error reply names it. A copy a stopping worker handed
 * back is named as its original: the id in {@link TRIGGER_ID_HEADER} (the original's msg id, else
 * its job id).
 */
function refusedTriggerOf(scope: WorkerScope, agent: string, job: Job, threadId: string | undefined): RefusedTrigger {
  const original = job.headers[TRIGGER_ID_HEADER];
  const originalIsJob = original !== undefined && msgIdOfTrigger(original, scope.ctx.subjects.queueName(agent)) === undefined;
  const msgId = original === undefined ? job.msgId : originalIsJob ? undefined : original;
  return {
    subject: job.subject,
    agent,
    msgId,
    jobId: originalIsJob ? original : job.id,
    threadId: threadId ?? refusedThreadId(job.json(), () => defaultThreadId(scope, agent, job)),
  };
}

/**
 * The refusal of a trigger naming a thread launched with another input, in a trigger's words; also
 * for the launch's own refusal of it (`error`), which speaks of a launch. Any other error as it is.
 */
export function asTriggerRefusal(error: unknown): unknown {
  return error instanceof InvalidStateError && error.conflict === 'thread_exists_other_input' ? otherInputRefusal(error.threadId, error.status) : error;
}

function otherInputRefusal(threadId: string, status: string): InvalidStateError {
  return new InvalidStateError(
    `thread ${threadId} already exists and was launched with another input; a trigger does not change it: send another threadId (or Nats-Msg-Id) for a new thread`,
    threadId,
    status,
    'thread_exists_other_input',
  );
}

/** The thread id of a trigger: its own, else from its msg id, else from its place in the queue. */
export async function triggerThreadId(scope: WorkerScope, agent: string, job: Pick<Job, 'msgId' | 'seq'>, payload: TriggerPayload): Promise<string> {
  if (payload.threadId !== undefined) return payload.threadId;
  const id = defaultThreadId(scope, agent, job);
  if (job.msgId !== undefined) return id;
  // A queue recreated from scratch counts from 1 again: an existing thread with another input
  // under this id is not this trigger's.
  const existing = await scope.ctx.runtime.get(id);
  const first = existing?.events[0];
  if (existing === undefined || (first?.type === 'input' && JSON.stringify(first.data.input) === JSON.stringify(payload.input))) return id;
  return fitThreadId(`${id}-${Date.now().toString(36)}`);
}

/**
 * The thread id of a trigger that names none: from its msg id, else from its place in the queue
 * (stable across redeliveries).
 */
function defaultThreadId(scope: WorkerScope, agent: string, job: Pick<Job, 'msgId' | 'seq'>): string {
  if (job.msgId !== undefined) return msgIdThreadId(job.msgId);
  return fitThreadId(`trg-${scope.ctx.subjects.queueName(agent)}-${job.seq}`);
}

/** The thread id of a trigger that names none but has a msg id (`Nats-Msg-Id`): `trg-` and the msg id (hashed when it is no plain token). */
export function msgIdThreadId(msgId: string): string {
  return keyedThreadId('trg-', msgId);
}

/** `id`, or `trg-` and a hash of it when it is longer than a thread id may be (a long prefix). */
function fitThreadId(id: string): string {
  return THREAD_ID_PATTERN.test(id) ? id : `trg-${hashOfKey(id)}`;
}

