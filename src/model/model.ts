import type { TokenUsage } from '../thread/events.js';

/** A tool as the model sees it: a name, a description and a JSON Schema for its arguments. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  /** The arguments' JSON Schema: in the strict form (every object closed, every property required) when {@link strict}. */
  readonly parameters: Record<string, unknown>;
  /**
   * Whether the schema is offered in strict mode (an agent decides once per tool, see `Tool.strict`);
   * a tool that is not is offered its plain JSON Schema with `strict: false`.
   * @default true
   */
  readonly strict?: boolean;
}

/** One decision request: the rendered prompt, the rendered thread context, the tools on offer. */
export interface ModelRequest {
  readonly threadId: string;
  readonly agent: string;
  /** The rendered prompt template (the system message). */
  readonly system: string;
  /** The thread rendered in switchyard's compact format (the user message). */
  readonly context: string;
  readonly tools: readonly ToolSpec[];
  readonly signal: AbortSignal;
}

/** What the model answered: a tool call, or text that should hold a JSON `NextStep`. */
export interface ModelOutput {
  readonly toolCall?: { readonly name: string; readonly arguments: string };
  readonly text?: string;
  readonly usage: TokenUsage;
  /** The model that answered (as reported by the server). */
  readonly model: string;
}

/** A model failure: an HTTP error (with status when there was one), a timeout, or a malformed answer. */
export interface ModelFailure {
  /**
   * `http`: the endpoint failed (see {@link status}); `timeout`: it did not answer in time;
   * `malformed`: the model answered, but with no single step to take (several tool calls, an
   * answer cut off at the token limit or over `maxAnswerChars`, a refusal, Groq's
   * `tool_use_failed`), and is recorded as an answer that does not parse is (`invalid_json`):
   * retried, counted toward `maxConsecutiveErrors`.
   */
  readonly kind: 'http' | 'timeout' | 'malformed';
  /** What went wrong, stored in the thread: never a key. */
  readonly message: string;
  /**
   * The HTTP status. A 4xx other than 408, 409 and 429 is not retried: the agent escalates to a
   * human at once; so does a 3xx (a redirect not followed: a 301, 302 or 303 of the POST). Timeouts, 408, 409, 429, 5xx and failures without a status are retried after a
   * backoff (at least {@link retryAfterMs} when the server said).
   */
  readonly status?: number;
  /**
   * How long the server asked to wait before asking again, in ms (its `retry-after-ms` or
   * `Retry-After` header), when it said. An agent retrying a failure waits at least this long
   * (at most 10 minutes), and counts a 429, or a 503 or 529 that says this, as a rate limit rather
   * than as an error toward `maxConsecutiveErrors`.
   */
  readonly retryAfterMs?: number;
  /**
   * `false`: not retried whatever the status says (the agent escalates at once), for a condition
   * the status misstates: OpenAI's 429 `insufficient_quota` is an exhausted quota, not a rate limit;
   * an answer a provider's content filter withheld (`finish_reason: "content_filter"`) would be
   * withheld again for the same context.
   */
  readonly retryable?: false;
  /**
   * Where the request went, for the logs: the endpoint's URL without credentials or query (a key
   * may sit in either). The log line of a failed decision keeps only its origin and path.
   */
  readonly endpoint?: string;
}

/** The model's answer as a value: failures are expected outcomes, not exceptions. */
export type ModelResult =
  | { readonly success: true; readonly data: ModelOutput }
  | { readonly success: false; readonly error: ModelFailure };

/**
 * Turns a prompt and a thread's context into one structured next step. Implementations must not
 * throw for HTTP errors or timeouts; they return `{ success: false }`.
 */
export interface Model {
  /** The model's name as recorded on decision events. */
  readonly name: string;
  /**
   * How long one {@link complete} call may take before the model gives up itself (its own deadline,
   * as `createOpenAIModel`'s `timeoutMs`), in ms, when it has one. An agent without
   * `decideTimeoutMs` then waits this long plus 5 s before it aborts the call, so the model's own
   * timeout, whose failure can name its setting and endpoint, fires first.
   * @default undefined (the agent waits 60 s)
   */
  readonly timeoutMs?: number | undefined;
  /**
   * What the model must never show (its API key, its base URL's credentials, a custom header's
   * token): the runtime masks these in every log line of the threads it serves, as it does an
   * agent's `secrets`. `createOpenAIModel` sets it, not enumerable, so a model logged or printed
   * does not show it.
   * @default none
   */
  readonly secrets?: readonly string[] | undefined;
  complete(request: ModelRequest): Promise<ModelResult>;
}

/** Whether a value from outside (a config, JavaScript options) is a {@link Model}: a `name` and `complete()`. */
export function isModel(value: unknown): value is Model {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Model>).complete === 'function' && typeof (value as Partial<Model>).name === 'string';
}
