import { callbackUrlOf, parentIdOf, viewOf } from '../runtime/threadView.js';
import { versionOf, type Thread } from '../thread/events.js';
import { deliveryIdOf } from '../thread/incarnation.js';
import { deriveState, TERMINAL_STATUSES, unrecordedCall } from '../thread/state.js';
import { childRequestResultOf, replyingPipelineOf, type PipelineThreads } from './childRequests.js';
import { resultOf, type TriggerResult } from './payloads.js';

/**
 * The JSON body of a callback: what a NATS trigger's `replyTo` receives at the same rest (a
 * {@link TriggerResult}: status, version, output, failure, a cancel's reason and by, pending
 * request, a waiting child), with an id, a type and a time.
 */
export interface CallbackPayload extends TriggerResult {
  /**
   * `<threadId>@<incarnation>:<version>`: the same each time this rest of the thread is reported
   * (a callback is sent at least once; drop repeats by id). Also in the `X-Switchyard-Delivery`
   * header. The incarnation is the thread's creation instant in short form (its epoch ms in base
   * 36), so a thread deleted and launched again under its id is not taken for its earlier self.
   * For a pipeline's request of one of its children (see {@link TriggerResult.childThreadId}),
   * `<childThreadId>@<child's incarnation>:<child's version>`.
   */
  readonly id: string;
  /** `thread.human_request` (answer `pendingRequest` with its `requestId`) or `thread.finished`. */
  readonly type: 'thread.human_request' | 'thread.finished';
  /** ISO time of the thread's last event. */
  readonly at: string;
  /**
   * `thread.finished` of a thread cancelled while a tool call of it ran in another process, whose
   * outcome is not recorded yet: that call (it may have taken effect). Once that process records
   * the outcome, after the cancel, the thread's final view is sent as another `thread.finished`
   * (a later version, so another id), without this field.
   */
  readonly unrecordedCall?: { readonly callId: string; readonly tool: string };
}

/** The callback of a thread as it rests now, or undefined when it neither waits for a human nor has ended. */
export function callbackPayloadOf(thread: Thread): CallbackPayload | undefined {
  const view = viewOf(thread);
  const type = TERMINAL_STATUSES.includes(view.status) ? 'thread.finished' : view.pendingRequest === null ? undefined : 'thread.human_request';
  if (type === undefined) return undefined;
  const call = unrecordedCall(thread.events);
  return {
    id: deliveryIdOf(thread, view.version),
    type,
    at: thread.events.at(-1)?.at ?? '',
    ...resultOf(view),
    ...(call === undefined ? {} : { unrecordedCall: { callId: call.callId, tool: call.tool } }),
  };
}

/** A pipeline's callback for the human request of its child `child` (see {@link TriggerResult.childThreadId}). */
function childRequestPayloadOf(pipeline: Thread, child: Thread): CallbackPayload | undefined {
  const result = childRequestResultOf(pipeline, child);
  if (result === undefined) return undefined;
  return { id: deliveryIdOf(child, versionOf(child)), type: 'thread.human_request', at: child.events.at(-1)?.at ?? '', ...result };
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
export async function pipelineCallbackOf(child: Thread, threads: PipelineThreads): Promise<DueCallback | undefined> {
  if (parentIdOf(child) === undefined || deriveState(child.events).pendingRequest === null) return undefined;
  const calling = await replyingPipelineOf(child, threads, callbackUrlOf);
  const payload = calling === undefined ? undefined : childRequestPayloadOf(calling.pipeline, child);
  return calling === undefined || payload === undefined ? undefined : { url: calling.to, payload };
}

/**
 * The callback a thread at rest calls for, if any: its own launch's, or (read through `threads`)
 * that of the pipeline above it when it is a child that waits for a human.
 */
export async function dueCallbackOf(thread: Thread, threads: PipelineThreads | undefined): Promise<DueCallback | undefined> {
  // A thread with a callback of its own needs no read (a pipeline's child has none).
  if (callbackUrlOf(thread) !== undefined || threads === undefined) return ownCallbackOf(thread);
  return pipelineCallbackOf(thread, threads);
}
