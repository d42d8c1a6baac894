import type { z } from 'zod';
import { redactJson, redactText } from '../context/redact.js';
import { redactingLogger } from '../context/redactingLogger.js';
import { renderContext } from '../context/renderContext.js';
import { sealSecretsOf } from '../context/sealedArgs.js';
import { ConfigError, messageOf, VersionConflictError } from '../errors.js';
import { appendEvents } from '../store/appendEvents.js';
import { versionOf, type CustomData, type Json, type NewEvent, type Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, type ThreadState } from '../thread/state.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Agent } from './agent.js';
import { approvalRequest } from './approvalRequest.js';
import type { CustomStep, StepContext } from './customStep.js';
import type { StepInput } from './deps.js';
import { errorEvents } from './errorEvents.js';
import { parseRecorded } from './executeStep.js';
import { toJson } from './tool.js';

/** Whether `step` is due now: a pure function of the thread, which the agent machine routes by. */
export function customStepDue(agent: Agent, step: CustomStep, thread: Thread, state: ThreadState): boolean {
  const call = state.pendingCall;
  switch (step.kind) {
    // Not before a decision the step budget will not let happen (it escalates, max_steps, instead).
    case 'before_decision':
      return call === null && state.steps < agent.maxSteps && !state.beforeDone.includes(step.name) && step.when(thread, state);
    case 'compact':
      return call === null && state.steps < agent.maxSteps && !state.beforeDone.includes(step.name) && renderContext(agent, thread).omitted > 0;
    case 'after_decision':
      // A call a human approved, or one already started, is past judging.
      return call !== null && !call.judged.includes(step.name) && !call.approved && !call.retryApproved && call.attempts === 0;
    case 'intent':
      return call !== null && call.tool === step.name && agent.afterDecision.every((j) => !customStepDue(agent, j, thread, state));
  }
}

/** The steps of the agent's author, in the order the agent machine checks them. */
export function customStepsOf(agent: Agent): readonly CustomStep[] {
  return [...agent.afterDecision, ...agent.intents.values(), ...agent.beforeDecision, ...(agent.compact === undefined ? [] : [agent.compact])];
}

function stepNamed(agent: Agent, name: string): CustomStep | undefined {
  return customStepsOf(agent).find((step) => step.name === name);
}

/** Validates and redacts what a step returned for the thread. */
function recorded(agent: Agent, schema: z.ZodType | undefined, output: unknown): Json | undefined {
  if (output === undefined) return undefined;
  const checked = schema === undefined ? { success: true as const, data: output } : schema.safeParse(output);
  if (!checked.success) throw new TypeError(`its output does not match its schema: ${checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return redactJson(toJson(checked.data), agent.secrets);
}

function waitUntil(now: number, waitMs: number | undefined): number | undefined {
  if (waitMs === undefined) return undefined;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new TypeError(`waitMs must be a non-negative number of milliseconds (got ${waitMs})`);
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

/** How one step runs: its now, logger (bound), signal, and what sealed arguments open with. */
interface StepRun {
  readonly now: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly sealSecrets: readonly string[];
}

/**
 * The events a step of the agent's author adds to a thread, without appending them: a pure
 * function of the thread and what the step's code returns (`(thread, input) -> events`), so a
 * step can be unit-tested without a runtime. Throws when the step throws or returns bad output,
 * and a {@link ConfigError} naming the agent's steps when it has none named `name`.
 *
 * @example
 * ```ts
 * const events = await stepEvents(myAgent, 'policy', thread);
 * expect(events[0]).toMatchObject({ type: 'custom', data: { verdict: 'reject' } });
 * ```
 */
export function stepEvents(agent: Agent, name: string, thread: Thread, options: StepEventsOptions = {}): Promise<NewEvent[]> {
  const logger = redactingLogger(options.logger ?? silentLogger(), agent.secrets);
  const run = { now: options.now ?? Date.now(), logger, signal: options.signal ?? new AbortController().signal, sealSecrets: sealSecretsOf(options.sealSecret) };
  return eventsOf(agent, name, thread, deriveState(thread.events), run);
}

async function eventsOf(agent: Agent, name: string, thread: Thread, state: ThreadState, { now, logger, signal, sealSecrets }: StepRun): Promise<NewEvent[]> {
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
      if (typeof summary !== 'string') throw new TypeError('compact must return the summary as a string');
      return [custom({ output: redactText(summary, agent.secrets), upTo }, 'compact')];
    }
    case 'after_decision': {
      const call = state.pendingCall;
      if (call === null) return [];
      const result = await step.run(call, context);
      const given = 'feedback' in result ? result.feedback : undefined;
      const feedback = typeof given === 'string' ? redactText(given, agent.secrets) : undefined;
      if (!['accept', 'reject', 'ask'].includes(result.verdict)) throw new TypeError(`a judge's verdict is accept, reject or ask (got ${String(result.verdict)})`);
      if (result.verdict === 'reject' && (feedback === undefined || feedback === '')) throw new TypeError('a rejection needs feedback for the model');
      const event = custom(defined({ callId: call.callId, verdict: result.verdict, feedback, output: recorded(agent, step.output, result.output) }), 'after_decision');
      if (result.verdict !== 'ask') return [event];
      const request = approvalRequest(incarnationKeyOf(thread), versionOf(thread) + 2, call);
      if (feedback !== undefined && request.type === 'human_request') return [event, { ...request, data: { ...request.data, question: feedback } }];
      return [event, request];
    }
    case 'intent': {
      const call = state.pendingCall;
      if (call === null) return [];
      const args = parseRecorded(sealSecrets, thread.id, call, step.tool);
      if (!args.success) throw new TypeError(`arguments for ${name} are invalid: ${args.error}`);
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
export async function customStep(input: StepInput, name: string, signal: AbortSignal): Promise<Thread> {
  let events: NewEvent[];
  try {
    const { agent, thread, state, deps } = input;
    events = await eventsOf(agent, name, thread, state, { now: deps.clock.now(), logger: deps.logger, signal, sealSecrets: deps.sealSecrets ?? [] });
  } catch (error) {
    if (signal.aborted || error instanceof VersionConflictError) throw error;
    const call = input.state.pendingCall;
    const about = input.agent.intents.has(name) && call !== null ? { callId: call.callId, tool: name } : { tool: name };
    return appendEvents(input.deps, input.thread, errorEvents(input, 'step_error', `${name} failed: ${messageOf(error)}`, about));
  }
  return appendEvents(input.deps, input.thread, events);
}
