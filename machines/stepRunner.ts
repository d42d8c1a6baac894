import { fromCallback, type CallbackActorLogic } from 'xstate';
import { controlStep } from '../src/agent/controlStep.js';
import type { AgentDeps } from '../src/agent/deps.js';
import type { Thread } from '../src/thread/events.js';

// How the durable machines (the agent and every pipeline) run their steps: one long-lived runner
// per actor, told what to run by the working state it enters, answering with STEP.DONE/FAILED.

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
  readonly type: 'RUN';
  /** The state that runs it (for the log). */
  readonly state: string;
  readonly step: TStep;
  /** The thread as last persisted, its dependencies, and what else the machine's steps need. */
  readonly input: TInput;
  /** Who asked for a control step and why. */
  readonly control: { reason?: string; by?: string };
}

/** Records the control event of a control step on the latest stored thread. */
export function runControlStep(command: RunCommand<ControlStepName>): Promise<StepOutputBase> {
  const { input, step, control } = command;
  return controlStep(input.deps, input.thread.id, { action: step, ...control }).then((thread) => ({ thread }));
}

/**
 * The step runner of one actor: runs the steps it is told, one at a time, and reports each result
 * to the machine; a single long-lived child instead of a promise actor per step, which would cost
 * an actor, its spawn and stop, and an abort signal on every step. A step still in progress when
 * the next command arrives (a CANCEL while deciding) is aborted and its result dropped; stopping
 * the actor aborts the step in progress.
 */
export function createStepRunner<TCommand extends RunCommand, TOutput extends StepOutputBase>(
  run: (command: TCommand, signal: AbortSignal) => Promise<TOutput>,
): CallbackActorLogic<TCommand, undefined, StepEvent<TOutput>> {
  return fromCallback<TCommand, undefined, StepEvent<TOutput>>(({ sendBack, receive }) => {
    // One abort controller for the steps of this activation, replaced only after an abort.
    let controller = new AbortController();
    let current = 0;
    let running = false;
    receive((command) => {
      const { thread, deps } = command.input;
      deps.logger.debug({ threadId: thread.id, agent: thread.agent, state: command.state }, 'agent state');
      if (running) {
        controller.abort(new Error(`superseded by ${command.step}`));
        controller = new AbortController();
      }
      const id = ++current;
      running = true;
      run(command, controller.signal).then(
        (output) => {
          if (id !== current) return;
          running = false;
          sendBack({ type: STEP_DONE, output });
        },
        (error: unknown) => {
          if (id !== current) return;
          running = false;
          sendBack({ type: STEP_FAILED, error });
        },
      );
    });
    return () => {
      if (running) controller.abort(new Error('agent actor stopped'));
    };
  });
}
