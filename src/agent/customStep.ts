import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Json, Thread } from '../thread/events.js';
import type { PendingCall, ThreadState } from '../thread/state.js';
import { tool, type Tool } from './tool.js';

// Steps an agent's author adds to its flow (factor 8). Each is a durable, named state of the
// agent's machine, and its result is recorded in the thread as a `custom` event whose `output` the
// step's own zod schema validated, so an actor restored from any prefix knows which ran.

/** What a step of the agent's author receives. */
export interface StepContext {
  readonly threadId: string;
  /** The thread as persisted when the step started. */
  readonly thread: Thread;
  readonly state: ThreadState;
  /** The thread's input. */
  readonly input: Json;
  /** The clock's now (epoch ms): steps that wait compute their deadline from it. */
  readonly now: number;
  /** The runtime's logger, with the thread and step bound; the agent's `secrets` are redacted from its lines. */
  readonly logger: Logger;
  /**
   * Aborts when the thread is cancelled (or its actor stops) while the step runs: the cancel does
   * not wait for it, and what it returns is not recorded. A step of the author is not journaled
   * before it runs and runs again after a crash, so, unlike a tool, it must be idempotent; an
   * effect that must be recorded once belongs in a tool.
   */
  readonly signal: AbortSignal;
}

/** What a before-decision step or an intent handler ends with. */
export interface StepResult<O> {
  /** Recorded in the thread (validated by the step's `output` schema) and shown to the model. */
  readonly output?: O | undefined;
  /** A durable wait: the agent sleeps this long before it goes on, across restarts. */
  readonly waitMs?: number | undefined;
}

/** A judge's verdict on a decided call. */
export type JudgeResult<O> =
  | { readonly verdict: 'accept'; readonly output?: O | undefined }
  /** The call is dropped and the model decides again, told `feedback`. */
  | { readonly verdict: 'reject'; readonly feedback: string; readonly output?: O | undefined }
  /** A human is asked to approve the call; `feedback` is the question. */
  | { readonly verdict: 'ask'; readonly feedback?: string | undefined; readonly output?: O | undefined };

type Awaitable<T> = T | Promise<T>;

/** A step run before each decision (rate limiting, a policy on the thread, extra context). */
export interface BeforeDecisionStep {
  readonly kind: 'before_decision';
  readonly name: string;
  readonly output: z.ZodType | undefined;
  /** Runs only when this is true; a pure function of the thread. @default always */
  readonly when: (thread: Thread, state: ThreadState) => boolean;
  run(context: StepContext): Awaitable<StepResult<unknown>>;
}

/** A step run after each decision for a tool or an intent (an LLM-as-judge, a policy check). */
export interface JudgeStep {
  readonly kind: 'after_decision';
  readonly name: string;
  readonly output: z.ZodType | undefined;
  run(call: PendingCall, context: StepContext): Awaitable<JudgeResult<unknown>>;
}

/** An intent the model can choose that runs the author's code instead of a tool (a durable wait). */
export interface IntentStep {
  readonly kind: 'intent';
  readonly name: string;
  readonly output: z.ZodType | undefined;
  /** How the model is offered the intent: a tool that is never run as one. */
  readonly tool: Tool;
  run(args: unknown, context: StepContext): Awaitable<StepResult<unknown>>;
}

/** Summarizes the thread when the context exceeds its budget; the summary is recorded once and reused. */
export interface CompactStep {
  readonly kind: 'compact';
  readonly name: 'compact';
  readonly output: undefined;
  run(context: StepContext): Awaitable<string>;
}

export type CustomStep = BeforeDecisionStep | JudgeStep | IntentStep | CompactStep;

/** States of the agent machine a step may not be named after. */
const RESERVED = new Set([
  'routing', 'prefetching', 'deciding', 'executing', 'backingoff', 'sleeping', 'awaitinghuman', 'escalated',
  'responding', 'pausing', 'paused', 'resuming', 'cancelling', 'done', 'failed', 'cancelled', 'stopped', 'compact',
]);
const STEP_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

function checkName(name: string): void {
  if (!STEP_NAME.test(name)) throw new ConfigError(`step name "${name}" must match ${STEP_NAME}`);
  if (RESERVED.has(name.toLowerCase())) throw new ConfigError(`step name "${name}" is a state of the agent machine; choose another`);
}

/**
 * A step before each decision. Its `output` (validated by the schema) is recorded and shown to the
 * model as `<step name="...">`; `waitMs` makes the agent sleep durably before it decides.
 *
 * @example
 * ```ts
 * const pace = beforeDecision({
 *   name: 'pace',
 *   when: (_thread, state) => state.totalSteps > 0,
 *   run: () => ({ waitMs: 1000 }),
 * });
 * ```
 */
export function beforeDecision<S extends z.ZodType = z.ZodType<Json>>(options: {
  name: string;
  output?: S;
  when?: (thread: Thread, state: ThreadState) => boolean;
  run(context: StepContext): Awaitable<StepResult<z.infer<S>>>;
}): BeforeDecisionStep {
  checkName(options.name);
  const { when, run } = options;
  if (when === undefined) return { kind: 'before_decision', name: options.name, output: options.output, when: () => true, run };
  return {
    kind: 'before_decision',
    name: options.name,
    output: options.output,
    // `when` is asked while the actor routes, where a throw would stop it: one that throws makes the
    // step due, and its run throws the same, an error of the step like any other.
    when: (thread, state) => {
      try {
        return when(thread, state);
      } catch {
        return true;
      }
    },
    run: (context) => {
      when(context.thread, context.state);
      return run(context);
    },
  };
}

/**
 * A judge after each decision for a tool or an intent: accept the call, reject it with feedback
 * for the model (which decides again), or ask a human to approve it. It reads the call's arguments
 * as the model does: a value sealed for the tool (see `RuntimeOptions.sealSecret`) is `[REDACTED]`,
 * in `call.args` and in `context.state.pendingCall` (the thread's events hold it sealed).
 */
export function judge<S extends z.ZodType = z.ZodType<Json>>(options: {
  name: string;
  output?: S;
  run(call: PendingCall, context: StepContext): Awaitable<JudgeResult<z.infer<S>>>;
}): JudgeStep {
  checkName(options.name);
  return { kind: 'after_decision', name: options.name, output: options.output, run: options.run };
}

/**
 * An intent handled by the agent's own code: the model chooses it like a tool, and `run` returns
 * what to record (and, maybe, how long to sleep first, durably).
 *
 * @example
 * ```ts
 * const wait = intent({
 *   name: 'wait_for_a_while',
 *   description: 'Wait before checking again',
 *   input: z.object({ seconds: z.number().int().min(1).max(86_400) }),
 *   run: ({ seconds }) => ({ output: { waited: seconds }, waitMs: seconds * 1000 }),
 * });
 * ```
 */
export function intent<I extends z.ZodType<Record<string, unknown>>, S extends z.ZodType = z.ZodType<Json>>(options: {
  name: string;
  description: string;
  input: I;
  output?: S;
  run(args: z.infer<I>, context: StepContext): Awaitable<StepResult<z.infer<S>>>;
}): IntentStep {
  checkName(options.name);
  const offered = tool({ name: options.name, description: options.description, input: options.input, run: () => null });
  return { kind: 'intent', name: options.name, output: options.output, tool: offered, run: (args, context) => options.run(args as z.infer<I>, context) };
}

/** The compaction step of an agent: its `compact` option, as a step. */
export function compactStep(summarize: (context: StepContext) => Awaitable<string>): CompactStep {
  return { kind: 'compact', name: 'compact', output: undefined, run: summarize };
}
