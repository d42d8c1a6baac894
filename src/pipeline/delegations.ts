import type { Thread, ThreadEvent } from '../thread/events.js';
import { TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';

/** A pipeline's agent step handed to a child thread: the agent and the thread it runs in. */
export interface Delegation {
  readonly threadId: string;
  readonly agent: string;
}

/** The child thread a pipeline's step delegated to, when the event is such a delegation (its journaled `{ threadId, agent }`). */
export function delegationOf(event: ThreadEvent): Delegation | null {
  if (event.type !== 'tool_call') return null;
  const { threadId, agent } = event.data.args;
  return typeof threadId === 'string' && typeof agent === 'string' ? { threadId, agent } : null;
}

/**
 * The delegations of a pipeline's agent steps that have no recorded result, in order: at most the
 * one it waits for. Read from the log alone, so any process can tell, with or without the
 * pipeline's definition.
 */
export function openDelegations(thread: Pick<Thread, 'events'>): Delegation[] {
  const ended = new Set<string>();
  for (const event of thread.events) if (event.type === 'tool_result') ended.add(event.data.callId);
  const open = new Map<string, Delegation>();
  for (const event of thread.events) {
    const child = event.type === 'tool_call' && !ended.has(event.data.callId) ? delegationOf(event) : null;
    if (child !== null) open.set(child.threadId, child);
  }
  return [...open.values()];
}

/**
 * The child a pipeline waits on: its last delegation that has no result yet, while the pipeline
 * has not ended. `null` for agents' threads and pipelines between steps.
 */
export function openDelegation(thread: Pick<Thread, 'events'> & { readonly status: ThreadStatus }): Delegation | null {
  return TERMINAL_STATUSES.includes(thread.status) ? null : (openDelegations(thread).at(-1) ?? null);
}
