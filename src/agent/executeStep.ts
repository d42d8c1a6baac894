import { redactJson, redactText } from '../context/redact.js';
import { redactingLogger } from '../context/redactingLogger.js';
import { openArgs, revealedBy, shownArgs, type OpenedArgs } from '../context/sealedArgs.js';
import { sleep } from '../clock.js';
import { clipText, describeError, isUnavailable, messageOf, promiseOf, SwitchyardError, VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import { appendEvents, type AppendOptions } from '../store/appendEvents.js';
import { versionOf, type Json, type NewEvent, type Thread, type ThreadEvent } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, isOutcomeOf, RESTING_STATUSES, statusOf, type PendingCall, type ThreadState } from '../thread/state.js';
import type { Agent } from './agent.js';
import { approvalRequest } from './approvalRequest.js';
import type { StepInput } from './deps.js';
import { errorEvents, errorLogFields } from './errorEvents.js';
import { idempotencyKeyFor, requestIdFor } from './ids.js';
import type { Tool, ToolContext } from './tool.js';

/**
 * Runs the pending tool call (factor 4), journaled: the `tool_call` event is persisted before the
 * tool runs (by this step, or by the decision with it: `input.recordedCall`) and the result after.
 * A call found started with no outcome (its process stopped, or could not record it) runs again
 * only if the tool is idempotent and this version can run it as recorded; otherwise (a tool that
 * is not idempotent, gone from this version, or whose schema now refuses the recorded arguments)
 * a human is asked what happened, as for one that outlives its deadline.
 *
 * `signal` abandons the step (its outcome is dropped: the actor stopped). `windDown` asks it to
 * wrap up (a cancel came): the tool's signal aborts, its outcome is still journaled (a result
 * without the final of a tool that breaks the loop), and a tool not started yet is not started.
 */
export async function executeStep(input: StepInput, signal: AbortSignal, windDown?: AbortSignal): Promise<Thread> {
  const { deps } = input;
  let { thread } = input;
  const call = input.state.pendingCall;
  if (call === null) return thread;
  // The decision recorded this call with it in this actor, and nothing has run it since.
  const recorded = call.started && call.attempts === 1 && input.recordedCall === call.callId;
  const gated = gate(input, call, recorded);
  if (!gated.run) {
    const written = await appendEvents(deps, thread, gated.events);
    if (gated.interrupted !== undefined) logInterrupted(input, call, gated.interrupted);
    return written;
  }
  if (recorded && !gated.tool.idempotent && deps.otherWriters === true) {
    const controlled = await controlledElsewhere(input, call);
    if (controlled !== undefined) return controlled;
  }
  if (call.retryApproved && deps.lateCalls !== undefined) {
    const answered = await awaitFirstRun(input, call, signal, windDown);
    if (answered !== undefined) return answered;
  }
  const attempt = recorded ? call.attempts : call.attempts + 1;
  const idempotencyKey = idempotencyKeyFor(thread, call.callId);
  if (!recorded) {
    thread = await appendEvents(deps, thread, [{ type: 'tool_call', data: { callId: call.callId, tool: call.tool, args: call.args, idempotencyKey, attempt } }]);
    if (call.started) {
      deps.logger.info(
        { state: 'executing', tool: call.tool, callId: call.callId, idempotent: true, attempt },
        `interrupted tool call ${call.tool} (call ${call.callId}): it was started and its outcome is not recorded; the tool is idempotent, so it runs again`,
      );
    }
  }
  return runCall(revealing(input, gated.revealed), thread, { call, tool: gated.tool, args: gated.args, attempt, idempotencyKey }, signal, windDown);
}

/**
 * Records that the call a decision recorded with it (its `tool_call` written, `input.thread` ending
 * there) was not run, because `reason` came before this actor's execute step did (a cancel): the
 * call no longer looks started to anyone who reads the log. Written as {@link executeStep} writes
 * a call it was told to wind down before starting, after control events another process wrote.
 */
export function callNotRun(input: StepInput, callId: string, reason: string): Promise<Thread> {
  const call = input.state.pendingCall;
  if (call === null || call.callId !== callId || !call.started) return Promise.resolve(input.thread);
  const about = { callId, tool: call.tool };
  return journalOutcome(input, input.thread, callId, (at) => errorEvents(at, 'tool_error', `${call.tool} was not run: ${reason}`, about));
}

/**
 * {@link callNotRun} for a step that goes on either way (a cancel, a closing runtime): a failure to
 * record it is logged, and the call then looks started to whoever reads the log next (who asks a
 * human whether it took effect, as after a crash). The log does not say the call was not run: a
 * call that did run here, its outcome refused as the thread moved on elsewhere, comes here too.
 */
export async function recordCallNotRun(input: StepInput, callId: string, reason: string): Promise<void> {
  try {
    await callNotRun(input, callId, reason);
  } catch (error) {
    // Not "was not run": it may have run here, its outcome refused (the thread moved on elsewhere).
    input.deps.logger.warn({ callId, err: messageOf(error) }, `call ${callId} is not recorded as not run (${reason}): ${messageOf(error)}`);
  }
}

/**
 * Before a call that the decision recorded with it runs (a call this step records itself is
 * checked by that write, which expects the thread's version), on a deployment where other
 * processes write the thread: the one case where a pause or cancel another process wrote (its
 * request to the process running the thread went unanswered, or crossed the hand-over of a job)
 * would not stop the call. Only for a tool that is not idempotent, whose second effect matters.
 * One read of the stored thread: when only control events were written since the decision, the
 * call is not run and the log says so (as after a cancel that reached this actor: `<tool> was not
 * run: <action> requested`, recorded after them); when anything else was, another worker moved
 * the thread on, and the step fails with a version conflict as its write would have; so it does
 * when the thread read is another launched under its id (this one was deleted).
 *
 * A window remains: a control written between this read and the tool's start is not seen, and
 * the call runs; its outcome is then journaled after the control (see {@link journalOutcome}),
 * so the log still shows what happened.
 */
async function controlledElsewhere(input: StepInput, call: PendingCall): Promise<Thread | undefined> {
  const { thread, deps } = input;
  const since = versionOf(thread);
  const latest = await deps.store.get(thread.id);
  if (latest !== undefined && !isSameThread(latest, thread)) {
    // Deleted (after a cancel) and launched again under its id: the call is not this new thread's.
    deps.logger.warn({ callId: call.callId, tool: call.tool }, 'thread deleted before its recorded call ran; the call is not run');
    throw new VersionConflictError(thread.id, since, versionOf(latest));
  }
  if (latest === undefined || versionOf(latest) === since) return undefined;
  if (!onlyControlSince(latest, since)) throw new VersionConflictError(thread.id, since, versionOf(latest));
  const first = latest.events.find((e) => e.seq > since);
  const action = first?.type === 'control' ? first.data.action : 'control';
  deps.logger.warn({ callId: call.callId, tool: call.tool, action }, 'thread controlled from elsewhere before its recorded call ran; the call is not run');
  return callNotRun(input, call.callId, `${action} requested`);
}

/**
 * Before a call a human approved running again runs: when its first run, past its deadline, still
 * runs in this process (see {@link recordLateOutcome}), waits for it instead of running the call a
 * second time alongside, until it settles or the step is told to stop (its signal: thrown) or to
 * wind down (a cancel, a pause: the thread is returned as it was, the call not run; the first run's
 * outcome, should it come, is then recorded or logged as after any answer). Its result, recorded
 * after the approval, answers it: the thread it was recorded in is returned, and the call does not
 * run again. Undefined when the call runs again as approved: nothing of it runs here, or its first
 * run failed (its rejection, or an outcome that could not be recorded).
 */
async function awaitFirstRun(input: StepInput, call: PendingCall, signal: AbortSignal, windDown: AbortSignal | undefined): Promise<Thread | undefined> {
  const { deps, thread } = input;
  const waiting = deps.lateCalls?.waitFor(idempotencyKeyFor(thread, call.callId), windDown === undefined ? [signal] : [signal, windDown]);
  if (waiting === undefined) return undefined;
  const about = { state: 'executing', tool: call.tool, callId: call.callId };
  deps.logger.info(about, `${call.tool} (call ${call.callId}) still runs in this process since its timeout: the approved run again waits for it`);
  const recorded = await waiting;
  if (signal.aborted) throw signal.reason;
  if (recorded !== undefined) {
    deps.logger.info({ ...about, outcome: 'result' }, `${call.tool} returned (call ${call.callId}) while its approved run again waited for it: its result is recorded and answers the approval; the call is not run again`);
    return recorded;
  }
  if (windDown?.aborted === true) return thread;
  deps.logger.info(about, `${call.tool} (call ${call.callId}) ended without a result to record: it runs again as approved`);
  return undefined;
}

/**
 * Whether the call may run now, or the events that record why not; `interrupted`, when they ask a
 * human whether a call found started took effect: the request, and why it is asked.
 */
type Gate =
  | { readonly run: true; readonly tool: Tool; readonly args: unknown; readonly revealed: readonly string[] }
  | { readonly run: false; readonly events: readonly NewEvent[]; readonly interrupted?: Interrupted };

/**
 * Why a human is asked about a call found started with no outcome rather than it running again:
 * its tool is not idempotent, this version of the agent has no such tool, its recorded arguments
 * are not valid for this version's tool, or this version asks approval before the tool runs.
 */
type InterruptedCause = 'not_idempotent' | 'tool_gone' | 'invalid_args' | 'needs_approval';

/** A call found started with no outcome, about which a human is asked. */
interface Interrupted {
  readonly requestId: string;
  readonly cause: InterruptedCause;
}

/** What the warn line of each {@link InterruptedCause} adds: its fields (beside the tool's `idempotent`, when it has one) and the end of its message. */
const CAUSE_LOG: Readonly<Record<InterruptedCause, { readonly fields: Readonly<Record<string, true>>; readonly said: string }>> = {
  not_idempotent: { fields: {}, said: '' },
  tool_gone: { fields: { toolGone: true }, said: ' (its tool is gone from this version of the agent)' },
  invalid_args: { fields: { invalidArgs: true }, said: ' (its recorded arguments are not valid for this version of the tool)' },
  needs_approval: { fields: { needsApproval: true }, said: ' (this version of the agent asks approval before the tool runs)' },
};

/**
 * Logs at warn that a call was found started with no outcome (its process stopped mid-call, or
 * could not record it) and a human is asked whether it took effect: after a worker's crash the
 * log says which side effects may need a human, not only the thread's status, and why it does not
 * simply run again. Bound to the thread and its agent by the step's logger.
 */
function logInterrupted(input: StepInput, call: PendingCall, { requestId, cause }: Interrupted): void {
  const tool = input.agent.toolsByName.get(call.tool);
  const { fields, said } = CAUSE_LOG[cause];
  input.deps.logger.warn(
    { state: 'executing', tool: call.tool, callId: call.callId, ...(tool === undefined ? {} : { idempotent: tool.idempotent }), ...fields, attempts: call.attempts, humanAsked: true, requestId },
    `interrupted tool call ${call.tool} (call ${call.callId}): it was started and its outcome is not recorded; a human is asked whether it took effect${said}`,
  );
}

/** The gate of a call whose `events` ask a human whether it took effect (an interrupted-call request among them), `cause` why. */
function asking(events: readonly NewEvent[], cause: InterruptedCause): Gate {
  const request = events.find((e) => e.type === 'human_request');
  const requestId = request?.type === 'human_request' ? request.data.requestId : '';
  return { run: false, events, interrupted: { requestId, cause } };
}

/**
 * What stands between a pending call and its tool: a tool this version of the agent does not have
 * (see {@link goneToolEvents}), a human's word that it did not take effect on a question that said
 * it is not run again, a started call that cannot simply run again (see {@link startedGate}),
 * invalid arguments, an approval not yet given.
 */
function gate(input: StepInput, call: PendingCall, recorded: boolean): Gate {
  const { thread } = input;
  const tool = input.agent.toolsByName.get(call.tool);
  const about = { callId: call.callId, tool: call.tool };
  if (tool === undefined) {
    const events = goneToolEvents(input, call);
    return call.started ? asking(events, 'tool_gone') : { run: false, events };
  }
  // The human was told approving means it did not take effect and it is not run again: so it is not.
  if (call.rerun === false) return { run: false, events: notRunAgainEvents(input, call, 'the question the human answered said approving would not run it again') };
  const opened = openArgs(call.args, input.deps.sealSecrets ?? [], { threadId: thread.id, callId: call.callId });
  const checked = parseOpened(opened, tool);
  const revealed = revealedBy(opened);
  // A refusal of opened arguments may quote them (a transform's JSON.parse quotes its input).
  const told = checked.success ? input : revealing(input, revealed);
  const started = call.started && !recorded ? startedGate(told, call, tool, checked) : undefined;
  if (started !== undefined) return started;
  if (!checked.success) return { run: false, events: errorEvents(told, 'invalid_args', `arguments for ${call.tool} are invalid: ${checked.error}`, about) };
  // The gate is derived from the log: a decision for a tool that needs approval, with no approval
  // recorded after it (a log that ends at the decision), asks before anything runs.
  if (!call.approved && !call.retryApproved && tool.needsApproval(checked.data)) {
    return { run: false, events: [approvalRequest(incarnationKeyOf(thread), versionOf(thread) + 1, call)] };
  }
  return { run: true, tool, args: checked.data, revealed };
}

/**
 * A call's recorded arguments as its tool runs with them, `opened` (see `openArgs`): parsed by the
 * tool's schema. Sealed values that did not open fail as arguments the schema refuses: the call
 * never runs with a token's text.
 */
export function parseOpened(opened: OpenedArgs, tool: Pick<Tool, 'parse'>): ReturnType<Tool['parse']> {
  return opened.success ? tool.parse(opened.data, 'recorded') : opened;
}

/**
 * The gate of a call found started with no outcome (`checked`: its recorded args parsed by this
 * version's `tool`), when it may not simply run again: it may have taken effect, so a human is
 * asked, told why. Its arguments no longer valid, it cannot run again as recorded, whatever the
 * tool's flags: approving says it did not take effect (`rerun: false`), never an `invalid_args`
 * error the model would retry under a new call id (a new idempotency key: the effect twice).
 * Otherwise a tool that is not idempotent asks, and so does an idempotent one that needs an
 * approval not given yet (a deploy made it ask): the interrupted request, not a plain approval,
 * so the human knows it already started when they answer; approving runs it again (the same
 * idempotency key). Undefined when it runs again.
 */
function startedGate(input: StepInput, call: PendingCall, tool: Tool, checked: ReturnType<Tool['parse']>): Gate | undefined {
  const { thread, agent } = input;
  const seq = versionOf(thread) + 1;
  if (!checked.success) {
    const error = clipText(redactText(checked.error, agent.secrets), MAX_PARSE_ERROR);
    const ask = `; its recorded arguments are not valid for ${tool.name} in this version of agent ${agent.name} (${error}), so it cannot be run again as recorded. ${NOT_RUN_AGAIN}`;
    return asking([interruptedRequest(incarnationKeyOf(thread), seq, call, UNRECORDED, ask, false)], 'invalid_args');
  }
  if (!tool.idempotent) return asking([interruptedRequest(incarnationKeyOf(thread), seq, call)], 'not_idempotent');
  if (call.approved || !tool.needsApproval(checked.data)) return undefined;
  const ask = `, and this version of agent ${agent.name} asks approval before ${tool.name} runs. ${tool.name} is idempotent: run again, it gets the same idempotency key, so a service that honours the key does not repeat its effect. Approve to run it again; deny, describing the outcome, if it took effect or must not run.`;
  return asking([interruptedRequest(incarnationKeyOf(thread), seq, call, UNRECORDED, ask)], 'needs_approval');
}

/** The most characters of a schema's complaint an interrupted-call question quotes. */
const MAX_PARSE_ERROR = 500;

/**
 * The events of a pending call whose tool this version of the agent does not have (a deploy renamed
 * or removed it while the thread waited). A call that was started (its `tool_call` journaled, no
 * outcome after it) may have taken effect, and it cannot be run again: a human is asked whether it
 * did, as for any interrupted call, whatever the tool was (whether it was idempotent is not known
 * either); never an error that reads as "it did not happen". When a human says to run it again, it
 * is recorded as not run again, with what they said, for the model to see and decide on. A call
 * that was never started was not run: an error the model sees, naming the tools this version has.
 */
function goneToolEvents(input: StepInput, call: PendingCall): readonly NewEvent[] {
  const { agent, thread } = input;
  const about = { callId: call.callId, tool: call.tool };
  const missing = `${call.tool} is not a tool of agent ${agent.name} in this version`;
  const tools = agent.tools.map((t) => t.name).join(', ');
  if (call.started) {
    const ask = `; ${missing}, so it cannot be run again. ${NOT_RUN_AGAIN}`;
    return [interruptedRequest(incarnationKeyOf(thread), versionOf(thread) + 1, call, UNRECORDED, ask, false)];
  }
  if (call.retryApproved) return notRunAgainEvents(input, call, `${missing} (its tools: ${tools})`);
  // Not "no longer exists": during a rolling deploy the tool may be a newer version's, decided there.
  return errorEvents(input, 'unknown_intent', `tool ${missing} (its tools: ${tools}); it was not run`, about);
}

/**
 * The error that records a started call a human approved (it did not take effect) as not run
 * again, `why` it is not, with what they said: for the model to see and decide on.
 */
function notRunAgainEvents(input: StepInput, call: PendingCall, why: string): readonly NewEvent[] {
  const answer = input.thread.events.findLast((e) => e.type === 'human_response');
  const comment = answer?.type === 'human_response' && answer.data.comment ? `: ${answer.data.comment}` : '';
  const message = `${call.tool}(${shownArgs(call.args)}) was not run again: ${why}. It had been started and its outcome was not recorded; a human said it did not take effect${comment}`;
  return errorEvents(input, 'tool_error', message, { callId: call.callId, tool: call.tool });
}

/**
 * The events of a call of a tool that is not idempotent past its deadline: its timeout, recorded
 * without its call id (so the call stays pending, started), and the interrupted-call request that
 * asks a human whether to run it again (saying it may still be running). The answer is handled as
 * after a crash: approving runs it again.
 */
function timedOutCall(at: StepInput, call: PendingCall, message: string): NewEvent[] {
  const { agent, thread, state } = at;
  const seq = versionOf(thread) + 1;
  const text = redactText(message, agent.secrets);
  return [
    { type: 'error', data: { kind: 'tool_timeout', message: text, tool: call.tool, attempt: state.consecutiveErrors + 1 } },
    interruptedRequest(incarnationKeyOf(thread), seq + 1, call, `was started but ${text}${STILL_RUNNING}`),
  ];
}

/**
 * Asks a human whether a call that was started took effect (one that may not simply run again: see
 * {@link InterruptedCause}). `what` says what is known of it: by default only what the log shows (its
 * start, and no outcome after it), since the process that ran it may have stopped, or run on and
 * failed to write; `ask`, what the answers do (by default: approve to run it again), and `rerun`
 * whether approving runs it again (recorded as `rerun: false` when not).
 */
function interruptedRequest(threadKey: string, seq: number, call: PendingCall, what = UNRECORDED, ask = RUN_AGAIN, rerun = true): NewEvent {
  return {
    type: 'human_request',
    data: {
      requestId: requestIdFor(threadKey, seq),
      kind: 'interrupted',
      question: `${call.tool}(${shownArgs(call.args)}) ${what}${ask}`,
      urgency: 'high',
      format: 'yes_no',
      callId: call.callId,
      tool: call.tool,
      args: call.args,
      ...(rerun ? {} : { rerun: false }),
    },
  };
}

/** What the interrupted-call question asks of a call that cannot run again (`rerun: false`): what approving does. */
const NOT_RUN_AGAIN = 'Approve only if it did not take effect (the model is told it was not run again); deny, describing the outcome, if it did.';
/** What the interrupted-call question says of a call found started with no outcome. */
const UNRECORDED = 'was started and its outcome was not recorded (the process running it stopped or stalled, or could not write to the store)';
/**
 * What the interrupted-call question says of a call past its deadline: the process that started it
 * holds it (see {@link recordLateOutcome}), and its result, should it come before the call runs
 * again, answers it; an approval given meanwhile waits for it there (see {@link awaitFirstRun}).
 */
const STILL_RUNNING =
  ' and may still be running in the process that started it (its result, if it returns before the call runs again, is recorded and answers this question; an approval given while it still runs there waits for it)';
/**
 * What the interrupted-call question asks of a call its tool can run again: what approving does
 * ("run it again?"), so that approve never reads as "yes, it took effect" (qa21 F1).
 */
const RUN_AGAIN = ', and the tool is not idempotent. Run it again? Approve to run it again, only if it did not take effect; deny, describing the outcome, if it did.';

/**
 * `input` for running a call whose sealed arguments opened to `revealed`: those values are redacted
 * as the agent's `secrets` are, from the call's result, its error and every log line of its run
 * (the tool's own logger included), so that a tool echoing its secret (an error quoting a
 * connection string) does not put it in clear in the thread, before the model or in the logs.
 * An intent's run is given the same (`customStep`).
 */
export function revealing(input: StepInput, revealed: readonly string[]): StepInput {
  if (revealed.length === 0) return input;
  const { agent, logger } = revealedTo(input.agent, input.deps.logger, revealed);
  return { ...input, agent, deps: { ...input.deps, logger } };
}

/** {@link revealing}'s agent and logger, for a step run without a `StepInput` (`stepEvents`). */
export function revealedTo(agent: Agent, logger: Logger, revealed: readonly string[]): { readonly agent: Agent; readonly logger: Logger } {
  if (revealed.length === 0) return { agent, logger };
  return { agent: { ...agent, secrets: [...agent.secrets, ...revealed] }, logger: redactingLogger(logger, revealed) };
}

/** A call cleared to run, its `tool_call` journaled. */
interface ClearedCall {
  readonly call: PendingCall;
  readonly tool: Tool;
  readonly args: unknown;
  readonly attempt: number;
  readonly idempotencyKey: string;
}

/**
 * Runs the tool under its deadline and records its result, or its error or timeout, after `thread`
 * (its tool_call journaled). Told to wind down before the tool started, it records that the tool
 * was not run, so the journaled call does not look started.
 */
async function runCall(input: StepInput, thread: Thread, cleared: ClearedCall, signal: AbortSignal, windDown: AbortSignal | undefined): Promise<Thread> {
  const { deps } = input;
  const { call, tool } = cleared;
  const about = { callId: call.callId, tool: call.tool };
  // The tool ran: an outcome too large for the thread ends it saying so.
  const ran: AppendOptions = { tooLarge: about };
  const journal = (outcome: Outcome): Promise<Thread> => journalOutcome(input, thread, call.callId, outcome, ran, { tool: call.tool, signal });
  if (windDown?.aborted) return journalOutcome(input, thread, call.callId, (at) => errorEvents(at, 'tool_error', `${call.tool} was not run: ${messageOf(windDown.reason)}`, about));
  const toolSignal = new ToolSignal(signal, windDown);
  const started = deps.clock.now();
  let timer: unknown;
  try {
    let running: Promise<Json> | undefined;
    // One promise for the tool and its deadline (not a deadline promise and a race of the two).
    const outcome = await new Promise<Json | typeof TIMED_OUT>((resolve, reject) => {
      timer = deps.clock.setTimeout(() => {
        toolSignal.timeOut(new Error(`${call.tool} timed out`));
        resolve(TIMED_OUT);
      }, tool.timeoutMs);
      running = tool.run(cleared.args, toolContext(input, cleared, toolSignal));
      running.then(resolve, reject);
    });
    if (signal.aborted) throw signal.reason;
    if (outcome === TIMED_OUT) {
      const message = `${call.tool} did not finish within ${tool.timeoutMs} ms`;
      // A call of a tool that is not idempotent may have taken effect: a human says whether it
      // did, as after a crash, instead of the model calling it again after a backoff (and its
      // outcome, should it come after all, answers the question). Not when told to wind down: a
      // cancel is recorded next, and nobody would be asked.
      if (!tool.idempotent && windDown?.aborted !== true) {
        const asked = loggedFailure(input, thread, await journal((at) => timedOutCall(at, call, message)), call);
        recordLateOutcome(input, asked, cleared, running!, started);
        return asked;
      }
      return loggedFailure(input, thread, await journal((at) => errorEvents(at, 'tool_timeout', message, about)), call);
    }
    return journal(resultEvents(input, cleared, outcome, started, windDown?.aborted !== true));
  } catch (error) {
    if (signal.aborted || error instanceof VersionConflictError) throw error;
    return loggedFailure(input, thread, await journal((at) => errorEvents(at, 'tool_error', `${call.tool} failed: ${toolErrorText(input, error)}`, about)), call);
  } finally {
    deps.clock.clearTimeout(timer);
    toolSignal.dispose();
  }
}

/**
 * Logs a call that failed (its tool threw, or outlived its deadline) at warn, `tool call failed`,
 * as the error event written after `thread` records it: kind, attempt, the message (secrets
 * redacted there, and by the step's logger) and the retry time, or what came instead (an
 * escalation, a human asked whether the call took effect). As a failed model call is logged, so
 * that a flaky downstream shows in the logs even when its thread recovers. The step's logger is
 * bound to the thread and its agent. Returns `written`.
 */
function loggedFailure(input: StepInput, thread: Thread, written: Thread, call: PendingCall): Thread {
  const since = versionOf(thread);
  const fields = errorLogFields(written.events.filter((e) => e.seq > since));
  if (fields !== undefined) input.deps.logger.warn({ state: 'executing', tool: call.tool, callId: call.callId, ...fields }, 'tool call failed');
  return written;
}

/**
 * The events of a call's result: the result (its secrets redacted) and its run time, and the final
 * of a tool that breaks the loop, unless `final` is false (told to wind down: the cancel recorded
 * next must end the thread, not a final before it; told once this is decided, the final is written
 * and the thread is `done`, the work finished before the cancel was recorded).
 */
function resultEvents(input: StepInput, { call, tool }: ClearedCall, value: Json, started: number, final: boolean): NewEvent[] {
  const result = redactJson(value, input.agent.secrets);
  const durationMs = Math.max(0, input.deps.clock.now() - started);
  const events: NewEvent[] = [{ type: 'tool_result', data: { callId: call.callId, tool: call.tool, result, durationMs } }];
  const { logger } = input.deps;
  if (logger.isLevelEnabled('debug')) logger.debug({ state: 'executing', tool: call.tool, callId: call.callId, durationMs }, 'tool call done');
  if (tool.breaksLoop && final) events.push({ type: 'final', data: { output: result } });
  return events;
}

/**
 * The call of a tool that is not idempotent whose deadline passed (`asked`: the thread ending with
 * the question whether it took effect) may still return: its result is then recorded after the
 * question, which it answers (see `reduceState`), and the thread goes on from it, moved by whoever
 * runs it now (`deps.onRevived`: its actor rested at the question, or is coming to rest there); a
 * human's answer after that is refused, and nobody approves a second run of a call that ran. A
 * warning names the call. Until then the call is tracked in `deps.lateCalls`: an approval to run it
 * again, given meanwhile, waits for it (see {@link awaitFirstRun}), and its result, recorded after
 * that approval (see {@link recordOutcome}), answers it instead. When the thread moved on otherwise
 * (a denial, a cancel), {@link recordOutcome} logs an error naming the call and its result, for an
 * operator to reconcile. A rejection after the deadline proves nothing (a tool that gives up when
 * its signal aborts at the deadline, its request maybe sent): it is logged, and the question stays
 * open (or, approved meanwhile, the call runs again).
 */
function recordLateOutcome(input: StepInput, asked: Thread, cleared: ClearedCall, running: Promise<Json>, started: number): void {
  const { deps } = input;
  const { call, idempotencyKey } = cleared;
  const about = { callId: call.callId, tool: call.tool };
  const late = async (value: Json): Promise<Thread> => {
    const events = resultEvents(input, cleared, value, started, true);
    // Appended after the question, or after control events written since, or after an approval to
    // run it again (recordOutcome says so); a thread that moved on otherwise is logged there for a
    // human to reconcile (it throws).
    const written = await recordOutcome(input, asked, call.callId, events, { tooLarge: about }, false, call.tool);
    if (versionOf(written) === versionOf(asked) + events.length) {
      deps.logger.warn({ ...about, outcome: 'result' }, `${call.tool} returned after its timeout (call ${call.callId}): its result is recorded and answers the question asked about it`);
    } else if (written.events.some((e) => e.seq > versionOf(asked) && e.type === 'human_response')) {
      // After an approval: recordOutcome moved the thread on, unless a step here waits for it.
      return written;
    }
    // Whoever holds the thread now moves it on, unless it rests (paused, cancelled).
    if (!RESTING_STATUSES.includes(statusOf(deriveState(written.events)))) deps.onRevived?.(written);
    return written;
  };
  const handled = running
    .then(late, (error: unknown) => {
      const next = deps.lateCalls?.awaited(idempotencyKey) === true ? 'the approved run again goes ahead' : 'the question asked about it stays open';
      deps.logger.warn({ ...about, err: toolErrorText(input, error) }, `${call.tool} rejected after its timeout (call ${call.callId}): that does not say whether it took effect, so ${next}`);
      return undefined;
    })
    .catch((error: unknown) => {
      // A conflict recordOutcome could not resolve is logged there, naming the call.
      if (!(error instanceof VersionConflictError)) deps.logger.error({ ...about, err: messageOf(error) }, `${call.tool} returned after its timeout (call ${call.callId}) and its result could not be recorded: reconcile it by hand`);
      return undefined;
    });
  deps.lateCalls?.track(idempotencyKey, handled);
}

/**
 * What records a call's outcome: its events (a result, which reads nothing of the thread), or how
 * to build them on the thread they are appended to (an error: its attempt, its escalation's seqs
 * and request ids, its backoff come from that thread).
 */
type Outcome = readonly NewEvent[] | ((at: StepInput) => readonly NewEvent[]);

/** The first wait before the append of a completed call's outcome is tried again after a store failure. */
const OUTCOME_RETRY_FIRST_MS = 250;
/** The longest wait between two tries of that append (the wait doubles from the first). */
const OUTCOME_RETRY_MAX_MS = 10_000;

/** A call whose tool ran (its effect may have happened): its outcome is not given up on a failing store. */
interface RanCall {
  readonly tool: string;
  /** Aborts when the step's actor stops (a close past its drain time): the tries end there. */
  readonly signal: AbortSignal;
}

/**
 * Appends a call's outcome after `thread` (its tool_call); see {@link recordOutcome} for a writer
 * that got there first. For a call whose tool ran (`ran`), a store failure that may pass (NATS
 * unreachable, a directory made read-only, a full disk: anything but a store's refusal, such as a
 * version conflict or a thread too large) does not drop the outcome, which only this step knows:
 * the append is tried again in place, after 250 ms doubling up to 10 s, for as long as the actor
 * runs (no other process takes the thread meanwhile: an embedded runtime holds it, and a job whose
 * worker cannot reach NATS is not handed on until its ack wait). The first failure is a warning;
 * an actor that stops first logs an error naming the call whose outcome is lost (a human is then
 * asked whether it took effect, as after a crash).
 */
function journalOutcome(input: StepInput, thread: Thread, callId: string, outcome: Outcome, options?: AppendOptions, ran?: RanCall): Promise<Thread> {
  // The first try is not awaited in an async function (no frame of its own per outcome); a
  // synchronous throw is handled as its rejection would be.
  const first = promiseOf(() => recordOutcome(input, thread, callId, outcome, options, false, ran?.tool));
  return first.catch((error: unknown) => journalAgain(input, thread, callId, outcome, options, ran, error));
}

/** {@link journalOutcome} after its first try failed with `error`: tried again while the failure may pass, or thrown. */
async function journalAgain(input: StepInput, thread: Thread, callId: string, outcome: Outcome, options: AppendOptions | undefined, ran: RanCall | undefined, error: unknown): Promise<Thread> {
  const { deps } = input;
  for (let failures = 1; ; failures++) {
    if (ran === undefined || !mayPass(error)) throw error;
    const about = { tool: ran.tool, callId, outcome: kindOf(outcomeAt(input, thread, outcome)), err: messageOf(error) };
    if (failures === 1) deps.logger.warn({ ...about, attempt: failures }, `${ran.tool} completed (call ${callId}) and its outcome could not be recorded: trying again until the store takes it`);
    const delayMs = Math.min(OUTCOME_RETRY_MAX_MS, OUTCOME_RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 16));
    try {
      await sleep(deps.clock, delayMs, ran.signal);
    } catch {
      deps.logger.error(
        { ...about, attempts: failures },
        `${ran.tool} completed (call ${callId}) and its outcome could not be recorded: the store failed until the actor stopped, and whoever continues the thread will ask a human whether it took effect (it ran, ending in a ${about.outcome})`,
      );
      throw error;
    }
    try {
      return await recordOutcome(input, thread, callId, outcome, options, true, ran.tool);
    } catch (again) {
      error = again;
    }
  }
}

/**
 * Whether a failed write may go through if tried again: the store could not serve (see
 * `isUnavailable`), or an error of the platform (EACCES, ENOSPC, a timeout); not a refusal (a
 * version conflict, a thread too large or ended, a failure recorded instead) nor corrupt data.
 */
function mayPass(error: unknown): boolean {
  return !(error instanceof SwitchyardError) || isUnavailable(error);
}

/**
 * Appends a call's outcome after `thread` (its tool_call). When another writer got there first
 * with control events only (another process paused, resumed or cancelled the thread, as it cannot
 * wait for a call that runs here), the outcome is recorded after them all the same, so the log
 * shows what the call did and nobody is asked about it: built on the thread as it now is, so an
 * error's escalation and backoff are those of the seqs it lands at, and the routing after it (or
 * after a resume) goes on from it. After a cancel only the event that records it (its result, or
 * its error with no retry time), as nothing follows a cancel.
 *
 * When another process meanwhile found the call started with no outcome and asked a human whether
 * it took effect (this process was frozen past its job's ack wait, or lost its store for that
 * long), and that question is still open, the outcome is recorded after it too: it answers the
 * question (see `reduceState`), and the thread goes on from it here; `deps.onRevived` is told, as
 * the other process's job ended at its question. A human's answer after that
 * is refused, the request no longer open; and the human is not left to approve a second run of a
 * call that ran.
 *
 * After a failed try (`retried`), the outcome found right after `thread` is this write's, which
 * landed although the store said it failed (a lost acknowledgement). Any other conflict is thrown,
 * as before (another worker moved on); for a call that ran (`ran`: its tool's name), an error log
 * names the call and its outcome's kind, which the log will not hold, for an operator to reconcile.
 * So does a thread deleted meanwhile (a cancel elsewhere let it be, once the wait for this outcome
 * ran out): read again, it is gone, or it is a thread launched again under its id (see
 * {@link isSameThread}), which takes nothing of this call; the error log says it was deleted.
 */
function recordOutcome(input: StepInput, thread: Thread, callId: string, outcome: Outcome, options: AppendOptions | undefined, retried: boolean, ran: string | undefined): Promise<Thread> {
  // Not awaited in an async function: the usual append suspends no frame of its own for the rare
  // conflict. Its callers await it where a throw here is handled as its rejection would be.
  return appendEvents(input.deps, thread, outcomeAt(input, thread, outcome), options).catch((error: unknown) =>
    recordAfterConflict(input, thread, callId, outcome, options, retried, ran, error),
  );
}

/** {@link recordOutcome} after its append failed with `error`: another writer got there first, or it is thrown. */
async function recordAfterConflict(
  input: StepInput,
  thread: Thread,
  callId: string,
  outcome: Outcome,
  options: AppendOptions | undefined,
  retried: boolean,
  ran: string | undefined,
  error: unknown,
): Promise<Thread> {
  const { deps } = input;
  if (!(error instanceof VersionConflictError)) throw error;
  const since = versionOf(thread);
  const about = { callId };
  let latest: Thread | undefined;
  for (let attempt = 0; attempt < 10; attempt++) {
    latest = await deps.store.get(thread.id);
    // Deleted, and maybe launched again under its id: nothing of this call belongs in that thread.
    if (latest !== undefined && !isSameThread(latest, thread)) latest = undefined;
    if (latest !== undefined && retried && landed(latest, since, callId, ran)) return latest;
    if (latest === undefined) break;
    const state = deriveState(latest.events);
    const asked = onlyControlSince(latest, since) ? undefined : openQuestion(latest, state, since, callId);
    if (asked === null) break;
    const events = outcomeAt(input, latest, outcome);
    try {
      const written = await appendEvents(deps, latest, state.terminal === 'cancelled' ? afterCancel(events) : events, options);
      if (asked === undefined) {
        deps.logger.warn({ ...about, state: statusOf(state) }, 'thread paused or cancelled while its tool call ran (not waiting for it); outcome recorded after the control');
      } else if (asked.approved) {
        deps.logger.warn(
          { ...about, tool: asked.tool, requestId: asked.requestId, outcome: kindOf(events) },
          `the outcome of ${asked.tool} (call ${callId}) came after a human approved running it again, before it ran again: recorded, it answers that approval, and the call is not run again`,
        );
        // A step here that waits for it goes on from it; otherwise the approved run, wherever it
        // is, finds its start refused (its tool_call expects the version before this outcome).
        if (deps.lateCalls?.awaited(idempotencyKeyFor(thread, callId)) !== true) deps.onRevived?.(written);
      } else {
        deps.logger.warn(
          { ...about, tool: asked.tool, requestId: asked.requestId, outcome: kindOf(events) },
          `the outcome of ${asked.tool} (call ${callId}) came after another process asked a human whether the call took effect: recorded, it answers that question`,
        );
        // That process's job ended at its question: none carries the thread on from here.
        deps.onRevived?.(written);
      }
      return written;
    } catch (again) {
      if (!(again instanceof VersionConflictError)) throw again;
    }
  }
  if (ran !== undefined && latest === undefined) {
    deps.logger.error(
      { ...about, tool: ran, outcome: kindOf(outcomeAt(input, thread, outcome)) },
      `${ran} completed (call ${callId}) after its thread ${thread.id} was deleted: its outcome is lost; reconcile it by hand`,
    );
  } else if (ran !== undefined && latest !== undefined) {
    logUnrecorded(input, thread, latest, callId, ran, outcomeAt(input, latest, outcome));
  }
  throw error;
}

/**
 * Logs the outcome of call `callId` (of tool `ran`, run from `thread`) that is not recorded, the
 * thread having moved on in `latest`. When a run of the same call again started (an idempotent
 * tool: its outcome, recorded or to come, stands) or recorded an outcome meanwhile: for an
 * idempotent tool a warning (its re-run was safe); for one that is not (a human
 * approved running it again while this run was still going: after its timeout, in this process, or
 * in a process that froze) an error, as its effect may have happened twice, naming both attempts,
 * the idempotency key and this outcome (redacted as recorded outcomes are), to reconcile by hand.
 * Otherwise (a cancel, an answer) an error naming the call and the thread's status.
 */
function logUnrecorded(input: StepInput, thread: Thread, latest: Thread, callId: string, ran: string, events: readonly NewEvent[]): void {
  const { logger } = input.deps;
  const since = versionOf(thread);
  const kind = kindOf(events);
  const state = statusOf(deriveState(latest.events));
  const about = { callId, tool: ran, outcome: kind, state };
  const rerun = latest.events.findLast((e) => e.seq > since && e.type === 'tool_call' && e.data.callId === callId);
  const recorded = latest.events.some((e) => e.seq > since && isOutcomeOf(e, { callId, tool: ran }));
  const idempotent = input.agent.toolsByName.get(ran)?.idempotent === true;
  if (!recorded && idempotent && rerun?.type === 'tool_call') {
    // The call runs again (another process took the thread over): that run's outcome stands.
    logger.warn(about, `${ran} completed (call ${callId}) while the same call is running again (attempt ${rerun.data.attempt}): this one (a ${kind}) is not recorded; the outcome of that run stands (${ran} is idempotent)`);
  } else if (!recorded) {
    logger.error(about, `${ran} completed (call ${callId}) after its thread moved on meanwhile (here or in another process): its outcome (a ${kind}) is not recorded; reconcile it by hand (the thread is ${state})`);
  } else if (idempotent || rerun?.type !== 'tool_call') {
    // Another process ran the call again (an idempotent tool) and recorded that run's outcome.
    logger.warn(about, `${ran} completed (call ${callId}) after another process had recorded an outcome of the same call: this one (a ${kind}) is not recorded`);
  } else {
    const first = thread.events.findLast((e) => e.type === 'tool_call' && e.data.callId === callId);
    const attempt = first?.type === 'tool_call' ? first.data.attempt : undefined;
    const { idempotencyKey, attempt: recordedAttempt } = rerun.data;
    logger.error(
      { ...about, attempt, recordedAttempt, idempotencyKey, ...lateOutcomeFields(events) },
      `${ran} completed (call ${callId}, attempt ${attempt ?? '?'}) after attempt ${recordedAttempt} of the same call ran and recorded its outcome: ${ran} is not idempotent, so its effect may have happened twice (idempotency key ${idempotencyKey}); this ${kind} is not recorded: reconcile it by hand`,
    );
  }
}

/** What a late outcome's events say, for its log line: the result, or the error's message (both redacted when built). */
function lateOutcomeFields(events: readonly NewEvent[]): { result?: Json; error?: string } {
  const first = events[0];
  if (first?.type === 'tool_result') return { result: first.data.result };
  return first?.type === 'error' ? { error: first.data.message } : {};
}

/**
 * The interrupted-call request about call `callId` that `thread` (whose state is `state`) holds
 * open, or that a human answered by approving to run the call again (`approved`) which has not
 * started yet, when it, its answer and control events are all that others wrote after `since`;
 * null otherwise. The outcome is recorded after them: it answers the question, or the approval
 * (the call then does not run again: its start, expecting the version before, is refused).
 */
function openQuestion(thread: Thread, state: ThreadState, since: number, callId: string): { readonly requestId: string; readonly tool: string; readonly approved: boolean } | null {
  if (state.terminal !== null) return null;
  const request = state.pendingRequest;
  const call = state.pendingCall;
  let asked: { readonly requestId: string; readonly tool: string; readonly approved: boolean };
  if (request?.kind === 'interrupted' && request.callId === callId) asked = { requestId: request.requestId, tool: request.tool ?? 'the tool', approved: false };
  else if (request === null && call?.callId === callId && call.retryApproved) {
    const answer = thread.events.findLast((e) => e.type === 'human_response');
    if (answer?.type !== 'human_response') return null;
    asked = { requestId: answer.data.requestId, tool: call.tool, approved: true };
  } else return null;
  const others = thread.events.filter((e) => e.seq > since);
  const ofQuestion = (e: ThreadEvent): boolean => (e.type === 'human_request' || e.type === 'human_response') && e.data.requestId === asked.requestId;
  return others.every((e) => e.type === 'control' || ofQuestion(e)) ? asked : null;
}

/** Whether outcome events record a result or an error (for the log). */
function kindOf(events: readonly NewEvent[]): 'result' | 'error' {
  return events.some((e) => e.type === 'tool_result') ? 'result' : 'error';
}

/**
 * Whether `thread` holds the outcome of call `callId` (of `tool`) right after `since` (control
 * events may precede it), and nothing of anyone else after it: its result or error, or the timeout
 * of a tool that is not idempotent (naming only the tool), with what an outcome appends with it.
 */
function landed(thread: Thread, since: number, callId: string, tool: string | undefined): boolean {
  const after = thread.events.filter((e) => e.seq > since && e.type !== 'control');
  const first = after[0];
  if (first === undefined || !isOutcomeOf(first, { callId, tool: tool ?? '' })) return false;
  return after.slice(1).every((e) => e.type === 'final' || e.type === 'escalation' || (e.type === 'human_request' && (e.data.kind === 'escalation' || e.data.callId === callId)));
}

/** The events of `outcome` appended after `thread`. */
function outcomeAt(input: StepInput, thread: Thread, outcome: Outcome): readonly NewEvent[] {
  return typeof outcome === 'function' ? outcome({ ...input, thread, state: deriveState(thread.events) }) : outcome;
}

/**
 * Whether `latest` (the thread read again under `thread`'s id) is still `thread`, moved on or not:
 * the same incarnation, no shorter. Otherwise `thread` was deleted, and what was read is a thread
 * launched again under its id (created in the same millisecond, it may share the incarnation, but
 * is shorter than what `thread` already held).
 */
function isSameThread(latest: Thread, thread: Thread): boolean {
  return incarnationKeyOf(latest) === incarnationKeyOf(thread) && versionOf(latest) >= versionOf(thread);
}

/** Whether every event after `since` is a control event (no other writer recorded anything else, this call's outcome included). */
function onlyControlSince(thread: Thread, since: number): boolean {
  const { events } = thread;
  for (let i = events.length - 1; i >= 0 && events[i]!.seq > since; i--) if (events[i]!.type !== 'control') return false;
  return true;
}

/** The event that records a call's outcome, as it follows a cancel: no final, escalation or retry time. */
function afterCancel(events: readonly NewEvent[]): NewEvent[] {
  const first = events[0];
  if (first === undefined) return [];
  if (first.type !== 'error') return [first];
  const data = { ...first.data };
  delete data.retryAt;
  return [{ type: 'error', data }];
}

/** What the tool is given: ids, its attempt, and a logger and signal built only when read. */
function toolContext(input: StepInput, cleared: ClearedCall, toolSignal: ToolSignal): ToolContext {
  const { call } = cleared;
  // Built on first use: most tools never log, and a pino child per call is not free.
  let log: Logger | undefined;
  return {
    threadId: input.thread.id,
    callId: call.callId,
    idempotencyKey: cleared.idempotencyKey,
    attempt: cleared.attempt,
    get logger() {
      return (log ??= input.deps.logger.child({ state: 'executing', tool: call.tool, callId: call.callId }));
    },
    get signal() {
      return toolSignal.signal;
    },
  };
}

/**
 * A tool's abort signal, built on first read (most tools never read it; an AbortSignal is not
 * free): aborted when the step's signal aborts, the step is told to wind down, or the tool's
 * deadline passes.
 */
class ToolSignal {
  #controller: AbortController | undefined;
  #timedOut: Error | undefined;
  readonly #step: AbortSignal;
  readonly #windDown: AbortSignal | undefined;
  /** Made with the signal, as the listener that aborts it. */
  #onAbort: ((event: Event) => void) | undefined;

  constructor(step: AbortSignal, windDown: AbortSignal | undefined) {
    this.#step = step;
    this.#windDown = windDown;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      const aborted = this.#step.aborted ? this.#step : this.#windDown?.aborted === true ? this.#windDown : undefined;
      if (this.#timedOut !== undefined) this.#controller.abort(this.#timedOut);
      else if (aborted !== undefined) this.#controller.abort(aborted.reason);
      else {
        const onAbort = (event: Event): void => this.#controller?.abort((event.target as AbortSignal).reason);
        this.#onAbort = onAbort;
        this.#step.addEventListener('abort', onAbort, { once: true });
        this.#windDown?.addEventListener('abort', onAbort, { once: true });
      }
    }
    return this.#controller.signal;
  }

  timeOut(reason: Error): void {
    this.#timedOut = reason;
    this.#controller?.abort(reason);
  }

  dispose(): void {
    const onAbort = this.#onAbort;
    if (onAbort === undefined) return;
    this.#step.removeEventListener('abort', onAbort);
    this.#windDown?.removeEventListener('abort', onAbort);
  }
}

const TIMED_OUT = Symbol('timed out');

/** A tool's error with its causes, each part redacted of the agent's secrets before it is cut. */
function toolErrorText(input: StepInput, error: unknown): string {
  return describeError(error, (text) => redactText(text, input.agent.secrets));
}
