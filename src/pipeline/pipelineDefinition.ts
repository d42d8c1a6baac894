import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { checkZod4Schema, unrepresentableParts } from '../agent/strictSchema.js';
import { recordDefinitionSite } from '../agent/definitionSite.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Json } from '../thread/events.js';

/**
 * What a branch returns to end the pipeline at once (its `finish` builds the output). A step name
 * cannot start with `$`, so this never names a step.
 */
export const FINISH = '$finish';
/** The type of {@link FINISH}. */
export type Finish = typeof FINISH;

/** What a pipeline step sees: the validated pipeline input and the results of earlier steps. */
export interface PipelineStepContext<TInput = unknown, TResults = Readonly<Record<string, unknown>>> {
  readonly threadId: string;
  readonly input: TInput;
  /**
   * The latest result of each step that has run, by step name (`{ skipped: true }` for skipped
   * steps): the JSON the log holds, parsed again with the step's `output` schema when it has one
   * (a Date where it pipes to one). In a loop, a step sees the results of the round before for
   * steps not yet run again.
   */
  readonly results: TResults;
  /** 1 on a step's first run, 2 when a loop comes back to it, and so on. */
  readonly visit: number;
  readonly logger: Logger;
  /**
   * Aborts when the pipeline is cancelled (or its process stops) while the step runs: the cancel
   * does not wait for it, and what it returns is not recorded. Unlike a tool call's, a step's run
   * is not finished before a cancel: steps are idempotent (they run again after a crash).
   */
  readonly signal: AbortSignal;
}

/**
 * A step that runs code. It runs again if the process died while it ran, and a cancel cuts it off
 * (its `signal` aborts; its result is not recorded): keep it idempotent.
 */
export interface CodeStep<TInput = unknown> {
  readonly kind: 'code';
  readonly name: string;
  run(context: PipelineStepContext<TInput>): Promise<unknown> | unknown;
  /**
   * Validates (the JSON of) what `run` returns before it is recorded; an invalid value fails the
   * pipeline with a message naming the step and the issues. The steps after it see the recorded
   * JSON parsed with it again, so it must take JSON: `z.date()`, `z.bigint()`, `z.map()`... are
   * refused at definition (`z.iso.datetime().pipe(z.coerce.date())` gives a Date).
   * @default no validation (the JSON of any value)
   */
  readonly output?: z.ZodType;
  /** Skip this step when it returns true (recorded as `{ skipped: true }`). */
  skip?(context: PipelineStepContext<TInput>): boolean;
}

/** A step that delegates a 3-20-step job to an agent, as a child thread, and waits for its output. */
export interface AgentStep<TInput = unknown> {
  readonly kind: 'agent';
  readonly name: string;
  /** The agent's name in the runtime. */
  readonly agent: string;
  /** The child thread's input. */
  input(context: PipelineStepContext<TInput>): Json;
  /** Validates the child's final output; the steps after it see it parsed with this again. */
  readonly output?: z.ZodType;
  skip?(context: PipelineStepContext<TInput>): boolean;
}

/**
 * A durable sleep: the wake-up time is journaled when the step starts, so the pipeline sleeps on
 * across restarts (the timer is re-armed from the recorded deadline) and never wakes early.
 */
export interface SleepStep<TInput = unknown> {
  readonly kind: 'sleep';
  readonly name: string;
  /** How long to sleep, in ms, decided once when the step starts. */
  duration(context: PipelineStepContext<TInput>): number;
  skip?(context: PipelineStepContext<TInput>): boolean;
}

/**
 * A step that chooses which step runs next, by name: an earlier one (a loop), a later one (a
 * branch), {@link FINISH}, or `undefined` for the step after it. The choice is recorded as the
 * step's result, so a restored run takes the same path without calling `choose` again.
 */
export interface BranchStep<TInput = unknown> {
  readonly kind: 'branch';
  readonly name: string;
  choose(context: PipelineStepContext<TInput>): string | undefined;
}

export type PipelineStep<TInput = unknown> = CodeStep<TInput> | AgentStep<TInput> | SleepStep<TInput> | BranchStep<TInput>;

/** The parts of a pipeline definition besides its steps. */
export interface PipelineHead<TInput extends z.ZodType, TOutput extends z.ZodType, TName extends string = string> {
  /** Lower-case letters, digits, `_` and `-`. */
  name: TName;
  description: string;
  input: TInput;
  output: TOutput;
  /** Failures of code steps in a row before the pipeline fails. @default 3 */
  maxConsecutiveErrors?: number | undefined;
  /** Delay before retrying a failed code step (doubles each time). @default 1000 */
  retryDelayMs?: number | undefined;
  /**
   * Step runs (each visit of a step counts, branches included) before the pipeline fails: the
   * bound on its loops. At least the number of steps. @default 100
   */
  maxTransitions?: number | undefined;
}

/**
 * A pipeline definition, normalized.
 *
 * @typeParam TName - its name, as {@link pipeline} was given it (a literal there)
 * @typeParam TInput - the schema of its input
 */
export interface Pipeline<TName extends string = string, TInput extends z.ZodType = z.ZodType> {
  readonly kind: 'pipeline';
  readonly name: TName;
  readonly description: string;
  readonly input: TInput;
  readonly output: z.ZodType;
  readonly steps: readonly PipelineStep[];
  finish(context: PipelineStepContext): unknown;
  readonly maxConsecutiveErrors: number;
  readonly retryDelayMs: number;
  readonly maxTransitions: number;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const STEP_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Checks and normalizes a pipeline definition; throws a {@link ConfigError} naming what is wrong.
 * Its head's schemas are checked already: {@link pipeline}, its one caller (direct or through a
 * builder), runs {@link checkSchemas} on it first.
 */
export function definePipeline(
  head: PipelineHead<z.ZodType, z.ZodType>,
  steps: readonly PipelineStep[],
  finish: (context: PipelineStepContext) => unknown,
): Pipeline {
  const { name, description, input, output, maxConsecutiveErrors = 3, retryDelayMs = 1000, maxTransitions = 100 } = head;
  if (!NAME.test(name)) throw new ConfigError(`pipeline name "${name}" must match ${NAME}`);
  // As for an agent's input: a launch sends JSON, which a coerced part (z.coerce.date()) takes.
  const unrepresentable = unrepresentableParts(input, { coerced: true });
  if (unrepresentable.length > 0) {
    throw new ConfigError(`pipeline ${name}: its input has types JSON Schema cannot express (a launch sends JSON, and the published input schema would allow any value there): ${unrepresentable.join('; ')}`);
  }
  if (steps.length === 0) throw new ConfigError(`pipeline ${name} has no steps`);
  const names = new Set<string>();
  for (const step of steps) {
    if (!STEP_NAME.test(step.name)) throw new ConfigError(`pipeline ${name}: step name "${step.name}" must be lower-case letters, digits and _`);
    if (names.has(step.name)) throw new ConfigError(`pipeline ${name}: two steps are named ${step.name}`);
    names.add(step.name);
    checkStepOutput(name, step);
  }
  if (!Number.isInteger(maxTransitions) || maxTransitions < steps.length) {
    throw new ConfigError(`pipeline ${name}: maxTransitions must be an integer of at least ${steps.length} (one run of each step)`);
  }
  const defined: Pipeline = { kind: 'pipeline', name, description, input, output, steps, finish, maxConsecutiveErrors, retryDelayMs, maxTransitions };
  recordDefinitionSite(defined);
  return defined;
}

/**
 * Refuses a pipeline head without an input or output schema (a JavaScript config, a cast), or with
 * one that is not zod 4, naming the pipeline and the field: {@link pipeline} checks every head at
 * once, a builder's before its steps (once: {@link definePipeline} relies on it).
 */
export function checkSchemas(head: Pick<PipelineHead<z.ZodType, z.ZodType>, 'name' | 'input' | 'output'>): void {
  for (const field of ['input', 'output'] as const) {
    const schema: unknown = head[field];
    if (schema === undefined) throw new ConfigError(`pipeline ${head.name} has no ${field} schema: pipeline() needs both input and output, zod schemas (z.unknown() takes anything)`);
    checkZod4Schema(schema, `pipeline ${head.name}: ${field}`);
  }
}

/**
 * Refuses a step `output` schema that takes what JSON cannot hold: its result is recorded as JSON
 * and parsed with the schema again for the steps after it, so a `z.date()` would refuse its own
 * recorded ISO string. A coerced part (`z.coerce.date()`) takes that JSON, as in an input.
 */
function checkStepOutput(pipeline: string, step: PipelineStep): void {
  if ((step.kind !== 'code' && step.kind !== 'agent') || step.output === undefined) return;
  checkZod4Schema(step.output, `pipeline ${pipeline}: step ${step.name}: output`);
  const unrepresentable = unrepresentableParts(step.output, { coerced: true });
  if (unrepresentable.length > 0) {
    throw new ConfigError(`pipeline ${pipeline}: step ${step.name}: its output has types JSON Schema cannot express (its result is recorded as JSON, which the steps after it get parsed again with it): ${unrepresentable.join('; ')}`);
  }
}

/** Type guard for pipelines. */
export function isPipeline(value: unknown): value is Pipeline {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'pipeline';
}

/**
 * The id of the child thread a pipeline step delegates to: the same on every run of that visit,
 * so a restored pipeline finds its child again. A loop's later visits get their own child.
 */
export function childThreadId(parentId: string, step: string, visit = 1): string {
  const id = visit <= 1 ? `${parentId}--${step}` : `${parentId}--${step}-${visit}`;
  if (id.length <= MAX_THREAD_ID_LENGTH) return id;
  // Too long for a thread id (a long parent id, or pipelines nested deep): its start, then a digest
  // of the whole, so it stays the same on every run and apart from every other step's and visit's.
  const digest = createHash('sha256').update(id).digest('hex').slice(0, 32);
  return `${id.slice(0, MAX_THREAD_ID_LENGTH - digest.length - 1)}-${digest}`;
}

/** The longest thread id (the runtime's `THREAD_ID_PATTERN`). */
export const MAX_THREAD_ID_LENGTH = 128;

/** A code step (for the array form of {@link pipeline}; the builder's `.code` is typed). */
export function codeStep<TInput = unknown>(step: Omit<CodeStep<TInput>, 'kind'>): CodeStep<TInput> {
  return { kind: 'code', ...step };
}

/** A delegation to an agent. */
export function agentStep<TInput = unknown>(step: Omit<AgentStep<TInput>, 'kind'>): AgentStep<TInput> {
  return { kind: 'agent', ...step };
}

/** Options of {@link sleepStep}: `ms`, or a `duration` computed when the step starts. */
export interface SleepStepOptions<TInput = unknown> {
  name: string;
  /** How long to sleep. */
  ms?: number;
  /** How long to sleep, decided once when the step starts (instead of `ms`). */
  duration?: (context: PipelineStepContext<TInput>) => number;
  skip?: (context: PipelineStepContext<TInput>) => boolean;
}

/** A durable sleep of `ms` (or of what `duration` returns), e.g. before checking a deploy again. */
export function sleepStep<TInput = unknown>(step: SleepStepOptions<TInput>): SleepStep<TInput> {
  const { name, ms, duration, skip } = step;
  if (duration === undefined && !(typeof ms === 'number' && ms >= 0)) throw new ConfigError(`sleep step ${name} needs ms >= 0 or a duration function`);
  return { kind: 'sleep', name, duration: duration ?? (() => ms!), ...(skip ? { skip } : {}) };
}

/** A branch: `choose` names the step to run next (see {@link BranchStep}). */
export function branchStep<TInput = unknown>(step: Omit<BranchStep<TInput>, 'kind'>): BranchStep<TInput> {
  return { kind: 'branch', ...step };
}
