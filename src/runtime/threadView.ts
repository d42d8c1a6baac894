import type { HumanRequest, Json, Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, statusOf, type ThreadStatus } from '../thread/state.js';

/** A thread as the API shows it: its derived state beside its events. */
export interface ThreadView {
  readonly id: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  readonly version: number;
  /** Steps done so far: an agent's decisions; a pipeline's journaled step results (it makes no decision). */
  readonly steps: number;
  readonly pendingRequest: HumanRequest | null;
  readonly output: Json | undefined;
  readonly failure: string | undefined;
  readonly createdAt: string | undefined;
  readonly updatedAt: string | undefined;
  readonly events: readonly ThreadEvent[];
}

/** The API's view of a thread: its state derived from its events. */
export function viewOf(thread: Thread): ThreadView {
  const state = deriveState(thread.events);
  return {
    id: thread.id,
    agent: thread.agent,
    status: statusOf(state),
    version: state.version,
    // An agent's tool results all follow a decision; a pipeline's are its steps.
    steps: state.totalSteps > 0 ? state.totalSteps : thread.events.filter((e) => e.type === 'tool_result').length,
    pendingRequest: state.pendingRequest,
    output: state.output,
    failure: state.failure,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    events: thread.events,
  };
}

/** The pipeline thread that launched this thread, if one did. */
export function parentIdOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  return first?.type === 'input' ? first.data.source?.parentId : undefined;
}

/** The http(s) callback URL a thread's launch recorded, if any (a NATS trigger's `replyTo` is a subject). */
export function callbackUrlOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  if (first?.type !== 'input' || first.data.source === undefined || first.data.source.kind === 'nats') return undefined;
  const url = first.data.source.replyTo;
  return url !== undefined && /^https?:\/\//i.test(url) ? url : undefined;
}
