import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import type { Pipeline } from '../src/pipeline/pipeline.js';
import { nextStepName, runPipelineStep, type PipelineDeps, type PipelineStepResult } from '../src/pipeline/pipelineSteps.js';
import type { Thread } from '../src/thread/events.js';
import type { ThreadState } from '../src/thread/state.js';
import { controlActor, controlOf, machineOutput, stopReason, withThread, type AgentMachineOutput, type ControlEvent, type ControlInput } from './threadMachine.js';

/** Input of a pipeline machine. */
export interface PipelineMachineInput {
  readonly pipeline: Pipeline;
  readonly thread: Thread;
  readonly deps: PipelineDeps;
}

/** Events a pipeline actor accepts. */
export type PipelineMachineEvent = ControlEvent;

/** Context of a pipeline machine (`thread` and `state` as in the agent machine). */
export interface PipelineContext {
  readonly pipeline: Pipeline;
  readonly deps: PipelineDeps;
  thread: Thread;
  state: ThreadState;
  pauseRequested: boolean;
  control: { reason?: string; by?: string };
  stopped: string | null;
  /** The deadline of the durable sleep in progress (re-derived from the thread after a restart). */
  sleepUntil: number | null;
}

const stateName = (step: string): string => `step_${step}`;

/** A state that appends a control event (pause, resume, cancel) and goes back to routing. */
const controlState = (action: ControlInput['action']) => ({
  invoke: {
    src: 'control' as const,
    input: ({ context }: { context: PipelineContext }): ControlInput => ({ deps: context.deps, threadId: context.thread.id, action, ...context.control }),
    onDone: { target: 'routing', actions: assign(({ event }: { event: { output: Thread } }) => ({ ...withThread(event.output), pauseRequested: false })) },
    onError: { target: 'stopped', actions: assign({ stopped: ({ event }: { event: { error: unknown } }) => stopReason(event.error) }) },
  },
});

/** pausing, resuming and cancelling: the same state for each control action. */
const controlStates = { pausing: controlState('pause'), resuming: controlState('resume'), cancelling: controlState('cancel') } as Record<string, ReturnType<typeof controlState>>;

/**
 * Builds the machine of a pipeline: one state per step, in order, each entered from `routing`, which
 * reads the thread, so a pipeline resumes after a restart exactly where its log says. A delegation
 * to an agent rests in `waitingForChild` until the child thread ends.
 */
export function createPipelineMachine(pipeline: Pipeline): AnyStateMachine {
  const stepStates = Object.fromEntries(
    pipeline.steps.map((step) => [
      stateName(step.name),
      {
        invoke: {
          src: 'step' as const,
          input: ({ context }: { context: PipelineContext }) => context,
          onDone: [
            {
              guard: ({ event }: { event: { output: PipelineStepResult } }) => event.output.sleepUntil !== undefined,
              target: 'sleeping',
              actions: assign(({ event }: { event: { output: PipelineStepResult } }) => ({ ...withThread(event.output.thread), sleepUntil: event.output.sleepUntil ?? null })),
            },
            {
              guard: ({ event }: { event: { output: PipelineStepResult } }) => event.output.waiting,
              target: 'waitingForChild',
              actions: assign(({ event }: { event: { output: PipelineStepResult } }) => withThread(event.output.thread)),
            },
            { target: 'routing', actions: assign(({ event }: { event: { output: PipelineStepResult } }) => withThread(event.output.thread)) },
          ],
          onError: { target: 'stopped', actions: assign({ stopped: ({ event }: { event: { error: unknown } }) => stopReason(event.error) }) },
        },
      },
    ]),
  );
  return setup({
    types: {
      context: {} as PipelineContext,
      input: {} as PipelineMachineInput,
      events: {} as PipelineMachineEvent,
      output: {} as AgentMachineOutput,
    },
    actors: {
      step: fromPromise<PipelineStepResult, PipelineContext>(({ input, signal }) => runPipelineStep(input.pipeline, input.thread, input.deps, signal)),
      control: controlActor,
    },
    delays: {
      backoff: ({ context }) => Math.max(0, (context.state.backoffUntil ?? 0) - context.deps.clock.now()),
      sleep: ({ context }) => Math.max(0, (context.sleepUntil ?? 0) - context.deps.clock.now()),
    },
  }).createMachine({
    id: `pipeline:${pipeline.name}`,
    context: ({ input }) => ({ pipeline: input.pipeline, deps: input.deps, ...withThread(input.thread), pauseRequested: false, control: {}, stopped: null, sleepUntil: null }),
    initial: 'routing',
    on: {
      CANCEL: { target: '.cancelling', actions: assign({ control: controlOf }) },
      PAUSE: { actions: assign({ pauseRequested: true, control: controlOf }) },
    },
    states: {
      routing: {
        always: [
          { guard: ({ context }) => context.state.terminal === 'done', target: 'done' },
          { guard: ({ context }) => context.state.terminal === 'failed', target: 'failed' },
          { guard: ({ context }) => context.state.terminal === 'cancelled', target: 'cancelled' },
          { guard: ({ context }) => context.pauseRequested && !context.state.paused, target: 'pausing' },
          { guard: ({ context }) => context.state.paused, target: 'paused' },
          { guard: ({ context }) => context.state.backoffUntil !== null && context.state.backoffUntil > context.deps.clock.now(), target: 'backingOff' },
          ...pipeline.steps.map((step) => ({
            guard: ({ context }: { context: PipelineContext }) => nextStepName(context.pipeline, context.thread) === step.name,
            target: stateName(step.name),
          })),
          { target: 'finishing' },
        ],
      },
      ...stepStates,
      finishing: {
        invoke: {
          src: 'step',
          input: ({ context }) => context,
          onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output.thread)) },
          onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
        },
      },
      backingOff: { after: { backoff: { target: 'routing' } } },
      sleeping: {
        after: { sleep: { target: 'routing', actions: assign({ sleepUntil: null }) } },
        on: { PAUSE: { target: 'pausing', actions: assign({ sleepUntil: null, control: controlOf }) } },
      },
      waitingForChild: { entry: ({ context }) => context.deps.onRest?.({ state: 'waitingForChild', thread: context.thread }) },
      paused: {
        entry: ({ context }) => context.deps.onRest?.({ state: 'paused', thread: context.thread }),
        on: { RESUME: { target: 'resuming', actions: assign({ control: ({ event }) => ({ by: event.by }) }) } },
      },
      ...controlStates,
      done: { type: 'final' },
      failed: { type: 'final' },
      cancelled: { type: 'final' },
      stopped: { type: 'final' },
    },
    output: ({ context }) => machineOutput(context),
  }) as unknown as AnyStateMachine;
}

/** The machine of one pipeline, as {@link createPipelineMachine} builds it. */
export type PipelineMachine = ReturnType<typeof createPipelineMachine>;
