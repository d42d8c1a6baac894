import { controlStep } from '../src/agent/controlStep.js';
import type { AgentDeps } from '../src/agent/deps.js';
import { messageOf, ThreadEndedError } from '../src/errors.js';
import { ThreadFailedError } from '../src/store/appendEvents.js';
import type { Logger } from '../src/logger.js';
import type { Thread } from '../src/thread/events.js';

// How the durable machines (the agent and every pipeline) run their steps: one runner per actor,
// kept in its context, told what to run by the working state it enters and answering the actor
// with STEP.DONE/FAILED.

/** The runner finished the step in progress. */
export const STEP_DONE = 'STEP.DONE';
/** The step in progress threw (the store failed, a lost optimistic append): the actor stops. */
export const STEP_FAILED = 'STEP.FAILED';

/** Every step ends with the thread as it persisted it. */
export interface StepOutputBase {
  readonly thread: Thread;
}

/** Events the step runner sends back: the step in progress finished, or threw. */
export type StepEvent<TOutput extends StepOutputBase = StepOutputBase> =
  | { type: typeof STEP_DONE; output: TOutput }
  | { type: typeof STEP_FAILED; error: unknown };

/** The steps every durable machine has: recording a control event. */
export type ControlStepName = 'pause' | 'resume' | 'cancel';

const CONTROL_STEPS: readonly string[] = ['pause', 'resume', 'cancel'] satisfies ControlStepName[];

/** Whether a step records a control event. */
export function isControlStep(step: string): step is ControlStepName {
  return CONTROL_STEPS.includes(step);
}

/** What the runner is told when a working state is entered. */
export interface RunCommand<TStep extends string = string, TInput extends { readonly thread: Thread; readonly deps: AgentDeps } = { readonly thread: Thread; readonly deps: AgentDeps }> {
  /** The state that runs it (for the log). */
  readonly state: string;
  readonly step: TStep;
  /** The thread as last persisted, its dependencies, and what else the machine's steps need. */
  readonly input: TInput;
  /** Who asked for a control step and why. */
  readonly control: { reason?: string; by?: string };
}

/**
 * Records the control event of a control step on the latest stored thread. A thread that ended
 * first takes none (a cancel that waited for a tool whose result ended the thread: the work
 * finished before the cancel was recorded, so it stays `done`; or an end another process wrote):
 * the step goes on from the thread as stored, which routes the actor to its end, and whoever asked
 * hears that it had already ended (see `controlThread`).
 */
export async function runControlStep(command: RunCommand<ControlStepName>): Promise<StepOutputBase> {
  const { input, step, control } = command;
  try {
    return { thread: await controlStep(input.deps, input.thread.id, { action: step, ...control }) };
  } catch (error) {
    if (!(error instanceof ThreadEndedError)) throw error;
    const stored = await input.deps.store.get(input.thread.id);
    if (stored === undefined) throw error;
    // A step's logger is bound to its thread and agent (threadContext in ./threadMachine.ts).
    if (step === 'cancel' && error.ended === 'cancelled') input.deps.logger.debug({ action: step }, 'cancel already recorded');
    else input.deps.logger.info({ state: error.ended, action: step }, `${step} not recorded: the thread had already ended`);
    return { thread: stored };
  }
}

/** What an actor's step runner does: run a step, and stop for good. */
export interface StepRunner<TCommand extends RunCommand = RunCommand> {
  /**
   * Runs a step. One still in progress (a CANCEL while deciding) is aborted and its result dropped,
   * unless it is a step that finishes (see {@link createStepRunner}): that one is told to wind down
   * and reports nothing, and this step runs once it has finished.
   */
  run(command: TCommand): void;
  /** Aborts the step in progress; nothing is reported afterwards. */
  stop(): void;
  /**
   * Runs no new step from now on (the actor is about to stop). A step in progress that finishes
   * goes on and reports its result, and so does the step asked for meanwhile to run after it (a
   * cancel): the returned promise resolves once they have. Otherwise the step in progress, if any,
   * is stopped as by {@link StepRunner.stop}, and it returns undefined.
   */
  drain(): Promise<void> | undefined;
  /**
   * When the step in progress is one that finishes: resolves once it (and the step asked for after
   * it) has settled, as {@link StepRunner.drain} would, but changes nothing. Otherwise undefined.
   */
  finishing(): Promise<void> | undefined;
}

/** What a step is given to run with. */
export interface StepSignals<TOutput extends StepOutputBase = StepOutputBase> {
  /**
   * Aborts when the step is superseded or the actor stops: its result is dropped. A step may abort
   * it itself (a decision past its deadline aborts its model call).
   */
  readonly controller: AbortController;
  /**
   * Aborts when another step is asked for while a step that finishes runs (a cancel during a tool
   * call): the step should wrap up (its tool is told to stop), and still records its outcome.
   */
  readonly windDown: AbortSignal;
  /**
   * Makes the step one that finishes from here on (a decision about to record its call with it):
   * a step asked for meanwhile waits for it instead of cutting it off. Returns false, and changes
   * nothing, when `controller` is no longer the running step's (it was superseded): the step
   * should give up.
   */
  readonly commit: (controller: AbortController) => boolean;
  /**
   * What the step that finishes ended with, when this step was asked for while it ran and waited
   * for it (its result is not reported otherwise): a cancel learns of a call recorded just before it.
   */
  readonly after: StepEvent<TOutput> | undefined;
}

/**
 * The step runner of one actor: runs the steps it is told, one at a time, and reports each result
 * to the actor. The working state's entry action calls it directly (no child actor, no event to
 * deliver per step); {@link stopsWithActor} stops it with the actor.
 *
 * Each step gets the runner's abort controller: its signal aborts when the step is superseded or
 * the actor stops, and a step may abort it itself (a decision past its deadline aborts its model
 * call). An aborted controller is replaced before the next step, so a step needs no signal of its own.
 *
 * A step that `finishes` (a tool call, whose effect must be journaled) is never cut short by
 * another step: a step asked for meanwhile (the latest one, if several) waits for it, its
 * `windDown` signal aborts, and its own result is not reported (the step after it reads the log it
 * wrote, and is handed its outcome as `after`). Only stopping the actor aborts it. A step can
 * also become one that finishes while it runs (`commit`).
 */
export function createStepRunner<TCommand extends RunCommand, TOutput extends StepOutputBase>(
  run: (command: TCommand, signals: StepSignals<TOutput>) => Promise<TOutput>,
  report: (event: StepEvent<TOutput>) => void,
  finishes: (step: string) => boolean = () => false,
): StepRunner<TCommand> {
  let controller = new AbortController();
  let windDown = new AbortController();
  let current = 0;
  let running = false;
  let stopped = false;
  let draining = false;
  // The step in progress: its name, whether it committed, its run (settled once it has reported), and the step to run after it.
  let step = '';
  let committed = false;
  let reported: Promise<void> = Promise.resolve();
  let next: TCommand | undefined;
  const settle = (id: number, event: StepEvent<TOutput>, command: TCommand): void => {
    if (id !== current || stopped) return;
    running = false;
    const after = next;
    if (after === undefined) {
      report(event);
      return;
    }
    next = undefined;
    if (event.type === STEP_FAILED) {
      command.input.deps.logger.warn({ state: command.state, err: messageOf(event.error) }, `step ${command.step} failed before ${after.step}`);
    }
    start(after, event);
  };
  const commit = (owner: AbortController): boolean => {
    if (owner !== controller || !running || stopped) return false;
    committed = true;
    return true;
  };
  /** Whether the step in progress finishes before any other runs. */
  const finishing = (): boolean => running && (committed || finishes(step));
  const start = (command: TCommand, after?: StepEvent<TOutput>): void => {
    if (running) controller.abort(new Error(`superseded by ${command.step}`));
    if (controller.signal.aborted) controller = new AbortController();
    if (windDown.signal.aborted) windDown = new AbortController();
    const id = ++current;
    running = true;
    step = command.step;
    committed = false;
    const signals = { controller, windDown: windDown.signal, commit, after };
    reported = run(command, signals).then(
      (output) => settle(id, { type: STEP_DONE, output }, command),
      // The step could not record what it did and recorded the thread's failure instead: done, with
      // the thread at rest (every other field of a step's output is optional).
      (error: unknown) => settle(id, error instanceof ThreadFailedError ? { type: STEP_DONE, output: { thread: error.thread } as TOutput } : { type: STEP_FAILED, error }, command),
    );
  };
  const stop = (): void => {
    stopped = true;
    if (running) controller.abort(new Error('agent actor stopped'));
  };
  /** Resolves once no step runs (a step that finishes, then the one asked for after it). */
  const idle = async (): Promise<void> => {
    let seen: Promise<void>;
    do {
      seen = reported;
      await seen;
    } while (seen !== reported);
  };
  return {
    run(command) {
      if (stopped || draining) return;
      command.input.deps.logger.debug({ state: command.state }, 'agent state');
      if (finishing()) {
        next = command;
        windDown.abort(new Error(`${command.step} requested`));
        return;
      }
      start(command);
    },
    stop,
    drain() {
      draining = true;
      if (!stopped && finishing()) return idle();
      stop();
      return undefined;
    },
    finishing: () => (!stopped && finishing() ? idle() : undefined),
  };
}

/** What {@link stopsWithActor} watches: the actor whose context holds the runner. */
export interface WatchedActor {
  subscribe(observer: { complete: () => void; error: (error: unknown) => void }): unknown;
  getSnapshot(): { readonly value?: unknown };
  /** Set when the actor has a parent (the runtime's supervisor), which XState tells of its failure. */
  readonly _parent?: unknown;
}

/**
 * Stops `runner` (aborting its step) when `actor` stops: evicted, closed, at a final state, or
 * failed. Called where the actor's context is built. An observer, not a child actor invoked for the
 * actor's lifetime: a child costs an actor of its own per thread (its construction and its garbage,
 * on every run), and XState completes an actor's observers exactly where it stops its children.
 * Its `error` keeps an actor that fails (an action or a guard threw) from leaving its step running
 * (a child was not stopped then). XState reports a failure only when some observer has no `error`
 * (or, with none, for a root actor): this one has, so a root actor's failure (`createAgentActor`,
 * the exported machines) is logged here, on `logger` (bound to the thread and its agent), at
 * error; a child's is told to its parent, the supervisor, which logs it (and restarts it once).
 */
export function stopsWithActor<TRunner extends Pick<StepRunner, 'stop'>>(actor: WatchedActor, runner: TRunner, logger: Pick<Logger, 'error'>): TRunner {
  actor.subscribe({
    complete: () => runner.stop(),
    error: (error) => {
      runner.stop();
      if (actor._parent === undefined) logger.error({ state: stateOf(actor.getSnapshot().value), err: messageOf(error) }, 'agent actor failed');
    },
  });
  return runner;
}

/** A machine's state value as a log line names it: `deciding`, or a nested value as JSON. */
export function stateOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'unknown';
}
