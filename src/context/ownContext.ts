import type { Json, Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, type ThreadState } from '../thread/state.js';
import { redactJson, redactText } from './redact.js';
import { estimateTokens, renderContext, renderEvent, type ContextSettings, type RenderContextOptions, type RenderedContext } from './renderContext.js';

/**
 * The pieces of switchyard's own renderer, handed to an agent's context function so it can reuse
 * what it does not want to change.
 */
export interface ContextHelpers {
  /** The state derived from the thread. */
  readonly state: ThreadState;
  /** The agent's token budget for the context. */
  readonly budget: number;
  /** One event in the default format, redacted; null for events the default leaves out. */
  renderEvent(event: ThreadEvent): string | null;
  /** The whole thread in the default format (budget, compaction and hidden resolved errors included). */
  renderDefault(options?: RenderContextOptions): RenderedContext;
  /** Replaces the agent's secrets in a text. */
  redact(text: string): string;
  /** Replaces the agent's secrets anywhere in a JSON value. */
  redactJson(value: Json): Json;
  /** The estimate the default renderer keeps its budget with (4 characters a token). */
  estimateTokens(text: string): number;
}

/**
 * An agent's own context window (factor 3): the thread in, the text the model reads out. It must
 * be a pure function of the thread, so a replayed decision sees what the first one saw.
 */
export type ContextFunction = (thread: Thread, helpers: ContextHelpers) => string | { readonly text: string; readonly tokens?: number };

/** What the context of an agent needs: the default renderer's settings and, maybe, its own function. */
export interface AgentContextSettings extends ContextSettings {
  readonly context?: ContextFunction | undefined;
}

/** The helpers a context function receives for `thread`. */
export function contextHelpers(agent: ContextSettings, thread: Thread): ContextHelpers {
  return {
    state: deriveState(thread.events),
    budget: agent.contextBudget,
    renderEvent: (event) => renderEvent(event, agent.secrets, thread),
    renderDefault: (options) => renderContext(agent, thread, options),
    redact: (text) => redactText(text, agent.secrets),
    redactJson: (value) => redactJson(value, agent.secrets),
    estimateTokens,
  };
}

/**
 * The context of the next decision: the agent's own function when it has one, else switchyard's
 * renderer. What a context function returns is redacted once more, so a secret it forgot to hide
 * never reaches the model.
 */
export function agentContext(agent: AgentContextSettings, thread: Thread): RenderedContext {
  if (agent.context === undefined) return renderContext(agent, thread);
  const own = agent.context(thread, contextHelpers(agent, thread));
  const raw = typeof own === 'string' ? own : own.text;
  if (typeof raw !== 'string') throw new TypeError('the context function must return a string or { text: string }');
  const text = redactText(raw, agent.secrets);
  const tokens = typeof own === 'string' || own.tokens === undefined ? estimateTokens(text) : own.tokens;
  return { text, tokens, omitted: 0, omittedUpTo: 0 };
}
