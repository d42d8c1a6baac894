import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { redactJson, redactText } from '../context/redact.js';
import { renderContext } from '../context/renderContext.js';
import { VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Model, ModelResult } from '../model/model.js';
import { parseNextStep } from '../model/nextStep.js';
import type { ThreadStore } from '../store/threadStore.js';
import {
  DONE_FOR_NOW,
  REQUEST_HUMAN_INPUT,
  versionOf,
  type ErrorKind,
  type HumanResponse,
  type Json,
  type NewEvent,
  type Thread,
} from '../thread/events.js';
import { validateResponse } from '../thread/humanResponse.js';
import { deriveState, type ThreadState } from '../thread/state.js';
import { stampEvents } from '../thread/thread.js';
import { doneForNowSchema, requestHumanInputSchema } from '../../tools/human.js';
import type { Agent } from './agent.js';
import { promptHash } from './prompt.js';
import { toJson, type ToolContext } from './tool.js';

/** What an agent actor needs from the outside world, injected. */
export interface AgentDeps {
  readonly model: Model;
  readonly store: ThreadStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told when the actor comes to rest (waits on a human, a resume or a child thread). */
  readonly onRest?: (rest: { readonly state: string; readonly thread: Thread }) => void;
}

/** Input of every step: the agent, the thread as last persisted, and its derived state. */
export interface StepInput {
  readonly agent: Agent;
  readonly thread: Thread;
  readonly state: ThreadState;
  readonly deps: AgentDeps;
}

const MAX_MESSAGE = 500;

/** Persists new events with the thread's version as the expected version (optimistic). */
export async function appendEvents(deps: AgentDeps, thread: Thread, events: readonly NewEvent[]): Promise<Thread> {
  const stamped = stampEvents(versionOf(thread), events, new Date(deps.clock.now()).toISOString());
  return deps.store.append(thread.id, versionOf(thread), stamped);
}

/** A request id: unguessable from outside the thread, yet the same when a run is replayed. */
export function requestIdFor(threadId: string, seq: number): string {
  return `req_${seq}_${createHash('sha256').update(`${threadId}:${seq}`).digest('hex').slice(0, 10)}`;
}

/** The call id of the decision at `seq`. */
export function callIdFor(seq: number): string {
  return `call_${seq}`;
}

/** Exponential backoff with deterministic jitter (a hash of thread and seq), so replays agree. */
export function backoffDelay(agent: Pick<Agent, 'backoff'>, attempt: number, threadId: string, seq: number): number {
  const { initialMs, factor, maxMs, jitter } = agent.backoff;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  const u = createHash('sha256').update(`${threadId}:${seq}`).digest().readUInt32BE(0) / 0xffffffff;
  return Math.round(Math.min(maxMs, base * (1 - jitter + 2 * jitter * u)));
}

/** An escalation at `seq` and the human request (at `seq + 1`) it opens. */
function escalationEvents(
  threadId: string,
  seq: number,
  reason: 'max_consecutive_errors' | 'max_steps',
  message: string,
  question: string,
  urgency: 'medium' | 'high',
): NewEvent[] {
  const requestId = requestIdFor(threadId, seq + 1);
  return [
    { type: 'escalation', data: { reason, message, requestId } },
    { type: 'human_request', data: { requestId, kind: 'escalation', question, urgency, format: 'free_text' } },
  ];
}

/**
 * The events that record an error: a compact `error` the model sees next time plus a backoff
 * deadline, or, at `maxConsecutiveErrors` in a row, an escalation to a human instead.
 */
export function errorEvents(
  input: StepInput,
  kind: ErrorKind,
  message: string,
  extra: { callId?: string; tool?: string; tokens?: { prompt: number; completion: number } } = {},
): NewEvent[] {
  const { agent, thread, state, deps } = input;
  const attempt = state.consecutiveErrors + 1;
  const seq = versionOf(thread) + 1;
  const text = redactText(message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message, agent.secrets);
  const base = { kind, message: text, attempt, ...extra };
  if (attempt >= agent.maxConsecutiveErrors) {
    const why = `${attempt} errors in a row; the last: ${text}`;
    return [
      { type: 'error', data: base },
      ...escalationEvents(thread.id, seq + 1, 'max_consecutive_errors', why, `Agent ${agent.name} stopped after ${why}. Answer with guidance to continue, or deny to stop it.`, 'high'),
    ];
  }
  const retryAt = new Date(deps.clock.now() + backoffDelay(agent, attempt, thread.id, seq)).toISOString();
  return [{ type: 'error', data: { ...base, retryAt } }];
}

/** Renders a prompt template that places the context itself (so it differs on every decision). */
function renderSystem(agent: Agent, context: string): { text: string; hash: string } {
  const text = agent.prompt.render({ agent: agent.name, description: agent.description, tools: agent.toolList, context });
  return { text, hash: promptHash(text) };
}

/** Runs the next prefetch step and records its result (factor 13). */
export async function prefetchStep(input: StepInput, signal: AbortSignal): Promise<Thread> {
  const { agent, thread, state, deps } = input;
  const step = agent.prefetch.find((p) => !state.prefetched.includes(p.name));
  if (step === undefined) return thread;
  const inputEvent = thread.events.find((e) => e.type === 'input');
  try {
    const result = await step.run({
      threadId: thread.id,
      input: inputEvent?.type === 'input' ? inputEvent.data.input : null,
      logger: deps.logger,
      signal,
    });
    return appendEvents(deps, thread, [
      { type: 'prefetch', data: { name: step.name, ok: true, result: redactJson(toJson(result), agent.secrets) } },
    ]);
  } catch (error) {
    if (signal.aborted) throw error;
    return appendEvents(deps, thread, errorEvents(input, 'prefetch_error', `prefetch ${step.name} failed: ${messageOf(error)}`, { tool: step.name }));
  }
}

/** One decision (factor 1): render prompt and context, ask the model once, validate its next step. */
export async function decideStep(input: StepInput, signal: AbortSignal): Promise<Thread> {
  const { agent, thread, state, deps } = input;
  const seq = versionOf(thread) + 1;
  if (state.steps >= agent.maxSteps) {
    const message = `reached maxSteps (${agent.maxSteps}) without finishing`;
    const question = `Agent ${agent.name} ${message}. Answer with guidance to continue for another ${agent.maxSteps} steps, or deny to stop it.`;
    return appendEvents(deps, thread, escalationEvents(thread.id, seq, 'max_steps', message, question, 'medium'));
  }
  const model = agent.model ?? deps.model;
  const context = renderContext(agent, thread);
  const rendered = agent.system ?? renderSystem(agent, context.text);
  const system = rendered.text;
  const timeout = new AbortController();
  const timer = deps.clock.setTimeout(() => timeout.abort(new Error('decision timed out')), agent.decideTimeoutMs);
  const onAbort = () => timeout.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const started = deps.clock.now();
  let result: ModelResult;
  try {
    result = await model.complete({
      threadId: thread.id,
      agent: agent.name,
      system,
      context: agent.prompt.includesContext ? 'Decide the next step.' : context.text,
      tools: agent.toolSpecs,
      signal: timeout.signal,
    });
  } catch (error) {
    result = { success: false, error: { kind: 'http', message: `model failed: ${messageOf(error)}` } };
  } finally {
    deps.clock.clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw signal.reason;
  const latencyMs = Math.max(0, deps.clock.now() - started);
  if (timeout.signal.aborted && !result.success) {
    return appendEvents(deps, thread, errorEvents(input, 'model_timeout', `the model did not answer within ${agent.decideTimeoutMs} ms`));
  }
  if (!result.success) {
    const { kind, message, status } = result.error;
    const text = status === undefined ? message : `HTTP ${status}: ${message}`;
    return appendEvents(deps, thread, errorEvents(input, kind === 'timeout' ? 'model_timeout' : 'model_http', text));
  }
  const tokens = { prompt: result.data.usage.prompt, completion: result.data.usage.completion };
  const parsed = parseNextStep(result.data);
  if (!parsed.success) return appendEvents(deps, thread, errorEvents(input, 'invalid_json', parsed.error, { tokens }));
  const { intent } = parsed.data;
  const tool = agent.toolsByName.get(intent);
  if (tool === undefined) {
    const known = agent.tools.map((t) => t.name).join(', ');
    return appendEvents(deps, thread, errorEvents(input, 'unknown_intent', `unknown intent "${intent.slice(0, 80)}"; use one of: ${known}`, { tokens }));
  }
  const checked = tool.parse(parsed.data.args);
  if (!checked.success) {
    return appendEvents(deps, thread, errorEvents(input, 'invalid_args', `arguments for ${intent} are invalid: ${checked.error}`, { tool: intent, tokens }));
  }
  const args = redactJson(toJson(parsed.data.args), agent.secrets) as Record<string, Json>;
  const callId = callIdFor(seq);
  const decision: NewEvent = {
    type: 'decision',
    data: { callId, step: state.steps + 1, intent, args, model: result.data.model, promptHash: rendered.hash, tokens, latencyMs },
  };
  if (intent === DONE_FOR_NOW) {
    const { message } = doneForNowSchema.parse(checked.data);
    return appendEvents(deps, thread, [decision, { type: 'final', data: { output: redactText(message, agent.secrets) } }]);
  }
  if (intent === REQUEST_HUMAN_INPUT) {
    const ask = requestHumanInputSchema.parse(checked.data);
    return appendEvents(deps, thread, [
      decision,
      {
        type: 'human_request',
        data: {
          requestId: requestIdFor(thread.id, seq + 1),
          kind: 'input',
          question: ask.question,
          ...(ask.context === undefined ? {} : { context: ask.context }),
          urgency: ask.urgency,
          format: ask.format,
          ...(ask.choices === undefined ? {} : { choices: ask.choices }),
        },
      },
    ]);
  }
  if (tool.needsApproval(checked.data)) {
    return appendEvents(deps, thread, [
      decision,
      {
        type: 'human_request',
        data: {
          requestId: requestIdFor(thread.id, seq + 1),
          kind: 'approval',
          question: `Approve ${intent}(${JSON.stringify(args)})?`,
          urgency: 'medium',
          format: 'yes_no',
          callId,
          tool: intent,
          args,
        },
      },
    ]);
  }
  return appendEvents(deps, thread, [decision]);
}

/**
 * Runs the pending tool call (factor 4), journaled: the `tool_call` event is persisted before the
 * tool runs and the result after. A call found started but unfinished (the process died) runs
 * again only if the tool is idempotent; otherwise a human is asked what happened.
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
  if (call.started && !tool.idempotent) {
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
  const attempt = call.attempts + 1;
  const idempotencyKey = `${thread.id}:${call.callId}`;
  thread = await appendEvents(deps, thread, [
    { type: 'tool_call', data: { callId: call.callId, tool: call.tool, args: call.args, idempotencyKey, attempt } },
  ]);
  // Only the error paths need the state after the tool_call event.
  const afterCall = (): StepInput => ({ ...input, thread, state: deriveState(thread.events) });
  // The tool's signal is built on first use (most tools never read it; an AbortSignal is not free).
  let controller: AbortController | undefined;
  let timedOut = false;
  const onAbort = (): void => controller?.abort(signal.reason);
  let timer: unknown;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = deps.clock.setTimeout(() => {
      timedOut = true;
      controller?.abort(new Error(`${call.tool} timed out`));
      resolve('timeout');
    }, tool.timeoutMs);
  });
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
    const outcome = await Promise.race([tool.run(checked.data, context), deadline]);
    if (signal.aborted) throw signal.reason;
    if (outcome === 'timeout' && timedOut) {
      return appendEvents(deps, thread, errorEvents(afterCall(), 'tool_timeout', `${call.tool} did not finish within ${tool.timeoutMs} ms`, { callId: call.callId, tool: call.tool }));
    }
    const result = redactJson(outcome as Json, agent.secrets);
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

/** Records a human's response after validating it against the open request. */
export async function respondStep(input: StepInput, response: HumanResponse): Promise<{ thread: Thread; error?: string }> {
  const checked = validateResponse(input.state.pendingRequest, response);
  if (!checked.success) return { thread: input.thread, error: checked.error };
  return { thread: await appendEvents(input.deps, input.thread, [{ type: 'human_response', data: checked.data }]) };
}

/**
 * Appends a control event (pause, resume, cancel) to the latest stored thread, retrying when
 * another writer got there first (control must land even while a step races it).
 */
export async function controlStep(
  deps: AgentDeps,
  threadId: string,
  control: { action: 'pause' | 'resume' | 'cancel'; reason?: string; by?: string },
): Promise<Thread> {
  for (let attempt = 0; ; attempt++) {
    const thread = await deps.store.get(threadId);
    if (thread === undefined) throw new Error(`thread ${threadId} vanished`);
    try {
      return await appendEvents(deps, thread, [{ type: 'control', data: control }]);
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= 10) throw error;
    }
  }
}

/** A short message for any thrown value. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
}
