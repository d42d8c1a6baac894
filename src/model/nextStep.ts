import { clipText } from '../errors.js';
import { isJson, type Json } from '../thread/events.js';
import type { ModelOutput } from './model.js';
import { taggedToolCall, unfenced } from './taggedToolCall.js';

/** The model's next step: an intent (a tool name) and its raw arguments (parsed JSON, not yet checked). */
export interface NextStep {
  readonly intent: string;
  readonly args: Json;
}

const NOTHING = 'the model answered nothing: neither a tool call nor text';

/** What {@link parseNextStep} returns. */
type Parsed = { success: true; data: NextStep } | { success: false; error: string };

/**
 * Reads a `NextStep` from a model's output (factor 1): a tool call, or text holding JSON
 * `{ "intent": ..., ...args }` or `{ "intent": ..., "args": {...} }` (a markdown fence around either
 * is allowed, so are a reasoning model's `<think>...</think>` block before it and prose around
 * one fenced block), or a text answer holding one `<tool_call>` block (Hermes format, see
 * {@link taggedToolCall}) that is no JSON itself. Arguments encoded twice (a JSON string holding the object) are that object.
 * Arguments a thread cannot hold faithfully (nested deeper than JSON values may be, a number beyond
 * a double, which JSON.parse reads as Infinity, or a `__proto__` key) are refused here, before a
 * decision records them.
 */
export function parseNextStep(output: ModelOutput): Parsed {
  if (output.toolCall) {
    const { name, arguments: raw } = output.toolCall;
    // Fenced as a text answer may be: some models wrap the arguments in markdown too.
    const text = unfenced(raw);
    if (text === '') return { success: true, data: { intent: name, args: {} } };
    let args: Json;
    try {
      args = JSON.parse(text) as Json;
    } catch {
      return { success: false, error: `arguments of ${name} are not valid JSON: ${snippet(raw)}` };
    }
    return checked(name, innerObject(args));
  }
  if (output.text !== undefined) {
    const answer = afterReasoning(output.text);
    const text = unfenced(answer);
    // A null content arrives as '': the model said nothing, which is no broken JSON.
    if (text === '') return { success: false, error: NOTHING };
    const value = parsedAnswer(text, answer);
    if (value === NOT_JSON) return taggedStep(answer) ?? { success: false, error: `the answer is not valid JSON: ${snippet(output.text)}` };
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { success: false, error: 'the answer must be a JSON object with an "intent"' };
    const { intent, args, ...rest } = value as Record<string, Json>;
    if (typeof intent !== 'string' || intent === '') return { success: false, error: 'the answer has no "intent" string' };
    return answerArgs(intent, args, rest);
  }
  return { success: false, error: NOTHING };
}

/**
 * The arguments of a text answer: its `"args"` object (encoded twice too), else the keys beside
 * `"intent"`. An `"args"` that is no object is refused: read as none, the tool would run without them.
 */
function answerArgs(intent: string, args: Json | undefined, rest: Record<string, Json>): Parsed {
  if (args === undefined || args === null) return checked(intent, rest);
  const value = innerObject(args);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return checked(intent, value);
  const kind = Array.isArray(value) ? 'an array' : typeof value === 'string' ? 'a string' : `a ${typeof value}`;
  return { success: false, error: `"args" of ${intent.slice(0, 80)} must be a JSON object, not ${kind}` };
}

/** The step a `<tool_call>` block of a text answer holds (see {@link taggedToolCall}); `undefined` without one. */
function taggedStep(answer: string): Parsed | undefined {
  const tagged = taggedToolCall(answer);
  if (tagged === undefined || !tagged.success) return tagged;
  const { name, args } = tagged.data;
  if (args === undefined || args === null) return checked(name, {});
  return checked(name, innerObject(args));
}

/** The step, unless its arguments are not a JSON value a thread can record and read back. */
function checked(intent: string, args: Json): Parsed {
  const name = intent.slice(0, 80);
  if (!isJson(args)) {
    return { success: false, error: `arguments of ${name} are not JSON a thread can hold: numbers must be finite, nesting at most 256 levels deep` };
  }
  if (hasProtoKey(args)) {
    return { success: false, error: `arguments of ${name} use the key "__proto__", which cannot be recorded faithfully; rename it` };
  }
  return { success: true, data: { intent, args } };
}

/**
 * Whether an own `__proto__` key is anywhere in `value`. JSON.parse makes it an ordinary key, but
 * copying such an object by assignment (as redaction does) turns it into the copy's prototype:
 * the log would lose it while the tool still read its properties.
 */
function hasProtoKey(value: Json): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasProtoKey);
  return Object.hasOwn(value, '__proto__') || Object.values(value).some(hasProtoKey);
}

/**
 * Arguments sent as a JSON string holding the JSON object (encoded twice, as some models and
 * proxies do): that object. A tool's input is always an object, so nothing else is meant. Any
 * other arguments (another string too) as they are, for the tool's schema to refuse.
 */
function innerObject(args: Json): Json {
  if (typeof args !== 'string' || !args.trimStart().startsWith('{')) return args;
  try {
    const inner = JSON.parse(args) as Json;
    return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? inner : args;
  } catch {
    return args;
  }
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/**
 * A text answer without the reasoning a model served without a reasoning parser writes before it
 * (DeepSeek-R1, Qwen3, QwQ): a leading `<think>...</think>` block, or the reasoning up to a
 * `</think>` whose opening tag was in the prompt. Without `<think>` first, a `</think>` after the first `{` or fence is kept
 * (it is in a string of the arguments).
 */
function afterReasoning(text: string): string {
  const trimmed = text.trimStart();
  const close = trimmed.indexOf(THINK_CLOSE);
  if (close < 0) return text;
  // Without an opening tag, only a </think> before the JSON ends reasoning: one after it is in the JSON.
  const json = trimmed.search(/[{`]/);
  if (!trimmed.startsWith(THINK_OPEN) && json >= 0 && json < close) return text;
  return trimmed.slice(close + THINK_CLOSE.length);
}

/** Marks a text answer that holds no JSON. */
const NOT_JSON = Symbol('not JSON');

/**
 * The JSON value of a text answer, or {@link NOT_JSON}: `text` (the answer without a fence around
 * it), else the one fenced block prose surrounds in `answer` (`Here is my next step: ```json {...} ``` `).
 * Two fenced blocks could mean either, and are no answer.
 */
function parsedAnswer(text: string, answer: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const fences = [...answer.matchAll(/```(?:json)?\s*([\s\S]*?)```/gi)];
    if (fences.length !== 1) return NOT_JSON;
    try {
      return JSON.parse(fences[0]![1]!.trim());
    } catch {
      return NOT_JSON;
    }
  }
}

function snippet(text: string): string {
  return JSON.stringify(clipText(text, 200));
}
