import type { z } from 'zod';
import { humanTools } from './humanTools.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Model, ToolSpec } from '../model/model.js';
import type { Json } from '../thread/events.js';
import { promptHash, promptTemplate, type PromptTemplate } from './prompt.js';
import type { Tool } from './tool.js';

/** A deterministic step run before the first decision; its result is recorded as a `prefetch` event. */
export interface PrefetchStep {
  readonly name: string;
  run(context: PrefetchContext): Promise<unknown> | unknown;
}

/** What a prefetch step receives. */
export interface PrefetchContext {
  readonly threadId: string;
  /** The thread's input. */
  readonly input: Json;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/** Exponential backoff with jitter between retries after errors. */
export interface BackoffOptions {
  /** @default 1000 */
  initialMs?: number;
  /** @default 2 */
  factor?: number;
  /** @default 30000 */
  maxMs?: number;
  /** Fraction of the delay randomized, 0..1. @default 0.2 */
  jitter?: number;
}

/** Options of {@link agent}. */
export interface AgentOptions {
  /** Lower-case letters, digits, `_` and `-` (it appears in NATS subjects). */
  name: string;
  description: string;
  /** The prompt template: a file URL next to the agent (`new URL('./prompt.md', import.meta.url)`) or text. */
  prompt: string | URL;
  tools: readonly Tool[];
  /** Run in order before the first decision. @default [] */
  prefetch?: readonly PrefetchStep[];
  /** Decisions allowed before escalating to a human, 3..20. @default 12 */
  maxSteps?: number;
  /** Errors in a row before escalating to a human. @default 3 */
  maxConsecutiveErrors?: number;
  backoff?: BackoffOptions;
  /** A model for this agent only; otherwise the runtime's. */
  model?: Model;
  /** Schema of the thread input; invalid input is rejected at launch. @default any JSON value */
  input?: z.ZodType;
  /** Token budget of the rendered context. @default 6000 */
  contextBudget?: number;
  /** Literal values never to show the model or write to a thread (API keys the tools use). @default [] */
  secrets?: readonly string[];
  /** Time allowed for one model call. @default 60000 */
  decideTimeoutMs?: number;
}

/** An agent definition, normalized. */
export interface Agent {
  readonly kind: 'agent';
  readonly name: string;
  readonly description: string;
  readonly prompt: PromptTemplate;
  /** The agent's tools followed by the human-contact tools. */
  readonly tools: readonly Tool[];
  readonly toolsByName: ReadonlyMap<string, Tool>;
  /** The tools as the model is offered them. */
  readonly toolSpecs: readonly ToolSpec[];
  /** The tools as a bullet list (`{{tools}}` in the prompt). */
  readonly toolList: string;
  /**
   * The rendered system prompt and its hash when the template does not place `{{context}}` (then
   * it is the same on every decision); null when it must be rendered per decision.
   */
  readonly system: { readonly text: string; readonly hash: string } | null;
  readonly prefetch: readonly PrefetchStep[];
  readonly maxSteps: number;
  readonly maxConsecutiveErrors: number;
  readonly backoff: Required<BackoffOptions>;
  readonly model: Model | undefined;
  readonly input: z.ZodType | undefined;
  readonly contextBudget: number;
  readonly secrets: readonly string[];
  readonly decideTimeoutMs: number;
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
export function agent(options: AgentOptions): Agent {
  const {
    name,
    description,
    prompt,
    tools,
    prefetch = [],
    maxSteps = 12,
    maxConsecutiveErrors = 3,
    backoff = {},
    model,
    input,
    contextBudget = 6000,
    secrets = [],
    decideTimeoutMs = 60_000,
  } = options;
  if (!AGENT_NAME.test(name)) throw new ConfigError(`agent name "${name}" must match ${AGENT_NAME}`);
  if (!Number.isInteger(maxSteps) || maxSteps < 3 || maxSteps > 20) {
    throw new ConfigError(`agent ${name}: maxSteps must be an integer from 3 to 20 (got ${maxSteps}); split bigger jobs into a pipeline`);
  }
  if (!Number.isInteger(maxConsecutiveErrors) || maxConsecutiveErrors < 1) {
    throw new ConfigError(`agent ${name}: maxConsecutiveErrors must be a positive integer`);
  }
  const all = [...tools, ...humanTools];
  const toolsByName = new Map<string, Tool>();
  for (const t of all) {
    if (toolsByName.has(t.name)) throw new ConfigError(`agent ${name}: two tools are named ${t.name}`);
    toolsByName.set(t.name, t);
  }
  const names = new Set<string>();
  for (const step of prefetch) {
    if (names.has(step.name)) throw new ConfigError(`agent ${name}: two prefetch steps are named ${step.name}`);
    names.add(step.name);
  }
  const normalizedBackoff: Required<BackoffOptions> = {
    initialMs: backoff.initialMs ?? 1000,
    factor: backoff.factor ?? 2,
    maxMs: backoff.maxMs ?? 30_000,
    jitter: backoff.jitter ?? 0.2,
  };
  if (normalizedBackoff.jitter < 0 || normalizedBackoff.jitter > 1) throw new ConfigError(`agent ${name}: backoff.jitter must be within 0..1`);
  const template = promptTemplate(prompt);
  const toolList = all.map((t) => `- ${t.name}: ${t.description}`).join('\n');
  const staticText = template.includesContext ? null : template.render({ agent: name, description, tools: toolList, context: '' });
  return {
    kind: 'agent',
    name,
    description,
    prompt: template,
    tools: all,
    toolsByName,
    toolSpecs: all.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
    toolList,
    system: staticText === null ? null : { text: staticText, hash: promptHash(staticText) },
    prefetch,
    maxSteps,
    maxConsecutiveErrors,
    backoff: normalizedBackoff,
    model,
    input,
    contextBudget,
    secrets: secrets.filter((s) => s.length > 0),
    decideTimeoutMs,
  };
}

/** Type guard for normalized agent definitions. */
export function isAgent(value: unknown): value is Agent {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'agent';
}
