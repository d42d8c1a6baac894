import type { CustomData, Json, Thread, ThreadEvent } from '../thread/events.js';
import { deriveState } from '../thread/state.js';
import { redactJson, redactText } from './redact.js';

/** The rendered context of a thread. */
export interface RenderedContext {
  readonly text: string;
  /** Estimated tokens of `text`. */
  readonly tokens: number;
  /** Events left out to stay within the budget. */
  readonly omitted: number;
  /** The seq of the newest event left out (0 when none was): what a compaction would cover. */
  readonly omittedUpTo: number;
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
  const seqs: number[] = [];
  // After a compaction its summary stands for the events it covers (the input always stays).
  // It is placed where those events were, right after the input.
  const compactedUpTo = state.compaction?.upTo ?? 0;
  for (const event of thread.events) {
    if (event.type === 'error' && event.seq < state.resolvedBefore) continue;
    if (event.seq > 1 && event.seq <= compactedUpTo) continue;
    const block = renderEvent(event, agent.secrets);
    if (block === null) continue;
    const at = event.seq === state.compaction?.seq ? Math.min(1, blocks.length) : blocks.length;
    blocks.splice(at, 0, block);
    seqs.splice(at, 0, event.seq);
  }
  let tokens = blocks.reduce((sum, block) => sum + estimateTokens(block) + 1, 0);
  let omitted = 0;
  let omittedUpTo = 0;
  // Keep the first block (the input) and the most recent ones.
  while (tokens > budget && blocks.length > 2) {
    const [dropped] = blocks.splice(1, 1);
    [omittedUpTo] = seqs.splice(1, 1) as [number];
    tokens -= estimateTokens(dropped!) + 1;
    omitted++;
  }
  if (omitted > 0) blocks.splice(1, 0, `<omitted blocks="${omitted}"/>`);
  const text = blocks.join('\n');
  return { text, tokens: estimateTokens(text), omitted, omittedUpTo };
}

/** Rendered blocks per secrets list (an agent's is fixed), then per event object. */
const caches = new WeakMap<readonly string[], WeakMap<ThreadEvent, string | null>>();

/** One event as the default renderer shows it (redacted), or null for events the model never sees. */
export function renderEvent(event: ThreadEvent, secrets: readonly string[]): string | null {
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
    case 'custom':
      return renderCustom(event.data, show, text);
  }
}

function renderCustom(d: CustomData, show: (value: Json) => string, text: (value: string) => string): string | null {
  switch (d.phase) {
    case 'before_decision':
      return d.output === undefined ? null : `<step name="${d.step}">${show(d.output)}</step>`;
    case 'after_decision':
      // Only a rejection tells the model something: its call was dropped, and why.
      return d.verdict === 'reject' ? `<rejected by="${d.step}" call="${d.callId ?? ''}">${text(d.feedback ?? '')}</rejected>` : null;
    case 'intent':
      return `<intent_result intent="${d.step}" call="${d.callId ?? ''}">\n${show(d.output ?? null)}\n</intent_result>`;
    case 'compact':
      return `<summary of="${d.upTo ?? 0}">\n${show(d.output ?? '')}\n</summary>`;
  }
}
