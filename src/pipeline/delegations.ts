import type { Thread, ThreadEvent } from '../thread/events.js';
import { TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';
import { MAX_PIPELINE_DEPTH } from './pipelineNesting.js';

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
 * The delegations of a pipeline's agent steps, one per child thread, in order (`open`: only those
 * with no recorded result, at most the one it waits for). Read from the log alone, so any process
 * can tell, with or without the pipeline's definition.
 */
export function delegations(thread: Pick<Thread, 'events'>, open = false): Delegation[] {
  const ended = new Set<string>();
  if (open) for (const event of thread.events) if (event.type === 'tool_result') ended.add(event.data.callId);
  const children = new Map<string, Delegation>();
  for (const event of thread.events) {
    const child = event.type === 'tool_call' && !ended.has(event.data.callId) ? delegationOf(event) : null;
    if (child !== null) children.set(child.threadId, child);
  }
  return [...children.values()];
}

/** The delegations of a pipeline's agent steps that have no recorded result, in order (see {@link delegations}). */
export function openDelegations(thread: Pick<Thread, 'events'>): Delegation[] {
  return delegations(thread, true);
}

/**
 * The child a pipeline waits on: its last delegation that has no result yet, while the pipeline
 * has not ended. `null` for agents' threads and pipelines between steps.
 */
export function openDelegation(thread: Pick<Thread, 'events'> & { readonly status: ThreadStatus }): Delegation | null {
  return TERMINAL_STATUSES.includes(thread.status) ? null : (openDelegations(thread).at(-1) ?? null);
}

/** A thread as {@link waitedDescendant} reads it: its id, log and status. */
type ChainThread = Pick<Thread, 'id' | 'events'> & { readonly status: ThreadStatus };

/** The thread a pipeline waits on, down its chain of running pipelines (see {@link waitedDescendant}). */
export interface WaitedDescendant<T extends ChainThread> {
  /** The delegation that named it (by its own pipeline: the last one of {@link WaitedDescendant.through}, or the top one). */
  readonly child: Delegation;
  readonly view: T;
  /** The pipelines between the top one and it, top down (empty for a direct child). */
  readonly through: readonly Delegation[];
}

/**
 * The thread a pipeline waits on: the child its open step waits on, and while that child runs
 * and is itself a pipeline waiting on its own child, that one, down to {@link MAX_PIPELINE_DEPTH}
 * levels (a nested pipeline's grandchild waiting for a human is what its top pipeline waits on).
 * Only a pipeline's own children count (a thread under the child's id launched otherwise does
 * not); one that ended is the last (its pipeline is about to move on). `get` reads a thread
 * (undefined: not there). `undefined` for agents' threads, a pipeline between steps, and a child
 * not launched yet.
 */
export async function waitedDescendant<T extends ChainThread>(top: ChainThread, get: (threadId: string) => Promise<T | undefined>): Promise<WaitedDescendant<T> | undefined> {
  let found: WaitedDescendant<T> | undefined;
  let parent: ChainThread = top;
  for (let depth = 0; depth < MAX_PIPELINE_DEPTH && (depth === 0 || parent.status === 'running'); depth++) {
    const child = openDelegation(parent);
    if (child === null) break;
    const view = await get(child.threadId);
    if (view === undefined || parentIdOf(view) !== parent.id) break;
    found = { child, view, through: found === undefined ? [] : [...found.through, found.child] };
    parent = view;
  }
  return found;
}

/** The pipeline thread that launched this thread, if one did. */
export function parentIdOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  return first?.type === 'input' ? first.data.source?.parentId : undefined;
}

/**
 * The thread a pipeline waits on, with the pipelines in between when it is a nested pipeline's
 * (`asker thread p--outer--ship (through shipit thread p--outer)`).
 */
export function waitedThread(child: Delegation, through: readonly Delegation[] = []): string {
  const via = through.length === 0 ? '' : ` (through ${through.map((p) => `${p.agent} thread ${p.threadId}`).join(', ')})`;
  return `${child.agent} thread ${child.threadId}${via}`;
}
