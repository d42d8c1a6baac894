import type { z } from 'zod';
import type { Json } from '../thread/events.js';
import type { Jsonified } from './jsonified.js';
import {
  agentStep,
  branchStep,
  codeStep,
  definePipeline,
  sleepStep,
  type Finish,
  type Pipeline,
  type PipelineHead,
  type PipelineStep,
  type PipelineStepContext,
} from './pipelineDefinition.js';

// The typed way to write a pipeline: each step added to the builder adds its result to the type of
// `results` that the steps after it (and `finish`) see: the output of its zod `output` schema (the
// recorded JSON is parsed with it again for them), or the JSON the log holds of what its code
// returns (a Date is its ISO string there).

type Flatten<T> = { [K in keyof T]: T[K] } & {};

/** `TResults` with one more step's result: optional when a branch before it may have gone past it. */
type WithResult<TResults, TName extends string, TOut, TMaybe extends boolean> = Flatten<
  TResults & (TMaybe extends true ? { readonly [K in TName]?: TOut } : { readonly [K in TName]: TOut })
>;

/** Whether a branch choosing `TChoice` may go past the steps after it: to FINISH or to a step declared later. */
type GoesPast<TChoice, TNames> = [Exclude<TChoice, TNames | undefined>] extends [never] ? false : true;

/** Branch targets that name no step (none when a branch returns an unchecked `string`). */
type UnknownTargets<TTargets extends string, TNames extends string> = string extends TTargets ? never : Exclude<TTargets, TNames>;

/**
 * Nothing when every branch target names a step; else a property no function has, named after
 * the unknown target, so that `finish` is refused with a message that names it.
 */
type UnknownTargetError<TUnknown extends string> = [TUnknown] extends [never]
  ? unknown
  : { readonly [K in `branch target '${TUnknown}' is not a step of this pipeline`]: never };

/**
 * Nothing when no step before is named `TName`; else a property no step has, named after the
 * repeated name, so that the step is refused with a message that names it.
 */
type UniqueName<TName extends string, TNames extends string> = string extends TNames
  ? unknown
  : [TName] extends [TNames]
    ? { readonly [K in `a step named '${TName}' exists already`]: never }
    : unknown;

/** A sleep's length: `ms`, or a `duration` decided when the step starts (one of them at least). */
type SleepLength<TContext> = { ms: number; duration?: (context: TContext) => number } | { ms?: number; duration: (context: TContext) => number };

/** What a sleep step records. */
export interface SleepResult {
  readonly slept: true;
  /** The recorded deadline (ISO time). */
  readonly until: string;
}

/** The builder's step context: the pipeline's input and the typed results of the steps before. */
export type TypedStepContext<TInput, TResults> = PipelineStepContext<TInput, TResults>;

/** How a typed pipeline builds its output from its input and results (validated with its `output`). */
export type FinishFunction<TInput, TResults, TOutput extends z.ZodType> = (context: TypedStepContext<TInput, TResults>) => z.input<TOutput>;

/**
 * A pipeline being written, step by step (see {@link pipeline}). Immutable: each method returns a
 * new builder, and `finish` returns the {@link Pipeline}.
 *
 * @typeParam TInput - the pipeline input, as its schema parses it
 * @typeParam TOutput - the schema of the pipeline output
 * @typeParam TResults - the results the next step sees, by step name
 * @typeParam TNames - the names of the steps so far
 * @typeParam TTargets - the step names branches may choose
 * @typeParam TMaybe - whether a branch so far may go past the steps after it
 * @typeParam TPipeline - what `finish` returns: the pipeline, its name and input schema typed
 */
export interface PipelineBuilder<TInput, TOutput extends z.ZodType, TResults = {}, TNames extends string = never, TTargets extends string = never, TMaybe extends boolean = false, TPipeline extends Pipeline = Pipeline> {
  readonly kind: 'pipeline-builder';
  // The overload with `output` comes second: a step literal with `output` is refused by this one
  // (an excess property), and tsc reports the last overload's error, which names the field whose
  // type `run` got wrong.
  /**
   * Code whose value is the step's result, as the log holds it: the JSON of what `run` returns
   * ({@link Jsonified}).
   *
   * `run` runs at least once, not exactly once: if the process dies while it runs (no result
   * recorded), it runs again when the pipeline is restored, with the same `threadId`, step name and
   * `visit`. Keep it idempotent, or put an effect that must happen once in a tool of an agent step
   * (journaled; a tool that is not idempotent is never run twice without asking a human).
   */
  code<TName extends string, TReturn>(
    step: {
      name: TName;
      run(context: TypedStepContext<TInput, TResults>): TReturn | Promise<TReturn>;
    } & UniqueName<TName, TNames>,
  ): PipelineBuilder<TInput, TOutput, WithResult<TResults, TName, Jsonified<Awaited<TReturn>>, TMaybe>, TNames | TName, TTargets, TMaybe, TPipeline>;
  /**
   * Code whose value, validated by `output`, is the step's result: recorded as JSON (what the
   * schema takes) and parsed with `output` again for the steps after it, which see its output.
   *
   * `run` runs at least once, not exactly once: if the process dies while it runs (no result
   * recorded), it runs again when the pipeline is restored, with the same `threadId`, step name and
   * `visit`. Keep it idempotent, or put an effect that must happen once in a tool of an agent step
   * (journaled; a tool that is not idempotent is never run twice without asking a human).
   */
  code<TName extends string, TSchema extends z.ZodType>(
    step: {
      name: TName;
      output: TSchema;
      run(context: TypedStepContext<TInput, TResults>): z.input<TSchema> | Promise<z.input<TSchema>>;
    } & UniqueName<TName, TNames>,
  ): PipelineBuilder<TInput, TOutput, WithResult<TResults, TName, z.output<TSchema>, TMaybe>, TNames | TName, TTargets, TMaybe, TPipeline>;
  /** A delegation to an agent whose final output, validated by `output` and parsed with it, is the step's result. */
  agent<TName extends string, TSchema extends z.ZodType>(
    step: {
      name: TName;
      agent: string;
      input(context: TypedStepContext<TInput, TResults>): Json;
      output: TSchema;
    } & UniqueName<TName, TNames>,
  ): PipelineBuilder<TInput, TOutput, WithResult<TResults, TName, z.output<TSchema>, TMaybe>, TNames | TName, TTargets, TMaybe, TPipeline>;
  /** A delegation to an agent whose final output (any JSON value) is the step's result. */
  agent<TName extends string>(
    step: {
      name: TName;
      agent: string;
      input(context: TypedStepContext<TInput, TResults>): Json;
    } & UniqueName<TName, TNames>,
  ): PipelineBuilder<TInput, TOutput, WithResult<TResults, TName, Json, TMaybe>, TNames | TName, TTargets, TMaybe, TPipeline>;
  /** A durable sleep of `ms`, or of what `duration` returns when the step starts. */
  sleep<TName extends string>(
    step: { name: TName } & SleepLength<TypedStepContext<TInput, TResults>> & UniqueName<TName, TNames>,
  ): PipelineBuilder<TInput, TOutput, WithResult<TResults, TName, SleepResult, TMaybe>, TNames | TName, TTargets, TMaybe, TPipeline>;
  /**
   * Chooses the next step by name: an earlier step (a loop, bounded by `maxTransitions`), a later
   * one, {@link FINISH}, or `undefined` for the step after this one. The steps after a branch that
   * may go past them (to FINISH or to a later step) have optional results from here on.
   */
  branch<TName extends string, TChoice extends string | undefined>(
    step: {
      name: TName;
      choose(context: TypedStepContext<TInput, TResults>): TChoice;
    } & UniqueName<TName, TNames>,
  ): PipelineBuilder<
    TInput,
    TOutput,
    WithResult<TResults, TName, string, TMaybe>,
    TNames | TName,
    TTargets | Exclude<TChoice, undefined | Finish>,
    TMaybe extends true ? true : GoesPast<TChoice, TNames | TName>,
    TPipeline
  >;
  /**
   * Ends the definition: `build` makes the pipeline's output from its results. A branch whose
   * literal choices name a step the pipeline lacks is a type error here, naming it (`branch target
   * 'x' is not a step of this pipeline`): only here are all the steps known, since a branch may
   * choose a step declared after it. A name only known at run time is checked then (the pipeline
   * fails, naming the branch and the name).
   */
  finish(build: FinishFunction<TInput, TResults, TOutput> & UnknownTargetError<UnknownTargets<TTargets, TNames>>): TPipeline;
}

type StepOf<K extends PipelineStep['kind']> = Omit<Extract<PipelineStep, { kind: K }>, 'kind'>;

/** The untyped builder under the typed one: it collects steps and checks the whole at `finish`. */
interface Collecting {
  readonly kind: 'pipeline-builder';
  code(step: StepOf<'code'>): Collecting;
  agent(step: StepOf<'agent'>): Collecting;
  sleep(step: { name: string; ms?: number; duration?: (context: PipelineStepContext) => number }): Collecting;
  branch(step: StepOf<'branch'>): Collecting;
  finish(build: (context: PipelineStepContext) => unknown): Pipeline;
}

function collecting(head: PipelineHead<z.ZodType, z.ZodType>, steps: readonly PipelineStep[]): Collecting {
  const add = (step: PipelineStep): Collecting => collecting(head, [...steps, step]);
  return {
    kind: 'pipeline-builder',
    code: (step) => add(codeStep(step)),
    agent: (step) => add(agentStep(step)),
    sleep: (step) => add(sleepStep(step)),
    branch: (step) => add(branchStep(step)),
    finish: (build) => definePipeline(head, steps, build),
  };
}

/** Starts a typed pipeline definition (what `pipeline(head)` returns). */
export function pipelineBuilder<TName extends string, TInput extends z.ZodType, TOutput extends z.ZodType>(
  head: PipelineHead<TInput, TOutput, TName>,
): PipelineBuilder<z.output<TInput>, TOutput, {}, never, never, false, Pipeline<TName, TInput>> {
  // The step functions are typed by the builder's interface; underneath they see the same
  // context, with the results as recorded, parsed again with their steps' output schemas (and
  // the pipeline `finish` returns has the head's name and input schema).
  return collecting(head, []) as unknown as PipelineBuilder<z.output<TInput>, TOutput, {}, never, never, false, Pipeline<TName, TInput>>;
}

/** Type guard for an unfinished builder (a config that forgot `.finish(...)`). */
export function isPipelineBuilder(value: unknown): value is { readonly kind: 'pipeline-builder' } {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'pipeline-builder';
}
