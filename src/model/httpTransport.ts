import { constants as bufferConstants } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { Agent, request, type Dispatcher } from 'undici';
import type { ZlibOptions } from 'node:zlib';
import { SwitchyardError } from '../errors.js';
import { RequestAbort } from './requestAbort.js';

const DECODERS: Readonly<Record<string, (data: Buffer, options: ZlibOptions) => Promise<Buffer>>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/** The `fetch` signature the `openai` SDK accepts for its `fetch` option. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of {@link createHttpTransport}. */
export interface HttpTransportOptions {
  /**
   * Connections kept per origin (each carries one request at a time).
   * @default 256
   */
  connections?: number | undefined;
  /**
   * How long an idle keep-alive connection stays open, in ms, when the server gives no
   * `Keep-Alive: timeout` hint. Keep it below the server's own idle timeout (Node's is 5 s), or a
   * request may go out on a socket the server is closing.
   * @default 4000 (undici's default, as for the global fetch)
   */
  keepAliveTimeoutMs?: number | undefined;
}

/**
 * Where a caller hands the transport an abort signal of its own, beside the `signal` of `fetch`'s
 * init: a request aborts when either does. `createOpenAIModel` passes its caller's signal here (in
 * the SDK's `fetchOptions`, which reach `fetch` as they are) instead of to the SDK, which would
 * combine it with its own through `AbortSignal.any` on every request: that composed signal and its
 * weak references cost more client CPU and garbage collection than the rest of the request.
 */
export const CALLER_SIGNAL: unique symbol = Symbol('switchyard.callerSignal');

/**
 * Where a caller sets the most bytes of a response body the transport reads (decoded, when the
 * server compressed it): past that it stops reading, aborts the request and rejects with a
 * {@link ResponseTooLargeError}, so a runaway body never sits whole in memory.
 */
export const MAX_BODY_BYTES: unique symbol = Symbol('switchyard.maxBodyBytes');

/** A `fetch` init that may carry a {@link CALLER_SIGNAL} and a {@link MAX_BODY_BYTES}. */
export type TransportInit = RequestInit & { readonly [CALLER_SIGNAL]?: AbortSignal; readonly [MAX_BODY_BYTES]?: number };

/** A response body passed the {@link MAX_BODY_BYTES} of its request: the rest was not read. */
export class ResponseTooLargeError extends SwitchyardError {
  constructor(
    /** The most bytes the request allowed. */
    readonly limitBytes: number,
  ) {
    super(`response body over ${limitBytes} bytes`);
  }
}

/**
 * The {@link MAX_BODY_BYTES} for a chat completion whose answer may be `maxAnswerChars` characters:
 * 12 bytes a character plus 1 MiB. A character of a JSON string takes at most 6 bytes on the wire
 * (a `\u00e9` escape: Python servers write every non-ASCII character so by default; UTF-8 itself
 * takes at most 3 bytes per UTF-16 unit); the body may carry text beside the tool call, or the
 * model's reasoning, about as long again; the rest of the envelope (ids, usage, a model name,
 * logprobs) fits in the MiB. The default 256 Ki characters give 4 MiB.
 */
export function maxBodyBytesFor(maxAnswerChars: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, 12 * maxAnswerChars + 1024 * 1024);
}

const REDIRECTS = 5;
/** The redirect statuses the transport follows (or, for a request it may not resend, hands back). */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Redirects after which fetch resends a POST (any method but GET and HEAD) as a GET without its body. */
const METHOD_CHANGING_REDIRECTS = new Set([301, 302, 303]);
/** Request headers not sent on to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'] as const;
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for the model client, on undici's `request` API with a keep-alive connection pool.
 *
 * Node's global `fetch` is the same undici underneath, wrapped in WHATWG streams and request
 * objects; for the small JSON requests an agent sends, that wrapping costs about as much client
 * CPU as the request itself. This transport reads the whole body with `request` and hands the SDK a
 * `Response` that parses it directly (a standard one is built only if the body is asked for as a
 * stream), following redirects like `fetch` (but for a 301, 302 or 303 to a request other than a GET or
 * HEAD, handed back: fetch would resend it as a GET without its body) and decoding a gzip, deflate or brotli body should a server
 * compress one unasked. A request's {@link MAX_BODY_BYTES} bounds what it reads.
 * Anything it does not handle (a `Request` object, a streamed or form body, a scheme other than
 * http or https) goes to the global `fetch` unchanged.
 *
 * Idle connections do not keep the process alive. `close()` ends the pool.
 */
export function createHttpTransport(options: HttpTransportOptions = {}): { fetch: FetchFunction; close: () => Promise<void> } {
  const dispatcher: Dispatcher = new Agent({
    connections: options.connections ?? 256,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
  });

  const fetchFn: FetchFunction = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : undefined;
    const body = init.body;
    if (
      url === undefined ||
      !(url.startsWith('http://') || url.startsWith('https://')) ||
      !(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)
    ) {
      const caller = (init as TransportInit)[CALLER_SIGNAL];
      if (caller === undefined) return globalThis.fetch(input, init);
      return globalThis.fetch(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, caller]) : caller });
    }
    // No accept-encoding is sent: JSON completions are small, and decoding costs CPU.
    const headers = plainHeaders(init.headers);
    const caller = (init as TransportInit)[CALLER_SIGNAL];
    const limit = (init as TransportInit)[MAX_BODY_BYTES];
    const abort = caller === undefined ? undefined : new RequestAbort(init.signal ?? undefined, caller);
    const method = (init.method ?? 'GET').toUpperCase() as Dispatcher.HttpMethod;
    let target = url;
    let hops = 0;
    let response: Dispatcher.ResponseData;
    let bytes: ArrayBuffer | Buffer;
    try {
      for (;;) {
        response = await request(target, {
          method,
          headers,
          body: body ?? null,
          // undici reads only what RequestAbort has of a signal.
          signal: (abort as AbortSignal | undefined) ?? init.signal ?? undefined,
          dispatcher,
        });
        const next = redirectTarget(method, response, target);
        if (next === undefined) break;
        await response.body.dump();
        if (++hops > REDIRECTS) throw new TypeError('fetch failed', { cause: new Error(`redirect count exceeded (more than ${REDIRECTS}, the last to ${next})`) });
        if (new URL(next).origin !== new URL(target).origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
        target = next;
      }
      bytes = limit === undefined ? await response.body.arrayBuffer() : await readAtMost(response, limit);
    } finally {
      abort?.release();
    }
    const status = response.statusCode;
    const encoding = response.headers['content-encoding'];
    if (typeof encoding === 'string' && encoding !== 'identity' && bytes.byteLength > 0) {
      const decode = DECODERS[encoding.trim().toLowerCase()];
      if (decode === undefined) throw new TypeError('fetch failed', { cause: new Error(`unsupported content-encoding ${encoding}`) });
      try {
        bytes = await decode(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), limit === undefined ? {} : { maxOutputLength: Math.min(limit, bufferConstants.MAX_LENGTH) });
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' && limit !== undefined) throw new ResponseTooLargeError(limit);
        throw error;
      }
    }
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      // The body is decoded already: the length and encoding of the wire no longer describe it.
      if (name === 'content-encoding' || name === 'content-length') continue;
      if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
      else responseHeaders.append(name, value);
    }
    if (status < 200 || status > 599) throw new TypeError('fetch failed', { cause: new Error(`unexpected HTTP status ${status}`) });
    const buffer = NULL_BODY_STATUSES.has(status) ? null : Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    return new BufferedResponse(buffer, status, responseHeaders, target, hops > 0) as unknown as Response;
  };

  transportFetches.add(fetchFn);
  return { fetch: fetchFn, close: () => dispatcher.close() };
}

const transportFetches = new WeakSet<FetchFunction>();

/**
 * Where a redirect `response` to a `method` request at `from` leads, when it is to be followed: a
 * 307 or 308 to the same origin (the request goes again as it is, body included; a GET or HEAD to
 * any origin), a 301, 302 or 303 only for a GET or HEAD. After those, fetch resends any other request as a GET without its body, which
 * no API takes: the redirect is handed back as the response instead, for its caller to report
 * (a base URL written `http://` for a host that moved to `https://`, say).
 */
function redirectTarget(method: string, response: Dispatcher.ResponseData, from: string): string | undefined {
  const status = response.statusCode;
  const location = response.headers['location'];
  if (!REDIRECT_STATUSES.has(status) || typeof location !== 'string') return undefined;
  const sends = method !== 'GET' && method !== 'HEAD';
  if (METHOD_CHANGING_REDIRECTS.has(status) && sends) return undefined;
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new TypeError('fetch failed', { cause: new Error(`a ${status} redirect to an invalid URL: ${location.slice(0, 200)}`) });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError('fetch failed', { cause: new Error(`a ${status} redirect to a URL that is not http(s): ${next.protocol}`) });
  // A request with a body (a model's POST) goes on to its own origin only: its headers (a custom
  // api-key or gateway token among them, which fetch would forward) never reach another.
  if (sends && next.origin !== new URL(from).origin) return undefined;
  return next.href;
}

/** The body of `response`, read up to `limit` bytes: past that (or a Content-Length saying so) the request is aborted. */
async function readAtMost(response: Dispatcher.ResponseData, limit: number): Promise<Buffer> {
  const { body } = response;
  const declared = Number(response.headers['content-length']);
  if (declared > limit) {
    body.destroy();
    throw new ResponseTooLargeError(limit);
  }
  // A length within the limit bounds the body already (the parser reads no more): read it whole,
  // as cheaply as before the bound; only a body of no declared length is counted as it comes.
  if (declared >= 0) return Buffer.from(await body.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Destroying an unfinished body closes its connection: the server's writes stop there.
      body.destroy();
      throw new ResponseTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Whether `fetch` was built by {@link createHttpTransport}: it reads the whole body before it
 * resolves and takes a {@link CALLER_SIGNAL}.
 */
export function isHttpTransportFetch(fetch: FetchFunction): boolean {
  return transportFetches.has(fetch);
}

/**
 * A response whose body has been read in full. `json()`, `text()` and `arrayBuffer()` decode the
 * bytes directly; anything else (`body`, `blob()`, `formData()`...) goes to a standard `Response`
 * built on first use. Building a `Response` for every request (its body stream, its transfer
 * machinery) costs several times what parsing the JSON does.
 */
class BufferedResponse {
  readonly type = 'basic';
  #real: Response | undefined;
  #used = false;

  constructor(
    private readonly data: Buffer | null,
    readonly status: number,
    readonly headers: Headers,
    readonly url: string,
    readonly redirected = false,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get statusText(): string {
    return STATUS_CODES[this.status] ?? '';
  }

  get bodyUsed(): boolean {
    return this.#real?.bodyUsed ?? this.#used;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.real().body;
  }

  async text(): Promise<string> {
    if (this.#real !== undefined) return this.#real.text();
    const bytes = this.consume();
    // Like fetch: UTF-8, without a byte order mark.
    const text = bytes === null ? '' : bytes.toString('utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  async json(): Promise<unknown> {
    if (this.#real !== undefined) return this.#real.json();
    return JSON.parse(await this.text()) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real !== undefined) return this.#real.arrayBuffer();
    const bytes = this.consume();
    return bytes === null ? new ArrayBuffer(0) : new Uint8Array(bytes).buffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  blob(): Promise<Blob> {
    return this.real().blob();
  }

  formData(): Promise<FormData> {
    return this.real().formData();
  }

  clone(): BufferedResponse {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
    if (this.#real !== undefined) return this.#real.clone() as unknown as BufferedResponse;
    return new BufferedResponse(this.data, this.status, new Headers(this.headers), this.url, this.redirected);
  }

  private consume(): Buffer | null {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.data;
  }

  private real(): Response {
    if (this.#real === undefined) {
      if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
      this.#real = new Response(this.data, { status: this.status, statusText: this.statusText, headers: this.headers });
    }
    return this.#real;
  }
}

/** Request headers as a plain object with lower-case names (what undici's `request` takes). */
function plainHeaders(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name] = value;
    });
    return out;
  }
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  for (const [name, value] of entries) {
    if (name === undefined || value === undefined) continue;
    const key = name.toLowerCase();
    const text = typeof value === 'string' ? value : value.join(', ');
    out[key] = key in out ? `${out[key]}, ${text}` : text;
  }
  return out;
}

let shared: FetchFunction | undefined;

/** One transport shared by every model in the process (a connection pool per origin). */
export function sharedHttpFetch(): FetchFunction {
  shared ??= createHttpTransport().fetch;
  return shared;
}
