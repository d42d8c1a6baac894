import { clipText } from '../errors.js';
import type { CustomData, Json, Thread, ThreadEvent } from '../thread/events.js';
import { errorSubject, successSubjects, type ErrorSubject } from '../thread/errorResolution.js';
import { deriveState, type ThreadState } from '../thread/state.js';
import { redactJson, redactText } from './redact.js';
import { maskSealed } from './sealedArgs.js';

/** The rendered context of a thread. */
export interface RenderedContext {
  readonly text: string;
  /** Estimated tokens of `text`. */
  readonly tokens: number;
  /** Blocks left out to stay within the budget (a block per event shown). */
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
 * transcript. Control events are left out and secrets are redacted. An error is hidden once what
 * failed has since succeeded (the rule is {@link ErrorSubject}'s), and the decision whose call it
 * failed is hidden with it: a success of anything else hides nothing. When the whole exceeds the
 * token budget, a block larger than a third of it is clipped (its body cut, followed by
 * `…[N characters not shown]`; the thread keeps it whole), and the oldest blocks after the input
 * are dropped, a call's outcome with its decision, the newest block always kept: the text stays
 * within the budget but for the tags of the blocks clipped.
 */
export function renderContext(agent: ContextSettings, thread: Thread, options: RenderContextOptions = {}): RenderedContext {
  const budget = options.budgetTokens ?? agent.contextBudget;
  const rendered = renderedBlocks(agent.secrets, thread);
  if (rendered.tokens <= budget) {
    rendered.text ??= rendered.blocks.map((block) => block.text).join('\n');
    return { text: rendered.text, tokens: estimateTokens(rendered.text), omitted: 0, omittedUpTo: 0 };
  }
  return withinBudget(rendered.blocks, budget);
}

/** Tokens of the `<omitted blocks="N"/>` marker and its newline, reserved when blocks are dropped. */
const OMITTED_TOKENS = 8;

/**
 * `blocks`, more than `budget` tokens, within it: the input, then the newest blocks that fit, each
 * clipped to a third of the budget (so that the input, a decision and its outcome always fit), and
 * never an outcome without its decision. Walks back from the newest block: it costs what is kept,
 * not the whole thread.
 */
function withinBudget(blocks: readonly Block[], budget: number): RenderedContext {
  const share = Math.floor((budget * 4) / 3);
  const first = clipped(blocks[0]!, share);
  let room = budget - estimateTokens(first) - 1 - OMITTED_TOKENS;
  let cut = blocks.length;
  // The clipped texts the walk measured, by index: those kept are not clipped again.
  const texts: string[] = [];
  while (cut > 1) {
    const text = (texts[cut - 1] = clipped(blocks[cut - 1]!, share));
    const cost = estimateTokens(text) + 1;
    if (cut < blocks.length && cost > room) break;
    room -= cost;
    cut--;
  }
  const from = pairedCut(blocks, cut);
  const omitted = from - 1;
  // Only the summary, second, is out of seq order (it is newer than the events after it that it
  // does not cover): the newest seq left out is the summary's or the last one's left out.
  const omittedUpTo = omitted > 0 ? Math.max(blocks[1]!.seq, blocks[from - 1]!.seq) : 0;
  const shown = blocks.slice(from).map((block, i) => texts[from + i] ?? clipped(block, share));
  const text = [first, ...(omitted > 0 ? [`<omitted blocks="${omitted}"/>`] : []), ...shown].join('\n');
  return { text, tokens: estimateTokens(text), omitted, omittedUpTo };
}

/**
 * The first block kept once a call's outcome goes with its decision: an outcome the cut at `cut`
 * separated from its decision is left out too, unless it is the newest block, which brings its
 * decision (and what came between them: a question about the call) back instead.
 */
function pairedCut(blocks: readonly Block[], cut: number): number {
  const last = blocks.length - 1;
  let from = cut;
  while (from < last && isOutcome(blocks[from]!)) from++;
  if (from !== last || !isOutcome(blocks[last]!)) return from;
  const { call } = blocks[last]!;
  for (let i = last - 1; i >= 1 && blocks[i]!.call === call; i--) {
    if (blocks[i]!.type === 'decision') return i;
    if (blocks[i]!.type !== 'human_request' && blocks[i]!.type !== 'human_response') break;
  }
  return from;
}

/** Whether a block answers a call a decision made (its result, error, rejection), or is a question about it or its answer. */
const isOutcome = (block: Block): boolean => block.call !== undefined && block.type !== 'decision';

/** Room for the clip marker, `…[123,456,789 characters not shown]`. */
const MARKER_ROOM = 36;

/** `block`'s text in at most `max` characters (but for its tags): its body cut, saying how much. */
function clipped(block: Block, max: number): string {
  const { text, head, tail } = block;
  if (text.length <= max) return text;
  const end = text.length - tail;
  let keep = Math.max(0, Math.min(end - head, max - head - tail - MARKER_ROOM));
  // Not half a character (a surrogate pair).
  if (keep > 0 && (text.charCodeAt(head + keep - 1) & 0xfc00) === 0xd800) keep--;
  const cut = end - head - keep;
  const marker = `…[${grouped(cut)} characters not shown]`;
  return cut <= marker.length ? text : `${text.slice(0, head + keep)}${marker}${text.slice(end)}`;
}

/** `183211` as `183,211`. */
const grouped = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** One block of the context: an event's text, what of it a clip keeps, and the call it belongs to. */
interface Block {
  readonly seq: number;
  readonly text: string;
  /** Characters of `text` before its body and after it: its tags, which a clip keeps. */
  readonly head: number;
  readonly tail: number;
  /** The type of the event it shows. */
  readonly type: ThreadEvent['type'];
  /**
   * The call a decision made, or that this block answers, asks a human about or answers such a
   * question of; for a question of the model's and its answer, the call of the decision that asked it.
   */
  readonly call: string | undefined;
}

/**
 * A thread's blocks before the budget, with what they were rendered from: the cache's entry for
 * the thread, extended in place as the thread grows (see {@link extend}).
 */
interface Blocks {
  events: readonly ThreadEvent[];
  readonly secrets: readonly string[];
  readonly compaction: ThreadState['compaction'];
  readonly blocks: Block[];
  /**
   * The errors shown, by their subject: the blocks its success hides (an error's, and the decision
   * whose call failed). Null until there is one (most threads have none).
   */
  open: Map<ErrorSubject, Block[]> | null;
  /** The call each open question about a call is about, by request id (its answer's); null until one is asked. */
  requests: Map<string, string> | null;
  /** The ids of the interrupted-call questions asked (their answers say whether the call took effect); null until one is asked. */
  interrupted: Set<string> | null;
  /** Estimated tokens of the blocks, a newline each. */
  tokens: number;
  /** The blocks joined, or null since some were hidden (joined again when needed). */
  text: string | null;
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
  const reused = last !== undefined && continues(last, thread.events, secrets, state);
  const blocks = extend(reused ? last : { events: [], secrets, compaction: state.compaction, blocks: [], open: null, requests: null, interrupted: null, tokens: 0, text: '' }, thread.events, state);
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
  for (let i = 0; i < last.events.length; i++) if (last.events[i] !== events[i]) return false;
  return true;
}

/**
 * `entry` extended in place with the events after those it was rendered from (not copied: a
 * decision would copy every block of its thread); a fresh render extends an empty entry, so both
 * ways give the same blocks. Only the cache holds `entry`, and it keeps the extended entry in its
 * place; `continues` has checked that the thread's compaction is the same.
 */
function extend(entry: Blocks, events: readonly ThreadEvent[], state: ThreadState): Blocks {
  // After a compaction its summary stands for the events it covers (the input always stays).
  // It is placed where those events were, right after the input. Only the latest summary is
  // shown: it covers the one before it (a thread recorded before it did still has the earlier
  // one after its cut, and the latest was made from the events that one stands for).
  const compactedUpTo = state.compaction?.upTo ?? 0;
  const summarySeq = state.compaction?.seq ?? 0;
  const added: string[] = [];
  for (let i = entry.events.length; i < events.length; i++) {
    const event = events[i]!;
    if (entry.open !== null) resolve(entry, entry.open, event);
    if (event.seq > 1 && event.seq <= compactedUpTo) continue;
    if (event.type === 'custom' && event.data.phase === 'compact' && event.seq !== summarySeq) continue;
    const block = blockOf(event, entry.secrets, callOf(entry, event), event.type === 'human_response' && entry.interrupted?.has(event.data.requestId) === true);
    if (block === null) continue;
    track(entry, event, block);
    const at = event.seq === summarySeq ? Math.min(1, entry.blocks.length) : entry.blocks.length;
    // A block put before others (the summary) leaves the text to be joined afresh.
    if (at < entry.blocks.length) entry.text = null;
    entry.blocks.splice(at, 0, block);
    entry.tokens += cost(block);
    added.push(block.text);
  }
  entry.events = events;
  if (entry.text !== null && added.length > 0) entry.text = entry.text === '' ? added.join('\n') : `${entry.text}\n${added.join('\n')}`;
  return entry;
}

const cost = (block: Block): number => estimateTokens(block.text) + 1;

/** Hides the errors (and their decisions) that `event` resolves, a success of their subject. */
function resolve(entry: Blocks, open: Map<ErrorSubject, Block[]>, event: ThreadEvent): void {
  for (const subject of successSubjects(event)) {
    const hidden = open.get(subject);
    if (hidden === undefined) continue;
    open.delete(subject);
    const gone = new Set(hidden);
    let kept = 0;
    for (const block of entry.blocks) {
      if (gone.has(block)) entry.tokens -= cost(block);
      else entry.blocks[kept++] = block;
    }
    entry.blocks.length = kept;
    entry.text = null;
  }
}

/** Records what a new block is: an error its subject's success will hide (with the decision whose call failed), or a question about a call. */
function track(entry: Blocks, event: ThreadEvent, block: Block): void {
  if (event.type === 'error') {
    const subject = errorSubject(event.data);
    if (subject === null) return;
    const decision = block.call === undefined ? undefined : decisionOf(entry.blocks, block.call);
    entry.open ??= new Map();
    entry.open.set(subject, [...(entry.open.get(subject) ?? []), block, ...(decision === undefined ? [] : [decision])]);
  } else if (event.type === 'human_request' && block.call !== undefined) {
    entry.requests ??= new Map();
    entry.requests.set(event.data.requestId, block.call);
    if (event.data.kind === 'interrupted') (entry.interrupted ??= new Set()).add(event.data.requestId);
  }
}

/**
 * The decision shown whose call is `call`, unless the call already had its outcome (a question
 * about it and its answer leave it open): the newest blocks first, where it is.
 */
function decisionOf(blocks: readonly Block[], call: string): Block | undefined {
  for (let i = blocks.length - 1; i >= 0; i--) {
    const block = blocks[i]!;
    if (block.call !== call) continue;
    if (block.type === 'decision') return block;
    if (block.type !== 'human_request' && block.type !== 'human_response') return undefined;
  }
  return undefined;
}

/**
 * The call an event's block belongs to (see {@link Block}): its own, or for an answer, its
 * question's; for a question of the model's (`request_human_input`, which names no call), the
 * decision's that asked it, right before it: the cut keeps the question and its answer with the
 * decision that holds what the model asked (its context, its choices).
 */
function callOf(entry: Blocks, event: ThreadEvent): string | undefined {
  if (event.type === 'human_response') return entry.requests?.get(event.data.requestId);
  if (event.type === 'human_request' && event.data.kind === 'input') return askingCall(entry.blocks.at(-1), event.seq);
  return 'callId' in event.data ? event.data.callId : undefined;
}

/** The call of `last` when it is the decision just before the event at `seq`. */
function askingCall(last: Block | undefined, seq: number): string | undefined {
  return last?.type === 'decision' && last.seq === seq - 1 ? last.call : undefined;
}

/**
 * An answer's verdict as the model reads it: ` approved="…"`, or for an interrupted-call question
 * (deny: "it took effect, do not run it again"; approve: "it did not"), ` took_effect="…"`, so a
 * denial there never reads as a refusal of the call.
 */
function verdict(approved: boolean, interrupted: boolean): string {
  return interrupted ? ` took_effect="${!approved}"` : ` approved="${approved}"`;
}

/**
 * One event of `thread` as the default renderer shows it (redacted), or null for events the model
 * never sees. The thread is required: an answer alone does not say what it answers, and an answer
 * to an interrupted-call question reads `took_effect="…"` (a denial: it took effect), never
 * `approved="false"`, which a model takes for a refusal and may call again. A call without it
 * throws a TypeError saying so.
 */
export function renderEvent(event: ThreadEvent, secrets: readonly string[], thread: Pick<Thread, 'events'>): string | null {
  if (thread === undefined) throw new TypeError('renderEvent needs the thread the event is of (its third argument): an answer reads as what it answers');
  return renderBlock(event, secrets, event.type === 'human_response' && asksInterrupted(thread.events, event.data.requestId));
}

/** Whether `events` asked `requestId` as an interrupted-call question. */
function asksInterrupted(events: readonly ThreadEvent[], requestId: string): boolean {
  const asked = events.findLast((e) => e.type === 'human_request' && e.data.requestId === requestId);
  return asked?.type === 'human_request' && asked.data.kind === 'interrupted';
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


/** A block as its parts: its opening tag, its body (what a clip cuts) and its closing tag. */
type Parts = readonly [head: string, body: string, tail: string];

/** `<tag attrs>` body `</tag>`, the body on lines of its own. */
const lines = (tag: string, attrs: string, body: string): Parts => [`<${tag}${attrs}>\n`, body, `\n</${tag}>`];
const inline = (tag: string, attrs: string, body: string): Parts => [`<${tag}${attrs}>`, body, `</${tag}>`];

function renderBlock(event: ThreadEvent, secrets: readonly string[], interrupted: boolean): string | null {
  const parts = partsOf(event, secrets, interrupted);
  return parts === null ? null : parts.join('');
}

/** An event's block (see {@link Block}), or null for events the model never sees. */
function blockOf(event: ThreadEvent, secrets: readonly string[], call: string | undefined, interrupted: boolean): Block | null {
  const parts = partsOf(event, secrets, interrupted);
  if (parts === null) return null;
  const [head, body, tail] = parts;
  return { seq: event.seq, text: `${head}${body}${tail}`, head: head.length, tail: tail.length, type: event.type, call };
}

/** `interrupted`: the event answers an interrupted-call question (the answer says whether the call took effect). */
function partsOf(event: ThreadEvent, secrets: readonly string[], interrupted: boolean): Parts | null {
  switch (event.type) {
    case 'input':
      return lines('input', '', show(event.data.input, secrets));
    case 'prefetch':
      return event.data.ok ? lines('prefetch', ` name="${event.data.name}"`, show(event.data.result ?? null, secrets)) : null;
    case 'decision':
      return inline('decision', ` step="${event.data.step}" intent="${event.data.intent}"`, show(event.data.args, secrets));
    case 'tool_call':
      return null;
    case 'tool_result':
      return lines('tool_result', ` tool="${event.data.tool}" call="${event.data.callId}"`, show(event.data.result, secrets));
    case 'error': {
      const d = event.data;
      const args = d.args === undefined ? '' : `\nargs: ${clipText(show(d.args, secrets), MAX_ERROR_ARGS)}`;
      return inline('error', ` kind="${d.kind}"${d.tool ? ` tool="${attr(d.tool)}"` : ''} attempt="${d.attempt}"`, `${bodyText(d.message, secrets)}${args}`);
    }
    case 'human_request': {
      const d = event.data;
      const about = d.tool ? ` tool="${attr(d.tool)}"` : '';
      return inline('human_request', ` kind="${d.kind}" id="${d.requestId}"${about}`, bodyText(d.question, secrets));
    }
    case 'human_response': {
      const d = event.data;
      const approved = d.approved === undefined ? '' : verdict(d.approved, interrupted);
      // An answer's comment is said to be one; a comment alone (an approval's, a denial's) is the body.
      const comment = d.comment === undefined || d.comment === '' ? '' : d.answer ? `\ncomment: ${d.comment}` : d.comment;
      const body = `${d.answer ?? ''}${comment}`;
      return inline('human_response', ` to="${d.requestId}"${approved}`, bodyText(body, secrets));
    }
    case 'control':
      return null;
    case 'final':
      return inline('final', '', show(event.data.output, secrets));
    case 'escalation':
      return inline('escalation', ` reason="${event.data.reason}"`, bodyText(event.data.message, secrets));
    case 'failed':
      return inline('failed', '', bodyText(event.data.reason, secrets));
    case 'custom':
      return customParts(event.data, secrets);
  }
}

function customParts(d: CustomData, secrets: readonly string[]): Parts | null {
  switch (d.phase) {
    case 'before_decision':
      return d.output === undefined ? null : inline('step', ` name="${d.step}"`, show(d.output, secrets));
    case 'after_decision':
      // Only a rejection tells the model something: its call was dropped, and why.
      return d.verdict === 'reject' ? inline('rejected', ` by="${d.step}" call="${d.callId ?? ''}"`, bodyText(d.feedback ?? '', secrets)) : null;
    case 'intent':
      return lines('intent_result', ` intent="${d.step}" call="${d.callId ?? ''}"`, show(d.output ?? null, secrets));
    case 'compact':
      return lines('summary', ` of="${d.upTo ?? 0}"`, show(d.output ?? '', secrets));
  }
}
