import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Json } from '../thread/events.js';

/** What a pipeline step sees: the validated pipeline input and the results of earlier steps. */
export interface PipelineStepContext<TInput = unknown> {
  readonly threadId: string;
  readonly input: TInput;
  /** Results of the steps before this one, by step name (`{ skipped: true }` for skipped steps). */
  readonly results: Readonly<Record<string, Json>>;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/** A step that runs code. It runs again if the process died while it ran: keep it idempotent. */
export interface CodeStep<TInput = unknown> {
  readonly kind: 'code';
  readonly name: string;
  run(context: PipelineStepContext<TInput>): Promise<unknown> | unknown;
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
  /** Validates the child's final output. */
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

export type PipelineStep<TInput = unknown> = CodeStep<TInput> | AgentStep<TInput> | SleepStep<TInput>;

/** Options of {@link pipeline}. */
export interface PipelineOptions<TInput extends z.ZodType, TOutput extends z.ZodType> {
  /** Lower-case letters, digits, `_` and `-`. */
  name: string;
  description: string;
  input: TInput;
  output: TOutput;
  steps: readonly PipelineStep<z.output<TInput>>[];
  /** Builds the pipeline's output from the step results (validated with `output`). */
  finish(context: PipelineStepContext<z.output<TInput>>): z.input<TOutput>;
  /** Failures of code steps in a row before the pipeline fails. @default 3 */
  maxConsecutiveErrors?: number;
  /** Delay before retrying a failed code step (doubles each time). @default 1000 */
  retryDelayMs?: number;
}

/** A pipeline definition, normalized. */
export interface Pipeline {
  readonly kind: 'pipeline';
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType;
  readonly output: z.ZodType;
  readonly steps: readonly PipelineStep[];
  finish(context: PipelineStepContext): unknown;
  readonly maxConsecutiveErrors: number;
  readonly retryDelayMs: number;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * Defines a deterministic pipeline: code steps and delegations to agents, with typed input and
 * output. A pipeline run is itself a durable thread and resumes after restarts.
 *
 * @example
 * ```ts
 * const bugfix = pipeline({
 *   name: 'bugfix',
 *   description: 'triage a bug report, then deploy the fix',
 *   input: z.object({ report: z.string() }),
 *   output: z.object({ summary: z.string() }),
 *   steps: [
 *     agentStep({ name: 'triage', agent: 'triage', input: ({ input }) => input.report }),
 *     agentStep({ name: 'deploy', agent: 'deploybot', input: ({ results }) => `deploy ${results.triage}` }),
 *   ],
 *   finish: ({ results }) => ({ summary: String(results.deploy) }),
 * });
 * ```
 */
export function pipeline<TInput extends z.ZodType, TOutput extends z.ZodType>(options: PipelineOptions<TInput, TOutput>): Pipeline {
  const { name, description, input, output, steps, finish, maxConsecutiveErrors = 3, retryDelayMs = 1000 } = options;
  if (!NAME.test(name)) throw new ConfigError(`pipeline name "${name}" must match ${NAME}`);
  if (steps.length === 0) throw new ConfigError(`pipeline ${name} has no steps`);
  const names = new Set<string>();
  for (const step of steps) {
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(step.name)) throw new ConfigError(`pipeline ${name}: step name "${step.name}" must be lower-case letters, digits and _`);
    if (names.has(step.name)) throw new ConfigError(`pipeline ${name}: two steps are named ${step.name}`);
    names.add(step.name);
  }
  return {
    kind: 'pipeline',
    name,
    description,
    input,
    output,
    steps: steps as readonly PipelineStep[],
    finish: finish as (context: PipelineStepContext) => unknown,
    maxConsecutiveErrors,
    retryDelayMs,
  };
}

/** A code step. */
export function codeStep<TInput = unknown>(step: Omit<CodeStep<TInput>, 'kind'>): CodeStep<TInput> {
  return { kind: 'code', ...step };
}

/** A delegation to an agent. */
export function agentStep<TInput = unknown>(step: Omit<AgentStep<TInput>, 'kind'>): AgentStep<TInput> {
  return { kind: 'agent', ...step };
}

/** A durable sleep of `ms` (or of what `duration` returns), e.g. before checking a deploy again. */
export function sleepStep<TInput = unknown>(step: { name: string; ms?: number; duration?: (context: PipelineStepContext<TInput>) => number; skip?: (context: PipelineStepContext<TInput>) => boolean }): SleepStep<TInput> {
  const { name, ms, duration, skip } = step;
  if (duration === undefined && !(typeof ms === 'number' && ms >= 0)) throw new ConfigError(`sleep step ${name} needs ms >= 0 or a duration function`);
  return { kind: 'sleep', name, duration: duration ?? (() => ms!), ...(skip ? { skip } : {}) };
}

/** Type guard for pipelines. */
export function isPipeline(value: unknown): value is Pipeline {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'pipeline';
}

/** The id of the child thread a pipeline step delegates to: the same on every run. */
export function childThreadId(parentId: string, step: string): string {
  return `${parentId}--${step}`;
}
