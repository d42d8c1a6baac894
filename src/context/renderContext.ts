import { clipText } from '../errors.js';
import type { CustomData, Json, Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, type ThreadState } from '../thread/state.js';
import { redactJson, redactText } from './redact.js';
import { maskSealed } from './sealedArgs.js';

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
  budgetTokens?: number | undefined;
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
  const rendered = renderedBlocks(agent.secrets, thread);
  if (rendered.tokens <= budget) return { text: rendered.text, tokens: estimateTokens(rendered.text), omitted: 0, omittedUpTo: 0 };
  const blocks = [...rendered.blocks];
  const seqs = [...rendered.seqs];
  let tokens = rendered.tokens;
  let omitted = 0;
  let omittedUpTo = 0;
  // Keep the first block (the input) and the most recent ones. The summary, first after the input,
  // goes first, though it is newer than the events after it that it does not cover: the newest
  // seq left out is the most of those dropped, not the last one.
  while (tokens > budget && blocks.length > 2) {
    const [dropped] = blocks.splice(1, 1);
    const [seq] = seqs.splice(1, 1) as [number];
    omittedUpTo = Math.max(omittedUpTo, seq);
    tokens -= estimateTokens(dropped!) + 1;
    omitted++;
  }
  if (omitted > 0) blocks.splice(1, 0, `<omitted blocks="${omitted}"/>`);
  const text = blocks.join('\n');
  return { text, tokens: estimateTokens(text), omitted, omittedUpTo };
}

/**
 * A thread's blocks before the budget, with what they were rendered from: the cache's entry for
 * the thread, extended in place as the thread grows (see {@link extend}).
 */
interface Blocks {
  events: readonly ThreadEvent[];
  readonly secrets: readonly string[];
  resolvedBefore: number;
  readonly compaction: ThreadState['compaction'];
  /** The lowest seq of an error shown (Infinity when none is): a success after it hides it. */
  firstError: number;
  readonly blocks: string[];
  readonly seqs: number[];
  /** Estimated tokens of the blocks, a newline each. */
  tokens: number;
  text: string;
}

// The last blocks rendered per thread: a decision renders the previous one's blocks plus its new
// events' (the thread only grew), so a run renders each event once. Two generations bound it.
const MAX_CACHED = 1_000;
let cached = new Map<string, Blocks>();
let older = new Map<string, Blocks>();

/** The blocks of `thread`: the last ones rendered for it extended by its new events, or all rendered afresh. */
function renderedBlocks(secrets: readonly string[], thread: Thread): Blocks {
  const state = deriveState(thread.events);
  const last = cached.get(thread.id) ?? older.get(thread.id);
  const blocks = last !== undefined && continues(last, thread.events, secrets, state) ? extend(last, thread.events, state) : render(secrets, thread.events, state);
  if (!cached.has(thread.id) && cached.size >= MAX_CACHED) {
    older = cached;
    cached = new Map();
  }
  cached.set(thread.id, blocks);
  return blocks;
}

/** Whether `events` continue the events `last` was rendered from, and nothing shown there changed. */
function continues(last: Blocks, events: readonly ThreadEvent[], secrets: readonly string[], state: ThreadState): boolean {
  if (last.secrets !== secrets || last.compaction !== state.compaction || last.events.length > events.length) return false;
  // A success since then hides the errors before it.
  if (state.resolvedBefore !== last.resolvedBefore && state.resolvedBefore > last.firstError) return false;
  for (let i = 0; i < last.events.length; i++) if (last.events[i] !== events[i]) return false;
  return true;
}

/**
 * `last` extended in place with the blocks of the events after it (not copied: a decision would
 * copy every block of its thread). Only the cache holds `last`, and it keeps the extended entry
 * in its place; `continues` has checked that the thread's compaction is the same, so the new
 * blocks all go at the end.
 */
function extend(last: Blocks, events: readonly ThreadEvent[], state: ThreadState): Blocks {
  const added = collect(last.secrets, events, state, last.events.length);
  last.events = events;
  last.resolvedBefore = state.resolvedBefore;
  if (added.blocks.length === 0) return last;
  const text = added.blocks.join('\n');
  last.text = last.blocks.length === 0 ? text : `${last.text}\n${text}`;
  last.firstError = Math.min(last.firstError, added.firstError);
  last.tokens += added.tokens;
  last.blocks.push(...added.blocks);
  last.seqs.push(...added.seqs);
  return last;
}

/** Every block of `events`. */
function render(secrets: readonly string[], events: readonly ThreadEvent[], state: ThreadState): Blocks {
  const all = collect(secrets, events, state, 0);
  return { events, secrets, resolvedBefore: state.resolvedBefore, compaction: state.compaction, ...all, text: all.blocks.join('\n') };
}

/** The blocks of `events` from index `from` on, in context order. */
function collect(secrets: readonly string[], events: readonly ThreadEvent[], state: ThreadState, from: number) {
  const blocks: string[] = [];
  const seqs: number[] = [];
  let tokens = 0;
  let firstError = Infinity;
  // After a compaction its summary stands for the events it covers (the input always stays).
  // It is placed where those events were, right after the input. Only the latest summary is
  // shown: it covers the one before it (a thread recorded before it did still has the earlier
  // one after its cut, and the latest was made from the events that one stands for).
  const compactedUpTo = state.compaction?.upTo ?? 0;
  const summarySeq = state.compaction?.seq ?? 0;
  for (let i = from; i < events.length; i++) {
    const event = events[i]!;
    if (event.type === 'error' && event.seq < state.resolvedBefore) continue;
    if (event.seq > 1 && event.seq <= compactedUpTo) continue;
    if (event.type === 'custom' && event.data.phase === 'compact' && event.seq !== summarySeq) continue;
    const block = renderBlock(event, secrets);
    if (block === null) continue;
    if (event.type === 'error') firstError = Math.min(firstError, event.seq);
    const at = event.seq === summarySeq ? Math.min(1, blocks.length) : blocks.length;
    blocks.splice(at, 0, block);
    seqs.splice(at, 0, event.seq);
    tokens += estimateTokens(block) + 1;
  }
  return { blocks, seqs, tokens, firstError };
}

/** One event as the default renderer shows it (redacted), or null for events the model never sees. */
export function renderEvent(event: ThreadEvent, secrets: readonly string[]): string | null {
  return renderBlock(event, secrets);
}

/** A JSON value as a block shows it, redacted: a string as it is, anything else as JSON (see {@link inert}). */
function show(value: Json, secrets: readonly string[]): string {
  const redacted = redactJson(value, secrets);
  // A call's sealed secrets (see sealArgs) read as redacted ones: the model never sees a token.
  return inert(maskSealed(typeof redacted === 'string' ? redacted : JSON.stringify(redacted)));
}

/** A `<` that would start a tag (`<name`, `</name`), or a `&` that would read as one of the escapes below. */
const ESCAPED = /<(?=\/?[A-Za-z])|&(?=(?:lt|amp|quot);)/g;

/**
 * Text from outside as a block's body (an input, a tool's result, a human's answer, an error quoting
 * the model): a `<` that would start a tag is written `&lt;`, so that it can neither close its block
 * nor open one the runtime never wrote (`</input><tool_result ...>`), and a `&` that would read as
 * an escape `&amp;` (parseContext reads both back). Other text is left as it is.
 */
function inert(text: string): string {
  return text.includes('<') || text.includes('&') ? text.replace(ESCAPED, (c) => (c === '<' ? '&lt;' : '&amp;')) : text;
}

/** The escapes {@link inert} and {@link attr} write, and the characters they stand for. */
const ESCAPES: Readonly<Record<string, string>> = { lt: '<', amp: '&', quot: '"' };
const ESCAPE = /&(lt|amp|quot);/g;

/** Text as it was before {@link inert} (or {@link attr}) escaped it: what parseContext reads back. */
export function readInert(text: string): string {
  return text.includes('&') ? text.replace(ESCAPE, (_, name: string) => ESCAPES[name]!) : text;
}

/** Redacted outside text as a block's body (see {@link inert}). */
const bodyText = (text: string, secrets: readonly string[]): string => inert(maskSealed(redactText(text, secrets)));

/** A value from outside in an attribute (a tool name the model made up): no quote or tag can leave it. */
const attr = (value: string): string => inert(value).replace(/"/g, '&quot;');

/** Longest part of an error's refused arguments (`args`) its block shows (and `show` prints). */
export const MAX_ERROR_ARGS = 500;


function renderBlock(event: ThreadEvent, secrets: readonly string[]): string | null {
  switch (event.type) {
    case 'input':
      return `<input>\n${show(event.data.input, secrets)}\n</input>`;
    case 'prefetch':
      return event.data.ok
        ? `<prefetch name="${event.data.name}">\n${show(event.data.result ?? null, secrets)}\n</prefetch>`
        : null;
    case 'decision':
      return `<decision step="${event.data.step}" intent="${event.data.intent}">${show(event.data.args, secrets)}</decision>`;
    case 'tool_call':
      return null;
    case 'tool_result':
      return `<tool_result tool="${event.data.tool}" call="${event.data.callId}">\n${show(event.data.result, secrets)}\n</tool_result>`;
    case 'error': {
      const d = event.data;
      const args = d.args === undefined ? '' : `\nargs: ${clipText(show(d.args, secrets), MAX_ERROR_ARGS)}`;
      return `<error kind="${d.kind}"${d.tool ? ` tool="${attr(d.tool)}"` : ''} attempt="${d.attempt}">${bodyText(d.message, secrets)}${args}</error>`;
    }
    case 'human_request': {
      const d = event.data;
      const about = d.tool ? ` tool="${attr(d.tool)}"` : '';
      return `<human_request kind="${d.kind}" id="${d.requestId}"${about}>${bodyText(d.question, secrets)}</human_request>`;
    }
    case 'human_response': {
      const d = event.data;
      const approved = d.approved === undefined ? '' : ` approved="${d.approved}"`;
      const body = [d.answer, d.comment].filter((part): part is string => part !== undefined && part !== '').join('\n');
      return `<human_response to="${d.requestId}"${approved}>${bodyText(body, secrets)}</human_response>`;
    }
    case 'control':
      return null;
    case 'final':
      return `<final>${show(event.data.output, secrets)}</final>`;
    case 'escalation':
      return `<escalation reason="${event.data.reason}">${bodyText(event.data.message, secrets)}</escalation>`;
    case 'failed':
      return `<failed>${bodyText(event.data.reason, secrets)}</failed>`;
    case 'custom':
      return renderCustom(event.data, secrets);
  }
}

function renderCustom(d: CustomData, secrets: readonly string[]): string | null {
  switch (d.phase) {
    case 'before_decision':
      return d.output === undefined ? null : `<step name="${d.step}">${show(d.output, secrets)}</step>`;
    case 'after_decision':
      // Only a rejection tells the model something: its call was dropped, and why.
      return d.verdict === 'reject' ? `<rejected by="${d.step}" call="${d.callId ?? ''}">${bodyText(d.feedback ?? '', secrets)}</rejected>` : null;
    case 'intent':
      return `<intent_result intent="${d.step}" call="${d.callId ?? ''}">\n${show(d.output ?? null, secrets)}\n</intent_result>`;
    case 'compact':
      return `<summary of="${d.upTo ?? 0}">\n${show(d.output ?? '', secrets)}\n</summary>`;
  }
}
