import { DONE_FOR_NOW, type Json } from '../../thread/events.js';
import type { ContextBlock } from '../../context/parseContext.js';

/** What the demo model answers: one next step. */
export interface Step {
  readonly intent: string;
  readonly args: Record<string, Json>;
}

/**
 * A skill of the demo model: the rules it follows when a request offers all of `tools`, whatever
 * the agent is called (so a user's agent with the same tools runs on it too).
 */
export interface DemoSkill {
  readonly name: string;
  readonly tools: readonly string[];
  decide(blocks: readonly ContextBlock[]): Step;
}

type Block = ContextBlock;

export const done = (message: string): Step => ({ intent: DONE_FOR_NOW, args: { message } });

/** The thread's input as text: a string, or the first text-like field of an object. */
export function inputText(blocks: readonly Block[]): string {
  const body = blocks.find((b) => b.tag === 'input')?.body ?? '';
  if (!body.startsWith('{')) return body;
  try {
    const value = JSON.parse(body) as Record<string, unknown>;
    for (const key of ['expression', 'question', 'request', 'task', 'text', 'input', 'message']) {
      if (typeof value[key] === 'string') return value[key];
    }
  } catch {
    // Not JSON after all: use it as text.
  }
  return body;
}

/** The human response to a request, with what the request asked about. */
export interface Answer {
  readonly index: number;
  readonly kind: string;
  readonly tool: string | undefined;
  readonly approved: boolean | undefined;
  /** An answer to an interrupted-call question: whether the call took effect (`took_effect="…"`). */
  readonly tookEffect: boolean | undefined;
  readonly text: string;
}

export function answers(blocks: readonly Block[]): Answer[] {
  const requests = new Map<string, Block>();
  const found: Answer[] = [];
  blocks.forEach((block, index) => {
    if (block.tag === 'human_request' && block.attrs.id) requests.set(block.attrs.id, block);
    if (block.tag !== 'human_response') return;
    const request = block.attrs.to === undefined ? undefined : requests.get(block.attrs.to);
    const approved = block.attrs.approved === undefined ? undefined : block.attrs.approved === 'true';
    const tookEffect = block.attrs.took_effect === undefined ? undefined : block.attrs.took_effect === 'true';
    found.push({ index, kind: request?.attrs.kind ?? 'input', tool: request?.attrs.tool, approved, tookEffect, text: block.body });
  });
  return found;
}

/** A call a human said took effect, though its outcome was never recorded (see {@link tookEffect}). */
export interface TookEffect {
  readonly tool: string;
  /** The arguments its decision gave, when the context still shows it. */
  readonly args: Readonly<Record<string, unknown>> | undefined;
  /** What the human said of it, as a sentence's end: `: <their words>`, or `.` when they said nothing. */
  readonly said: string;
}

/**
 * The last call a human said took effect, answering the question asked when it was interrupted
 * (started, its outcome never recorded): a model must not call it again. Undefined when there is
 * none, or a result of its tool came since (it ran again after all).
 */
export function tookEffect(blocks: readonly Block[]): TookEffect | undefined {
  const answer = answers(blocks).filter((a) => a.kind === 'interrupted' && a.tookEffect === true).at(-1);
  const tool = answer?.tool;
  if (answer === undefined || tool === undefined) return undefined;
  if (blocks.slice(answer.index).some((b) => b.tag === 'tool_result' && b.attrs.tool === tool)) return undefined;
  const decision = blocks.slice(0, answer.index).findLast((b) => b.tag === 'decision' && b.attrs.intent === tool);
  const args = decision === undefined ? undefined : parseJson(decision.body);
  return { tool, args: typeof args === 'object' && args !== null ? (args as Record<string, unknown>) : undefined, said: answer.text ? `: ${clip(answer.text)}` : '.' };
}

/** A tool failure the demo model cannot fix by retrying: the last block, if it is one. */
export function lastToolError(blocks: readonly Block[]): Block | undefined {
  const last = blocks.at(-1);
  return last?.tag === 'error' && (last.attrs.kind === 'tool_error' || last.attrs.kind === 'tool_timeout') ? last : undefined;
}


export function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
