import OpenAI, {
  APIConnectionError,
  AzureOpenAI,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionFunctionTool,
} from 'openai/resources/chat/completions';
import { MAX_TIMER_MS } from '../clock.js';
import { codePointName, ConfigError } from '../errors.js';
import { formDecoded, redactUrl } from '../context/redactUrl.js';
import { isSecretParam } from '../context/redact.js';
import { isJson, type Json } from '../thread/events.js';
import {
  CALLER_SIGNAL,
  isHttpTransportFetch,
  MAX_BODY_BYTES,
  maxBodyBytesFor,
  REDIRECT_STATUSES,
  ResponseTooLargeError,
  sharedHttpFetch,
  type FetchFunction,
  type TransportInit,
} from './httpTransport.js';
import { describe, mapCompletion, type CompletionSettings } from './completion.js';
import { htmlPageSummary } from './htmlPage.js';
import { providerFailure } from './providerFailure.js';
import type { Model, ModelFailure, ModelRequest, ModelResult, ToolSpec } from './model.js';
import { retryAfterMs } from './retryAfter.js';

/** Options of {@link createOpenAIModel}. Every option is optional. */
export interface OpenAIModelOptions {
  /**
   * The API key sent as `Authorization: Bearer`, without whitespace around it (a secret file's
   * newline). It never appears in a failure message, unless shorter than 8 characters: a
   * placeholder such as `ollama` or `EMPTY` is no secret, and redacting it would mangle messages.
   * When no key is found but a `baseURL` is set (a local Ollama, vLLM or llama.cpp server, which
   * ignore the key), a placeholder key is sent. A key with a character an HTTP header cannot carry
   * (a control character, or one past U+00FF: smart quotes or a dash pasted from a document) is
   * refused at construction, naming where it came from and the position, never the key.
   * @default SWITCHYARD_MODEL_API_KEY, then OPENAI_API_KEY, of `env`; OPENAI_API_KEY (OpenAI's
   * key) is not sent to a host that `SWITCHYARD_MODEL_BASE_URL` or the `baseURL` option names other
   * than api.openai.com, which takes `SWITCHYARD_MODEL_API_KEY` (or this option) only (the SDK's
   * pairing, OPENAI_BASE_URL with OPENAI_API_KEY, holds)
   */
  apiKey?: string | undefined;
  /**
   * The OpenAI-compatible endpoint, e.g. `http://127.0.0.1:11434/v1` for Ollama: an absolute
   * `http://` or `https://` URL (`localhost:11434/v1` is refused at construction). Whitespace around
   * it (a secret file's newline) and slashes ending its path are dropped.
   * @default SWITCHYARD_MODEL_BASE_URL, then OPENAI_BASE_URL, of `env`, then the
   * SDK's default (`https://api.openai.com/v1`)
   */
  baseURL?: string | undefined;
  /**
   * The model to ask; also the {@link Model.name} recorded on decisions.
   * @default SWITCHYARD_MODEL of `env`, then 'gpt-4o-mini'
   */
  model?: string | undefined;
  /**
   * The environment the defaults above are read from (an empty value counts as unset), and the
   * settings the openai SDK would otherwise read from process.env itself: OPENAI_ORG_ID and
   * OPENAI_PROJECT_ID (sent as `OpenAI-Organization` and `OpenAI-Project`), OPENAI_CUSTOM_HEADERS
   * (`Name: value` lines sent with every request), OPENAI_WEBHOOK_SECRET and OPENAI_LOG (the SDK's
   * console log level, `warn` when unset). With `env` given, nothing comes from process.env. The
   * SDK's OPENAI_ADMIN_KEY is never used: the key is `apiKey`.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Time allowed for one request, response body included, before it fails with kind `'timeout'`.
   * An agent without its own `decideTimeoutMs` waits this long plus 5 s for the model (see
   * {@link Model.timeoutMs}), so raising it for a slow server is enough.
   * @default SWITCHYARD_MODEL_TIMEOUT_MS of `env` (whole milliseconds), then 60000
   */
  timeoutMs?: number | undefined;
  /**
   * Sampling temperature. Not sent when undefined, so the server's default applies.
   * @default undefined
   */
  temperature?: number | undefined;
  /**
   * An existing `OpenAI` client to reuse; `apiKey` and `baseURL` are then ignored. Requests are
   * still sent with `maxRetries: 0` whatever the client's own setting.
   * @default a new client built from `apiKey` and `baseURL`
   */
  client?: OpenAI | undefined;
  /**
   * The `fetch` the SDK sends requests with (a proxy-aware fetch, say). Ignored with `client`.
   * @default switchyard's keep-alive transport on undici's `request` API (`createHttpTransport`),
   * which costs far less client CPU per request than the global `fetch` (one pool for the process;
   * pass `createHttpTransport(...).fetch` for a pool of your own, with the same savings)
   */
  fetch?: FetchFunction | undefined;
  /**
   * The longest answer taken, in characters (a tool call's arguments, or text). A longer one is a
   * failure (kind `'malformed'`, no status) naming its size, handled as any malformed answer: an error
   * event the model sees, a backoff, and an escalation to a human after too many in a row. It keeps
   * a runaway model out of the thread, where its answer would be stored (twice, for a final
   * message), shown by the CLI, and on NATS would not fit the thread's KV value.
   * @default 262144 (256 Ki characters)
   */
  maxAnswerChars?: number | undefined;
  /**
   * The `tool_choice` sent with the tools: `'required'` (a tool call every time), `'auto'` (the
   * model may answer text, which is then read as a JSON next step), or `null` not to send it, for
   * a server that refuses `'required'` (vLLM before 0.8.3, say). Nothing is sent without tools.
   * @default 'required'
   */
  toolChoice?: 'required' | 'auto' | null | undefined;
  /**
   * The `parallel_tool_calls` sent with the tools, or `null` not to send it, for a server that
   * refuses the field (Gemini's OpenAI endpoint has). Whatever is sent, an answer with more than
   * one tool call is refused like a malformed one.
   * @default false
   */
  parallelToolCalls?: boolean | null | undefined;
  /**
   * The `strict` of each function offered: `true` sends `strict: true` for every tool whose schema
   * strict mode takes ({@link ToolSpec.strict}) and `false` for the others; `false` sends
   * `strict: false` for every tool, for a server that refuses strict mode; `null` does not send the
   * field, for a server that refuses it (RouteLLM, Gemini behind some proxies). Arguments are
   * validated against the tool's schema whatever is sent.
   * @default true
   */
  strict?: boolean | null | undefined;
  /**
   * Fields added to each request body, for what a provider takes beyond switchyard's own: a
   * reasoning model's `reasoning_effort`, an output limit (`max_completion_tokens` or `max_tokens`),
   * vLLM's `chat_template_kwargs: { enable_thinking: false }`, OpenRouter's `provider`. JSON values
   * only. A field switchyard sets (`model`, `messages`, `tools`, `tool_choice`,
   * `parallel_tool_calls`, `temperature`, `stream`) is refused at construction: use its option.
   * @default {}
   */
  extraBody?: Readonly<Record<string, Json>> | undefined;
}

/** {@link OpenAIModelOptions} after defaults: what a model actually runs with. */
interface NormalizedOpenAIModelOptions {
  readonly client: OpenAI;
  readonly model: string;
  readonly timeoutMs: number;
  /** The model's name as JSON text, for the request body. */
  readonly modelJson: string;
  /** `,"temperature":<t>`, or nothing when unset (the server's default applies). */
  readonly temperatureJson: string;
  /** Strings that must never reach a failure message (the API key). */
  readonly secrets: readonly string[];
  /** The URL requests go to, for failure messages: without credentials or query. */
  readonly endpoint: string;
  /**
   * Said before the server's word on a 401 or 403 when requests carry the placeholder key, not a
   * key: that none was sent, and what to set. Undefined when a key is sent.
   */
  readonly noKeyHint: string | undefined;
  /**
   * Requests go through switchyard's transport. Its `fetch` resolves only once the body is read, so
   * the SDK's timeout covers the body and no deadline of our own (a timer and an abort controller
   * per request) is needed; and it takes the caller's signal beside the SDK's ({@link CALLER_SIGNAL}),
   * so the SDK never composes the two with `AbortSignal.any`.
   */
  readonly ownTransport: boolean;
  /** The client was built here (not the caller's `client`): it takes the body as JSON text. */
  readonly ownClient: boolean;
  /**
   * The body goes to the SDK as the UTF-8 bytes of its JSON text, not as the text: on switchyard's
   * transport (which sends bytes as they are), unless the SDK logs requests with their bodies
   * (OPENAI_LOG=debug). The SDK holds a request's body until its response has come; bytes are held
   * outside the JavaScript heap, where text of a few KB would outlive a young-generation collection
   * and be promoted for every request (about 12 KB per run of the micro-agent bench).
   */
  readonly bodyBytes: boolean;
  /** The temperature sent, if any (in the body object for a caller's client). */
  readonly temperature: number | undefined;
  readonly maxAnswerChars: number;
  /** The `tool_choice` sent with tools; `undefined` sends none. */
  readonly toolChoice: 'required' | 'auto' | undefined;
  /** The `parallel_tool_calls` sent with tools; `undefined` sends none. */
  readonly parallelToolCalls: boolean | undefined;
  /** `,"tool_choice":...,"parallel_tool_calls":...` as sent after the tools (what is set of the two). */
  readonly toolOptionsJson: string;
  /** The `strict` option: `true` strict where a tool's schema allows, `false` never, `undefined` not sent. */
  readonly strict: boolean | undefined;
  /**
   * The tools as the API takes them, and as JSON text, per tool list (an agent's is fixed): built
   * once per model, not per request (their JSON Schemas are most of a request's bytes and
   * serializing time), and per model since `strict` shapes them.
   */
  readonly toolLists: WeakMap<readonly ToolSpec[], ChatCompletionFunctionTool[]>;
  readonly toolListsJson: WeakMap<readonly ToolSpec[], string>;
  /** The `extraBody` option's fields (in the body object for a caller's client). */
  readonly extraBody: Readonly<Record<string, Json>>;
  /** `,"<field>":<value>...` of `extraBody`, sent last, or nothing. */
  readonly extraBodyJson: string;
}

/** The SDK's own default endpoint. */
const OPENAI_BASE_URL = 'https://api.openai.com/v1';
const DEFAULT_MODEL = 'gpt-4o-mini';
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_ANSWER_CHARS = 256 * 1024;
/** Sent to servers that need no key; the SDK refuses to build a client without one. */
const PLACEHOLDER_API_KEY = 'switchyard-no-key';
const MAX_MESSAGE_CHARS = 300;

/**
 * Builds a {@link Model} that asks an OpenAI-compatible chat completions endpoint (OpenAI, or a
 * local Ollama, vLLM or llama.cpp server) for exactly one tool call.
 *
 * Each request sends the prompt as the system message and the thread context as the user message,
 * offers the tools as functions (strict when their schema allows: {@link ToolSpec.strict}) with
 * `tool_choice: 'required'` and no parallel calls (see {@link OpenAIModelOptions.toolChoice},
 * {@link OpenAIModelOptions.parallelToolCalls} and {@link OpenAIModelOptions.strict}), and
 * never retries: switchyard retries itself, with the backoff recorded in the thread (no sooner than
 * an error's `Retry-After` or `retry-after-ms` asks: see {@link ModelFailure.retryAfterMs}). HTTP errors,
 * timeouts, aborts and malformed responses come back as `{ success: false }`; nothing is thrown. An
 * answer with several tool calls is a malformed one (a `malformed` failure naming the calls, which a
 * thread records as `invalid_json`): none of them is taken.
 *
 * @throws {ConfigError} at construction when `timeoutMs` is not a positive number, when `toolChoice`,
 * `parallelToolCalls` or `strict` is a value they do not take, when `extraBody` is no object of
 * JSON values or sets a field switchyard sets, when no API
 * key and no `baseURL` are configured, when the key has a character an HTTP header cannot carry
 * (a control character, or one past U+00FF such as a smart quote), or when the base URL is not an
 * absolute http(s) URL.
 *
 * @example
 * ```ts
 * const model = createOpenAIModel({ baseURL: 'http://127.0.0.1:11434/v1', model: 'qwen2.5:7b' });
 * const result = await model.complete(request);
 * if (result.success) console.log(result.data.toolCall);
 * ```
 */
export function createOpenAIModel(options: OpenAIModelOptions = {}): Model {
  const config = normalizeOptions(options);
  const answers: CompletionSettings = { model: config.model, maxAnswerChars: config.maxAnswerChars, endpoint: config.endpoint, clean: (message) => clean(config, message) };
  // Fixed per model: the most bytes of a body that can hold an answer within maxAnswerChars.
  const maxBodyBytes = maxBodyBytesFor(config.maxAnswerChars);

  /** One request; failures come back as results. `timedOut` tells a deadline of our own from other aborts. */
  async function send(request: ModelRequest, signal: AbortSignal, timedOut: () => boolean): Promise<ModelResult> {
    const options = {
      ...(config.ownTransport ? { fetchOptions: transportOptions(signal, maxBodyBytes) } : { signal }),
      timeout: config.timeoutMs,
      maxRetries: 0,
    };
    try {
      // A client of our own gets the body as JSON text through the SDK's generic `post`, which sends
      // it as it is: `chat.completions.create` would serialize the tools' JSON Schemas again on every
      // request, most of the body. A caller's client (an AzureOpenAI, which reads the body object to
      // route by deployment, say) gets the body object.
      const completion = config.ownClient
        ? await config.client.post<ChatCompletion>('/chat/completions', { body: requestBody(config, request), headers: JSON_HEADERS, ...options })
        : await config.client.chat.completions.create(bodyObject(config, request), options);
      const result = mapCompletion(completion, answers, request.tools);
      return result.success ? result : { success: false, error: { ...result.error, endpoint: config.endpoint } };
    } catch (error) {
      return { success: false, error: { ...mapError(config, request.signal, timedOut(), error), endpoint: config.endpoint } };
    }
  }

  async function complete(request: ModelRequest): Promise<ModelResult> {
    if (request.signal.aborted) return failure('timeout', 'model request aborted before it was sent');
    if (config.ownTransport) return send(request, request.signal, () => false);
    // The SDK's own timeout stops when fetch resolves, at the response headers for most fetches;
    // this deadline also covers the body.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, config.timeoutMs);
    const onAbort = (): void => controller.abort();
    request.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await send(request, controller.signal, () => timedOut);
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
    }
  }

  // For the runtime's log redaction, never to print with the model: not enumerable. Only the long
  // ones: a short query value (`?auth=true`) would be replaced all over every log line.
  const secrets = config.secrets.filter((secret) => secret.length >= MIN_REDACTED_KEY_CHARS);
  return Object.defineProperty({ name: config.model, timeoutMs: config.timeoutMs, complete }, 'secrets', { value: secrets, enumerable: false });
}

type FetchOptions = NonNullable<NonNullable<Parameters<OpenAI['chat']['completions']['create']>[1]>['fetchOptions']>;

/**
 * The SDK's `fetchOptions` for switchyard's transport, which the SDK hands to `fetch` untouched:
 * the caller's signal, and the most bytes of a body to read (see maxBodyBytesFor: a body that
 * cannot hold an answer within `maxAnswerChars` is not read to its end).
 */
function transportOptions(signal: AbortSignal, maxBodyBytes: number): FetchOptions {
  const init: TransportInit = { [CALLER_SIGNAL]: signal, [MAX_BODY_BYTES]: maxBodyBytes };
  return init as FetchOptions;
}

function normalizeOptions(options: OpenAIModelOptions): NormalizedOpenAIModelOptions {
  const env = variables(options.env ?? process.env);
  const timeoutMs = options.timeoutMs ?? envTimeoutMs(env) ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS) {
    throw new ConfigError(`timeoutMs must be a positive number of milliseconds, at most ${MAX_TIMER_MS}, got ${timeoutMs}`);
  }
  const maxAnswerChars = options.maxAnswerChars ?? DEFAULT_MAX_ANSWER_CHARS;
  if (!Number.isSafeInteger(maxAnswerChars) || maxAnswerChars <= 0) {
    throw new ConfigError(`maxAnswerChars must be a positive whole number of characters, got ${maxAnswerChars}`);
  }
  const model = options.model ?? env('SWITCHYARD_MODEL') ?? DEFAULT_MODEL;
  const temperature = options.temperature;
  // The SDK only accepts integer timeouts.
  const wholeTimeoutMs = Math.ceil(timeoutMs);
  // Unset takes the default; null sends nothing.
  const toolChoice = options.toolChoice === undefined ? 'required' : (options.toolChoice ?? undefined);
  if (toolChoice !== undefined && toolChoice !== 'required' && toolChoice !== 'auto') {
    throw new ConfigError(`toolChoice must be 'required', 'auto' or null (not sent), got ${describe(toolChoice)}`);
  }
  const parallelToolCalls = options.parallelToolCalls === undefined ? false : (options.parallelToolCalls ?? undefined);
  if (parallelToolCalls !== undefined && typeof parallelToolCalls !== 'boolean') {
    throw new ConfigError(`parallelToolCalls must be true, false or null (not sent), got ${describe(parallelToolCalls)}`);
  }
  const strict = options.strict === undefined ? true : (options.strict ?? undefined);
  if (strict !== undefined && typeof strict !== 'boolean') {
    throw new ConfigError(`strict must be true, false or null (not sent), got ${describe(strict)}`);
  }
  const extraBody = checkedExtraBody(options.extraBody);
  const extraBodyText = JSON.stringify(extraBody);
  const body = {
    // A copy: the text sent is fixed at construction, so is the object a caller's client is given.
    extraBody: JSON.parse(extraBodyText) as Readonly<Record<string, Json>>,
    extraBodyJson: extraBodyText === '{}' ? '' : `,${extraBodyText.slice(1, -1)}`,
    strict,
    toolLists: new WeakMap<readonly ToolSpec[], ChatCompletionFunctionTool[]>(),
    toolListsJson: new WeakMap<readonly ToolSpec[], string>(),
    modelJson: JSON.stringify(model),
    temperatureJson: temperature === undefined ? '' : `,"temperature":${JSON.stringify(temperature)}`,
    maxAnswerChars,
    toolChoice,
    parallelToolCalls,
    toolOptionsJson:
      (toolChoice === undefined ? '' : `,"tool_choice":${JSON.stringify(toolChoice)}`) +
      (parallelToolCalls === undefined ? '' : `,"parallel_tool_calls":${JSON.stringify(parallelToolCalls)}`),
  };

  if (options.client) {
    const key = options.client.apiKey;
    return {
      client: options.client,
      model,
      timeoutMs: wholeTimeoutMs,
      ...body,
      temperature,
      secrets: [...keySecrets(key), ...keySecrets(key?.trim()), ...urlSecretsOf(options.client.baseURL)],
      endpoint: endpointOf(options.client, model),
      noKeyHint: undefined,
      ownTransport: false,
      ownClient: false,
      bodyBytes: false,
    };
  }

  // Trimmed: a key or URL read from a secret file or `echo ... | kubectl create secret` ends with a
  // newline. HTTP trims the header, so the key a server echoes is the trimmed one, which must be the
  // one redacted; and the URL requested must be the URL failures name.
  const baseURLSetting = options.baseURL !== undefined ? 'baseURL' : env('SWITCHYARD_MODEL_BASE_URL') ? 'SWITCHYARD_MODEL_BASE_URL' : 'OPENAI_BASE_URL';
  const baseURL = tidyBaseURL(options.baseURL ?? env('SWITCHYARD_MODEL_BASE_URL') ?? env('OPENAI_BASE_URL'));
  if (baseURL !== undefined) checkBaseURL(baseURLSetting, baseURL);
  const openAIKey = openAIKeyGoesTo(baseURLSetting, baseURL) ? env('OPENAI_API_KEY') : undefined;
  const keySetting = options.apiKey !== undefined ? 'apiKey' : env('SWITCHYARD_MODEL_API_KEY') ? 'SWITCHYARD_MODEL_API_KEY' : 'OPENAI_API_KEY';
  const configuredKey = (options.apiKey ?? env('SWITCHYARD_MODEL_API_KEY') ?? openAIKey)?.trim();
  if (configuredKey) checkHeaderValue(keySetting, configuredKey, { sentAs: 'Authorization' });
  if (!configuredKey && !baseURL) {
    throw new ConfigError(
      'no model API key: set SWITCHYARD_MODEL_API_KEY or OPENAI_API_KEY, pass apiKey, ' +
        'or pass baseURL for a local OpenAI-compatible server that needs no key',
    );
  }
  const apiKey = configuredKey || PLACEHOLDER_API_KEY;
  const defaultHeaders = customHeaders(sdkVariable(env, 'OPENAI_CUSTOM_HEADERS'));
  const logLevel = logLevelOf(sdkVariable(env, 'OPENAI_LOG'));
  const ownTransport = options.fetch === undefined || isHttpTransportFetch(options.fetch);
  const client = new OpenAI({
    apiKey,
    // Every option the SDK defaults from process.env is given, from `env`: the caller's env is the
    // whole environment (a worker's project settings), process.env is not.
    baseURL: baseURL ?? OPENAI_BASE_URL,
    adminAPIKey: null,
    organization: sdkHeaderVariable(env, 'OPENAI_ORG_ID', 'OpenAI-Organization'),
    project: sdkHeaderVariable(env, 'OPENAI_PROJECT_ID', 'OpenAI-Project'),
    webhookSecret: sdkVariable(env, 'OPENAI_WEBHOOK_SECRET') ?? null,
    logLevel,
    defaultHeaders,
    maxRetries: 0,
    timeout: wholeTimeoutMs,
    fetch: options.fetch ?? sharedHttpFetch(),
  });
  return {
    client,
    model,
    timeoutMs: wholeTimeoutMs,
    ...body,
    temperature,
    secrets: [...keySecrets(configuredKey), ...urlSecretsOf(client.baseURL), ...headerSecretsOf(defaultHeaders)],
    endpoint: endpointOf(client),
    noKeyHint: configuredKey ? undefined : noKeyHintFor(env('OPENAI_API_KEY') !== undefined),
    ownTransport,
    ownClient: true,
    bodyBytes: ownTransport && logLevel !== 'debug',
  };
}

/**
 * SWITCHYARD_MODEL_TIMEOUT_MS of `env` (a whole number of milliseconds), for a model whose
 * `timeoutMs` is not given (`serve` and `worker` without a config file among them); undefined
 * when unset. Anything else is a {@link ConfigError} naming it.
 */
function envTimeoutMs(env: (name: string) => string | undefined): number | undefined {
  const raw = env('SWITCHYARD_MODEL_TIMEOUT_MS');
  if (raw === undefined) return undefined;
  const ms = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(ms >= 1 && ms <= MAX_TIMER_MS)) {
    throw new ConfigError(`SWITCHYARD_MODEL_TIMEOUT_MS must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${JSON.stringify(raw)}`);
  }
  return ms;
}

/** The fields of a request switchyard sets itself, and what to do instead of setting them in `extraBody`. */
const SET_BY_SWITCHYARD: Readonly<Record<string, string>> = {
  model: 'use the model option',
  messages: "the prompt and context are the agent's",
  tools: "the tools are the agent's",
  tool_choice: 'use the toolChoice option',
  parallel_tool_calls: 'use the parallelToolCalls option',
  temperature: 'use the temperature option',
  stream: 'answers are read whole',
};

/** The `extraBody` option checked: an object of JSON values setting no field switchyard sets. */
function checkedExtraBody(extra: unknown): Readonly<Record<string, Json>> {
  if (extra === undefined) return {};
  const what = 'extraBody must be an object of JSON values (the fields added to each request body)';
  // Never quoted: gateway fields such as api_key go here.
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new ConfigError(`${what}, got ${kindOf(extra)}`);
  const bad = Object.entries(extra).find(([, value]) => !isJson(value));
  if (bad !== undefined || !isJson(extra)) throw new ConfigError(bad === undefined ? `${what}, got ${kindOf(extra)}` : `${what}: its field ${bad[0]} is ${kindOf(bad[1])}`);
  for (const field of Object.keys(extra)) {
    const instead = Object.hasOwn(SET_BY_SWITCHYARD, field) ? SET_BY_SWITCHYARD[field] : undefined;
    if (instead !== undefined) throw new ConfigError(`extraBody must not set ${field}, which switchyard sets: ${instead}`);
  }
  return extra as Readonly<Record<string, Json>>;
}

/** The kind of a value, never the value itself (an option may hold secrets). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : 'a number that is not finite';
  if (typeof value === 'object') return 'an object that is not plain JSON';
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

/** What a 401 or 403 to a request sent with the placeholder key says first; `withheld`: the environment's OPENAI_API_KEY was kept from the server. */
function noKeyHintFor(withheld: boolean): string {
  return withheld
    ? 'no API key was sent (OPENAI_API_KEY goes only to OpenAI or to OPENAI_BASE_URL): set SWITCHYARD_MODEL_API_KEY'
    : 'no API key was sent: set SWITCHYARD_MODEL_API_KEY or pass apiKey';
}

/**
 * Whether `env` sets an OPENAI_API_KEY that {@link createOpenAIModel} keeps from its server: the one
 * SWITCHYARD_MODEL_BASE_URL names (not OpenAI's), with no SWITCHYARD_MODEL_API_KEY (see `apiKey`).
 */
export function openAIKeyWithheld(environment: Readonly<Record<string, string | undefined>>): boolean {
  const env = variables(environment);
  const baseURL = tidyBaseURL(env('SWITCHYARD_MODEL_BASE_URL'));
  return baseURL !== undefined && !env('SWITCHYARD_MODEL_API_KEY') && env('OPENAI_API_KEY') !== undefined && !openAIKeyGoesTo('SWITCHYARD_MODEL_BASE_URL', baseURL);
}

/**
 * Whether OPENAI_API_KEY may go to `baseURL` (named by `setting`): OpenAI's key goes to OpenAI, or
 * where the SDK's own OPENAI_BASE_URL points, not to another provider that switchyard's URL
 * variable or a baseURL option names (a key exported in the shell would leak there: pass apiKey).
 */
function openAIKeyGoesTo(setting: string, baseURL: string | undefined): boolean {
  return setting === 'OPENAI_BASE_URL' || isOpenAIHost(baseURL);
}

/** Whether `baseURL` is OpenAI's own API (its host api.openai.com). */
function isOpenAIHost(baseURL: string | undefined): boolean {
  try {
    return baseURL !== undefined && new URL(baseURL).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}

/**
 * A configured base URL as requested: without surrounding whitespace, nor slashes ending its path
 * (the SDK appends `/chat/completions` to it as it is, so `.../v1//` would request
 * `/v1//chat/completions` while failures name `/v1/chat/completions`). Empty is unset.
 */
function tidyBaseURL(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  const cut = trimmed.search(/[?#]/);
  const path = cut < 0 ? trimmed : trimmed.slice(0, cut);
  const rest = cut < 0 ? '' : trimmed.slice(cut);
  return `${path.replace(/(?<!\/)\/+$/, '')}${rest}`;
}

/**
 * Refuses a base URL the SDK cannot send to: `localhost:11434/v1` (OLLAMA_HOST's style, which parses
 * as the scheme `localhost:`), another scheme, a bad port, or one that ends with the endpoint the SDK
 * appends (`.../v1/chat/completions`). Caught here, it names the value; at
 * request time every thread would fail with "Connection error." or "Invalid URL".
 */
function checkBaseURL(setting: string, baseURL: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(baseURL).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    // When it parses without its userinfo (up to the last @), the password holds a raw / ? # or @.
    const withoutUserinfo = URL.parse(baseURL.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, '$1'));
    const userinfoAtFault = protocol === undefined && baseURL.includes('@') && withoutUserinfo !== null;
    const hint = userinfoAtFault ? ': a password holding / ? # or @ must be percent-encoded (%2F %3F %23 %40)' : '';
    throw new ConfigError(`${setting} must be an absolute http:// or https:// URL, such as http://127.0.0.1:11434/v1; got ${JSON.stringify(maskedURL(baseURL))}${hint}`);
  }
  // The endpoint itself, copied from a provider's curl example: the SDK appends it again.
  const cut = baseURL.search(/[?#]|$/);
  if (baseURL.slice(0, cut).endsWith('/chat/completions')) {
    const meant = baseURL.slice(0, cut - '/chat/completions'.length) + baseURL.slice(cut);
    throw new ConfigError(`${setting} ends with /chat/completions, which the client appends to it (requests would go to .../chat/completions/chat/completions): give ${JSON.stringify(maskedURL(meant))}`);
  }
}

/** A character a header value cannot hold: a control character other than tab, or one past U+00FF (not a byte). */
const NOT_IN_HEADER = /[\u0000-\u0008\u000a-\u001f\u007f\u0100-\uffff]/;

/**
 * Refuses a value a header cannot carry (smart quotes or a dash pasted from a document, a line
 * break): caught here, it names the setting, the header and the position; at request time every
 * call would fail with the transport's TypeError, retried as if the network had failed. The
 * message never holds the value (a key, a gateway's token), only the code point refused.
 * `header` is the header a setting is sent as; `customHeader` the name of an OPENAI_CUSTOM_HEADERS line.
 */
function checkHeaderValue(setting: string, value: string, header: { sentAs: string } | { customHeader: string }): void {
  const index = value.search(NOT_IN_HEADER);
  if (index < 0) return;
  const codePoint = codePointName(value, index);
  const where = 'sentAs' in header ? `at index ${index}: it is sent as the ${header.sentAs} header;` : `at index ${index} of header ${header.customHeader}:`;
  throw new ConfigError(`${setting} has a character an HTTP header cannot carry (${codePoint}) ${where} check it was not pasted with quotes, a dash or a line break`);
}

/** OPENAI_ORG_ID or OPENAI_PROJECT_ID of `env`, refused when the header it is sent as cannot carry it. */
function sdkHeaderVariable(env: (name: string) => string | undefined, name: 'OPENAI_ORG_ID' | 'OPENAI_PROJECT_ID', sentAs: string): string | null {
  const value = sdkVariable(env, name);
  if (value !== undefined) checkHeaderValue(name, value, { sentAs });
  return value ?? null;
}

/** `url` with its userinfo and secret-looking query values masked; works on text that does not parse as a URL. */
function maskedURL(url: string): string {
  return redactUrl(url, { secretParam: isCredentialName });
}

/**
 * The shortest key redacted from failure messages. Servers that need no key are given a placeholder
 * (`ollama` in Ollama's docs, `EMPTY` in vLLM's, `x`): replacing every occurrence of such a word
 * mangles the messages (`http://ollama:11434` becomes `http://[redacted]:11434`, `tokens` becomes
 * `to[redacted]ens`) and protects nothing; a real provider key is far longer.
 */
const MIN_REDACTED_KEY_CHARS = 8;

/** The API key to redact from failures: none when unset or too short to be a secret. */
function keySecrets(key: string | null | undefined): string[] {
  return typeof key === 'string' && key.length >= MIN_REDACTED_KEY_CHARS ? [key] : [];
}

/**
 * Whether a query parameter or custom header of this name holds a credential: the shared rule of
 * the context layer ({@link isSecretParam}: `token`, `api_key`, `cookie`, `credential`, a `sig`,
 * `key` or `auth` word…), and, so that no name redacted before is dropped, one holding `key`,
 * `token`, `secret`, `sig`, `pass` or `auth` anywhere (`X-Authentication`, `Passkey`).
 */
function isCredentialName(name: string): boolean {
  return isSecretParam(name) || /key|token|secret|sig|pass|auth/i.test(name);
}

/** The values of custom headers whose name says they are credentials (a gateway's token, an `api-key`, a `Cookie`), to redact from failures. */
function headerSecretsOf(headers: Readonly<Record<string, string | null>>): string[] {
  // `Bearer <token>`: a server may echo the token alone.
  return Object.entries(headers).flatMap(([name, value]) => (value !== null && isCredentialName(name) ? [...keySecrets(value), ...keySecrets(value.split(' ').at(-1))] : []));
}

/**
 * The credentials a base URL carries (its password, its secret-looking query values), to redact
 * from failures: each as the request carries it (percent-encoded) and decoded, since a server may
 * echo either.
 */
function urlSecretsOf(baseURL: string): string[] {
  const parsed = URL.parse(baseURL);
  if (parsed === null) return [];
  const secrets = parsed.search
    .slice(1)
    .split('&')
    .flatMap((pair) => {
      const eq = pair.indexOf('=');
      const [name, raw] = eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
      return raw !== '' && isCredentialName(formDecoded(name)) ? [raw, formDecoded(raw)] : [];
    });
  if (parsed.password) secrets.push(parsed.password, formDecoded(parsed.password));
  return [...new Set(secrets)];
}

/**
 * The chat completions URL of `client`, without credentials or query (an Azure key may sit in
 * either). An AzureOpenAI routes by deployment: `<base>/deployments/<model>/chat/completions`, the
 * model path-encoded as its SDK does, unless its base URL names a deployment already.
 */
function endpointOf(client: OpenAI, model?: string): string {
  const name = client instanceof AzureOpenAI && !hasDeploymentSegment(client.baseURL) ? client.deploymentName || model : undefined;
  const deployment = name === undefined ? '' : `/deployments/${encodePathSegment(name)}`;
  try {
    const parsed = new URL(client.baseURL);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}${deployment}/chat/completions`;
    return parsed.toString();
  } catch {
    return `${client.baseURL.replace(/\/\/[^/@]*@/, '//').replace(/[?#].*$/, '').replace(/\/+$/, '')}${deployment}/chat/completions`;
  }
}

/** Whether a base URL routes through a `/deployments` path segment (as the AzureOpenAI SDK tells). */
function hasDeploymentSegment(baseURL: string): boolean {
  try {
    return new URL(baseURL).pathname.split('/').includes('deployments');
  } catch {
    return false;
  }
}

/** A path segment encoded as the SDK's `path` template encodes one. */
const encodePathSegment = (segment: string): string => segment.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent);

/** Reads variables of `environment`, treating an empty value as unset. */
function variables(environment: Readonly<Record<string, string | undefined>>): (name: string) => string | undefined {
  // Whitespace alone (an empty secret file's newline) is unset, as empty is.
  return (name) => (environment[name]?.trim() ? environment[name] : undefined);
}

/** A variable the SDK would read from process.env, read as it does (trimmed; empty is unset). */
function sdkVariable(env: (name: string) => string | undefined, name: string): string | undefined {
  return env(name)?.trim() || undefined;
}

const SDK_LOG_LEVELS: readonly string[] = ['off', 'error', 'warn', 'info', 'debug'];

/** The SDK's log level for OPENAI_LOG; its own default, `warn`, when unset or not a level. */
function logLevelOf(value: string | undefined): 'off' | 'error' | 'warn' | 'info' | 'debug' {
  return value !== undefined && SDK_LOG_LEVELS.includes(value) ? (value as 'off' | 'error' | 'warn' | 'info' | 'debug') : 'warn';
}

/** What the SDK accepts as a header name. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The headers OPENAI_CUSTOM_HEADERS of `env` adds (`Name: value` lines, parsed as the SDK parses
 * them), over a removal of each header the SDK adds from process.env's OPENAI_CUSTOM_HEADERS, which
 * it reads whatever it is given (when both name a header, `env`'s value is sent).
 */
function customHeaders(lines: string | undefined): Record<string, string | null> {
  const headers: Record<string, string | null> = {};
  // A name the SDK cannot take makes its constructor throw whatever is done here; not ours to remove.
  for (const [name] of headerLines(process.env['OPENAI_CUSTOM_HEADERS'])) if (HEADER_NAME.test(name)) headers[name.toLowerCase()] = null;
  for (const [name, value] of headerLines(lines)) {
    if (!HEADER_NAME.test(name)) throw new ConfigError(`OPENAI_CUSTOM_HEADERS: ${JSON.stringify(name)} is not a header name (each line is "Name: value")`);
    checkHeaderValue('OPENAI_CUSTOM_HEADERS', value, { customHeader: name });
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** The `[name, value]` pairs of `Name: value` lines; a line without a colon is skipped, as the SDK does. */
function headerLines(lines: string | undefined): Array<[string, string]> {
  if (!lines) return [];
  return lines.split('\n').flatMap((line): Array<[string, string]> => {
    const colon = line.indexOf(':');
    return colon < 0 ? [] : [[line.slice(0, colon).trim(), line.slice(colon + 1).trim()]];
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/**
 * The chat completions request as JSON text, the same text as `JSON.stringify` of
 * {@link bodyObject}: the system prompt as the system message, the context as the user message,
 * the tools as functions (strict when they can be) with the tool options set (`tool_choice: 'required'` and no
 * parallel calls by default).
 */
function encodeBody(config: NormalizedOpenAIModelOptions, request: ModelRequest): string {
  const messages = `[{"role":"system","content":${systemJson(request)}},{"role":"user","content":${JSON.stringify(request.context)}}]`;
  return `{"model":${config.modelJson},"messages":${messages}${toolsJson(config, request.tools)}${config.temperatureJson}${config.extraBodyJson}}`;
}

/** What a client of our own is given as the body: {@link encodeBody}'s text, or its bytes (see `bodyBytes`). */
function requestBody(config: NormalizedOpenAIModelOptions, request: ModelRequest): string | Buffer {
  const text = encodeBody(config, request);
  return config.bodyBytes ? Buffer.from(text) : text;
}

/** The request body as an object, for a caller's client (the same fields as {@link encodeBody}). */
function bodyObject(config: NormalizedOpenAIModelOptions, request: ModelRequest): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = {
    model: config.model,
    messages: [
      { role: 'system', content: request.system },
      { role: 'user', content: request.context },
    ],
  };
  // OpenAI rejects tool_choice without tools, so an agent with no tools gets a plain completion.
  if (request.tools.length > 0) {
    body.tools = functionTools(config, request.tools);
    if (config.toolChoice !== undefined) body.tool_choice = config.toolChoice;
    if (config.parallelToolCalls !== undefined) body.parallel_tool_calls = config.parallelToolCalls;
  }
  if (config.temperature !== undefined) body.temperature = config.temperature;
  return { ...body, ...config.extraBody } as ChatCompletionCreateParamsNonStreaming;
}

/** The tools as the API takes them, with the `strict` the model's option gives each (see {@link OpenAIModelOptions.strict}). */
function functionTools(config: NormalizedOpenAIModelOptions, tools: readonly ToolSpec[]): ChatCompletionFunctionTool[] {
  let list = config.toolLists.get(tools);
  if (list === undefined) {
    list = tools.map((tool) => {
      const fn = { name: tool.name, description: tool.description, parameters: tool.parameters };
      return { type: 'function' as const, function: config.strict === undefined ? fn : { ...fn, strict: config.strict && (tool.strict ?? true) } };
    });
    config.toolLists.set(tools, list);
  }
  return list;
}

// The last system prompt sent with each tool list (an agent's), and its JSON: an agent's prompt
// that neither places the context nor has variables is the same text on every request.
const systemsJson = new WeakMap<readonly ToolSpec[], { readonly text: string; readonly json: string }>();

/** The system prompt of `request` as a JSON string, serialized once while it stays the same. */
function systemJson(request: ModelRequest): string {
  const last = systemsJson.get(request.tools);
  if (last?.text === request.system) return last.json;
  const json = JSON.stringify(request.system);
  systemsJson.set(request.tools, { text: request.system, json });
  return json;
}

/**
 * `,"tools":[...]` and the tool options set (`,"tool_choice":"required","parallel_tool_calls":false`
 * by default), or nothing without tools.
 */
function toolsJson(config: NormalizedOpenAIModelOptions, tools: readonly ToolSpec[]): string {
  // OpenAI rejects tool_choice without tools, so an agent with no tools gets a plain completion.
  if (tools.length === 0) return '';
  let json = config.toolListsJson.get(tools);
  if (json === undefined) {
    json = JSON.stringify(functionTools(config, tools));
    config.toolListsJson.set(tools, json);
  }
  return `,"tools":${json}${config.toolOptionsJson}`;
}

function mapError(
  config: NormalizedOpenAIModelOptions,
  callerSignal: AbortSignal,
  timedOut: boolean,
  error: unknown,
): ModelFailure {
  // Checked first: an abort surfaces as APIUserAbortError, a DOMException or a body-read error.
  if (callerSignal.aborted) return failureOf('timeout', 'model request aborted by the caller');
  if (timedOut || error instanceof APIConnectionTimeoutError) {
    return failureOf('timeout', atEndpoint(config, `no answer within ${config.timeoutMs} ms (the model's timeoutMs)`));
  }
  if (error instanceof APIUserAbortError) return failureOf('timeout', 'model request aborted');
  const tooLarge = causeOfType(error, ResponseTooLargeError);
  if (tooLarge !== undefined) {
    return failureOf(
      'malformed',
      `the model's answer is over the limit of ${config.maxAnswerChars} characters (maxAnswerChars): its response passed ${tooLarge.limitBytes} bytes and was not read further; it was not recorded`,
    );
  }
  if (error instanceof APIConnectionError) {
    // "Connection error." alone tells nothing: the innermost cause says what failed (a refused
    // connection, a redirect loop, an encoding the transport cannot decode).
    const code = causeCode(error);
    const cause = innermostMessage(error);
    const codeText = code && !(cause ?? '').includes(code) ? ` (${code})` : '';
    const text = cause === undefined ? error.message : `${error.message.replace(/\.$/, '')}: ${cause}`;
    return failureOf('http', atEndpoint(config, `${text}${codeText}`));
  }
  // A redirect the transport handed back for the POST: a 301, 302 or 303 (fetch would resend it as a
  // GET without its body), a 307 or 308 to another origin (its headers would go there).
  if (error instanceof APIError && typeof error.status === 'number' && REDIRECT_STATUSES.has(error.status)) {
    return { kind: 'http', status: error.status, message: atEndpoint(config, `${error.status} ${redirectAdvice(config, error.status, error.headers?.get('location'))}`) };
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    // A provider's error its status misstates (Groq's 400 tool_use_failed, OpenAI's 429 insufficient_quota).
    const special = providerFailure(error.status, error.error, config.endpoint, (text) => clean(config, text));
    if (special !== undefined) return special;
    // The SDK's message is "<status> <server message>"; headers are never included. The endpoint
    // comes first, so a long server message cannot push it out of the kept text.
    const said = error.message.startsWith(String(error.status)) ? error.message.slice(String(error.status).length).trimStart() : error.message;
    // A gateway's or a site's HTML page: its title, not the first characters of its markup.
    const message = said === '' ? String(error.status) : `${error.status} ${htmlPageSummary(said) ?? said}`;
    // Said before the server's word, which the kept text may cut.
    const hint = config.noKeyHint !== undefined && (error.status === 401 || error.status === 403)
      ? `${config.noKeyHint}; `
      : refusedOptionHint(config, error.status, message) || missingPathHint(config, error.status);
    const failure: ModelFailure = { kind: 'http', status: error.status, message: atEndpoint(config, `${hint}${message}`) };
    // A rate limit's (or an overload's) Retry-After: the agent waits at least that long.
    const wait = retryAfterMs(error.headers, Date.now());
    return wait === undefined ? failure : { ...failure, retryAfterMs: wait };
  }
  if (error instanceof SyntaxError) {
    return failureOf('http', atEndpoint(config, `model response is not valid JSON: ${error.message}`));
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : describe(error);
  return failureOf('http', atEndpoint(config, `model request failed: ${text}`));
}


/**
 * What a 404 to a base URL without a path (`http://127.0.0.1:11434`, as OLLAMA_HOST is written)
 * says first: that servers mostly serve the API under `/v1`, as `<hint>; `; nothing otherwise.
 */
function missingPathHint(config: NormalizedOpenAIModelOptions, status: number): string {
  const base = status === 404 ? URL.parse(config.client.baseURL) : null;
  if (base === null || (base.pathname !== '' && base.pathname !== '/')) return '';
  return `the base URL has no path: OpenAI-compatible servers mostly serve the API under /v1 (${base.origin}/v1); `;
}

/**
 * What to pass when a 400 or 422 names a field of the request an option controls (o1 and o3-mini
 * refuse `parallel_tool_calls`, older vLLM `tool_choice: "required"`, RouteLLM `strict`), as
 * `<hint>; `, said before the server's words; nothing for another error, or a field not sent.
 */
function refusedOptionHint(config: NormalizedOpenAIModelOptions, status: number, said: string): string {
  if (status !== 400 && status !== 422) return '';
  if (config.parallelToolCalls !== undefined && said.includes('parallel_tool_calls')) {
    return 'the server refuses parallel_tool_calls: pass parallelToolCalls: null to createOpenAIModel; ';
  }
  if (config.toolChoice !== undefined && said.includes('tool_choice')) {
    return `the server refuses tool_choice: pass toolChoice: ${config.toolChoice === 'auto' ? 'null' : "'auto' (or null)"} to createOpenAIModel; `;
  }
  if (config.strict !== undefined && REFUSED_STRICT.test(said) && !/\binvalid schema\b/i.test(said)) {
    return `the server refuses strict tools: pass strict: ${config.strict ? 'false (or null)' : 'null'} to createOpenAIModel; `;
  }
  return '';
}

/**
 * A server's words refusing the `strict` field itself ("Extra inputs are not permitted",
 * "Unrecognized request argument supplied: strict", `Unknown name "strict"`), not OpenAI's own
 * strict-schema errors, which mention strict mode while the schema is the problem.
 */
const REFUSED_PHRASE = String.raw`(?:not supported|unsupported|unrecogni[sz]ed|extra inputs?|unknown (?:name|field|parameter|argument)|not (?:permitted|allowed)|unexpected)`;
const REFUSED_STRICT = new RegExp(String.raw`\bstrict\b[^]{0,60}?${REFUSED_PHRASE}|${REFUSED_PHRASE}[^]{0,60}?\bstrict\b`, 'i');

/** What to do about a redirect of the model's POST to `location`: name it as the base URL to set. */
function redirectAdvice(config: NormalizedOpenAIModelOptions, status: number, location: string | null | undefined): string {
  if (!location) return 'a redirect without a Location: check the base URL';
  let target: URL;
  try {
    target = new URL(location, config.endpoint);
  } catch {
    return `a redirect to ${redactUrl(location)}, not a URL: check the base URL`;
  }
  const base = target.pathname.endsWith('/chat/completions') ? `${target.origin}${target.pathname.slice(0, -'/chat/completions'.length)}` : undefined;
  // The base URL first: a long server message cannot push it out of the kept text.
  // A 307 or 308 keeps the method and body: the transport hands one back only for another origin.
  const why = status === 307 || status === 308 ? 'it points to another origin, where the API key is not sent' : 'a redirected POST is resent as a GET, without its body';
  return `redirects to ${redactUrl(target.href)}: set the base URL to ${base ?? 'where it points'} (not followed: ${why})`;
}

/** The first error of class `type` in an error's cause chain, the error itself included. */
function causeOfType<T>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    if (current instanceof type) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The message of the innermost cause of `error` that has one (not `error`'s own), if any. */
function innermostMessage(error: unknown): string | undefined {
  let found: string | undefined;
  let current: unknown = (error as { cause?: unknown }).cause;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && message.trim() !== '') found = message.trim();
    current = (current as { cause?: unknown }).cause;
  }
  return found;
}

/** The first `code` (e.g. ECONNREFUSED) in an error's cause chain. */
function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Removes secrets and truncates, so a failure message is safe to store in a thread. */
/** A failure's message about the endpoint: `POST <endpoint>: ` first (so a long message cannot push it out of the kept text), cleaned. */
function atEndpoint(config: NormalizedOpenAIModelOptions, message: string): string {
  return clean(config, `POST ${config.endpoint}: ${message}`);
}

function clean(config: NormalizedOpenAIModelOptions, message: string): string {
  let result = message;
  for (const secret of config.secrets) result = result.split(secret).join('[redacted]');
  return result.length > MAX_MESSAGE_CHARS ? `${result.slice(0, MAX_MESSAGE_CHARS - 1)}…` : result;
}

function failureOf(kind: ModelFailure['kind'], message: string): ModelFailure {
  return { kind, message };
}

function failure(
  kind: ModelFailure['kind'],
  message: string,
  config?: NormalizedOpenAIModelOptions,
): ModelResult {
  return { success: false, error: failureOf(kind, config ? clean(config, message) : message) };
}
