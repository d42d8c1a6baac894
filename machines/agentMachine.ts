import { assign, setup } from 'xstate';
import type { Agent } from '../src/agent/agent.js';
import { respondStep } from '../src/agent/controlStep.js';
import type { CustomStep } from '../src/agent/customStep.js';
import { customStep, customStepDue, customStepsOf } from '../src/agent/customStepRun.js';
import { decideStep } from '../src/agent/decideStep.js';
import { executeStep, recordCallNotRun } from '../src/agent/executeStep.js';
import { prefetchStep } from '../src/agent/prefetchStep.js';
import { type AgentDeps, type StepInput } from '../src/agent/deps.js';
import type { HumanResponse, Thread } from '../src/thread/events.js';
import { deriveState } from '../src/thread/state.js';
import { createStepRunner, runControlStep, STEP_DONE, type ControlStepName, type RunCommand, type StepEvent as RunnerEvent, type StepOutputBase, type StepRunner, type StepSignals } from './stepRunner.js';
import { AFTER_STEP, BACKING_OFF, type RouteContext, backoffDelay, CONTROL_STATES, machineOutput, PAUSE_NOW, restForHuman, ROUTE_CONTROL, ROUTE_HUMAN, THREAD_ROOT, threadActions, threadContext, threadGuards, untilDelay, type AgentMachineOutput, type ControlEvent, type ThreadContext } from './threadMachine.js';

export { STEP_DONE, STEP_FAILED } from './stepRunner.js';
export type { AgentMachineOutput, ControlEvent } from './threadMachine.js';

/** Input of the agent machine: the agent, the thread to continue, and the injected dependencies. */
export interface AgentMachineInput {
  readonly agent: Agent;
  readonly thread: Thread;
  readonly deps: AgentDeps;
}

/** What a step ends with: the thread as persisted, and a refused human response if there was one. */
export interface StepOutput extends StepOutputBase {
  readonly refusal?: string;
  /** A decision that recorded its call with it: the call the execute step runs next (see StepInput.recordedCall). */
  readonly recordedCall?: string;
}

/** Events an agent actor accepts from outside. */
export type AgentMachineEvent = { type: 'RESPOND'; response: HumanResponse } | ControlEvent;

/** Events the step runner sends back: the step in progress finished, or threw. */
export type StepEvent = RunnerEvent<StepOutput>;

export interface AgentContext extends ThreadContext {
  readonly agent: Agent;
  readonly runner: StepRunner<RunStep>;
  response: HumanResponse | null;
  /** The last refused human response, for callers that sent one to a live actor. */
  refusal: string | null;
  /** The call the last decision recorded with it, for the execute step that follows it. */
  recordedCall: string | null;
}

/** The steps a state can run. Each persists its events before it resolves. */
export type StepName = 'prefetch' | 'decide' | 'execute' | 'respond' | 'custom' | ControlStepName;

/** What the step runner is told when a working state is entered. */
export interface RunStep extends RunCommand<StepName, StepInput> {
  /** For `custom`: the name of the author's step. */
  readonly custom?: string;
  readonly response: HumanResponse | null;
}

function runStep(command: RunStep, signals: StepSignals<StepOutput>): Promise<StepOutput> {
  const { after } = signals;
  // A decision recorded its call and this step (a cancel) waited for it: the call never ran.
  if (after?.type === STEP_DONE && after.output.recordedCall !== undefined) {
    const { thread, recordedCall } = after.output;
    return recordCallNotRun({ ...command.input, thread, state: deriveState(thread.events) }, recordedCall, `${command.step} requested`).then(() => runOwnStep(command, signals));
  }
  return runOwnStep(command, signals);
}

function runOwnStep(command: RunStep, { controller, windDown, commit }: StepSignals<StepOutput>): Promise<StepOutput> {
  const { input } = command;
  const { signal } = controller;
  switch (command.step) {
    case 'prefetch':
      return prefetchStep(input, signal).then((thread) => ({ thread }));
    case 'decide':
      return decideStep(input, controller, commit);
    case 'execute':
      return executeStep(input, signal, windDown).then((thread) => ({ thread }));
    case 'custom':
      return customStep(input, command.custom!, signal).then((thread) => ({ thread }));
    case 'respond':
      return respondStep(input, command.response!).then((result) => (result.error === undefined ? { thread: result.thread } : { thread: result.thread, refusal: result.error }));
    default:
      return runControlStep({ ...command, step: command.step });
  }
}

/** What the agent's routing reads of its context. */
type AgentRouteArgs = { context: RouteContext & Pick<AgentContext, 'agent'> };

/** The agent machine's guards that routing reads (by name). */
const agentGuards = {
  ...threadGuards,
  hasPendingCall: ({ context }: AgentRouteArgs) => context.state.pendingCall !== null,
  isSleeping: ({ context }: AgentRouteArgs) => context.state.sleepUntil !== null && context.state.sleepUntil > context.deps.clock.now(),
  stepDue: ({ context }: AgentRouteArgs, params: { step: string }) => {
    const step = customStepsOf(context.agent).find((s) => s.name === params.step);
    return step !== undefined && customStepDue(context.agent, step, context.thread, context.state);
  },
  // Only before the first decision: a thread past it (a prefetch a new version added) skips it.
  needsPrefetch: ({ context }: AgentRouteArgs) => context.state.totalSteps === 0 && context.agent.prefetch.some((p) => !context.state.prefetched.includes(p.name)),
};

type Route = { readonly guard?: Exclude<keyof typeof agentGuards, 'stepDue'> | { readonly type: 'stepDue'; readonly params: { readonly step: string } }; readonly target: string };

/** Routing's routes, in order: where an agent goes from what its thread says. */
function routesFor(custom: readonly CustomStep[]): Route[] {
  const due = (kinds: readonly CustomStep['kind'][]): Route[] =>
    custom.filter((step) => kinds.includes(step.kind)).map((step) => ({ guard: { type: 'stepDue', params: { step: step.name } }, target: step.name }));
  return [
    ...ROUTE_CONTROL,
    ...ROUTE_HUMAN,
    { guard: 'isBackingOff', target: 'backingOff' },
    ...(custom.length === 0 ? [] : [{ guard: 'isSleeping', target: 'sleeping' } as const]),
    ...due(['after_decision', 'intent']),
    { guard: 'hasPendingCall', target: 'executing' },
    { guard: 'needsPrefetch', target: 'prefetching' },
    ...due(['before_decision', 'compact']),
    { target: 'deciding' },
  ];
}

/** The routes of an agent without steps of its author. */
const ROUTES = routesFor([]);

/** The state routing would enter from `context` (an agent without steps of its author). */
function routeOf(context: AgentRouteArgs['context']): string {
  for (const route of ROUTES) {
    if (route.guard === undefined) return route.target;
    if (typeof route.guard === 'string' && agentGuards[route.guard]({ context })) return route.target;
  }
  return 'routing';
}

/**
 * Whether routing would send the agent to `target` once the step just done is kept: the hot loop
 * (deciding to executing and back) takes that edge directly, in one microstep instead of two.
 * A decision that recorded its call goes on to run it even with a pause requested meanwhile: the
 * call is on record, and pausing now would leave it looking started to whoever resumes the thread.
 */
const routesTo = ({ context, event }: { context: AgentContext; event: AgentMachineEvent | StepEvent }, params: { target: string }): boolean =>
  event.type === STEP_DONE &&
  ((params.target === 'executing' && event.output.recordedCall !== undefined) ||
    routeOf({ agent: context.agent, deps: context.deps, pauseRequested: context.pauseRequested, thread: event.output.thread, state: deriveState(event.output.thread.events) }) === params.target);

/**
 * Where the hot loop's working states go when their step is done: straight to one of `targets` when
 * routing would choose it (see {@link routesTo}), through routing otherwise. The chart shows the loop.
 */
const afterHotStep = (...targets: readonly ('deciding' | 'executing' | 'done')[]) =>
  ({
    ...AFTER_STEP,
    [STEP_DONE]: [
      ...targets.map((target) => ({ guard: { type: 'routesTo', params: { target } }, target, actions: 'keepStep' }) as const),
      { target: 'routing', actions: 'keepStep' },
    ],
  }) as const;

/**
 * The micro-agent (factor 8): its states are its control flow. Every state is entered from
 * `routing`, which reads the state derived from the thread, so an actor started from any prefix
 * of a thread continues exactly where the log says (factor 12), with no XState snapshot involved.
 * (The hot loop's steps go straight where routing would send them: the same routes, one microstep.)
 * A working state hands its step to the actor's step runner on entry; steps persist their events
 * before the machine moves on, and nothing thrown escapes the actor. The control states and the
 * first routes are the ones every durable machine shares (./threadMachine.ts).
 */
const agentSetup = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentMachineInput,
    events: {} as AgentMachineEvent | StepEvent,
    output: {} as AgentMachineOutput,
  },
  guards: { ...agentGuards, routesTo },
  delays: {
    backoff: backoffDelay,
    sleep: ({ context }) => untilDelay(context.state.sleepUntil, context.deps.clock.now()),
  },
  actions: {
    ...threadActions<AgentContext, AgentMachineEvent | StepEvent>(),
    /** Keeps the human response to record. */
    keepResponse: assign(({ event }) => (event.type === 'RESPOND' ? { response: event.response } : {})),
    /** Keeps the thread a hot step persisted, and the call a decision recorded with it (or forgets the last one: the step after it ran it). */
    // One assign for both (each assign copies the context): the hot loop runs it on every step.
    keepStep: assign(({ event }) => {
      if (event.type !== STEP_DONE) return {};
      const { thread, recordedCall } = event.output;
      return { thread, state: deriveState(thread.events), recordedCall: recordedCall ?? null };
    }),
    /** The response is recorded (or refused). */
    responseRecorded: assign(({ event }) => (event.type === STEP_DONE ? { response: null, refusal: event.output.refusal ?? null } : {})),
    /** Tells the step runner to run `step` on the context as it is now. */
    run: ({ context }, params: { state: string; step: StepName; custom?: string }) =>
      context.runner.run({
        state: params.state,
        step: params.step,
        // Set even when undefined: a spread would build the command the slow way on every step.
        custom: params.custom,
        input:
          context.recordedCall === null
            ? { agent: context.agent, thread: context.thread, state: context.state, deps: context.deps }
            : { agent: context.agent, thread: context.thread, state: context.state, deps: context.deps, recordedCall: context.recordedCall },
        response: context.response,
        control: context.control,
      }),
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
  // Steps of the agent's author can come between deciding and executing: those machines route every step.
  const hot = custom.length === 0;
  // A record rather than a conditional spread: the machine's inferred schema (inlined in the
  // shipped .d.ts) then has no `sleeping?: {} | undefined`, which xstate's StateSchema refuses under
  // a user's exactOptionalPropertyTypes.
  const sleeping: Record<string, typeof SLEEPING> = hot ? {} : { sleeping: SLEEPING };
  return agentSetup.createMachine({
    id,
    context: ({ input, self }) => ({
      ...threadContext(self, input.deps, input.thread, createStepRunner(runStep, (event: StepEvent) => self.send(event), (step) => SIDE_EFFECT_STEPS.includes(step))),
      agent: input.agent,
      response: null,
      refusal: null,
      recordedCall: null,
    }),
    ...THREAD_ROOT,
    states: {
      routing: { always: hot ? ROUTES : routesFor(custom) },
      prefetching: { entry: { type: 'run', params: { state: 'prefetching', step: 'prefetch' } }, on: AFTER_STEP },
      deciding: { entry: { type: 'run', params: { state: 'deciding', step: 'decide' } }, on: hot ? afterHotStep('executing', 'done') : AFTER_STEP },
      executing: { entry: { type: 'run', params: { state: 'executing', step: 'execute' } }, on: hot ? afterHotStep('deciding') : AFTER_STEP },
      backingOff: BACKING_OFF,
      ...own,
      ...sleeping,
      awaitingHuman: waitingForHuman('awaitingHuman'),
      escalated: waitingForHuman('escalated'),
      responding: {
        entry: { type: 'run', params: { state: 'responding', step: 'respond' } },
        on: { ...AFTER_STEP, [STEP_DONE]: { target: 'routing', actions: ['keepThread', 'responseRecorded'] } },
      },
      ...CONTROL_STATES,
    },
    output: ({ context }) => machineOutput(context),
  });
}

/** Where a thread sleeps (a step of the agent's author asked to wait), in machines that have such steps. */
const SLEEPING = agentSetup.createStateConfig({
  entry: [
    { type: 'log', params: { state: 'sleeping' } },
    { type: 'restUntil', params: ({ context }) => ({ state: 'sleeping', wakeAt: context.state.sleepUntil }) },
  ],
  // Wakes the actor itself when nobody stopped it for the sleep.
  after: { sleep: { target: 'routing' } },
  on: PAUSE_NOW,
});

/** A state that waits for a human's answer (freeing the actor), which an actor still running takes as RESPOND. */
const waitingForHuman = (state: 'awaitingHuman' | 'escalated') => {
  const rest = restForHuman(state);
  return { ...rest, on: { RESPOND: { target: 'responding', actions: 'keepResponse' }, ...rest.on } } as const;
};


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


/**
 * The steps that run a tool, whose outcome is journaled rather than left for a human to ask about:
 * once started, one finishes before anything else runs. A cancel meanwhile aborts the tool's
 * signal, waits for the call (at most until the tool's deadline, when its timeout is journaled) and
 * is recorded after its outcome; a closing runtime lets it finish within its drain time. Any other
 * step is aborted by a cancel or a close, and run again from the log if the thread goes on.
 */
export const SIDE_EFFECT_STEPS: readonly string[] = ['execute'] satisfies StepName[];

/** The machine's states in which an actor waits for something outside (a human, a resume). */
export const WAITING_STATES: readonly string[] = ['awaitingHuman', 'escalated', 'paused'];
