import { fromPromise } from 'xstate';
import { controlStep } from '../src/agent/controlStep.js';
import { messageOf, VersionConflictError } from '../src/errors.js';
import { type AgentDeps } from '../src/agent/deps.js';
import type { Thread } from '../src/thread/events.js';
import { deriveState, statusOf, type ThreadState, type ThreadStatus } from '../src/thread/state.js';

// What the durable machines (the agent and every pipeline) share: a thread in context with its
// derived state, control events, and one way to end early.

/** Control events every durable machine (agent, pipeline) accepts. */
export type ControlEvent =
  | { type: 'PAUSE'; reason?: string; by?: string }
  | { type: 'RESUME'; by?: string }
  | { type: 'CANCEL'; reason?: string; by?: string };

/** What an agent or pipeline actor ends with. */
export interface AgentMachineOutput {
  readonly threadId: string;
  readonly status: ThreadStatus;
  readonly thread: Thread;
  /** Why the actor stopped early: a version conflict (another worker advanced the thread) or a step that threw (e.g. the store failed). */
  readonly stopped?: string;
}

/** The context fields for a thread as persisted: the thread and its derived state. */
export const withThread = (thread: Thread): { thread: Thread; state: ThreadState } => ({ thread, state: deriveState(thread.events) });

/** Why an actor stops early: a lost optimistic append, or a step that threw. */
export function stopReason(error: unknown): string {
  return error instanceof VersionConflictError ? `superseded: ${error.message}` : `step failed: ${messageOf(error)}`;
}

/** Who asked for a control event and why, as kept in context for the step that records it. */
export const controlOf = ({ event }: { event: { reason?: string; by?: string } }): { reason?: string; by?: string } => ({ reason: event.reason, by: event.by });

/** Input of {@link controlActor}. */
export interface ControlInput {
  readonly deps: AgentDeps;
  readonly threadId: string;
  readonly action: 'pause' | 'resume' | 'cancel';
  readonly reason?: string;
  readonly by?: string;
}

/** Appends a control event (pause, resume, cancel) to the thread. */
export const controlActor = fromPromise<Thread, ControlInput>(({ input }) =>
  controlStep(input.deps, input.threadId, { action: input.action, reason: input.reason, by: input.by }),
);

/** The output of a durable machine, from its context. */
export function machineOutput(context: { thread: Thread; state: ThreadState; stopped: string | null }): AgentMachineOutput {
  return {
    threadId: context.thread.id,
    status: statusOf(context.state),
    thread: context.thread,
    ...(context.stopped === null ? {} : { stopped: context.stopped }),
  };
}
