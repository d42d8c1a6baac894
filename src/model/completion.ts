import { clipText } from '../errors.js';
import { htmlPageSummary } from './htmlPage.js';
import { severalCallsMessage } from './taggedToolCall.js';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { ModelFailure, ModelOutput, ModelResult, ToolSpec } from './model.js';

/** What {@link mapCompletion} needs of a model's configuration. */
export interface CompletionSettings {
  /** The configured model name, recorded when the server reports none (or a runaway one). */
  readonly model: string;
  /** The longest answer taken, in characters (`maxAnswerChars`). */
  readonly maxAnswerChars: number;
  /** The URL the request went to (without credentials or query): a failure of the endpoint, not of the model's answer, names it first. */
  readonly endpoint: string;
  /** Removes secrets from a failure message and bounds its length. */
  clean(message: string): string;
}

/** Why an answer the provider's content filter withheld is refused, and not retried. */
const CONTENT_FILTERED = 'the provider\'s content filter withheld the answer (finish_reason "content_filter"); the same context is usually filtered again, so it is not retried: review the thread\'s input, or the filter\'s settings at the provider';

/** The longest model name a server may report for the decisions to record; a longer one is replaced by the configured name. */
const MAX_REPORTED_MODEL_CHARS = 200;
/** The most characters of a value a message quotes. */
const MAX_QUOTED_CHARS = 300;

/**
 * The answer of a chat completions response, or the failure it is: a tool call or text for
 * {@link parseNextStep}, never trusting the SDK's types (a misbehaving server may send anything
 * with status 200). A failure here has no status: it is handled as any malformed answer (an error
 * the model sees, a backoff, an escalation after too many in a row). `offered` are the tools the
 * request offered, which a tool call's name is read against (see {@link offeredName}).
 */
export function mapCompletion(completion: unknown, settings: CompletionSettings, offered: readonly ToolSpec[] = []): ModelResult {
  // The SDK hands over a body served as text/plain (or with no type) as its text: a simple shim or
  // gateway may mislabel a JSON completion so.
  const raw = typeof completion === 'string' ? parsedText(completion) : completion;
  // The SDK hands over an empty JSON body as undefined.
  if (raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return failure(settings, 'model response is an empty body');
  if (typeof raw !== 'object' || raw === null) {
    const page = typeof raw === 'string' ? htmlPageSummary(raw) : undefined;
    return failure(settings, `model response is ${page ?? `not a JSON object: ${describe(raw)}`}`);
  }
  const choices = (raw as { choices?: unknown }).choices;
  const first: unknown = Array.isArray(choices) ? choices[0] : undefined;
  if (typeof first !== 'object' || first === null) {
    const serverError = (raw as { error?: { message?: unknown } }).error?.message;
    const detail = typeof serverError === 'string' ? `: ${serverError}` : '';
    return failure(settings, `model response has no choices${detail}`);
  }
  const choice = first as { message?: Partial<ChatCompletion.Choice['message']>; finish_reason?: unknown; error?: unknown };
  // OpenRouter reports an upstream failure inside a choice, with an empty message.
  if (choice.error !== undefined && choice.error !== null) {
    return failure(settings, `the provider answered with an error instead of an answer: ${choiceError(choice.error)}`);
  }
  // The filter judges the context, which a retry sends again: filtered again, it would only delay
  // the escalation (and bill each attempt). A human decides, as for any failure not retried.
  if (choice.finish_reason === 'content_filter') return notRetried(failure(settings, CONTENT_FILTERED));
  const message = choice.message ?? {};
  const usage = (raw as { usage?: Partial<ChatCompletion['usage']> }).usage;
  const reportedModel = (raw as { model?: unknown }).model;
  const base = {
    usage: { prompt: tokenCount(usage?.prompt_tokens), completion: tokenCount(usage?.completion_tokens) },
    // Recorded on every decision: a runaway name is not the server's to put in the thread.
    model: typeof reportedModel === 'string' && reportedModel !== '' && reportedModel.length <= MAX_REPORTED_MODEL_CHARS ? reportedModel : settings.model,
  };

  const calls: unknown[] = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  // One answer, one step: running the first call and dropping the others would hide calls the
  // model believes made (a `done_for_now` among them would end the thread on work never done).
  if (calls.length > 1) return failure(settings, severalCalls(calls), 'malformed');
  const toolCall = toolCallOf(message, offered);
  if (toolCall) {
    if (toolCall.arguments.length > settings.maxAnswerChars) return tooLong(settings, toolCall.arguments.length);
    if (choice.finish_reason === 'length' && !isWholeObject(toolCall.arguments)) return failure(settings, cutOff(toolCall.arguments), 'malformed');
    const data: ModelOutput = { ...base, toolCall };
    return { success: true, data };
  }
  const text = contentText(message.content);
  if (text.length > settings.maxAnswerChars) return tooLong(settings, text.length);
  // A refusal first: reasoning before it is no reason to lose what the model said.
  const refusal: unknown = message.refusal;
  if (text.trim() === '' && typeof refusal === 'string' && refusal.trim() !== '') {
    return failure(settings, `the model refused: ${quoted(refusal)}`, 'malformed');
  }
  const reasoning = text.trim() === '' ? reasoningChars(message) : 0;
  if (reasoning > 0) return failure(settings, onlyReasoning(reasoning, choice.finish_reason === 'length'), 'malformed');
  if (choice.finish_reason === 'length' && !isWholeObject(text)) return failure(settings, cutOff(text), 'malformed');
  const data: ModelOutput = { ...base, text };
  return { success: true, data };
}

/**
 * The one tool call of a message: its `tool_calls` entry, else a legacy `function_call` (the API's
 * pre-tools shape, `{ name, arguments }`, which some older servers and proxies still send), read
 * as a function tool call is; `undefined` when it holds neither.
 */
function toolCallOf(message: Partial<ChatCompletion.Choice['message']>, offered: readonly ToolSpec[]): ModelOutput['toolCall'] {
  const call = Array.isArray(message.tool_calls) ? message.tool_calls[0] : undefined;
  if (call) {
    return call.type === 'custom'
      ? { name: String(call.custom?.name ?? ''), arguments: argumentsText(call.custom?.input) }
      : { name: offeredName(String(call.function?.name ?? ''), offered), arguments: argumentsText(call.function?.arguments) };
  }
  const legacy: unknown = message.function_call;
  if (typeof legacy !== 'object' || legacy === null) return undefined;
  const { name, arguments: args } = legacy as { name?: unknown; arguments?: unknown };
  return { name: offeredName(typeof name === 'string' ? name : '', offered), arguments: argumentsText(args) };
}

/**
 * How many characters of reasoning a message holds beside its answer: `reasoning_content` (vLLM,
 * DeepSeek) or `reasoning` (Ollama, OpenRouter, newer vLLM); 0 without.
 */
function reasoningChars(message: object): number {
  const { reasoning_content: content, reasoning } = message as { reasoning_content?: unknown; reasoning?: unknown };
  const text = typeof content === 'string' && content.trim() !== '' ? content : reasoning;
  return typeof text === 'string' ? text.trim().length : 0;
}

/** Why an answer of reasoning alone is refused: the token limit reached while reasoning (`cut`), or no answer after it. */
function onlyReasoning(chars: number, cut: boolean): string {
  return cut
    ? `the token limit was reached while reasoning (${chars} characters), before any answer: answer sooner, or raise the output limit (extraBody max_completion_tokens or max_tokens)`
    : `the model wrote only reasoning (${chars} characters), no answer: neither a tool call nor text`;
}

/** Where gpt-oss's Harmony tokens begin in a tool name a server left them in. */
const HARMONY_TOKEN = '<|';
/** The recipient prefix of a Harmony tool call (`functions.charge`), which some servers keep. */
const RECIPIENT_PREFIX = 'functions.';

/**
 * The offered tool a call's name means when the server left gpt-oss's Harmony tokens in it
 * (`charge<|channel|>commentary`, seen on vLLM and Ollama) or kept the recipient's `functions.`
 * prefix: no tool name holds `<|` or a dot (`TOOL_NAME`), so the rest is the tool. A name that is
 * no offered tool once cleaned is kept as it came, for the error to show what was sent.
 */
function offeredName(name: string, offered: readonly ToolSpec[]): string {
  const cut = name.indexOf(HARMONY_TOKEN);
  if (cut < 0 && !name.startsWith(RECIPIENT_PREFIX)) return name;
  const bare = (cut < 0 ? name : name.slice(0, cut)).trim();
  const cleaned = bare.startsWith(RECIPIENT_PREFIX) ? bare.slice(RECIPIENT_PREFIX.length) : bare;
  return offered.some((tool) => tool.name === cleaned) ? cleaned : name;
}

/** The most characters of an answer a message quotes. */
const MAX_ANSWER_QUOTE_CHARS = 150;

/** `text` as a JSON string, at most {@link MAX_ANSWER_QUOTE_CHARS} characters of it. */
function quoted(text: string): string {
  return JSON.stringify(clipText(text, MAX_ANSWER_QUOTE_CHARS));
}

/**
 * Whether an answer at the token limit is whole: a JSON object, which ends at its closing brace,
 * so nothing of it was cut (a server may say "length" of an answer that just fit). Its checks are
 * the usual ones. A number or text may go on where it stopped, and is refused as cut.
 */
function isWholeObject(answer: string): boolean {
  try {
    const value: unknown = JSON.parse(answer);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** Why an answer cut at the token limit is refused: parsed, it would fail as broken JSON, hiding the cause. */
function cutOff(answer: string): string {
  return `the answer was cut off at the token limit (finish_reason "length") before it was complete; answer more briefly. It began: ${quoted(answer)}`;
}

/** A body served as text: the JSON value it holds, else the text itself. */
function parsedText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A message's content as text: a string, or the text of its parts (`[{ type: 'text', text }]`, as some servers send it). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: unknown) => {
    const text = typeof part === 'object' && part !== null ? (part as { text?: unknown }).text : undefined;
    return typeof text === 'string' ? text : '';
  }).join('');
}

/** An error a provider put in a choice, as `<code> <message>`. */
function choiceError(error: unknown): string {
  if (typeof error === 'string') return error;
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return describe(error);
  return typeof code === 'string' || typeof code === 'number' ? `${code} ${message}` : message;
}

/**
 * A tool call's arguments as JSON text. Some servers and proxies send them parsed (an object, not
 * the string the API specifies): serialized, they are validated as any others, where `String()`
 * would make every call `[object Object]`.
 */
function argumentsText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  return describeAll(value);
}

/** `value` as JSON text, or its string form when it has none. */
function describeAll(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Why an answer with several tool calls is refused, naming them (bounded). */
function severalCalls(calls: readonly unknown[]): string {
  const names = calls.map((call) => {
    const { function: fn, custom } = (typeof call === 'object' && call !== null ? call : {}) as { function?: { name?: unknown }; custom?: { name?: unknown } };
    const name = fn?.name ?? custom?.name;
    return typeof name === 'string' ? name : '';
  });
  return severalCallsMessage(names, calls.length);
}

/** An answer past {@link CompletionSettings.maxAnswerChars}: a failure, never recorded. */
function tooLong(settings: CompletionSettings, chars: number): ModelResult {
  return failed(`the model's answer is ${chars} characters, over the limit of ${settings.maxAnswerChars} (maxAnswerChars); it was not recorded`, 'malformed');
}

function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

/** `value` as JSON text (or its string form), at most {@link MAX_QUOTED_CHARS} characters, for a message. */
export function describe(value: unknown): string {
  return String(describeAll(value)).slice(0, MAX_QUOTED_CHARS);
}

/**
 * A failure of a 200 response (no status), its message cleaned: one of the endpoint (kind `http`:
 * no answer in it at all) names the endpoint first, as an HTTP error's does; a malformed answer is
 * the model's, and its message speaks to the model.
 */
function failure(settings: CompletionSettings, message: string, kind: ModelFailure['kind'] = 'http'): ModelResult {
  return failed(settings.clean(kind === 'http' ? `POST ${settings.endpoint}: ${message}` : message), kind);
}

/** `result`, a failure, marked not to retry: the agent escalates at once. */
function notRetried(result: ModelResult): ModelResult {
  return result.success ? result : { success: false, error: { ...result.error, retryable: false } };
}

function failed(message: string, kind: ModelFailure['kind'] = 'http'): ModelResult {
  const error: ModelFailure = { kind, message };
  return { success: false, error };
}
