import type { z } from 'zod';
import { redactJson, redactText } from '../context/redact.js';
import { redactedPaths, sealArgs } from '../context/sealedArgs.js';
import { agentContext } from '../context/ownContext.js';
import type { RenderedContext } from '../context/renderContext.js';
import { MAX_TIMER_MS } from '../clock.js';
import { clipText, messageOf } from '../errors.js';
import type { Model, ModelFailure, ModelOutput, ModelResult } from '../model/model.js';
import { parseNextStep } from '../model/nextStep.js';
import { appendEvents } from '../store/appendEvents.js';
import { originAndPath } from '../store/deliveryTarget.js';
import { DONE_FOR_NOW, REQUEST_HUMAN_INPUT, versionOf, type Json, type NewEvent, type Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import type { Agent } from './agent.js';
import type { Tool } from './tool.js';
import type { StepInput } from './deps.js';
import { errorEvents, errorLogFields, escalationEvents } from './errorEvents.js';
import { doneForNowSchema, requestHumanInputSchema } from './humanTools.js';
import { approvalRequest } from './approvalRequest.js';
import { callIdFor, newIdempotencyKey, requestIdFor } from './ids.js';
import { promptHash } from './prompt.js';
import { deriveState, type ThreadState } from '../thread/state.js';

/**
 * Renders a prompt template that differs per decision: it places the context, or has variables of
 * the thread. A variable computed from the thread (its input, a tool's result) has the agent's
 * secrets redacted, as the context has (`redactText`); an agent that declares none skips that.
 */
function renderSystem(agent: Agent, thread: Thread, context: string): { text: string; hash: string } {
  const { secrets } = agent;
  const own: Record<string, string> = {};
  let state: ThreadState | undefined;
  for (const [name, value] of Object.entries(agent.variables)) {
    if (typeof value === 'string') own[name] = value;
    else {
      const text = value(thread, (state ??= deriveState(thread.events)));
      own[name] = secrets.length === 0 ? text : redactText(String(text), secrets);
    }
  }
  const text = agent.prompt.render({ ...own, agent: agent.name, description: agent.description, tools: agent.toolList, context });
  return { text, hash: promptHash(text, agent.toolsDigest) };
}

/** The context and system prompt of the next decision; the agent's own functions may throw. */
function renderPrompt(agent: Agent, thread: Thread): { context: RenderedContext; system: { text: string; hash: string } } | { error: string } {
  try {
    const context = agentContext(agent, thread);
    return { context, system: agent.system ?? renderSystem(agent, thread, context.text) };
  } catch (error) {
    return { error: `rendering the context or prompt failed: ${messageOf(error)}` };
  }
}

/** One decision: what it appends (see {@link decideStep}). */
async function decide(input: StepInput, step: AbortController): Promise<Decided> {
  const { agent, thread, state } = input;
  const seq = versionOf(thread) + 1;
  if (state.steps >= agent.maxSteps) {
    const message = `reached maxSteps (${agent.maxSteps}) without finishing`;
    const question = `Agent ${agent.name} ${message}. Answer with guidance to continue for another ${agent.maxSteps} steps, or deny to stop it.`;
    return decided(escalationEvents(incarnationKeyOf(thread), seq, 'max_steps', message, question, 'medium'));
  }
  const prompt = renderPrompt(agent, thread);
  if ('error' in prompt) return decided(errorEvents(input, 'step_error', prompt.error));
  const asked = await askModel(input, step, prompt.context, prompt.system);
  if (!asked.result.success) return decided(modelFailure(input, asked.result.error, asked.timedOut));
  return nextStep(input, seq, asked.result.data, prompt.system.hash, asked.latencyMs);
}

/** The model's answer, how long it took, and whether the decision's deadline passed first. */
interface Asked {
  readonly result: ModelResult;
  readonly latencyMs: number;
  readonly timedOut: boolean;
}

/**
 * Asks the model once, under the decision's deadline (`decideTimeoutMs` aborts the step's
 * controller). A model that throws is a failed result; an abort from outside is thrown.
 */
async function askModel(input: StepInput, step: AbortController, context: RenderedContext, system: { text: string }): Promise<Asked> {
  const { agent, thread, deps } = input;
  const { signal } = step;
  const model = agent.model ?? deps.model;
  let timedOut = false;
  let giveUp: (reason: unknown) => void = () => undefined;
  const timer = deps.clock.setTimeout(() => {
    timedOut = !signal.aborted;
    step.abort(new Error('decision timed out'));
    // A model that honours the signal says its own failure (naming its endpoint) within the turn;
    // one of the user's that ignores it is given up on then, not waited for for good.
    setImmediate(() => giveUp(signal.reason));
  }, decideDeadline(agent, model));
  const started = deps.clock.now();
  let result: ModelResult;
  try {
    const answer = model.complete({
      threadId: thread.id,
      agent: agent.name,
      system: system.text,
      context: agent.prompt.includesContext ? 'Decide the next step.' : context.text,
      tools: agent.toolSpecs,
      signal,
    });
    result = await new Promise<ModelResult>((resolve, reject) => {
      Promise.resolve(answer).then(resolve, reject);
      giveUp = reject;
    });
  } catch (error) {
    result = { success: false, error: { kind: 'http', message: `model failed: ${messageOf(error)}` } };
  } finally {
    deps.clock.clearTimeout(timer);
  }
  if (signal.aborted && !timedOut) throw signal.reason;
  return { result, latencyMs: Math.max(0, deps.clock.now() - started), timedOut };
}

/** A decision's deadline when the agent sets no `decideTimeoutMs` and its model says no timeout of its own. */
const DEFAULT_DECIDE_TIMEOUT_MS = 60_000;
/** How much longer than the model's own timeout a decision waits by default: the model's failure, which names its setting, comes first. */
const DECIDE_TIMEOUT_MARGIN_MS = 5_000;

/** How long a decision waits for `model` (on every decision: a number, no message built). */
function decideDeadline(agent: Agent, model: Model): number {
  if (agent.decideTimeoutMs !== undefined) return agent.decideTimeoutMs;
  const own = modelTimeoutOf(model);
  return own === undefined ? DEFAULT_DECIDE_TIMEOUT_MS : Math.min(Math.ceil(own) + DECIDE_TIMEOUT_MARGIN_MS, MAX_TIMER_MS);
}

/** Where {@link decideDeadline}'s figure came from, as a timeout's message says it. */
function decideDeadlineSetting(agent: Agent, model: Model): string {
  const setting = `decideTimeoutMs of agent ${agent.name}`;
  if (agent.decideTimeoutMs !== undefined) return setting;
  const own = modelTimeoutOf(model);
  return own === undefined ? `${setting}, ${DEFAULT_DECIDE_TIMEOUT_MS} by default` : `${setting}: by default the model's timeoutMs, ${own}, plus ${DECIDE_TIMEOUT_MARGIN_MS} ms`;
}

/** The model's own timeout when it says a usable one (a model of the user's may say anything). */
function modelTimeoutOf(model: Model): number | undefined {
  const own = model.timeoutMs;
  return typeof own === 'number' && own > 0 && Number.isFinite(own) ? own : undefined;
}

/** The error events of a model that did not answer, or answered with an error; logged once as a warning. */
function modelFailure(input: StepInput, failure: ModelFailure, timedOut: boolean): NewEvent[] {
  if (timedOut) {
    const model = input.agent.model ?? input.deps.model;
    const ms = decideDeadline(input.agent, model);
    const setting = decideDeadlineSetting(input.agent, model);
    const endpoint = failure.endpoint === undefined ? undefined : originAndPath(failure.endpoint);
    const at = endpoint === undefined ? '' : ` at ${endpoint}`;
    return loggedFailure(input, errorEvents(input, 'model_timeout', `the model did not answer within ${ms} ms (${setting})${at}`), failure);
  }
  const { kind, message, status, retryAfterMs, retryable } = failure;
  const text = status === undefined ? message : `HTTP ${status}: ${message}`;
  // A 429, or an overload (503, or Anthropic's 529) that says when to come back, is the endpoint
  // pacing us, not the model failing.
  const rateLimited = retryable !== false && (status === 429 || ((status === 503 || status === 529) && retryAfterMs !== undefined));
  // A malformed answer (several tool calls) is recorded as one that does not parse is: the model,
  // not the endpoint, is at fault. Any other kind a model of the user's reports is an HTTP one.
  const recorded = kind === 'timeout' ? 'model_timeout' : kind === 'malformed' ? 'invalid_json' : 'model_http';
  // Whatever the status, a retry comes no sooner than the server asked.
  const events = errorEvents(input, recorded, text, {}, {
    retryable: retryable !== false && (recorded !== 'model_http' || isTransientStatus(status)),
    ...(rateLimited ? { rateLimited } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
  return loggedFailure(input, events, failure);
}

/**
 * Logs a failed model call at warn, as its error event records it (kind, attempt, retry time, or
 * none when it escalates), with its HTTP status and the origin and path of its endpoint (never
 * credentials or a query): an operator sees a revoked key or a dead endpoint without reading
 * threads. The step's logger is bound to the thread and its agent.
 */
function loggedFailure(input: StepInput, events: NewEvent[], failure: ModelFailure): NewEvent[] {
  const fields = errorLogFields(events);
  if (fields === undefined) return events;
  const endpoint = failure.endpoint === undefined ? undefined : originAndPath(failure.endpoint);
  input.deps.logger.warn(
    { state: 'deciding', ...(failure.status === undefined ? {} : { status: failure.status }), ...(endpoint === undefined ? {} : { endpoint }), ...fields },
    'model call failed',
  );
  return events;
}

/**
 * Whether a model's HTTP failure may pass if asked again: no status (the network, a malformed
 * answer), 408, 409, 429 and 5xx. Any other 4xx (400, 401, 403, 404…: a bad key, a wrong URL or
 * model, a request the server will never take) fails the same way every time, and so does a 3xx
 * (a redirect the transport did not follow: the base URL moved).
 */
function isTransientStatus(status: number | undefined): boolean {
  return status === undefined || status >= 500 || status === 408 || status === 409 || status === 429;
}

/** The model's next step, validated: its decision and what follows it, or the error the model sees next. */
function nextStep(input: StepInput, seq: number, output: ModelOutput, hash: string, latencyMs: number): Decided {
  const { agent, state } = input;
  const { usage } = output;
  const tokens = { prompt: tokenCount(usage?.prompt), completion: tokenCount(usage?.completion) };
  const parsed = parseNextStep(output);
  if (!parsed.success) return refused(input, output, errorEvents(input, 'invalid_json', parsed.error, { tokens }));
  const { intent } = parsed.data;
  const tool = agent.toolsByName.get(intent);
  if (tool === undefined) {
    const known = agent.tools.map((t) => t.name).join(', ');
    return refused(input, output, withArgs(errorEvents(input, 'unknown_intent', `unknown intent "${intent.slice(0, 80)}"; use one of: ${known}`, { tokens }), parsed.data.args, agent.secrets));
  }
  const checked = tool.parse(parsed.data.args);
  if (!checked.success) {
    return refused(input, output, withArgs(errorEvents(input, 'invalid_args', `arguments for ${intent} are invalid: ${checked.error}`, { tool: intent, tokens }), parsed.data.args, agent.secrets));
  }
  // The arguments came from JSON.parse: JSON already, and not shared with anyone.
  const sent = parsed.data.args as Record<string, Json>;
  const callId = callIdFor(seq);
  const kept = recordedArgs(input, intent, sent, callId);
  if (!kept.success) return refused(input, output, withArgs(errorEvents(input, 'invalid_args', kept.error, { tool: intent, tokens }), sent, agent.secrets));
  const args = kept.data;
  const decision: NewEvent = {
    type: 'decision',
    data: { callId, step: state.totalSteps + 1, intent, args, model: output.model, promptHash: hash, tokens, latencyMs },
  };
  // Not built unless asked for: this runs once per step.
  const { logger } = input.deps;
  if (logger.isLevelEnabled('debug')) logger.debug({ state: 'deciding', intent, callId, step: state.totalSteps + 1, model: output.model, latencyMs, tokens }, 'model answered');
  return followUp(input, seq, decision, { callId, tool, intent, args, checked: checked.data });
}

/**
 * A decision's arguments as its thread records them: as sent when nothing in them would be
 * redacted (the common case: one walk, no copy). The built-in intents use what was sent, never the
 * record: redacted. A tool runs from the record (on any process, after a restart or an approval),
 * so its secrets are sealed for this call (see `sealArgs`); with no seal secret the call is refused,
 * the error naming the tool, the arguments and the fix.
 */
function recordedArgs(input: StepInput, intent: string, sent: Record<string, Json>, callId: string): { success: true; data: Record<string, Json> } | { success: false; error: string } {
  const { agent, deps, thread } = input;
  const redacted = redactJson(sent, agent.secrets) as Record<string, Json>;
  if (redacted === sent || intent === DONE_FOR_NOW || intent === REQUEST_HUMAN_INPUT) return { success: true, data: redacted };
  const [secret] = deps.sealSecrets ?? [];
  if (secret !== undefined) return { success: true, data: sealArgs(sent, secret, agent.secrets, { threadId: thread.id, callId }) as Record<string, Json> };
  const paths = redactedPaths(sent, redacted).join(', ');
  return {
    success: false,
    error: `${intent} was not run: its arguments hold secrets (${paths}), which the thread may keep only sealed, and this runtime has no seal secret; set SWITCHYARD_SEAL_SECRET (or the runtime option sealSecret) on every process that runs threads`,
  };
}

/**
 * The decision of a refused answer (`events`: its error first), logged at warn as a failed model
 * call is: kind, the model that answered, attempt, the retry time or the escalation, the message
 * (redacted there). The step's logger is bound to the thread and its agent.
 */
function refused(input: StepInput, output: ModelOutput, events: NewEvent[]): Decided {
  const fields = errorLogFields(events);
  if (fields !== undefined) {
    const error = events[0];
    const tool = error?.type === 'error' ? error.data.tool : undefined;
    input.deps.logger.warn({ state: 'deciding', ...(tool === undefined ? {} : { tool }), model: output.model, ...fields }, 'model answer refused');
  }
  return decided(events);
}

/** Longest JSON of refused arguments recorded whole on their error event. */
const MAX_REFUSED_ARGS = 1000;

/**
 * `events` (an error first) with the arguments the model sent on the error, so whoever reads the
 * thread, and the model next time, sees what was refused: the agent's secrets redacted, and when
 * their JSON is over {@link MAX_REFUSED_ARGS} characters, its start followed by `…` (a string).
 */
function withArgs(events: NewEvent[], sent: Json, secrets: readonly string[]): NewEvent[] {
  const [error, ...rest] = events;
  if (error?.type !== 'error') return events;
  const redacted = redactJson(sent, secrets);
  const json = JSON.stringify(redacted);
  const args = json.length > MAX_REFUSED_ARGS ? clipText(json, MAX_REFUSED_ARGS) : redacted;
  return [{ type: 'error', data: { ...error.data, args } }, ...rest];
}

/**
 * A reported token count as a thread records it: a non-negative safe integer, else 0. Models (a
 * misbehaving server, a model of the user's) may report anything, and the event schema, which a
 * store applies when it reads the thread back, takes nothing else.
 */
function tokenCount(value: number | undefined): number {
  const count = Math.round(value ?? 0);
  return Number.isSafeInteger(count) && count > 0 ? count : 0;
}

/** A valid decision's call: its id, its tool, and its arguments (redacted, and as the tool parsed them). */
interface DecidedCall {
  readonly callId: string;
  readonly tool: Tool;
  readonly intent: string;
  readonly args: Record<string, Json>;
  readonly checked: unknown;
}

/** What a valid decision appends: the end, a question, an approval request, or its call. */
function followUp(input: StepInput, seq: number, decision: NewEvent, call: DecidedCall): Decided {
  const { agent, thread } = input;
  const { callId, intent, args } = call;
  if (intent === DONE_FOR_NOW) {
    const { message } = call.checked as z.output<typeof doneForNowSchema>;
    return decided([decision, { type: 'final', data: { output: redactText(message, agent.secrets) } }]);
  }
  // `checked` is what the tool's own schema parsed.
  if (intent === REQUEST_HUMAN_INPUT) {
    // The question goes to people and their bridges (Slack, email): the secrets stay out of it too.
    const ask = redactJson(call.checked as Json, agent.secrets) as unknown as HumanInputArgs;
    return decided([decision, humanInputRequest(incarnationKeyOf(thread), seq + 1, ask)]);
  }
  // With judges, they look at the call first; the approval gate in executeStep asks after them.
  if (agent.afterDecision.length === 0 && call.tool.needsApproval(call.checked)) {
    return decided([decision, approvalRequest(incarnationKeyOf(thread), seq + 1, { callId, tool: intent, args })]);
  }
  if (agent.hasCustomSteps) return decided([decision]);
  // Nothing of the author's comes between this decision and its call (no judge, no intent step) and
  // it needs no approval: the call is recorded with the decision, one durable write instead of two.
  // A crash after this write finds the call started, as a crash just after a separate tool_call did.
  const toolCall: NewEvent = { type: 'tool_call', data: { callId, tool: intent, args, idempotencyKey: newIdempotencyKey(incarnationKeyOf(thread), callId), attempt: 1 } };
  return { events: [decision, toolCall], recordedCall: callId };
}

/** The arguments of `request_human_input`, as its schema parses them. */
type HumanInputArgs = z.output<typeof requestHumanInputSchema>;

/** The human request of a `request_human_input` decision. */
function humanInputRequest(threadKey: string, seq: number, ask: HumanInputArgs): NewEvent {
  return {
    type: 'human_request',
    data: {
      requestId: requestIdFor(threadKey, seq),
      kind: 'input',
      question: ask.question,
      ...(ask.context === undefined ? {} : { context: ask.context }),
      urgency: ask.urgency,
      format: ask.format,
      ...(ask.choices === undefined ? {} : { choices: ask.choices }),
    },
  };
}

/** What a decision appends, and the call it recorded with it (not started yet) if it did. */
interface Decided {
  readonly events: NewEvent[];
  readonly recordedCall?: string;
}

const decided = (events: NewEvent[]): Decided => ({ events });

/** What a decide step ends with: the thread as persisted, and the call it recorded, if it did. */
export interface DecideOutput {
  readonly thread: Thread;
  /** The call the decision recorded with its `tool_call` event: this actor's execute step runs it without recording it again. */
  readonly recordedCall?: string;
}

/**
 * One decision (factor 1): render prompt and context, ask the model once, validate its next step,
 * and persist what it decided. `step` is the step's abort controller: its signal aborts when the
 * step is superseded or its actor stops, and the decision aborts it itself when the model is past
 * `decideTimeoutMs` (the runner gives the next step a fresh one), so a decision costs no abort
 * controller of its own.
 *
 * `commit`, given by the step runner, is called before a decision that records its call with it
 * is written: from then on a cancel waits for the write (and learns of the call, which it records
 * as not run) instead of cutting the step off with the call on record and looking started. A
 * decision superseded before that writes nothing.
 */
export async function decideStep(input: StepInput, step: AbortController, commit?: (controller: AbortController) => boolean): Promise<DecideOutput> {
  const { events, recordedCall } = await decide(input, step);
  if (recordedCall !== undefined && commit !== undefined && !commit(step)) throw step.signal.aborted ? step.signal.reason : new Error('decision superseded');
  const thread = await appendEvents(input.deps, input.thread, events);
  return recordedCall === undefined ? { thread } : { thread, recordedCall };
}

