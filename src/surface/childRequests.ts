import { parentIdOf } from '../runtime/threadView.js';
import type { Thread } from '../thread/events.js';
import { askedRequestOf, deriveState, statusOf } from '../thread/state.js';
import type { TriggerResult } from './payloads.js';

/** Reads threads: the pipelines above a child thread, whose replies hear of the child's requests. */
export interface PipelineThreads {
  get(threadId: string): Promise<Thread | undefined>;
}

/** How far up a child's pipelines are looked for where to reply. */
const MAX_PIPELINE_DEPTH = 32;

/**
 * The nearest pipeline above `thread` (at any depth) whose launch named where to reply, as
 * `replyOf` reads it (a callback URL, a NATS reply subject), and that place; undefined when none
 * did, or when that pipeline has ended.
 */
export async function replyingPipelineOf<T>(
  thread: Pick<Thread, 'id' | 'events'>,
  threads: PipelineThreads,
  replyOf: (pipeline: Thread) => T | undefined,
): Promise<{ pipeline: Thread; to: T } | undefined> {
  const seen = new Set([thread.id]);
  let parentId = parentIdOf(thread);
  for (let depth = 0; parentId !== undefined && !seen.has(parentId) && depth < MAX_PIPELINE_DEPTH; depth++) {
    seen.add(parentId);
    const parent = await threads.get(parentId);
    if (parent === undefined) return undefined;
    const to = replyOf(parent);
    if (to !== undefined) return deriveState(parent.events).terminal === null ? { pipeline: parent, to } : undefined;
    parentId = parentIdOf(parent);
  }
  return undefined;
}

/**
 * A pipeline's result while its child `child` (at any depth) waits for a human: the pipeline's
 * `threadId`, `agent`, `status` and `version`, the child's `pendingRequest`, and `childThreadId`
 * and `childAgent` naming the thread to answer. Undefined when the child does not wait for one.
 */
export function childRequestResultOf(pipeline: Thread, child: Thread): TriggerResult | undefined {
  const childState = deriveState(child.events);
  const pendingRequest = askedRequestOf(child.events, childState);
  if (childState.terminal !== null || pendingRequest === null) return undefined;
  const state = deriveState(pipeline.events);
  return {
    threadId: pipeline.id,
    agent: pipeline.agent,
    status: statusOf(state),
    version: state.version,
    pendingRequest,
    childThreadId: child.id,
    childAgent: child.agent,
  };
}
