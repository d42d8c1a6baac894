import type { z } from 'zod';
import { contextHelpers, type ContextFunction, type ContextHelpers } from '../context/ownContext.js';
import { compactStep, type BeforeDecisionStep, type CompactStep, type IntentStep, type JudgeStep } from './customStep.js';
import { humanTools } from './humanTools.js';
import { checkNumber, ConfigError, describeValue } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Model, ToolSpec } from '../model/model.js';
import type { Json, Thread } from '../thread/events.js';
import type { ThreadState } from '../thread/state.js';
import { recordDefinitionSite } from './definitionSite.js';
import { promptHash, promptTemplate, toolsDigest, type PromptTemplate } from './prompt.js';
import { checkZod4Schema, unrepresentableParts } from './strictSchema.js';
import { DEFAULT_JITTER } from './backoff.js';
import { checkTimeout, type Tool } from './tool.js';

/**
 * A deterministic step run before the first decision; its result is recorded as a `prefetch` event.
 * Only then: a thread already past its first decision (a step added by a new version of the agent)
 * never runs it.
 */
export interface PrefetchStep {
  readonly name: string;
  run(context: PrefetchContext): Promise<unknown> | unknown;
}

/** What a prefetch step receives. */
export interface PrefetchContext {
  readonly threadId: string;
  /** The thread's input. */
  readonly input: Json;
  /** The runtime's logger, with the thread bound; the agent's `secrets`, its model's key, secret-shaped text and secret-named fields are redacted from its lines. */
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/** Exponential backoff with jitter between retries after errors. */
export interface BackoffOptions {
  /** @default 1000 */
  initialMs?: number | undefined;
  /** @default 2 */
  factor?: number | undefined;
  /** @default 30000 */
  maxMs?: number | undefined;
  /** Fraction of the delay randomized, 0..1. @default 0.2 */
  jitter?: number | undefined;
}

/**
 * Options of {@link agent}.
 *
 * @typeParam TName - the agent's name (a literal: `runtime.launch` checks it)
 * @typeParam TInput - the schema of its input (`runtime.launch` takes its `z.input`)
 */
export interface AgentOptions<TName extends string = string, TInput extends z.ZodType | undefined = z.ZodType | undefined> {
  /** Lower-case letters, digits, `_` and `-` (it appears in NATS subjects). */
  name: TName;
  description: string;
  /** The prompt template: a file URL next to the agent (`new URL('./prompt.md', import.meta.url)`) or its text (a string that is only a file name, such as `'./prompt.md'`, is refused). */
  prompt: string | URL;
  tools: readonly Tool[];
  /** Run in order before the first decision, and only then: a thread past its first decision skips a step it never ran (one a new version added). @default [] */
  prefetch?: readonly PrefetchStep[] | undefined;
  /** Decisions allowed before escalating to a human, 3..20. @default 12 */
  maxSteps?: number | undefined;
  /** Errors in a row before escalating to a human (rate limits apart: see `maxConsecutiveRateLimits`). @default 3 */
  maxConsecutiveErrors?: number | undefined;
  /**
   * Rate limits in a row before escalating to a human. A model endpoint's rate limit (an HTTP 429,
   * or a 503 with `Retry-After`) is retried no sooner than its `Retry-After` or `retry-after-ms`
   * asks (at most 10 minutes later) and at least after the usual backoff, and it counts here
   * instead of toward `maxConsecutiveErrors`: a rate-limited thread waits and goes on. Other errors
   * among them keep their own count; a success resets both. Its escalation's reason is
   * `max_consecutive_rate_limits` (`max_consecutive_errors` is that of `maxConsecutiveErrors`).
   * @default 10
   */
  maxConsecutiveRateLimits?: number | undefined;
  backoff?: BackoffOptions | undefined;
  /** A model for this agent only; otherwise the runtime's. */
  model?: Model | undefined;
  /**
   * Schema of the thread input; invalid input is rejected at launch. A type JSON Schema cannot
   * express (`z.date()`, `z.bigint()`, `z.map()`, `z.custom()`...) is refused here, as a launch
   * sends JSON: use `z.iso.datetime()` and the like (a coerced one, `z.coerce.date()`, is taken:
   * it takes the string a launch sends). @default any JSON value
   */
  input?: TInput | undefined;
  /**
   * Token budget of the rendered context (4 characters a token). A larger thread shows its input
   * and its newest blocks that fit, a call's result with its decision; a block larger than a third
   * of the budget is cut (`…[N characters not shown]`), the thread keeping it whole.
   * @default 6000
   */
  contextBudget?: number | undefined;
  /**
   * Literal values never to show the model or to write into what the agent records (API keys the
   * tools use): they are replaced with `[REDACTED]` in the context the model sees and in the
   * values of prompt `variables` computed from the thread (the system prompt), in its decisions' arguments (a tool call's are sealed instead, so the tool still gets them: see `RuntimeOptions.sealSecret`), tool results, errors, questions to humans, their answers and final output, and in
   * every line written through the `logger` its tools, prefetch and steps are given, wherever the
   * secret stands in the line (and in the runtime's lines about its threads' steps). The launch
   * input is the exception: it is stored as given (a redelivered hook or trigger is recognized by
   * it, and prefetch and custom steps read it), and only the model sees it redacted. Keep secrets
   * out of the input; a tool gets them from its own code.
   * @default []
   */
  secrets?: readonly string[] | undefined;
  /**
   * Time allowed for one model call, after which the decision aborts it and records a
   * `model_timeout` error (retried as any). Unset, it follows the model: its own `timeoutMs` (see
   * `Model.timeoutMs`; `createOpenAIModel`'s, 60000 by default) plus 5000, so the model's own
   * timeout fires first and raising it is enough; 60000 for a model that says none.
   * @default the model's timeoutMs plus 5000, else 60000
   */
  decideTimeoutMs?: number | undefined;
  /** The agent's own context window (factor 3), replacing switchyard's renderer. */
  context?: ContextFunction | undefined;
  /**
   * Values for the prompt template's own `{{variables}}`: text, or a pure function of the thread
   * (whose value has the agent's `secrets` redacted, as the context has).
   * The built-ins (agent, description, tools, context) cannot be redefined.
   */
  variables?: Readonly<Record<string, string | PromptVariable>> | undefined;
  /**
   * Summarizes when the rendered context exceeds the budget, before the next decision: it receives
   * the part of the thread the budget would drop (the oldest events, with any earlier summary), and
   * its summary is recorded once as a `custom` event that stands for those events in the context
   * from then on, instead of `<omitted/>`. The newest events stay as they are.
   */
  compact?: ((thread: Thread, helpers: ContextHelpers) => string | Promise<string>) | undefined;
  /** Steps before each decision, in order (factor 8). @default [] */
  beforeDecision?: readonly BeforeDecisionStep[] | undefined;
  /** Judges after each decision for a tool or an intent, in order. @default [] */
  afterDecision?: readonly JudgeStep[] | undefined;
  /** Intents handled by the agent's own code (e.g. a durable wait). @default [] */
  intents?: readonly IntentStep[] | undefined;
}

/** A prompt variable computed from the thread when the prompt is rendered. */
export type PromptVariable = (thread: Thread, state: ThreadState) => string;

/**
 * An agent definition, normalized.
 *
 * @typeParam TName - its name, as {@link agent} was given it (a literal there)
 * @typeParam TInput - the schema of its input, `undefined` when it has none
 */
export interface Agent<TName extends string = string, TInput extends z.ZodType | undefined = z.ZodType | undefined> {
  readonly kind: 'agent';
  readonly name: TName;
  readonly description: string;
  readonly prompt: PromptTemplate;
  /** The agent's tools followed by the human-contact tools. */
  readonly tools: readonly Tool[];
  readonly toolsByName: ReadonlyMap<string, Tool>;
  /** The tools as the model is offered them. */
  readonly toolSpecs: readonly ToolSpec[];
  /** The tools as a bullet list (`{{tools}}` in the prompt). */
  readonly toolList: string;
  /** The digest of {@link toolSpecs} a decision's `promptHash` covers with the rendered prompt. */
  readonly toolsDigest: string;
  /**
   * The rendered system prompt and its hash when the template does not place `{{context}}` (then
   * it is the same on every decision); null when it must be rendered per decision.
   */
  readonly system: { readonly text: string; readonly hash: string } | null;
  readonly prefetch: readonly PrefetchStep[];
  readonly maxSteps: number;
  readonly maxConsecutiveErrors: number;
  readonly maxConsecutiveRateLimits: number;
  readonly backoff: Required<BackoffOptions>;
  readonly model: Model | undefined;
  readonly input: TInput;
  readonly contextBudget: number;
  readonly secrets: readonly string[];
  /** The `decideTimeoutMs` given; undefined: it follows the model's timeout (see {@link AgentOptions.decideTimeoutMs}). */
  readonly decideTimeoutMs: number | undefined;
  readonly context: ContextFunction | undefined;
  readonly variables: Readonly<Record<string, string | PromptVariable>>;
  readonly beforeDecision: readonly BeforeDecisionStep[];
  readonly afterDecision: readonly JudgeStep[];
  readonly intents: ReadonlyMap<string, IntentStep>;
  readonly compact: CompactStep | undefined;
  /** Whether the agent has steps of its author (then its machine is its own: `agent:<name>`). */
  readonly hasCustomSteps: boolean;
}

export const AGENT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * Defines a small, focused agent (factor 10): 3 to 20 steps, its own prompt file and tools.
 *
 * @example
 * ```ts
 * export const calculator = agent({
 *   name: 'calculator',
 *   description: 'Does arithmetic',
 *   prompt: new URL('./prompt.md', import.meta.url),
 *   tools: [add, divide],
 * });
 * ```
 */
export function agent<const TName extends string, TInput extends z.ZodType | undefined = undefined>(options: AgentOptions<TName, TInput>): Agent<TName, TInput> {
  const {
    name,
    description,
    prompt,
    tools,
    prefetch = [],
    maxSteps = 12,
    maxConsecutiveErrors = 3,
    maxConsecutiveRateLimits = 10,
    backoff = {},
    model,
    input,
    contextBudget = 6000,
    secrets = [],
    decideTimeoutMs,
    context,
    variables = {},
    compact,
    beforeDecision = [],
    afterDecision = [],
    intents = [],
  } = options;
  if (!AGENT_NAME.test(name)) throw new ConfigError(`agent name "${name}" must match ${AGENT_NAME}`);
  const owner = `agent ${name}`;
  if (input !== undefined) checkZod4Schema(input, `${owner}: input`);
  const unrepresentable = input === undefined ? [] : unrepresentableParts(input, { coerced: true });
  if (unrepresentable.length > 0) {
    throw new ConfigError(`agent ${name}: its input has types JSON Schema cannot express (a launch sends JSON, and the published input schema would allow any value there): ${unrepresentable.join('; ')}`);
  }
  checkLists(owner, { tools, prefetch, secrets, beforeDecision, afterDecision, intents });
  const isCount = (n: number) => Number.isInteger(n) && n >= 1;
  checkNumber(owner, 'maxSteps', maxSteps, 'an integer from 3 to 20', (n) => Number.isInteger(n) && n >= 3 && n <= 20, typeof maxSteps === 'number' && maxSteps > 20 ? '; split bigger jobs into a pipeline' : '');
  checkNumber(owner, 'maxConsecutiveErrors', maxConsecutiveErrors, 'a positive integer', isCount);
  checkNumber(owner, 'maxConsecutiveRateLimits', maxConsecutiveRateLimits, 'a positive integer', isCount);
  checkNumber(owner, 'contextBudget', contextBudget, 'a positive number of tokens', (n) => n > 0 && Number.isFinite(n));
  if (decideTimeoutMs !== undefined) checkTimeout(owner, 'decideTimeoutMs', decideTimeoutMs);
  const all = [...tools, ...intents.map((i) => i.tool), ...humanTools];
  const toolsByName = toolMap(owner, all);
  const names = new Set<string>();
  for (const step of prefetch) {
    if (names.has(step.name)) throw new ConfigError(`agent ${name}: two prefetch steps are named ${step.name}`);
    names.add(step.name);
  }
  for (const step of [...beforeDecision, ...afterDecision, ...intents]) {
    if (names.has(step.name)) throw new ConfigError(`agent ${name}: two steps are named ${step.name}`);
    names.add(step.name);
  }
  const normalizedBackoff = backoffOf(owner, backoff);
  const template = ownedTemplate(owner, prompt, Object.keys(variables));
  const toolList = all.map((t) => `- ${t.name}: ${t.description}`).join('\n');
  const toolSpecs = all.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters, strict: t.strict }));
  const specsDigest = toolsDigest(toolSpecs);
  const fixed = Object.values(variables).every((v) => typeof v === 'string');
  const staticText =
    template.includesContext || !fixed
      ? null
      : template.render({ agent: name, description, tools: toolList, context: '', ...(variables as Record<string, string>) });
  const compaction = compact === undefined ? undefined : compactStep(({ thread }) => compact(thread, contextHelpers({ contextBudget, secrets }, thread)));
  const defined: Agent<TName, TInput> = {
    kind: 'agent',
    name,
    description,
    prompt: template,
    tools: all,
    toolsByName,
    toolSpecs,
    toolList,
    toolsDigest: specsDigest,
    system: staticText === null ? null : { text: staticText, hash: promptHash(staticText, specsDigest) },
    prefetch,
    maxSteps,
    maxConsecutiveErrors,
    maxConsecutiveRateLimits,
    backoff: normalizedBackoff,
    model,
    // Undefined only where TInput allows it: the option is optional, and its type defaults to undefined.
    input: input as TInput,
    contextBudget,
    secrets: secrets.filter((s) => s.length > 0),
    decideTimeoutMs,
    context,
    variables,
    beforeDecision,
    afterDecision,
    intents: new Map(intents.map((i) => [i.name, i])),
    compact: compaction,
    hasCustomSteps: beforeDecision.length + afterDecision.length + intents.length > 0 || compaction !== undefined,
  };
  recordDefinitionSite(defined);
  return defined;
}

/** The agent's prompt template; a template refused names the agent (one prompt may serve many). */
function ownedTemplate(owner: string, prompt: string | URL, variables: readonly string[]): PromptTemplate {
  try {
    return promptTemplate(prompt, variables);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${owner}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Throws a {@link ConfigError} for an option that must be a list and is not (`tools: add` for `tools: [add]`). */
function checkLists(owner: string, lists: Readonly<Record<string, unknown>>): void {
  for (const [option, value] of Object.entries(lists)) {
    if (Array.isArray(value)) continue;
    const named = typeof value === 'object' && value !== null ? (value as { name?: unknown }).name : undefined;
    const got = typeof named === 'string' ? `${named} alone; write ${option}: [${named}]` : describeValue(value);
    throw new ConfigError(`${owner}: ${option} must be an array (got ${got})`);
  }
}

/** The agent's tools by name; a name taken twice, or one of a built-in tool, is refused. */
function toolMap(owner: string, all: readonly Tool[]): Map<string, Tool> {
  const builtIn = humanTools.map((t) => t.name);
  const toolsByName = new Map<string, Tool>();
  for (const t of all) {
    if (builtIn.includes(t.name) && !humanTools.includes(t)) {
      throw new ConfigError(`${owner}: ${t.name} is a built-in tool of every agent (${builtIn.join(', ')}): rename yours`);
    }
    if (toolsByName.has(t.name)) throw new ConfigError(`${owner}: two tools are named ${t.name}`);
    toolsByName.set(t.name, t);
  }
  return toolsByName;
}

/** The backoff with its defaults, each number checked. */
function backoffOf(owner: string, backoff: BackoffOptions): Required<BackoffOptions> {
  const out: Required<BackoffOptions> = {
    initialMs: backoff.initialMs ?? 1000,
    factor: backoff.factor ?? 2,
    maxMs: backoff.maxMs ?? 30_000,
    jitter: backoff.jitter ?? DEFAULT_JITTER,
  };
  const isDelay = (n: number) => n >= 0 && Number.isFinite(n);
  checkNumber(owner, 'backoff.initialMs', out.initialMs, 'a number of milliseconds, 0 or more', isDelay);
  checkNumber(owner, 'backoff.factor', out.factor, 'a number of at least 1', (n) => n >= 1 && Number.isFinite(n));
  checkNumber(owner, 'backoff.maxMs', out.maxMs, 'a number of milliseconds, 0 or more', isDelay);
  checkNumber(owner, 'backoff.jitter', out.jitter, 'a number from 0 to 1', (n) => n >= 0 && n <= 1);
  return out;
}

/** Type guard for normalized agent definitions. */
export function isAgent(value: unknown): value is Agent {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'agent';
}
