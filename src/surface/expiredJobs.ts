import type { DeadLetter } from '../bus/bus.js';
import { encodePayload, parseJson } from '../bus/busMessage.js';
import { messageOf } from '../errors.js';
import { RESTING_STATUSES } from '../thread/state.js';
import { readContinuation } from './continuationJob.js';
import { reportRest } from './runToRest.js';
import { MSG_ID_HEADER } from './subjects.js';
import { readTrigger, triggerThreadId } from './triggerJob.js';
import type { WorkerScope } from './workerScope.js';

/** The thread a dead-lettered job names, and where its trigger asked to be told. */
interface ExpiredTarget {
  readonly threadId: string;
  readonly replyTo?: string | undefined;
}

/**
 * Brings to rest the thread of a job of `agent` (an agent or a pipeline) whose last delivery's ack
 * wait ran out (the queue's `onExpired`): every worker it went to died or stalled with it, which
 * is what a poison job (an input, a model reply, a tool or a pipeline's step that crashes the
 * process) looks like. The thread, when it exists, is `agent`'s and is not at rest, is escalated
 * to a human (reason `non_retryable_error`) with a question that names the dead letter, then
 * reported as any rest is: its `replyTo`, the human request, a callback. Not failed: a fleet that
 * died for another cause (an OOM during a deploy) must not end good threads for good; answering
 * runs it again, denying fails it. A pipeline's thread rests escalated as an agent's does (its
 * machine routes a pending request to `escalated`). A worker alive after all is left to it: one
 * that holds the thread now (its heartbeats were lost), or writes it before the escalation
 * (written at the version read). A job naming no thread (a trigger whose worker died before it
 * created the thread) keeps its dead letter, with a line naming the thread. Never throws: it logs.
 */
export async function escalateExpired(scope: WorkerScope, agent: string, letter: DeadLetter): Promise<void> {
  const { logger } = scope.ctx;
  const log = { agent, deadLetter: letter.id, reason: letter.reason, deliveries: letter.deliveryCount };
  let target: ExpiredTarget | undefined;
  try {
    target = await expiredTarget(scope, agent, letter);
    if (target === undefined) {
      logger.warn({ ...log, subject: letter.subject }, 'job dead-lettered after its deliveries expired; it names no thread');
      return;
    }
    await escalateThreadOf(scope, agent, letter, target);
  } catch (error) {
    logger.error({ ...log, threadId: target?.threadId, err: messageOf(error) }, 'job dead-lettered after its deliveries expired; its thread could not be escalated');
  }
}

async function escalateThreadOf(scope: WorkerScope, agent: string, letter: DeadLetter, target: ExpiredTarget): Promise<void> {
  const { runtime, logger } = scope.ctx;
  const { threadId } = target;
  const log = { threadId, agent, deadLetter: letter.id, reason: letter.reason, deliveries: letter.deliveryCount };
  const view = await runtime.get(threadId);
  if (view === undefined) {
    logger.warn(log, 'job dead-lettered after its deliveries expired; its thread does not exist (its worker died before creating it)');
    return;
  }
  if (RESTING_STATUSES.includes(view.status)) return; // reported at its rest
  if (view.agent !== agent) {
    logger.warn({ ...log, owner: view.agent }, "job dead-lettered after its deliveries expired; it names another agent's thread, left as it is");
    return;
  }
  // A run that holds it (here or in another process) is alive after all: its heartbeats were lost.
  if (await scope.requests.holds(threadId)) {
    logger.warn(log, 'job dead-lettered after its deliveries expired; a live run holds its thread and is left to it');
    return;
  }
  const escalated = await runtime.escalate(threadId, {
    version: view.version,
    // An existing reason: a new one would make the processes of an older version refuse the thread.
    reason: 'non_retryable_error',
    message: `job ${letter.id} dead-lettered: ${letter.reason}`,
    question: questionOf(scope, letter, runtime.pipelines.has(agent)),
  });
  if (escalated === undefined) {
    logger.info(log, 'job dead-lettered after its deliveries expired; its thread moved on meanwhile and is left to the run that moved it');
    return;
  }
  logger.warn({ ...log, requestId: escalated.pendingRequest?.requestId }, 'thread escalated to a human: its job was dead-lettered after every delivery expired');
  await reportRest(scope, undefined, escalated, target.replyTo);
}

/** What the human is asked about a thread (of a pipeline, when `pipeline`) whose job no worker finished. */
function questionOf(scope: WorkerScope, letter: DeadLetter, pipeline: boolean): string {
  const ackWaitS = scope.ctx.queues.config.ackWaitMs / 1000;
  const culprit = pipeline ? "a pipeline's step (its code, or a function of it) that crashes the worker" : 'an input, a model reply or a tool that crashes the worker';
  return (
    `This thread's job was delivered ${letter.deliveryCount} times and no worker finished it: each died or stalled past the ack wait (${ackWaitS} s) with it, ` +
    `which is what ${culprit} looks like (dead letter ${letter.id}: ${letter.reason}). ` +
    'Fix the cause, then answer to run it again, or deny to stop it.'
  );
}

/** The thread a dead-lettered trigger or continuation of `agent` names; undefined when it names none. */
async function expiredTarget(scope: WorkerScope, agent: string, letter: DeadLetter): Promise<ExpiredTarget | undefined> {
  const { subjects, maxPayloadBytes } = scope.ctx;
  const data = encodePayload(letter.data);
  const job = { data, headers: letter.headers, json: () => parseJson(data) };
  if (letter.subject === subjects.trigger(agent)) {
    const read = readTrigger(job, agent, maxPayloadBytes);
    if (!read.ok) return undefined;
    const seq = Number(letter.id.slice(letter.id.lastIndexOf(':') + 1));
    const threadId = await triggerThreadId(scope, agent, { msgId: letter.headers[MSG_ID_HEADER], seq }, read.payload);
    return { threadId, replyTo: read.replyTo };
  }
  if (letter.subject !== subjects.jobs(agent)) return undefined;
  const read = readContinuation(job, maxPayloadBytes);
  return read.ok ? { threadId: read.payload.threadId } : undefined;
}
