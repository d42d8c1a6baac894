import { assign, setup } from 'xstate';
import type { Pipeline, PipelineStep } from '../src/pipeline/pipeline.js';
import { nextStepName, runPipelineStep, type PipelineDeps, type PipelineStepResult } from '../src/pipeline/pipelineSteps.js';
import type { Thread } from '../src/thread/events.js';
import { createStepRunner, isControlStep, runControlStep, STEP_DONE, type ControlStepName, type RunCommand, type StepEvent, type StepRunner, type StepSignals } from './stepRunner.js';
import { AFTER_STEP, BACKING_OFF, backoffDelay, CONTROL_STATES, machineOutput, restForHuman, ROUTE_CONTROL, ROUTE_HUMAN, THREAD_ROOT, threadActions, threadContext, threadGuards, untilDelay, type AgentMachineOutput, type ControlEvent, type ThreadContext } from './threadMachine.js';

/** Input of a pipeline machine. */
export interface PipelineMachineInput {
  readonly pipeline: Pipeline;
  readonly thread: Thread;
  readonly deps: PipelineDeps;
}

/** Events a pipeline actor accepts. */
export type PipelineMachineEvent = ControlEvent;

/** Context of a pipeline machine (the thread and its state as in the agent machine). */
export interface PipelineContext extends ThreadContext {
  readonly pipeline: Pipeline;
  readonly runner: StepRunner<RunPipelineStep>;
  readonly deps: PipelineDeps;
  /** The deadline of the durable sleep in progress (re-derived from the thread after a restart). */
  sleepUntil: number | null;
}

/** What a pipeline state runs: a step of its kind, the finish, or a control step. */
export type PipelineStepName = PipelineStep['kind'] | 'finish' | ControlStepName;

/** What the step runner is told when a working state is entered. */
export interface RunPipelineStep extends RunCommand<PipelineStepName, { readonly pipeline: Pipeline; readonly thread: Thread; readonly deps: PipelineDeps }> {
  /** The pipeline step the state stands for (the run does what the log says comes next). */
  readonly name?: string;
}

type PipelineEvent = PipelineMachineEvent | StepEvent<PipelineStepResult>;

function runStep(command: RunPipelineStep, { controller }: StepSignals<PipelineStepResult>): Promise<PipelineStepResult> {
  if (isControlStep(command.step)) return runControlStep({ ...command, step: command.step });
  const { pipeline, thread, deps } = command.input;
  return runPipelineStep(pipeline, thread, deps, controller.signal);
}

const stateName = (step: string): string => `step_${step}`;

/**
 * The pipeline machines' setup: the agent machine's step runner, control states and first routes
 * (./threadMachine.ts), plus the waits of a pipeline: a durable sleep and a child thread.
 */
const pipelineSetup = setup({
  types: {
    context: {} as PipelineContext,
    input: {} as PipelineMachineInput,
    events: {} as PipelineEvent,
    output: {} as AgentMachineOutput,
  },
  guards: {
    ...threadGuards,
    /** The log says `step` runs next (a run in progress, the next in order, or a branch's recorded choice). */
    isNext: ({ context }, params: { step: string }) => nextStepName(context.pipeline, context.thread) === params.step,
    sleeps: ({ event }) => event.type === STEP_DONE && event.output.sleepUntil !== undefined,
    waitsForChild: ({ event }) => event.type === STEP_DONE && event.output.waiting === true,
  },
  delays: {
    backoff: backoffDelay,
    sleep: ({ context }) => untilDelay(context.sleepUntil, context.deps.clock.now()),
  },
  actions: {
    ...threadActions<PipelineContext, PipelineEvent>(),
    keepSleep: assign(({ event }) => (event.type === STEP_DONE ? { sleepUntil: event.output.sleepUntil ?? null } : {})),
    wake: assign({ sleepUntil: null }),
    /** Tells the step runner to run `step` on the context as it is now. */
    run: ({ context }, params: { state: string; step: PipelineStepName; name?: string }) =>
      context.runner.run({
        state: params.state,
        step: params.step,
        ...(params.name === undefined ? {} : { name: params.name }),
        input: { pipeline: context.pipeline, thread: context.thread, deps: context.deps },
        control: context.control,
      }),
  },
});

/** Where a pipeline step goes when it is done: a sleep, a wait for its child thread, or routing. */
const AFTER_PIPELINE_STEP = {
  ...AFTER_STEP,
  [STEP_DONE]: [
    { guard: 'sleeps', target: 'sleeping', actions: ['keepThread', 'keepSleep'] },
    { guard: 'waitsForChild', target: 'waitingForChild', actions: 'keepThread' },
    { target: 'routing', actions: 'keepThread' },
  ],
} as const;

/**
 * Builds the machine of a pipeline: one state per step, each entered from `routing`, which reads
 * the log (the step in progress, the next in order, or a branch's recorded choice), so a pipeline
 * resumes after a restart exactly where its log says and loops without re-running what it recorded.
 * Steps run on the actor's long-lived step runner, as the agent machine's do. A delegation to an
 * agent rests in `waitingForChild` until the child thread ends; a thread escalated to a human
 * rests in `escalated` until the human answers.
 */
export function createPipelineMachine(pipeline: Pipeline) {
  const stepStates = Object.fromEntries(
    pipeline.steps.map((step) => [
      stateName(step.name),
      { entry: { type: 'run' as const, params: { state: stateName(step.name), step: step.kind, name: step.name } }, on: AFTER_PIPELINE_STEP },
    ]),
  );
  return pipelineSetup.createMachine({
    id: `pipeline:${pipeline.name}`,
    context: ({ input, self }) => ({
      ...threadContext(self, input.deps, input.thread, createStepRunner(runStep, (event: PipelineEvent) => self.send(event))),
      pipeline: input.pipeline,
      sleepUntil: null,
    }),
    ...THREAD_ROOT,
    states: {
      routing: {
        always: [
          ...ROUTE_CONTROL,
          ...ROUTE_HUMAN,
          { guard: 'isBackingOff', target: 'backingOff' },
          ...pipeline.steps.map((step) => ({ guard: { type: 'isNext' as const, params: { step: step.name } }, target: stateName(step.name) })),
          { target: 'finishing' },
        ],
      },
      ...stepStates,
      finishing: { entry: { type: 'run', params: { state: 'finishing', step: 'finish' } }, on: AFTER_STEP },
      backingOff: BACKING_OFF,
      sleeping: {
        entry: [
          { type: 'log', params: { state: 'sleeping' } },
          { type: 'restUntil', params: ({ context }: { context: PipelineContext }) => ({ state: 'sleeping', wakeAt: context.sleepUntil }) },
        ],
        after: { sleep: { target: 'routing', actions: 'wake' } },
        on: { PAUSE: { target: 'pausing', actions: ['wake', 'keepControl'] } },
      },
      // A pipeline asks no human itself; its thread waits for one when escalated from outside (its
      // job dead-lettered: see escalateExpired). The answer, written to the log, starts it again.
      escalated: restForHuman('escalated'),
      awaitingHuman: restForHuman('awaitingHuman'),
      waitingForChild: {
        entry: [
          { type: 'log', params: { state: 'waitingForChild' } },
          { type: 'rest', params: { state: 'waitingForChild' } },
        ],
      },
      ...CONTROL_STATES,
    },
    output: ({ context }) => machineOutput(context),
  });
}

/** The machine of one pipeline, as {@link createPipelineMachine} builds it. */
export type PipelineMachine = ReturnType<typeof createPipelineMachine>;
