import { redactJson } from '../context/redact.js';
import { messageOf, VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import { appendEvents } from '../store/appendEvents.js';
import { versionOf, type Json, type NewEvent, type Thread } from '../thread/events.js';
import { deriveState } from '../thread/state.js';
import { approvalRequest } from './approvalRequest.js';
import type { StepInput } from './deps.js';
import { errorEvents } from './errorEvents.js';
import { idempotencyKeyFor, requestIdFor } from './ids.js';
import type { ToolContext } from './tool.js';

/**
 * Runs the pending tool call (factor 4), journaled: the `tool_call` event is persisted before the
 * tool runs (by this step, or by the decision with it: `input.recordedCall`) and the result after.
 * A call found started but unfinished (the process died) runs again only if the tool is
 * idempotent; otherwise a human is asked what happened.
 */
export async function executeStep(input: StepInput, signal: AbortSignal): Promise<Thread> {
  const { agent, state, deps } = input;
  let { thread } = input;
  const call = state.pendingCall;
  if (call === null) return thread;
  const tool = agent.toolsByName.get(call.tool);
  if (tool === undefined) {
    return appendEvents(deps, thread, errorEvents(input, 'unknown_intent', `tool ${call.tool} no longer exists`, { callId: call.callId, tool: call.tool }));
  }
  // The decision recorded this call with it in this actor, and nothing has run it since.
  const recorded = call.started && call.attempts === 1 && input.recordedCall === call.callId;
  if (call.started && !recorded && !tool.idempotent) {
    const seq = versionOf(thread) + 1;
    return appendEvents(deps, thread, [
      {
        type: 'human_request',
        data: {
          requestId: requestIdFor(thread.id, seq),
          kind: 'interrupted',
          question: `${call.tool}(${JSON.stringify(call.args)}) was started but the worker stopped before it finished, and the tool is not idempotent. Did it take effect? Approve to run it again; deny and describe the outcome otherwise.`,
          urgency: 'high',
          format: 'yes_no',
          callId: call.callId,
          tool: call.tool,
          args: call.args,
        },
      },
    ]);
  }
  const checked = tool.parse(call.args);
  if (!checked.success) {
    return appendEvents(deps, thread, errorEvents(input, 'invalid_args', `arguments for ${call.tool} are invalid: ${checked.error}`, { callId: call.callId, tool: call.tool }));
  }
  // The gate is derived from the log: a decision for a tool that needs approval, with no approval
  // recorded after it (a log that ends at the decision), asks before anything runs.
  if (!call.approved && !call.retryApproved && tool.needsApproval(checked.data)) {
    return appendEvents(deps, thread, [approvalRequest(thread.id, versionOf(thread) + 1, call)]);
  }
  const attempt = recorded ? call.attempts : call.attempts + 1;
  const idempotencyKey = idempotencyKeyFor(thread.id, call.callId);
  if (!recorded) {
    thread = await appendEvents(deps, thread, [{ type: 'tool_call', data: { callId: call.callId, tool: call.tool, args: call.args, idempotencyKey, attempt } }]);
  }
  // Only the error paths need the state after the tool_call event.
  const afterCall = (): StepInput => ({ ...input, thread, state: deriveState(thread.events) });
  // The tool's signal is built on first use (most tools never read it; an AbortSignal is not free).
  let controller: AbortController | undefined;
  let timedOut = false;
  const onAbort = (): void => controller?.abort(signal.reason);
  let timer: unknown;
  const started = deps.clock.now();
  // Built on first use: most tools never log, and a pino child per call is not free.
  let log: Logger | undefined;
  const context: ToolContext = {
    threadId: thread.id,
    callId: call.callId,
    idempotencyKey,
    attempt,
    get logger() {
      return (log ??= deps.logger.child({ state: 'executing', tool: call.tool, callId: call.callId }));
    },
    get signal() {
      if (controller === undefined) {
        controller = new AbortController();
        if (timedOut) controller.abort(new Error(`${call.tool} timed out`));
        else if (signal.aborted) controller.abort(signal.reason);
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      return controller.signal;
    },
  };
  try {
    // One promise for the tool and its deadline (not a deadline promise and a race of the two).
    const outcome = await new Promise<Json | typeof TIMED_OUT>((resolve, reject) => {
      timer = deps.clock.setTimeout(() => {
        timedOut = true;
        controller?.abort(new Error(`${call.tool} timed out`));
        resolve(TIMED_OUT);
      }, tool.timeoutMs);
      tool.run(checked.data, context).then(resolve, reject);
    });
    if (signal.aborted) throw signal.reason;
    if (outcome === TIMED_OUT) {
      return appendEvents(deps, thread, errorEvents(afterCall(), 'tool_timeout', `${call.tool} did not finish within ${tool.timeoutMs} ms`, { callId: call.callId, tool: call.tool }));
    }
    const result = redactJson(outcome, agent.secrets);
    const events: NewEvent[] = [
      { type: 'tool_result', data: { callId: call.callId, tool: call.tool, result, durationMs: Math.max(0, deps.clock.now() - started) } },
    ];
    if (tool.breaksLoop) events.push({ type: 'final', data: { output: result } });
    return appendEvents(deps, thread, events);
  } catch (error) {
    if (signal.aborted || error instanceof VersionConflictError) throw error;
    return appendEvents(deps, thread, errorEvents(afterCall(), 'tool_error', `${call.tool} failed: ${messageOf(error)}`, { callId: call.callId, tool: call.tool }));
  } finally {
    deps.clock.clearTimeout(timer);
    if (controller !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

const TIMED_OUT = Symbol('timed out');
