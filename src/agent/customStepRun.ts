import type { z } from 'zod';
import { redactJson, redactText } from '../context/redact.js';
import { redactingLogger } from '../context/redactingLogger.js';
import { renderContext } from '../context/renderContext.js';
import { maskedArgs, openArgs, revealedBy, sealSecretsOf, type OpenedArgs } from '../context/sealedArgs.js';
import { ConfigError, formatIssues, InvalidStateError, messageOf, VersionConflictError } from '../errors.js';
import { appendEvents } from '../store/appendEvents.js';
import { versionOf, type CustomData, type Json, type NewEvent, type Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, statusOf, type ThreadState } from '../thread/state.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Agent } from './agent.js';
import { approvalRequest } from './approvalRequest.js';
import type { CustomStep, StepContext } from './customStep.js';
import type { StepInput } from './deps.js';
import { errorEvents } from './errorEvents.js';
import { parseOpened, revealedTo, revealing } from './executeStep.js';
import { toJson } from './tool.js';

/**
 * Why a judge or an intent is not due now ({@link customStepNotDue}): no call is pending; the
 * pending call was judged by this judge already, approved by a human, or has started (a judge
 * judges a call only before that); it is to another tool than this intent; a judge is due on it
 * first. `other` for a before-decision or compact step that is not due.
 */
export type NotDue = 'no_call' | 'judged' | 'approved' | 'started' | 'other_tool' | 'judge_first' | 'other';

/**
 * Why `step` is not due now, or null when it is: a pure function of the thread, the rule the
 * agent machine routes by (through {@link customStepDue}).
 */
export function customStepNotDue(agent: Agent, step: CustomStep, thread: Thread, state: ThreadState): NotDue | null {
  const call = state.pendingCall;
  switch (step.kind) {
    // Not before a decision the step budget will not let happen (it escalates, max_steps, instead).
    case 'before_decision':
      return call === null && state.steps < agent.maxSteps && !state.beforeDone.includes(step.name) && step.when(thread, state) ? null : 'other';
    case 'compact':
      return call === null && state.steps < agent.maxSteps && !state.beforeDone.includes(step.name) && renderContext(agent, thread).omitted > 0 ? null : 'other';
    case 'after_decision':
      // A call a human approved, or one already started, is past judging.
      if (call === null) return 'no_call';
      if (call.judged.includes(step.name)) return 'judged';
      if (call.approved || call.retryApproved) return 'approved';
      return call.attempts === 0 ? null : 'started';
    case 'intent':
      if (call === null) return 'no_call';
      if (call.tool !== step.name) return 'other_tool';
      return agent.afterDecision.every((j) => !customStepDue(agent, j, thread, state)) ? null : 'judge_first';
  }
}

/** Whether `step` is due now: a pure function of the thread, which the agent machine routes by. */
export function customStepDue(agent: Agent, step: CustomStep, thread: Thread, state: ThreadState): boolean {
  return customStepNotDue(agent, step, thread, state) === null;
}

/**
 * For {@link stepEvents}: an {@link InvalidStateError} naming the agent, the judge or intent and
 * why the runtime would not run it on this thread; nothing when it is due (or is another kind of step).
 */
function checkDue(agent: Agent, step: CustomStep, thread: Thread, state: ThreadState): void {
  if (step.kind !== 'after_decision' && step.kind !== 'intent') return;
  const why = customStepNotDue(agent, step, thread, state);
  if (why === null || why === 'other') return;
  const kind = step.kind === 'intent' ? 'intent' : 'judge';
  const reason = notDueReason(agent, step, thread, state, why);
  throw new InvalidStateError(`agent ${agent.name}'s ${kind} ${step.name} is not due on thread ${thread.id}: ${reason}`, thread.id, statusOf(state));
}

function notDueReason(agent: Agent, step: CustomStep, thread: Thread, state: ThreadState, why: Exclude<NotDue, 'other'>): string {
  const call = state.pendingCall;
  const its = `its pending call ${call?.callId} (${call?.tool})`;
  switch (why) {
    case 'no_call':
      return `it has no pending call (a decision to ${step.kind === 'intent' ? step.name : 'call a tool'} with no outcome after it)`;
    case 'judged':
      return `${its} was judged by ${step.name} already`;
    case 'approved':
      return `${its} was approved by a human (a judge runs before the approval)`;
    case 'started':
      return `${its} has started (a tool_call is recorded): the runtime judges a call only before it starts`;
    case 'other_tool':
      return `its pending call ${call?.callId} is to ${call?.tool}, not ${step.name}`;
    case 'judge_first':
      return `the judge ${agent.afterDecision.find((j) => customStepDue(agent, j, thread, state))?.name} is due first on its pending call ${call?.callId}`;
  }
}

/** The steps of the agent's author, in the order the agent machine checks them. */
export function customStepsOf(agent: Agent): readonly CustomStep[] {
  return [...agent.afterDecision, ...agent.intents.values(), ...agent.beforeDecision, ...(agent.compact === undefined ? [] : [agent.compact])];
}

function stepNamed(agent: Agent, name: string): CustomStep | undefined {
  return customStepsOf(agent).find((step) => step.name === name);
}

/**
 * What a step returned (or an intent's recorded arguments) that the runtime refuses: the runtime
 * records it prefixed `<step> failed:`, and {@link stepEvents} throws it so prefixed.
 */
class StepOutputError extends TypeError {}

/** Validates and redacts what a step returned for the thread. */
function recorded(agent: Agent, schema: z.ZodType | undefined, output: unknown): Json | undefined {
  if (output === undefined) return undefined;
  const checked = schema === undefined ? { success: true as const, data: output } : schema.safeParse(output);
  if (!checked.success) throw new StepOutputError(`its output does not match its schema: ${formatIssues(checked.error.issues).join('; ')}`);
  return redactJson(toJson(checked.data), agent.secrets);
}

function waitUntil(now: number, waitMs: number | undefined): number | undefined {
  if (waitMs === undefined) return undefined;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new StepOutputError(`waitMs must be a non-negative number of milliseconds (got ${waitMs})`);
  return Math.round(now + waitMs);
}

/** What {@link stepEvents} needs besides the agent, the step and the thread. */
export interface StepEventsOptions {
  /** The clock's now (epoch ms) the step sees; a wait is measured from it. @default Date.now() */
  readonly now?: number | undefined;
  /** What the step's `logger` writes to (the agent's secrets redacted). @default a silent logger */
  readonly logger?: Logger | undefined;
  /** @default never aborted */
  readonly signal?: AbortSignal | undefined;
  /** What an intent step's call's sealed arguments open with (see `RuntimeOptions.sealSecret`). @default none */
  readonly sealSecret?: string | readonly string[] | undefined;
}

/** How one step runs: its now, logger (bound), signal, and for an intent its call's arguments opened ({@link openedCall}). */
interface StepRun {
  readonly now: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly opened: OpenedArgs | undefined;
}

/**
 * For intent `name`, its pending call's arguments opened with `sealSecrets` (see `openArgs`), once
 * for its run: the step runs with them, and what they opened to is redacted from its output, its
 * error and its log lines, as for a tool (see `revealing`). Undefined for any other step.
 */
function openedCall(agent: Agent, name: string, thread: Thread, state: ThreadState, sealSecrets: readonly string[]): OpenedArgs | undefined {
  const call = state.pendingCall;
  if (call === null || !agent.intents.has(name)) return undefined;
  return openArgs(call.args, sealSecrets, { threadId: thread.id, callId: call.callId });
}

/**
 * The events a step of the agent's author adds to a thread, without appending them: a pure
 * function of the thread and what the step's code returns (`(thread, input) -> events`), so a
 * step can be unit-tested without a runtime. Rejects with what the step throws; with a TypeError
 * `<name> failed: ...` (as the runtime records it) when it returns what the runtime refuses (an
 * output its schema refuses, a rejection without feedback, an intent's arguments its schema
 * refuses); with a {@link ConfigError} naming the agent's steps when it has none named `name`; and,
 * for a judge or an intent, with an {@link InvalidStateError} saying why when the runtime would not
 * run it on this thread ({@link customStepDue}): no pending call (the thread needs the `decision`
 * event of the call), a call already started (a `tool_call` recorded), approved by a human or
 * judged by it already, a call to another tool than the intent, or a judge due on it first.
 *
 * @example
 * ```ts
 * const events = await stepEvents(myAgent, 'policy', thread);
 * expect(events[0]).toMatchObject({ type: 'custom', data: { verdict: 'reject' } });
 * ```
 */
export async function stepEvents(agent: Agent, name: string, thread: Thread, options: StepEventsOptions = {}): Promise<NewEvent[]> {
  const state = deriveState(thread.events);
  const step = stepNamed(agent, name);
  if (step !== undefined) checkDue(agent, step, thread, state);
  const opened = openedCall(agent, name, thread, state, sealSecretsOf(options.sealSecret));
  // As the runtime runs it (customStep): what its call's sealed arguments opened to redacted too.
  const shown = revealedTo(agent, redactingLogger(options.logger ?? silentLogger(), agent.secrets), revealedBy(opened));
  const run = { now: options.now ?? Date.now(), logger: shown.logger, signal: options.signal ?? new AbortController().signal, opened };
  try {
    return await eventsOf(shown.agent, name, thread, state, run);
  } catch (error) {
    if (!(error instanceof StepOutputError)) throw error;
    const message = redactText(`${name} failed: ${error.message}`, shown.agent.secrets);
    // Its cause only when it says nothing more (the message as the runtime records it, redacted).
    throw new TypeError(message, message.endsWith(error.message) ? { cause: error } : undefined);
  }
}

async function eventsOf(agent: Agent, name: string, thread: Thread, state: ThreadState, { now, logger, signal, opened }: StepRun): Promise<NewEvent[]> {
  const step = stepNamed(agent, name);
  if (step === undefined) {
    const names = customStepsOf(agent).map((s) => s.name);
    throw new ConfigError(`agent ${agent.name} has no step named ${name} (${names.length > 0 ? `its steps: ${names.join(', ')}` : 'it has no steps'})`);
  }
  const inputEvent = thread.events.find((e) => e.type === 'input');
  const context: StepContext = {
    threadId: thread.id,
    thread,
    state,
    input: inputEvent?.type === 'input' ? inputEvent.data.input : null,
    now,
    // The step's logger is its actor's, bound to the thread and agent already.
    logger: logger.child({ state: name }),
    signal,
  };
  const custom = (data: Omit<CustomData, 'step' | 'phase'>, phase: CustomData['phase']): NewEvent => ({ type: 'custom', data: { step: name, phase, ...data } });
  switch (step.kind) {
    case 'before_decision': {
      const result = await step.run(context);
      return [custom(defined({ output: recorded(agent, step.output, result.output), until: waitUntil(now, result.waitMs) }), 'before_decision')];
    }
    case 'compact': {
      // The summary stands for the events the budget would drop, with room left for the summary
      // itself (a quarter of the budget); the newest events stay as they are. The summary before
      // it is dropped first, so it is covered too and handed to `compact` to fold in.
      const upTo = renderContext(agent, thread, { budgetTokens: Math.floor(agent.contextBudget * 0.75) }).omittedUpTo || versionOf(thread);
      const covered = { ...thread, events: thread.events.filter((e) => e.seq <= upTo) };
      const summary = await step.run({ ...context, thread: covered, state: deriveState(covered.events) });
      if (typeof summary !== 'string') throw new StepOutputError('compact must return the summary as a string');
      return [custom({ output: redactText(summary, agent.secrets), upTo }, 'compact')];
    }
    case 'after_decision': {
      const call = state.pendingCall;
      if (call === null) return [];
      // A judge reads the call as the model and people do, in its state too: a sealed secret is `[REDACTED]`.
      const shown = { ...call, args: maskedArgs(call.args) };
      const result = await step.run(shown, { ...context, state: { ...state, pendingCall: shown } });
      const given = 'feedback' in result ? result.feedback : undefined;
      const feedback = typeof given === 'string' ? redactText(given, agent.secrets) : undefined;
      if (!['accept', 'reject', 'ask'].includes(result.verdict)) throw new StepOutputError(`a judge's verdict is accept, reject or ask (got ${String(result.verdict)})`);
      if (result.verdict === 'reject' && (feedback === undefined || feedback === '')) throw new StepOutputError('a rejection needs feedback for the model');
      const event = custom(defined({ callId: call.callId, verdict: result.verdict, feedback, output: recorded(agent, step.output, result.output) }), 'after_decision');
      if (result.verdict !== 'ask') return [event];
      const request = approvalRequest(incarnationKeyOf(thread), versionOf(thread) + 2, call);
      if (feedback !== undefined && request.type === 'human_request') return [event, { ...request, data: { ...request.data, question: feedback } }];
      return [event, request];
    }
    case 'intent': {
      const call = state.pendingCall;
      if (call === null || opened === undefined) return [];
      const args = parseOpened(opened, step.tool);
      if (!args.success) throw new StepOutputError(`arguments for ${name} are invalid: ${args.error}`);
      const result = await step.run(args.data, context);
      return [custom(defined({ callId: call.callId, output: recorded(agent, step.output, result.output), until: waitUntil(now, result.waitMs) }), 'intent')];
    }
  }
}

function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/**
 * Runs a step of the agent's author and appends its events. A step that throws becomes a
 * `step_error` the model sees (for an intent, the call is dropped like a failed tool's; for
 * the others the step runs again after the backoff), escalating after too many in a row.
 */
export async function customStep(given: StepInput, name: string, signal: AbortSignal): Promise<Thread> {
  const opened = openedCall(given.agent, name, given.thread, given.state, given.deps.sealSecrets ?? []);
  const input = revealing(given, revealedBy(opened));
  let events: NewEvent[];
  try {
    const { agent, thread, state, deps } = input;
    events = await eventsOf(agent, name, thread, state, { now: deps.clock.now(), logger: deps.logger, signal, opened });
  } catch (error) {
    if (signal.aborted || error instanceof VersionConflictError) throw error;
    const call = input.state.pendingCall;
    const about = input.agent.intents.has(name) && call !== null ? { callId: call.callId, tool: name } : { tool: name };
    return appendEvents(input.deps, input.thread, errorEvents(input, 'step_error', `${name} failed: ${messageOf(error)}`, about));
  }
  return appendEvents(input.deps, input.thread, events);
}
