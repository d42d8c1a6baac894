import { assign, fromPromise, setup } from 'xstate';
import type { Agent } from '../src/agent/agent.js';
import { decideStep, executeStep, prefetchStep, respondStep, type AgentDeps, type StepInput } from '../src/agent/steps.js';
import type { HumanResponse, Thread } from '../src/thread/events.js';
import { deriveState, type ThreadState } from '../src/thread/state.js';
import { controlActor, machineOutput, stopReason, withThread, type AgentMachineOutput, type ControlEvent } from './threadMachine.js';

export type { AgentMachineOutput, ControlEvent } from './threadMachine.js';

/** Input of the agent machine: the agent, the thread to continue, and the injected dependencies. */
export interface AgentMachineInput {
  readonly agent: Agent;
  readonly thread: Thread;
  readonly deps: AgentDeps;
}

/** Events an agent actor accepts from outside. */
export type AgentMachineEvent = { type: 'RESPOND'; response: HumanResponse } | ControlEvent;

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

const stepInput = ({ context }: { context: AgentContext }): StepInput => ({
  agent: context.agent,
  thread: context.thread,
  state: context.state,
  deps: context.deps,
});


/**
 * The micro-agent (factor 8): its states are its control flow. Every state is entered from
 * `routing`, which reads the state derived from the thread, so an actor started from any prefix
 * of a thread continues exactly where the log says (factor 12), with no XState snapshot involved.
 * Steps persist their events before the machine moves on; nothing thrown escapes the actor.
 */
export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentMachineInput,
    events: {} as AgentMachineEvent,
    output: {} as AgentMachineOutput,
  },
  actors: {
    prefetch: fromPromise<Thread, StepInput>(({ input, signal }) => prefetchStep(input, signal)),
    decide: fromPromise<Thread, StepInput>(({ input, signal }) => decideStep(input, signal)),
    execute: fromPromise<Thread, StepInput>(({ input, signal }) => executeStep(input, signal)),
    respond: fromPromise<{ thread: Thread; error?: string }, StepInput & { response: HumanResponse }>(({ input }) =>
      respondStep(input, input.response),
    ),
    control: controlActor,
  },
  guards: {
    isDone: ({ context }) => context.state.terminal === 'done',
    isFailed: ({ context }) => context.state.terminal === 'failed',
    isCancelled: ({ context }) => context.state.terminal === 'cancelled',
    shouldPause: ({ context }) => context.pauseRequested && !context.state.paused,
    isPaused: ({ context }) => context.state.paused,
    isEscalated: ({ context }) => context.state.pendingRequest?.kind === 'escalation',
    isAwaitingHuman: ({ context }) => context.state.pendingRequest !== null,
    hasPendingCall: ({ context }) => context.state.pendingCall !== null,
    isBackingOff: ({ context }) =>
      context.state.backoffUntil !== null && context.state.backoffUntil > context.deps.clock.now(),
    needsPrefetch: ({ context }) => context.agent.prefetch.some((p) => !context.state.prefetched.includes(p.name)),
  },
  delays: {
    backoff: ({ context }) => Math.max(0, (context.state.backoffUntil ?? 0) - context.deps.clock.now()),
  },
  actions: {
    rest: ({ context }, params: { state: string }) => {
      context.deps.onRest?.({ state: params.state, thread: context.thread });
    },
    log: ({ context }, params: { state: string }) => {
      context.deps.logger.debug({ threadId: context.thread.id, agent: context.agent.name, state: params.state }, 'agent state');
    },
  },
}).createMachine({
  id: 'agent',
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
  on: {
    CANCEL: { target: '.cancelling', actions: assign({ control: ({ event }) => ({ reason: event.reason, by: event.by }) }) },
    PAUSE: { actions: assign({ pauseRequested: true, control: ({ event }) => ({ reason: event.reason, by: event.by }) }) },
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
        { guard: 'hasPendingCall', target: 'executing' },
        { guard: 'isBackingOff', target: 'backingOff' },
        { guard: 'needsPrefetch', target: 'prefetching' },
        { target: 'deciding' },
      ],
    },
    prefetching: {
      entry: { type: 'log', params: { state: 'prefetching' } },
      invoke: {
        src: 'prefetch',
        input: stepInput,
        onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output)) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    deciding: {
      entry: { type: 'log', params: { state: 'deciding' } },
      invoke: {
        src: 'decide',
        input: stepInput,
        onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output)) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    executing: {
      entry: { type: 'log', params: { state: 'executing' } },
      invoke: {
        src: 'execute',
        input: stepInput,
        onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output)) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    backingOff: {
      entry: { type: 'log', params: { state: 'backingOff' } },
      after: { backoff: { target: 'routing' } },
      on: { PAUSE: { target: 'pausing', actions: assign({ control: ({ event }) => ({ reason: event.reason, by: event.by }) }) } },
    },
    awaitingHuman: {
      entry: [{ type: 'log', params: { state: 'awaitingHuman' } }, { type: 'rest', params: { state: 'awaitingHuman' } }],
      on: {
        RESPOND: { target: 'responding', actions: assign({ response: ({ event }) => event.response }) },
        PAUSE: { target: 'pausing', actions: assign({ control: ({ event }) => ({ reason: event.reason, by: event.by }) }) },
      },
    },
    escalated: {
      entry: [{ type: 'log', params: { state: 'escalated' } }, { type: 'rest', params: { state: 'escalated' } }],
      on: {
        RESPOND: { target: 'responding', actions: assign({ response: ({ event }) => event.response }) },
        PAUSE: { target: 'pausing', actions: assign({ control: ({ event }) => ({ reason: event.reason, by: event.by }) }) },
      },
    },
    responding: {
      invoke: {
        src: 'respond',
        input: ({ context }) => ({ ...stepInput({ context }), response: context.response! }),
        onDone: {
          target: 'routing',
          actions: assign(({ context, event }) => ({
            ...withThread(event.output.thread),
            response: null,
            refusal: event.output.error ?? null,
          })),
        },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    pausing: {
      invoke: {
        src: 'control',
        input: ({ context }) => ({ deps: context.deps, threadId: context.thread.id, action: 'pause' as const, ...context.control }),
        onDone: { target: 'routing', actions: assign(({ event }) => ({ ...withThread(event.output), pauseRequested: false })) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
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
    resuming: {
      invoke: {
        src: 'control',
        input: ({ context }) => ({ deps: context.deps, threadId: context.thread.id, action: 'resume' as const, ...context.control }),
        onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output)) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    cancelling: {
      invoke: {
        src: 'control',
        input: ({ context }) => ({ deps: context.deps, threadId: context.thread.id, action: 'cancel' as const, ...context.control }),
        onDone: { target: 'routing', actions: assign(({ event }) => withThread(event.output)) },
        onError: { target: 'stopped', actions: assign({ stopped: ({ event }) => stopReason(event.error) }) },
      },
    },
    done: { type: 'final', entry: { type: 'log', params: { state: 'done' } } },
    failed: { type: 'final', entry: { type: 'log', params: { state: 'failed' } } },
    cancelled: { type: 'final', entry: { type: 'log', params: { state: 'cancelled' } } },
    stopped: { type: 'final', entry: { type: 'log', params: { state: 'stopped' } } },
  },
  output: ({ context }) => machineOutput(context),
});


/** The machine's states in which an actor waits for something outside (a human, a resume). */
export const WAITING_STATES: readonly string[] = ['awaitingHuman', 'escalated', 'paused'];
