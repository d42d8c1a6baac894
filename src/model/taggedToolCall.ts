import { clipText } from '../errors.js';
import type { Json } from '../thread/events.js';

/** A tool call read from a `<tool_call>` block: its name and its raw arguments (not yet checked). */
export interface TaggedCall {
  readonly name: string;
  readonly args: Json | undefined;
}

/** What {@link taggedToolCall} finds: no block, the one call, or why the blocks are no call. */
export type Tagged = undefined | { success: true; data: TaggedCall } | { success: false; error: string };

/** A `<tool_call>` block, up to its closing tag or the answer's end (a server may stop before it). */
const BLOCK = /<tool_call>([\s\S]*?)(?:<\/tool_call>|$)/g;

/** The most tool names a message lists. */
const MAX_LISTED_CALLS = 10;

/**
 * The tool call a text answer holds in `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`:
 * the Hermes format of Qwen and Hermes chat templates, which a vLLM or llama.cpp server started
 * without a tool parser leaves in the text. `undefined` without such a block; several blocks are
 * refused as several tool calls are (none is taken).
 */
export function taggedToolCall(answer: string): Tagged {
  const blocks = [...answer.matchAll(BLOCK)].map((match) => match[1]!.trim());
  if (blocks.length === 0) return undefined;
  const calls = blocks.map(callOf);
  if (calls.length > 1) return { success: false, error: severalCallsMessage(calls.map((call) => call?.name ?? ''), calls.length) };
  const call = calls[0];
  if (call === undefined) {
    return { success: false, error: `the <tool_call> block is not a JSON object with a "name" and "arguments": ${JSON.stringify(clipText(blocks[0]!, 200))}` };
  }
  return { success: true, data: call };
}

/** The call a block holds, or `undefined` when it is no JSON object with a name. */
function callOf(block: string): TaggedCall | undefined {
  let value: unknown;
  try {
    value = JSON.parse(unfenced(block));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { name, arguments: args } = value as { name?: unknown; arguments?: Json };
  return typeof name === 'string' && name !== '' ? { name, args } : undefined;
}

/**
 * Why an answer with several tool calls is refused, naming them (at most ten, each cut to 40
 * characters; an empty name is `(unnamed)`).
 */
export function severalCallsMessage(names: readonly string[], count: number): string {
  const listed = names.slice(0, MAX_LISTED_CALLS).map((name) => (name === '' ? '(unnamed)' : name.slice(0, 40)));
  const more = count > MAX_LISTED_CALLS ? ', …' : '';
  return `answer with exactly one tool call; this answer had ${count}: ${listed.join(', ')}${more} (none was run)`;
}

/** `text` trimmed, without a markdown code fence (```` ```json ````) around it. */
export function unfenced(text: string): string {
  return text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
}
