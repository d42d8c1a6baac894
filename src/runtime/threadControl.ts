import { controlStep, CONTROLLED } from '../agent/controlStep.js';
import type { AgentDeps } from '../agent/deps.js';
import { escalationEvents } from '../agent/errorEvents.js';
import { redactResponse } from '../context/redact.js';
import { formatIssues, InvalidInputError, InvalidStateError, messageOf, NotFoundError, ThreadEndedError, UnknownAgentError, VersionConflictError, type StateConflict } from '../errors.js';
import { openDelegations, waitedDescendant, waitedThread } from '../pipeline/delegations.js';
import { appendEvents } from '../store/appendEvents.js';
import type { EscalationReason, HumanResponse, Thread } from '../thread/events.js';
import { answeredNote, answerKind, humanResponseInputSchema, validateResponse, type ResponseRefusal } from '../thread/humanResponse.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, RESTING_STATUSES, startedCall, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import type { LaunchSources } from './launching.js';
import type { ThreadDriver } from './threadDriver.js';
import { parentIdOf, viewOf, type ThreadView } from './threadView.js';

/** Who asked for a control operation and why (recorded on the event). */
export interface ControlOptions {
  reason?: string | undefined;
  by?: string | undefined;
}

/** How a pause or cancel treats a tool call running in this process (see {@link controlThread}). */
export interface ControlWait {
  /**
   * Whether a pause or cancel of a thread whose tool call runs here waits for the call and is
   * recorded after its outcome (`true`), or is recorded at once, as another process's control is,
   * the call's outcome recorded after it by the step that runs it (`false`: a request that must
   * not wait as long as a tool may take, such as a NATS `control` request). A cancel tells the
   * call to stop (its signal aborts) either way.
   * @default true
   */
  readonly awaitCall?: boolean;
}

/** An escalation of a thread to a human from outside its run (see `Runtime.escalate`). */
export interface Escalation {
  /** The version the caller read the thread at: a thread written since is not escalated. */
  readonly version: number;
  readonly reason: EscalationReason;
  /** What the `escalation` event records (its `message`). */
  readonly message: string;
  /** What the human is asked (the `human_request`'s `question`, urgency high). */
  readonly question: string;
}

/** What answering and controlling threads need from the runtime. */
export interface ControlSources {
  /** The runtime's dependencies (its store is the one listeners see). */
  readonly deps: AgentDeps;
  readonly driver: ThreadDriver;
  /** The agents and pipelines this runtime has, and whether a scheduler hands its threads to other processes. */
  readonly served: Pick<LaunchSources, 'agents' | 'pipelines' | 'scheduled'>;
  load(threadId: string): Promise<Thread>;
  settled(threadId: string): Promise<ThreadView>;
}

/** Whether `view` holds, after `since`, the control event of `action` (or, for a pause or cancel, the state it brings). */
function recorded(view: ThreadView, since: number, action: 'pause' | 'cancel'): boolean {
  if (action === 'pause' ? view.status === 'paused' : view.status === 'cancelled') return true;
  return view.events.some((e) => e.seq > since && e.type === 'control' && e.data.action === action);
}

/**
 * Refuses to answer or resume a thread of an agent (or pipeline) this runtime does not have (a
 * deploy dropped it while the thread waited), as a launch of it is refused: an
 * {@link UnknownAgentError} naming it and the ones this runtime has, before anything is written.
 * Nobody here would move the thread on, so it would be left `running` for good. A pause or a
 * cancel is not refused: nothing needs to run for either. With a scheduler (NATS) the call is
 * accepted: its continuation is queued for whichever process serves the agent.
 */
function checkServed(sources: ControlSources, thread: Pick<Thread, 'agent'>): void {
  const { agents, pipelines, scheduled } = sources.served;
  if (agents.has(thread.agent) || pipelines.has(thread.agent) || scheduled) return;
  throw new UnknownAgentError(thread.agent, [...agents.keys(), ...pipelines.keys()]);
}

/**
 * Pauses, resumes or cancels a thread: through its running actor (resolving once it rests), else
 * by appending the control event and, for a resume, continuing the thread (a resume of a thread
 * of an agent this runtime does not have is refused: see {@link checkServed}). A cancelled pipeline's
 * open children are cancelled before this resolves, also when it was cancelled before. A thread
 * that ended is not controlled: an {@link InvalidStateError}, a {@link ThreadEndedError} when it
 * ended while the control was on its way (the step in progress, or another process, recorded its
 * end first: a tool whose result ended the thread before the cancel was recorded leaves it `done`).
 */
export async function controlThread(
  sources: ControlSources,
  threadId: string,
  action: 'pause' | 'resume' | 'cancel',
  options: ControlOptions & ControlWait,
): Promise<ThreadView> {
  const { driver } = sources;
  const { awaitCall = true, ...opts } = options;
  const current = viewOf(await sources.load(threadId));
  if (TERMINAL_STATUSES.includes(current.status)) {
    // Again: a process that died between the pipeline's cancel and its children's left them open.
    if (action === 'cancel' && current.status === 'cancelled') return cancelChildren(sources, current, options);
    throw new InvalidStateError(`thread ${threadId} is ${current.status}; it cannot be ${CONTROLLED[action]}`, threadId, current.status, 'thread_ended');
  }
  if (action === 'pause' && current.status === 'paused') return current;
  if (action === 'resume' && current.status !== 'paused') return current;
  if (action === 'resume') checkServed(sources, current);
  if (action === 'resume' && (await endedWithParent(sources, current)) !== undefined) throw new InvalidStateError(`thread ${threadId} is cancelled; it cannot be resumed`, threadId, 'cancelled', 'thread_ended');
  if (action !== 'resume' && driver.isRunning(threadId) && !awaitCall && startedCall(current.events) !== undefined) {
    return controlAroundCall(sources, threadId, action, options);
  }
  if (action !== 'resume' && driver.isRunning(threadId)) {
    const done = sources.settled(threadId);
    driver.forward(threadId, action === 'pause' ? { type: 'PAUSE', ...opts } : { type: 'CANCEL', ...opts });
    const rested = await done;
    // The actor's step in progress (or another process) ended the thread before the control was recorded.
    const { terminal } = deriveState(rested.events);
    if (terminal !== null && !(action === 'cancel' && terminal === 'cancelled')) throw new ThreadEndedError(threadId, terminal, `it cannot be ${CONTROLLED[action]}`);
    // An actor on its way out (it had saved its rest) drops what it is sent: recorded below instead.
    if (recorded(rested, current.version, action)) return action === 'cancel' ? cancelChildren(sources, rested, options) : rested;
  }
  if (action !== 'resume' && driver.isActive(threadId)) driver.evict(threadId);
  const written = await writeControl(sources, threadId, action, opts);
  if (action === 'resume') driver.continueAfterWrite(written);
  return action === 'cancel' ? cancelChildren(sources, viewOf(written), options) : viewOf(written);
}

/**
 * A pause or cancel of a thread whose tool call runs in this process, not waiting for the call
 * (`awaitCall: false`): recorded at once, as another process's control is; the execute step
 * records the call's outcome after it (a conflict with control events only, which it resolves),
 * and the actor then rests paused or cancelled. A cancel is also forwarded to the actor, so that
 * the call is told to stop (its signal aborts); its own cancel step then finds the cancel recorded.
 * The actor is not evicted: that would abandon the call's outcome.
 */
async function controlAroundCall(sources: ControlSources, threadId: string, action: 'pause' | 'cancel', options: ControlOptions & ControlWait): Promise<ThreadView> {
  const { awaitCall: _awaitCall, ...opts } = options;
  const written = await writeControl(sources, threadId, action, opts);
  if (action === 'pause') return viewOf(written);
  sources.driver.forward(threadId, { type: 'CANCEL', ...opts });
  return cancelChildren(sources, viewOf(written), options);
}

/** Appends the control event, logging who, what and why, as its event says (no actor came to rest with it). */
async function writeControl(sources: ControlSources, threadId: string, action: 'pause' | 'resume' | 'cancel', opts: ControlOptions): Promise<Thread> {
  const written = await controlStep(sources.deps, threadId, { action, ...opts });
  const { by, reason } = opts;
  sources.deps.logger.info(
    { threadId, agent: written.agent, action, ...(by === undefined ? {} : { by }), ...(reason === undefined ? {} : { reason }), status: statusOf(deriveState(written.events)) },
    'thread controlled',
  );
  return written;
}

/**
 * Cancels the open children of a cancelled or failed pipeline (each through its own cancel, so a
 * child pipeline cancels its own), with a reason naming the parent and how it ended; children
 * that ended are left as they are. A child's tool call in progress here is not waited for
 * (`awaitCall: false`): its cancel is recorded at once, the call told to stop, and its outcome
 * recorded after, so the pipeline's cancel answers promptly (the pipeline runs no call of its own
 * to wait for). Resolves with the pipeline once every child is cancelled; a
 * child that could not be is reported after the others were tried ({@link endedWithParent}
 * cancels it when it next moves; a cancelled pipeline's cancel, sent again, tries again too).
 */
async function cancelChildren(sources: ControlSources, parent: ThreadView, opts: ControlOptions & ControlWait): Promise<ThreadView> {
  if (parent.status !== 'cancelled' && parent.status !== 'failed') return parent;
  const control = {
    reason: `pipeline ${parent.id} ${parent.status}`,
    ...(opts.by === undefined ? {} : { by: opts.by }),
    awaitCall: false,
  };
  let failure: unknown;
  for (const { threadId: childId } of openDelegations(parent)) {
    const child = await sources.deps.store.get(childId);
    // Not launched yet, or not this pipeline's child (an agent's own tool may take a `threadId`).
    if (child === undefined || parentIdOf(child) !== parent.id) continue;
    const status = viewOf(child).status;
    if (status === 'done' || status === 'failed') continue;
    try {
      await controlThread(sources, childId, 'cancel', control);
    } catch (error) {
      // It ended meanwhile: nothing to cancel.
      if (error instanceof InvalidStateError || error instanceof NotFoundError) continue;
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
  return parent;
}

/**
 * Cancels the open children of a pipeline that failed (a deploy changed its definition under a
 * run waiting for its child, say), as its cancel would: nobody would use what they do, and a
 * child waiting for a human would otherwise stay in every waiting list until someone answered
 * it. Called when a thread rests; does nothing (undefined, no promise) for an agent's thread or a
 * pipeline that did not fail. Otherwise resolves once the children are cancelled; it never
 * rejects: a child that could not be cancelled is logged, and cancelled when it next moves.
 */
export function cancelChildrenOfFailed(sources: ControlSources, thread: Thread): Promise<void> | undefined {
  if (!sources.served.pipelines.has(thread.agent) || statusOf(deriveState(thread.events)) !== 'failed') return undefined;
  return cancelChildren(sources, viewOf(thread), {}).then(
    () => undefined,
    (error: unknown) => {
      sources.deps.logger.warn({ threadId: thread.id, agent: thread.agent, err: messageOf(error) }, "could not cancel a failed pipeline's child; it is cancelled when it next moves");
    },
  );
}

/**
 * A pipeline's child whose pipeline was cancelled but which was not (its process died in between)
 * is cancelled now, when someone answers or resumes it, or a restart would run it again; so is a
 * child created after its pipeline's cancel looked for it, and one whose pipeline failed while it
 * waited (its definition changed under it, say): nobody would use what it does. Reads the store
 * once, and only for a thread that has a pipeline. Resolves with the thread cancelled, or
 * `undefined` when it was not.
 */
export async function endedWithParent(sources: ControlSources, thread: Pick<Thread, 'id' | 'events'>): Promise<ThreadView | undefined> {
  const parentId = parentIdOf(thread);
  if (parentId === undefined) return undefined;
  const parent = await sources.deps.store.get(parentId);
  const status = parent === undefined ? undefined : statusOf(deriveState(parent.events));
  if (status !== 'cancelled' && status !== 'failed') return undefined;
  return controlThread(sources, thread.id, 'cancel', { reason: `pipeline ${parentId} ${status}` });
}

/** Records a human's answer to the open request and continues the thread (see {@link Runtime.respond}). */
export async function respondToThread(sources: ControlSources, threadId: string, response: unknown): Promise<ThreadView> {
  const parsed = humanResponseInputSchema.safeParse(response);
  if (!parsed.success) throw new InvalidInputError('invalid response', formatIssues(parsed.error.issues));
  // Another write between the read and the append (another human's answer, a pause, a step):
  // read again and check again, so a lost race is refused as a later answer is (`already_answered`).
  for (let attempt = 1; ; attempt++) {
    try {
      return await recordResponse(sources, threadId, parsed.data);
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= MAX_RESPONSE_ATTEMPTS) throw error;
    }
  }
}

/** How many times a response is checked against the thread read again after a version conflict. */
const MAX_RESPONSE_ATTEMPTS = 10;

/** Checks `response` against the thread as read now and appends it at the version read. */
async function recordResponse(sources: ControlSources, threadId: string, response: HumanResponse): Promise<ThreadView> {
  const { store, clock, logger } = sources.deps;
  const thread = await sources.load(threadId);
  const state = deriveState(thread.events);
  if (state.terminal !== null || (await endedWithParent(sources, thread)) !== undefined) {
    const status = state.terminal ?? 'cancelled';
    // An answer repeated after a lost reply: say that it was recorded.
    const answered = answeredNote(thread.events, response.requestId);
    throw new InvalidStateError(`thread ${threadId} is ${status}${answered === undefined ? '' : `; ${answered}`}`, threadId, status, answered === undefined ? 'thread_ended' : 'already_answered');
  }
  checkServed(sources, thread);
  const checked = validateResponse(state.pendingRequest, response, thread.events);
  if (!checked.success) {
    if (checked.code === 'invalid_response') throw new InvalidInputError(checked.error, [checked.error]);
    if (checked.code === 'no_pending_request' && answeredNote(thread.events, response.requestId) === undefined) await refuseForDescendant(sources, thread);
    throw new InvalidStateError(checked.error, threadId, statusOf(state), refusalConflict(checked.code, answeredNote(thread.events, response.requestId)));
  }
  // Recorded as every other text of the thread: the agent's secrets and secret-shaped text
  // redacted (a process without the agent, a serve on NATS, redacts the shapes only).
  const data = redactResponse(checked.data, sources.served.agents.get(thread.agent)?.secrets ?? []);
  const written = await store.append(threadId, state.version, [{ seq: state.version + 1, at: new Date(clock.now()).toISOString(), type: 'human_response', data }]);
  // Who answered and how; a comment is the human's own text: only whether there is one.
  const { by, comment } = checked.data;
  logger.info(
    { threadId, agent: thread.agent, requestId: checked.data.requestId, state: 'responded', response: answerKind(checked.data), ...(by === undefined ? {} : { by }), comment: comment !== undefined && comment !== '' },
    'human responded',
  );
  sources.driver.continueAfterWrite(written);
  return viewOf(written);
}

/**
 * Throws a `not_waiting` refusal naming the thread to answer and its request, when `thread` is a
 * pipeline whose child (or, nested, a thread further down) waits for a human: the answer goes there.
 */
async function refuseForDescendant(sources: ControlSources, thread: Thread): Promise<void> {
  if (!sources.served.pipelines.has(thread.agent)) return;
  const view = viewOf(thread);
  const waited = await waitedDescendant(view, async (threadId) => {
    const found = await sources.deps.store.get(threadId);
    return found === undefined ? undefined : viewOf(found);
  });
  const request = waited?.view.pendingRequest;
  if (waited === undefined || !request) return;
  const message = `thread ${thread.id} is a pipeline waiting on ${waitedThread(waited.child, waited.through)}, which waits for a human (${request.kind} ${request.requestId}): answer it there`;
  throw new InvalidStateError(message, thread.id, view.status, 'not_waiting');
}

/** The kind of a response refused as not answering the open request: answered already, or not open. */
function refusalConflict(refusal: Exclude<ResponseRefusal, 'invalid_response'>, answered: string | undefined): StateConflict {
  if (answered !== undefined) return 'already_answered';
  return refusal === 'stale_request' ? 'not_open_request' : 'not_waiting';
}

/**
 * Escalates a thread that is not at rest to a human from outside its run: appends an `escalation`
 * and the `human_request` (kind `escalation`) it opens, as an agent's own escalation does, with
 * the store's optimistic concurrency at `escalation.version`. Resolves with the thread escalated,
 * or undefined when it was not: it moved on since that version (a run that is alive after all
 * wins), or rests (ended, waits for a human, is paused).
 */
export async function escalateThread(sources: ControlSources, threadId: string, escalation: Escalation): Promise<ThreadView | undefined> {
  const thread = await sources.load(threadId);
  const state = deriveState(thread.events);
  if (state.version !== escalation.version || RESTING_STATUSES.includes(statusOf(state))) return undefined;
  const { reason, message, question } = escalation;
  const events = escalationEvents(incarnationKeyOf(thread), state.version + 1, reason, message, question, 'high');
  try {
    return viewOf(await appendEvents(sources.deps, thread, events, { tooLarge: false }));
  } catch (error) {
    if (error instanceof VersionConflictError) return undefined;
    throw error;
  }
}
