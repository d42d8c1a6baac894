import { callbackUrlOf, parentIdOf } from '../runtime/threadView.js';
import type { Thread } from '../thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import { cancelOf, type TriggerResult } from './payloads.js';

/**
 * The JSON body of a callback: what a NATS trigger's `replyTo` receives at the same rest (a
 * {@link TriggerResult}: status, version, output, failure, a cancel's reason and by, pending request), with an id, a type
 * and a time.
 */
export interface CallbackPayload extends TriggerResult {
  /**
   * `<threadId>:<version>`: the same each time this rest of the thread is reported (a callback is
   * sent at least once; drop repeats by id). Also in the `X-Switchyard-Delivery` header.
   */
  readonly id: string;
  /** `thread.human_request` (answer `pendingRequest` with its `requestId`) or `thread.finished`. */
  readonly type: 'thread.human_request' | 'thread.finished';
  /** ISO time of the thread's last event. */
  readonly at: string;
  /**
   * A pipeline's `thread.human_request` for a request of one of its children (at any depth): the
   * thread that waits, where `pendingRequest` is answered (`POST /threads/<childThreadId>/respond`
   * with its `requestId`). The `id` is then `<childThreadId>:<child's version>`; `threadId`,
   * `agent`, `status` and `version` stay the pipeline's. Absent on a thread's own rests.
   */
  readonly childThreadId?: string;
  /** The agent of {@link childThreadId}. */
  readonly childAgent?: string;
}

/** Reads threads: the pipelines above a child thread, whose callback hears of the child's requests. */
export interface CallbackThreads {
  get(threadId: string): Promise<Thread | undefined>;
}

/** The callback of a thread as it rests now, or undefined when it neither waits for a human nor has ended. */
export function callbackPayloadOf(thread: Thread): CallbackPayload | undefined {
  const state = deriveState(thread.events);
  const status = statusOf(state);
  const type = TERMINAL_STATUSES.includes(status) ? 'thread.finished' : state.pendingRequest === null ? undefined : 'thread.human_request';
  if (type === undefined) return undefined;
  const result: TriggerResult = {
    threadId: thread.id,
    agent: thread.agent,
    status,
    version: state.version,
    ...(state.output === undefined ? {} : { output: state.output }),
    ...(state.failure === undefined ? {} : { failure: state.failure }),
    ...(status === 'cancelled' ? cancelOf(thread.events) : {}),
    ...(state.pendingRequest === null ? {} : { pendingRequest: state.pendingRequest }),
  };
  return { id: `${thread.id}:${state.version}`, type, at: thread.events.at(-1)?.at ?? '', ...result };
}

/** How far up a child's pipelines are looked for a callback. */
const MAX_PIPELINE_DEPTH = 32;

/**
 * The pipeline (at any depth above `thread`) whose launch named a callback URL, and the URL;
 * undefined when none did, or when that pipeline has ended.
 */
async function callingPipelineOf(thread: Thread, threads: CallbackThreads): Promise<{ pipeline: Thread; url: string } | undefined> {
  const seen = new Set([thread.id]);
  let parentId = parentIdOf(thread);
  for (let depth = 0; parentId !== undefined && !seen.has(parentId) && depth < MAX_PIPELINE_DEPTH; depth++) {
    seen.add(parentId);
    const parent = await threads.get(parentId);
    if (parent === undefined) return undefined;
    const url = callbackUrlOf(parent);
    if (url !== undefined) return deriveState(parent.events).terminal === null ? { pipeline: parent, url } : undefined;
    parentId = parentIdOf(parent);
  }
  return undefined;
}

/** A pipeline's callback for the human request of its child `child` (see {@link CallbackPayload.childThreadId}). */
export function childRequestPayloadOf(pipeline: Thread, child: Thread): CallbackPayload | undefined {
  const own = callbackPayloadOf(child);
  if (own?.type !== 'thread.human_request' || own.pendingRequest === undefined) return undefined;
  const state = deriveState(pipeline.events);
  return {
    id: own.id,
    type: own.type,
    at: own.at,
    threadId: pipeline.id,
    agent: pipeline.agent,
    status: statusOf(state),
    version: state.version,
    pendingRequest: own.pendingRequest,
    childThreadId: child.id,
    childAgent: child.agent,
  };
}

/** A callback due: where it goes and what it says. */
export interface DueCallback {
  readonly url: string;
  readonly payload: CallbackPayload;
}

/** The callback of a thread's own launch that its rest calls for, if any. */
export function ownCallbackOf(thread: Thread): DueCallback | undefined {
  const url = callbackUrlOf(thread);
  const payload = url === undefined ? undefined : callbackPayloadOf(thread);
  return url === undefined || payload === undefined ? undefined : { url, payload };
}

/** The callback of the pipeline above a child that waits for a human, if a pipeline's launch named one. */
export async function pipelineCallbackOf(child: Thread, threads: CallbackThreads): Promise<DueCallback | undefined> {
  if (parentIdOf(child) === undefined || deriveState(child.events).pendingRequest === null) return undefined;
  const calling = await callingPipelineOf(child, threads);
  const payload = calling === undefined ? undefined : childRequestPayloadOf(calling.pipeline, child);
  return calling === undefined || payload === undefined ? undefined : { url: calling.url, payload };
}

/**
 * The callback a thread at rest calls for, if any: its own launch's, or (read through `threads`)
 * that of the pipeline above it when it is a child that waits for a human.
 */
export async function dueCallbackOf(thread: Thread, threads: CallbackThreads | undefined): Promise<DueCallback | undefined> {
  // A thread with a callback of its own needs no read (a pipeline's child has none).
  if (callbackUrlOf(thread) !== undefined || threads === undefined) return ownCallbackOf(thread);
  return pipelineCallbackOf(thread, threads);
}
