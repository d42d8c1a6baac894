import type { Json, Thread, ThreadEvent } from '../thread/events.js';
import { deriveState } from '../thread/state.js';
import { redactJson, redactText } from './redact.js';

/** The rendered context of a thread. */
export interface RenderedContext {
  readonly text: string;
  /** Estimated tokens of `text`. */
  readonly tokens: number;
  /** Events left out to stay within the budget. */
  readonly omitted: number;
}

/** What the renderer needs of an agent (an `Agent` has both). */
export interface ContextSettings {
  /** Token budget of the rendered context. */
  readonly contextBudget: number;
  /** Literal values to redact. */
  readonly secrets: readonly string[];
}

/** Options of {@link renderContext}. */
export interface RenderContextOptions {
  /** @default the agent's `contextBudget` */
  budgetTokens?: number;
}

/** A rough token estimate (4 characters a token), enough to keep a budget. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * Renders a thread in switchyard's compact format (factor 3): one tagged block per event, not a chat
 * transcript. Errors that were resolved (followed by a success) are hidden, control events are
 * left out, secrets are redacted, and the oldest blocks after the input are dropped when the
 * whole exceeds the token budget.
 */
export function renderContext(agent: ContextSettings, thread: Thread, options: RenderContextOptions = {}): RenderedContext {
  const budget = options.budgetTokens ?? agent.contextBudget;
  const state = deriveState(thread.events);
  const blocks: string[] = [];
  for (const event of thread.events) {
    if (event.type === 'error' && event.seq < state.resolvedBefore) continue;
    const block = renderEvent(event, agent.secrets);
    if (block !== null) blocks.push(block);
  }
  let tokens = blocks.reduce((sum, block) => sum + estimateTokens(block) + 1, 0);
  let omitted = 0;
  // Keep the first block (the input) and the most recent ones.
  while (tokens > budget && blocks.length > 2) {
    const [dropped] = blocks.splice(1, 1);
    tokens -= estimateTokens(dropped!) + 1;
    omitted++;
  }
  if (omitted > 0) blocks.splice(1, 0, `<omitted blocks="${omitted}"/>`);
  const text = blocks.join('\n');
  return { text, tokens: estimateTokens(text), omitted };
}

/** Rendered blocks per secrets list (an agent's is fixed), then per event object. */
const caches = new WeakMap<readonly string[], WeakMap<ThreadEvent, string | null>>();

function renderEvent(event: ThreadEvent, secrets: readonly string[]): string | null {
  // Events are immutable, so a block is rendered once per event object and secrets list; keying
  // by the list keeps a block rendered without a secret from being reused where it must be redacted.
  let cache = caches.get(secrets);
  if (cache === undefined) {
    cache = new WeakMap();
    caches.set(secrets, cache);
  }
  const cached = cache.get(event);
  if (cached !== undefined) return cached;
  const block = renderBlock(event, secrets);
  cache.set(event, block);
  return block;
}

function renderBlock(event: ThreadEvent, secrets: readonly string[]): string | null {
  const show = (value: Json): string => {
    const redacted = redactJson(value, secrets);
    return typeof redacted === 'string' ? redacted : JSON.stringify(redacted);
  };
  const text = (value: string): string => redactText(value, secrets);
  switch (event.type) {
    case 'input':
      return `<input>\n${show(event.data.input)}\n</input>`;
    case 'prefetch':
      return event.data.ok
        ? `<prefetch name="${event.data.name}">\n${show(event.data.result ?? null)}\n</prefetch>`
        : null;
    case 'decision':
      return `<decision step="${event.data.step}" intent="${event.data.intent}">${show(event.data.args)}</decision>`;
    case 'tool_call':
      return null;
    case 'tool_result':
      return `<tool_result tool="${event.data.tool}" call="${event.data.callId}">\n${show(event.data.result)}\n</tool_result>`;
    case 'error':
      return `<error kind="${event.data.kind}"${event.data.tool ? ` tool="${event.data.tool}"` : ''} attempt="${event.data.attempt}">${text(event.data.message)}</error>`;
    case 'human_request': {
      const d = event.data;
      const about = d.tool ? ` tool="${d.tool}"` : '';
      return `<human_request kind="${d.kind}" id="${d.requestId}"${about}>${text(d.question)}</human_request>`;
    }
    case 'human_response': {
      const d = event.data;
      const approved = d.approved === undefined ? '' : ` approved="${d.approved}"`;
      const body = [d.answer, d.comment].filter((part): part is string => part !== undefined && part !== '').join('\n');
      return `<human_response to="${d.requestId}"${approved}>${text(body)}</human_response>`;
    }
    case 'control':
      return null;
    case 'final':
      return `<final>${show(event.data.output)}</final>`;
    case 'escalation':
      return `<escalation reason="${event.data.reason}">${text(event.data.message)}</escalation>`;
    case 'failed':
      return `<failed>${text(event.data.reason)}</failed>`;
  }
}
