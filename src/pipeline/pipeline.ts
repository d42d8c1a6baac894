import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { pipelineBuilder, type PipelineBuilder } from './pipelineBuilder.js';
import { checkSchemas, definePipeline, type Pipeline, type PipelineHead, type PipelineStep, type PipelineStepContext } from './pipelineDefinition.js';

export {
  agentStep,
  branchStep,
  childThreadId,
  codeStep,
  FINISH,
  isPipeline,
  sleepStep,
  type AgentStep,
  type BranchStep,
  type CodeStep,
  type Finish,
  type Pipeline,
  type PipelineHead,
  type PipelineStep,
  type PipelineStepContext,
  type SleepStep,
  type SleepStepOptions,
} from './pipelineDefinition.js';
export { MAX_PIPELINE_DEPTH, pipelineCycle } from './pipelineNesting.js';
export type { Jsonified } from './jsonified.js';
export { isPipelineBuilder, type FinishFunction, type PipelineBuilder, type SleepResult, type TypedStepContext } from './pipelineBuilder.js';

/** Options of {@link pipeline} in its array form: the head, the steps and `finish`. */
export interface PipelineOptions<TInput extends z.ZodType, TOutput extends z.ZodType, TName extends string = string> extends PipelineHead<TInput, TOutput, TName> {
  steps: readonly PipelineStep<z.output<TInput>>[];
  /** Builds the pipeline's output from the step results (validated with `output`). */
  finish(context: PipelineStepContext<z.output<TInput>>): z.input<TOutput>;
}

/**
 * Defines a deterministic pipeline: code steps, delegations to agents, durable sleeps and branches
 * that choose the next step by name (loops are bounded by `maxTransitions`), with typed input and
 * output. A pipeline run is itself a durable thread and resumes after restarts from its log (a
 * code step cut off by a crash runs again: code steps run at least once, so keep them idempotent).
 *
 * Given only its head, `pipeline` returns a {@link PipelineBuilder}: each step's output schema
 * types the `results` of the steps after it (they see the recorded JSON parsed with it again), and
 * a code step without one gives them the JSON of what it returns ({@link Jsonified}). Given
 * `steps` and `finish`, it returns the pipeline (results are `unknown` there).
 *
 * @example
 * ```ts
 * const release = pipeline({
 *   name: 'release',
 *   description: 'fix until the checks pass, then ship',
 *   input: z.object({ repo: z.string() }),
 *   output: z.object({ patch: z.string() }),
 * })
 *   .code({ name: 'fix', output: z.object({ patch: z.string() }), run: ({ input, visit }) => ({ patch: `${input.repo}#${visit}` }) })
 *   .code({ name: 'check', output: z.object({ green: z.boolean() }), run: ({ results }) => runChecks(results.fix.patch) })
 *   .branch({ name: 'again', choose: ({ results }) => (results.check.green ? undefined : 'fix') })
 *   .agent({ name: 'ship', agent: 'deploybot', input: ({ results }) => `deploy ${results.fix.patch} to staging` })
 *   .finish(({ results }) => ({ patch: results.fix.patch }));
 * ```
 */
export function pipeline<const TName extends string, TInput extends z.ZodType, TOutput extends z.ZodType>(options: PipelineOptions<TInput, TOutput, TName>): Pipeline<TName, TInput>;
export function pipeline<const TName extends string, TInput extends z.ZodType, TOutput extends z.ZodType>(
  head: PipelineHead<TInput, TOutput, TName>,
): PipelineBuilder<z.output<TInput>, TOutput, {}, never, never, false, Pipeline<TName, TInput>>;
export function pipeline<const TName extends string, TInput extends z.ZodType, TOutput extends z.ZodType>(
  options: PipelineHead<TInput, TOutput, TName> & Partial<Pick<PipelineOptions<TInput, TOutput, TName>, 'steps' | 'finish'>>,
): Pipeline<TName, TInput> | PipelineBuilder<z.output<TInput>, TOutput, {}, never, never, false, Pipeline<TName, TInput>> {
  const { steps, finish, ...head } = options;
  // Said here, where the head is written, not at .finish() or when a runtime is given it.
  checkSchemas(head);
  if (steps === undefined && finish === undefined) return pipelineBuilder(head);
  if (typeof finish !== 'function') throw new ConfigError(`pipeline ${head.name} has steps but no finish function`);
  // The step functions were typed against the parsed input; underneath they see the same context.
  // definePipeline keeps the head's name and input schema as given: their types are the head's.
  return definePipeline(head, (steps ?? []) as readonly PipelineStep[], finish as (context: PipelineStepContext) => unknown) as Pipeline<TName, TInput>;
}
