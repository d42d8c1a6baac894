import { redactJson, redactText } from '../context/redact.js';
import { agentContext } from '../context/ownContext.js';
import type { RenderedContext } from '../context/renderContext.js';
import { messageOf } from '../errors.js';
import type { ModelResult } from '../model/model.js';
import { parseNextStep } from '../model/nextStep.js';
import { appendEvents } from '../store/appendEvents.js';
import { DONE_FOR_NOW, REQUEST_HUMAN_INPUT, versionOf, type Json, type NewEvent, type Thread, type TokenUsage } from '../thread/events.js';
import type { Agent } from './agent.js';
import type { StepInput } from './deps.js';
import { errorEvents, escalationEvents } from './errorEvents.js';
import { doneForNowSchema, requestHumanInputSchema } from './humanTools.js';
import { approvalRequest } from './approvalRequest.js';
import { callIdFor, idempotencyKeyFor, requestIdFor } from './ids.js';
import { promptHash } from './prompt.js';
import { deriveState } from '../thread/state.js';

/** Renders a prompt template that differs per decision: it places the context, or has variables of the thread. */
function renderSystem(agent: Agent, thread: Thread, context: string): { text: string; hash: string } {
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(agent.variables)) own[name] = typeof value === 'string' ? value : value(thread, deriveState(thread.events));
  const text = agent.prompt.render({ ...own, agent: agent.name, description: agent.description, tools: agent.toolList, context });
  return { text, hash: promptHash(text) };
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
  const { agent, thread, state, deps } = input;
  const { signal } = step;
  const seq = versionOf(thread) + 1;
  if (state.steps >= agent.maxSteps) {
    const message = `reached maxSteps (${agent.maxSteps}) without finishing`;
    const question = `Agent ${agent.name} ${message}. Answer with guidance to continue for another ${agent.maxSteps} steps, or deny to stop it.`;
    return decided(escalationEvents(thread.id, seq, 'max_steps', message, question, 'medium'));
  }
  const model = agent.model ?? deps.model;
  const prompt = renderPrompt(agent, thread);
  if ('error' in prompt) return decided(errorEvents(input, 'step_error', prompt.error));
  const { context, system: rendered } = prompt;
  let timedOut = false;
  const timer = deps.clock.setTimeout(() => {
    timedOut = !signal.aborted;
    step.abort(new Error('decision timed out'));
  }, agent.decideTimeoutMs);
  const started = deps.clock.now();
  let result: ModelResult;
  try {
    result = await model.complete({
      threadId: thread.id,
      agent: agent.name,
      system: rendered.text,
      context: agent.prompt.includesContext ? 'Decide the next step.' : context.text,
      tools: agent.toolSpecs,
      signal,
    });
  } catch (error) {
    result = { success: false, error: { kind: 'http', message: `model failed: ${messageOf(error)}` } };
  } finally {
    deps.clock.clearTimeout(timer);
  }
  if (signal.aborted && !timedOut) throw signal.reason;
  const latencyMs = Math.max(0, deps.clock.now() - started);
  if (timedOut && !result.success) {
    return decided(errorEvents(input, 'model_timeout', `the model did not answer within ${agent.decideTimeoutMs} ms`));
  }
  if (!result.success) {
    const { kind, message, status } = result.error;
    const text = status === undefined ? message : `HTTP ${status}: ${message}`;
    return decided(errorEvents(input, kind === 'timeout' ? 'model_timeout' : 'model_http', text));
  }
  const { usage } = result.data;
  const tokens = { prompt: tokenCount(usage?.prompt), completion: tokenCount(usage?.completion) };
  const parsed = parseNextStep(result.data);
  if (!parsed.success) return decided(errorEvents(input, 'invalid_json', parsed.error, { tokens }));
  const { intent } = parsed.data;
  const tool = agent.toolsByName.get(intent);
  if (tool === undefined) {
    const known = agent.tools.map((t) => t.name).join(', ');
    return decided(errorEvents(input, 'unknown_intent', `unknown intent "${intent.slice(0, 80)}"; use one of: ${known}`, { tokens }));
  }
  const checked = tool.parse(parsed.data.args);
  if (!checked.success) {
    return decided(errorEvents(input, 'invalid_args', `arguments for ${intent} are invalid: ${checked.error}`, { tool: intent, tokens }));
  }
  // The arguments came from JSON.parse: JSON already, and not shared with anyone.
  const args = redactJson(parsed.data.args, agent.secrets) as Record<string, Json>;
  const callId = callIdFor(seq);
  const decision: NewEvent = {
    type: 'decision',
    data: { callId, step: state.steps + 1, intent, args, model: result.data.model, promptHash: rendered.hash, tokens, latencyMs },
  };
  if (intent === DONE_FOR_NOW) {
    const { message } = doneForNowSchema.parse(checked.data);
    return decided([decision, { type: 'final', data: { output: redactText(message, agent.secrets) } }]);
  }
  if (intent === REQUEST_HUMAN_INPUT) return askHuman(input, seq, decision, checked.data, tokens);
  // With judges, they look at the call first; the approval gate in executeStep asks after them.
  if (agent.afterDecision.length === 0 && tool.needsApproval(checked.data)) {
    return decided([decision, approvalRequest(thread.id, seq + 1, { callId, tool: intent, args })]);
  }
  if (agent.hasCustomSteps) return decided([decision]);
  // Nothing of the author's comes between this decision and its call (no judge, no intent step) and
  // it needs no approval: the call is recorded with the decision, one durable write instead of two.
  // A crash after this write finds the call started, as a crash just after a separate tool_call did.
  const call: NewEvent = { type: 'tool_call', data: { callId, tool: intent, args, idempotencyKey: idempotencyKeyFor(thread.id, callId), attempt: 1 } };
  return { events: [decision, call], recordedCall: callId };
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

/** A `request_human_input` decision: the decision and the human request it opens, unless no one could answer it. */
function askHuman(input: StepInput, seq: number, decision: NewEvent, data: unknown, tokens: TokenUsage): Decided {
  const ask = requestHumanInputSchema.parse(data);
  // A response must be a non-blank answer among the choices: with none, no one could answer.
  if (ask.format === 'multiple_choice' && ask.choices !== undefined && !ask.choices.some((choice) => choice.trim() !== '')) {
    const error = `arguments for ${REQUEST_HUMAN_INPUT} are invalid: choices: a multiple_choice question needs at least one non-blank choice`;
    return decided(errorEvents(input, 'invalid_args', error, { tool: REQUEST_HUMAN_INPUT, tokens }));
  }
  const request: NewEvent = {
    type: 'human_request',
    data: {
      requestId: requestIdFor(input.thread.id, seq + 1),
      kind: 'input',
      question: ask.question,
      ...(ask.context === undefined ? {} : { context: ask.context }),
      urgency: ask.urgency,
      format: ask.format,
      ...(ask.choices === undefined ? {} : { choices: ask.choices }),
    },
  };
  return decided([decision, request]);
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
 */
export async function decideStep(input: StepInput, step: AbortController): Promise<DecideOutput> {
  const { events, recordedCall } = await decide(input, step);
  const thread = await appendEvents(input.deps, input.thread, events);
  return recordedCall === undefined ? { thread } : { thread, recordedCall };
}

