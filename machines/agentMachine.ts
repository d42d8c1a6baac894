import { assign, fromCallback, sendTo, setup } from 'xstate';
import type { Agent } from '../src/agent/agent.js';
import { controlStep, respondStep } from '../src/agent/controlStep.js';
import type { CustomStep } from '../src/agent/customStep.js';
import { customStep, customStepDue, customStepsOf } from '../src/agent/customStepRun.js';
import { decideStep } from '../src/agent/decideStep.js';
import { executeStep } from '../src/agent/executeStep.js';
import { prefetchStep } from '../src/agent/prefetchStep.js';
import { type AgentDeps, type StepInput } from '../src/agent/deps.js';
import type { HumanResponse, Thread } from '../src/thread/events.js';
import { deriveState, type ThreadState } from '../src/thread/state.js';
import { controlOf, machineOutput, stopReason, withThread, type AgentMachineOutput, type ControlEvent } from './threadMachine.js';

export type { AgentMachineOutput, ControlEvent } from './threadMachine.js';

/** Input of the agent machine: the agent, the thread to continue, and the injected dependencies. */
export interface AgentMachineInput {
  readonly agent: Agent;
  readonly thread: Thread;
  readonly deps: AgentDeps;
}

/** What a step ends with: the thread as persisted, and a refused human response if there was one. */
export interface StepOutput {
  readonly thread: Thread;
  readonly refusal?: string;
}

/** Events an agent actor accepts from outside. */
export type AgentMachineEvent = { type: 'RESPOND'; response: HumanResponse } | ControlEvent;

/** Events the step runner sends back: the step in progress finished, or threw. */
export type StepEvent = { type: typeof STEP_DONE; output: StepOutput } | { type: typeof STEP_FAILED; error: unknown };
export const STEP_DONE = 'STEP.DONE';
export const STEP_FAILED = 'STEP.FAILED';

export interface AgentContext {
  readonly agent: Agent;
  readonly deps: AgentDeps;
  thread: Thread;
  state: ThreadState;
  pauseRequested: boolean;
  control: { reason?: string; by?: string };
  response: HumanResponse | null;
  /** The last refused human response, for callers that sent one to a live actor. */
  refusal: string | null;
  stopped: string | null;
}

/** The steps a state can run. Each persists its events before it resolves. */
export type StepName = 'prefetch' | 'decide' | 'execute' | 'respond' | 'pause' | 'resume' | 'cancel' | 'custom';

/** What the step runner is told when a working state is entered. */
export interface RunStep {
  readonly type: 'RUN';
  /** The state that runs it (for the log). */
  readonly state: string;
  readonly step: StepName;
  /** For `custom`: the name of the author's step. */
  readonly custom?: string;
  readonly input: StepInput;
  readonly response: HumanResponse | null;
  readonly control: { reason?: string; by?: string };
}

function runStep(command: RunStep, signal: AbortSignal): Promise<StepOutput> {
  const { input } = command;
  switch (command.step) {
    case 'prefetch':
      return prefetchStep(input, signal).then((thread) => ({ thread }));
    case 'decide':
      return decideStep(input, signal).then((thread) => ({ thread }));
    case 'execute':
      return executeStep(input, signal).then((thread) => ({ thread }));
    case 'custom':
      return customStep(input, command.custom!, signal).then((thread) => ({ thread }));
    case 'respond':
      return respondStep(input, command.response!).then((result) => (result.error === undefined ? { thread: result.thread } : { thread: result.thread, refusal: result.error }));
    default:
      return controlStep(input.deps, input.thread.id, { action: command.step, ...command.control }).then((thread) => ({ thread }));
  }
}

/**
 * Runs the steps of one agent actor, one at a time, and reports each result to the machine: a
 * single long-lived child instead of a promise actor per step, which would cost an actor, its
 * spawn and stop, and an abort signal on every step. A step still in progress when the next
 * command arrives (a CANCEL while deciding) is aborted and its result dropped; stopping the actor
 * aborts the step in progress.
 */
const stepRunner = fromCallback<RunStep, undefined, StepEvent>(({ sendBack, receive }) => {
  // One abort controller for the steps of this activation, replaced only after an abort.
  let controller = new AbortController();
  let current = 0;
  let running = false;
  receive((command) => {
    const { deps, thread, agent } = command.input;
    deps.logger.debug({ threadId: thread.id, agent: agent.name, state: command.state }, 'agent state');
    if (running) {
      controller.abort(new Error(`superseded by ${command.step}`));
      controller = new AbortController();
    }
    const id = ++current;
    running = true;
    runStep(command, controller.signal).then(
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

/** How every working state ends: back to routing with the thread the step persisted, or stopped. */
const AFTER_STEP = {
  [STEP_DONE]: { target: 'routing', actions: 'keepThread' },
  [STEP_FAILED]: { target: 'stopped', actions: 'keepFailure' },
} as const;

/**
 * The micro-agent (factor 8): its states are its control flow. Every state is entered from
 * `routing`, which reads the state derived from the thread, so an actor started from any prefix
 * of a thread continues exactly where the log says (factor 12), with no XState snapshot involved.
 * A working state hands its step to the actor's step runner on entry; steps persist their events
 * before the machine moves on, and nothing thrown escapes the actor.
 */
const agentSetup = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentMachineInput,
    events: {} as AgentMachineEvent | StepEvent,
    output: {} as AgentMachineOutput,
  },
  actors: { steps: stepRunner },
  guards: {
    isDone: ({ context }) => context.state.terminal === 'done',
    isFailed: ({ context }) => context.state.terminal === 'failed',
    isCancelled: ({ context }) => context.state.terminal === 'cancelled',
    shouldPause: ({ context }) => context.pauseRequested && !context.state.paused,
    isPaused: ({ context }) => context.state.paused,
    isEscalated: ({ context }) => context.state.pendingRequest?.kind === 'escalation',
    isAwaitingHuman: ({ context }) => context.state.pendingRequest !== null,
    hasPendingCall: ({ context }) => context.state.pendingCall !== null,
    isSleeping: ({ context }) => context.state.sleepUntil !== null && context.state.sleepUntil > context.deps.clock.now(),
    stepDue: ({ context }, params: { step: string }) => {
      const step = customStepsOf(context.agent).find((s) => s.name === params.step);
      return step !== undefined && customStepDue(context.agent, step, context.thread, context.state);
    },
    isBackingOff: ({ context }) =>
      context.state.backoffUntil !== null && context.state.backoffUntil > context.deps.clock.now(),
    needsPrefetch: ({ context }) => context.agent.prefetch.some((p) => !context.state.prefetched.includes(p.name)),
  },
  delays: {
    backoff: ({ context }) => Math.max(0, (context.state.backoffUntil ?? 0) - context.deps.clock.now()),
    // A timer holds at most 2^31 - 1 ms (24.8 days); a longer sleep wakes, routes, and sleeps again.
    sleep: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, (context.state.sleepUntil ?? 0) - context.deps.clock.now())),
  },
  actions: {
    /** Keeps the thread a step persisted. */
    keepThread: assign(({ event }) => (event.type === STEP_DONE ? withThread(event.output.thread) : {})),
    /** Records why a step threw; the actor stops. */
    keepFailure: assign(({ event }) => (event.type === STEP_FAILED ? { stopped: stopReason(event.error) } : {})),
    rest: ({ context }, params: { state: string }) => {
      context.deps.onRest?.({ state: params.state, thread: context.thread });
    },
    log: ({ context }, params: { state: string }) => {
      context.deps.logger.debug({ threadId: context.thread.id, agent: context.agent.name, state: params.state }, 'agent state');
    },
    /** Tells the step runner to run `step` on the context as it is now. */
    run: sendTo('steps', ({ context }, params: { state: string; step: StepName; custom?: string }): RunStep => ({
      type: 'RUN',
      state: params.state,
      step: params.step,
      ...(params.custom === undefined ? {} : { custom: params.custom }),
      input: { agent: context.agent, thread: context.thread, state: context.state, deps: context.deps },
      response: context.response,
      control: context.control,
    })),
  },
});

/**
 * The micro-agent's machine for `agent`: the shared `agent` machine, or, for an agent with steps of
 * its author, its own machine `agent:<name>` in which each of those steps is a named state.
 */
function buildAgentMachine(id: string, custom: readonly CustomStep[]) {
  const own = Object.fromEntries(
    custom.map((step) => [step.name, { entry: { type: 'run' as const, params: { state: step.name, step: 'custom' as const, custom: step.name } }, on: AFTER_STEP }]),
  );
  const due = (kinds: readonly CustomStep['kind'][]) =>
    custom.filter((step) => kinds.includes(step.kind)).map((step) => ({ guard: { type: 'stepDue' as const, params: { step: step.name } }, target: step.name }));
  const sleeping = custom.length === 0 ? [] : [{ guard: 'isSleeping' as const, target: 'sleeping' }];
  return agentSetup.createMachine({
  id,
  context: ({ input }) => ({
    agent: input.agent,
    deps: input.deps,
    thread: input.thread,
    state: deriveState(input.thread.events),
    pauseRequested: false,
    control: {},
    response: null,
    refusal: null,
    stopped: null,
  }),
  initial: 'routing',
  // The step runner lives as long as the actor; the working states hand it their step on entry.
  invoke: { id: 'steps', src: 'steps' },
  on: {
    CANCEL: { target: '.cancelling', actions: assign({ control: controlOf }) },
    PAUSE: { actions: assign({ pauseRequested: true, control: controlOf }) },
  },
  states: {
    routing: {
      always: [
        { guard: 'isDone', target: 'done' },
        { guard: 'isFailed', target: 'failed' },
        { guard: 'isCancelled', target: 'cancelled' },
        { guard: 'shouldPause', target: 'pausing' },
        { guard: 'isPaused', target: 'paused' },
        { guard: 'isEscalated', target: 'escalated' },
        { guard: 'isAwaitingHuman', target: 'awaitingHuman' },
        { guard: 'isBackingOff', target: 'backingOff' },
        ...sleeping,
        ...due(['after_decision', 'intent']),
        { guard: 'hasPendingCall', target: 'executing' },
        { guard: 'needsPrefetch', target: 'prefetching' },
        ...due(['before_decision', 'compact']),
        { target: 'deciding' },
      ],
    },
    prefetching: { entry: { type: 'run', params: { state: 'prefetching', step: 'prefetch' } }, on: AFTER_STEP },
    deciding: { entry: { type: 'run', params: { state: 'deciding', step: 'decide' } }, on: AFTER_STEP },
    executing: { entry: { type: 'run', params: { state: 'executing', step: 'execute' } }, on: AFTER_STEP },
    backingOff: {
      entry: { type: 'log', params: { state: 'backingOff' } },
      after: { backoff: { target: 'routing' } },
      on: { PAUSE: { target: 'pausing', actions: assign({ control: controlOf }) } },
    },
    ...own,
    ...(custom.length === 0
      ? {}
      : {
          sleeping: {
            entry: { type: 'log' as const, params: { state: 'sleeping' } },
            after: { sleep: { target: 'routing' } },
            on: { PAUSE: { target: 'pausing', actions: assign({ control: controlOf }) } },
          },
        }),
    awaitingHuman: {
      entry: [{ type: 'log', params: { state: 'awaitingHuman' } }, { type: 'rest', params: { state: 'awaitingHuman' } }],
      on: {
        RESPOND: { target: 'responding', actions: assign({ response: ({ event }) => event.response }) },
        PAUSE: { target: 'pausing', actions: assign({ control: controlOf }) },
      },
    },
    escalated: {
      entry: [{ type: 'log', params: { state: 'escalated' } }, { type: 'rest', params: { state: 'escalated' } }],
      on: {
        RESPOND: { target: 'responding', actions: assign({ response: ({ event }) => event.response }) },
        PAUSE: { target: 'pausing', actions: assign({ control: controlOf }) },
      },
    },
    responding: {
      entry: { type: 'run', params: { state: 'responding', step: 'respond' } },
      on: {
        ...AFTER_STEP,
        [STEP_DONE]: {
          target: 'routing',
          actions: ['keepThread', assign(({ event }) => ({ response: null, refusal: event.output.refusal ?? null }))],
        },
      },
    },
    pausing: {
      entry: { type: 'run', params: { state: 'pausing', step: 'pause' } },
      on: { ...AFTER_STEP, [STEP_DONE]: { target: 'routing', actions: ['keepThread', assign({ pauseRequested: false })] } },
    },
    paused: {
      entry: [{ type: 'log', params: { state: 'paused' } }, { type: 'rest', params: { state: 'paused' } }],
      on: {
        RESUME: { target: 'resuming', actions: assign({ control: ({ event }) => ({ by: event.by }) }) },
        // Already paused: without this the root handler would set pauseRequested, and the next
        // RESUME would pause the thread again at once.
        PAUSE: {},
      },
    },
    resuming: { entry: { type: 'run', params: { state: 'resuming', step: 'resume' } }, on: AFTER_STEP },
    cancelling: { entry: { type: 'run', params: { state: 'cancelling', step: 'cancel' } }, on: AFTER_STEP },
    done: { type: 'final', entry: { type: 'log', params: { state: 'done' } } },
    failed: { type: 'final', entry: { type: 'log', params: { state: 'failed' } } },
    cancelled: { type: 'final', entry: { type: 'log', params: { state: 'cancelled' } } },
    stopped: { type: 'final', entry: { type: 'log', params: { state: 'stopped' } } },
  },
  output: ({ context }) => machineOutput(context),
  });
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** The machine of every agent without steps of its author. */
export const agentMachine = buildAgentMachine('agent', []);

const machines = new WeakMap<Agent, typeof agentMachine>();

/** The machine that runs `agent`'s threads: `agent`, or `agent:<name>` when it has steps of its own. */
export function agentMachineFor(agent: Agent): typeof agentMachine {
  if (!agent.hasCustomSteps) return agentMachine;
  let machine = machines.get(agent);
  if (machine === undefined) {
    machine = buildAgentMachine(`agent:${agent.name}`, customStepsOf(agent));
    machines.set(agent, machine);
  }
  return machine;
}


/** The machine's states in which an actor waits for something outside (a human, a resume). */
export const WAITING_STATES: readonly string[] = ['awaitingHuman', 'escalated', 'paused'];
