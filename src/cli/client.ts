import { EventSourceParserStream } from 'eventsource-parser/stream';
import { DEFAULT_JITTER, MAX_RETRY_AFTER_MS, serverWaitDelay } from '../agent/backoff.js';
import { sleep, systemClock } from '../clock.js';
import { redactUrl } from '../context/redactUrl.js';
import { SwitchyardError } from '../errors.js';
import { retryAfterMs as retryAfterOf } from '../model/retryAfter.js';
import type { DeletedThread, ThreadView } from '../runtime/runtime.js';
import type { ThreadSummary } from '../store/threadStore.js';
import type { Json, ThreadEvent } from '../thread/events.js';
import { parseStreamEventId } from '../thread/incarnation.js';

/**
 * The server answered with an error status; `message` is the server's own explanation (and, when
 * it said when to try again, that wait).
 */
export class ServerError extends SwitchyardError {
  constructor(
    message: string,
    readonly status: number,
    readonly issues: readonly string[] = [],
    /** How long the server asked to wait before trying again (its `Retry-After`, on a 503). */
    readonly retryAfterMs?: number,
    /** The `code` of the server's error body (`not_found`, `already_answered`...), when it sent one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Nothing answered at the server's URL (refused, unknown host, reset before a response); the message names it masked. */
export class UnreachableError extends SwitchyardError {
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach switchyard at ${redactUrl(url)}: is \`switchyard serve\` running?`, options);
  }
}

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7878`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. @default none */
  token?: string;
  /** How an event stream that closed before its end (the server restarted) is opened again. */
  reconnect?: ReconnectOptions;
}

/**
 * How {@link Client.events} opens a stream again that closed before the thread's end (a server
 * restarted, a proxy cut it): after the last event it got, waiting `firstDelayMs` doubling to
 * `maxDelayMs` between tries (after a 503, the longer of that and the `Retry-After` it names,
 * counted and spread as an agent's wait for a model endpoint is: see {@link reconnectDelayMs}), until one answers or `giveUpAfterMs` passed since it closed (then an
 * {@link UnreachableError} whose cause is how the last stream ended, the server's `event: error`
 * naming why). A stream that never opened is not retried: nothing answered there.
 */
export interface ReconnectOptions {
  /** @default 250 */
  firstDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** @default 60000 */
  giveUpAfterMs?: number;
}

/** A human's response, as `POST /threads/:id/respond` takes it. */
export interface RespondBody {
  requestId: string;
  approved?: boolean;
  answer?: string;
  comment?: string;
  by?: string;
}

/** Who asked for a pause, resume or cancel, and why. */
export interface ControlBody {
  reason?: string;
  by?: string;
}

/** The filters and paging of `GET /threads`. */
export interface ListFilter {
  agent?: string;
  status?: string;
  limit?: number;
  after?: string;
  /** Only threads last updated strictly before this ISO time. */
  updatedBefore?: string;
}

/**
 * What `GET /threads` answers: `next`, the cursor of the next page, only in a walk (`after`) whose
 * page came back full.
 */
export interface ThreadPage {
  threads: ThreadSummary[];
  next?: string;
}

/**
 * One entry of `GET /agents`, as far as the CLI reads it: `served`, whether a worker takes its jobs,
 * only on a server that runs no threads itself (`serve --no-worker`).
 */
export interface AgentSummary {
  name: string;
  kind: 'agent' | 'pipeline';
  description?: string;
  served?: boolean;
  /** The JSON schema of its input (`{}` when it takes any). */
  inputSchema?: unknown;
}

/** The switchyard HTTP API, as the CLI uses it. Every method throws {@link ServerError} or {@link UnreachableError}. */
export interface Client {
  readonly url: string;
  /** `created` is false when `threadId` names a thread that exists already (the server answered 200 with it). */
  launch(agent: string, input: Json, threadId?: string): Promise<{ thread: ThreadView; created: boolean }>;
  /** `GET /agents`: the agents and pipelines the server launches. */
  agents(): Promise<AgentSummary[]>;
  /**
   * `GET /threads`: the threads, most recently updated first; with `after` ('' for the first page,
   * then `next`), one page of a walk over them in creation order.
   */
  list(filter?: ListFilter): Promise<ThreadPage>;
  get(threadId: string): Promise<ThreadView>;
  respond(threadId: string, body: RespondBody): Promise<ThreadView>;
  control(threadId: string, action: 'pause' | 'resume' | 'cancel', body?: ControlBody): Promise<ThreadView>;
  /**
   * `DELETE /threads/:id`: deletes a thread that ended (409 when it has not, 404 when there is none);
   * what it deleted, or undefined from a server that answers 204 with no body (one from before).
   */
  delete(threadId: string): Promise<DeletedThread | undefined>;
  /**
   * The thread's events after `afterSeq`, stored then live, read from the server-sent event stream.
   * It ends when the thread ends (the server closes the stream) or when `signal` aborts. A stream
   * opened again resumes after the last event's id (`Last-Event-ID`), which names the thread's
   * incarnation: a thread deleted and launched again under the id meanwhile fails it (409).
   */
  events(threadId: string, options?: { afterSeq?: number; signal?: AbortSignal }): AsyncGenerator<ThreadEvent>;
}

/** Builds a {@link Client} over the global `fetch`. */
export function createClient(options: ClientOptions): Client {
  const base = options.url.replace(/\/+$/, '');
  const reconnect = { firstDelayMs: 250, maxDelayMs: 5_000, giveUpAfterMs: 60_000, ...options.reconnect };
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...extra,
  });

  const send = async (method: string, path: string, body?: unknown, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: headers(body === undefined ? extra : { ...extra, 'content-type': 'application/json' }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new UnreachableError(base, { cause: error });
    }
    if (!response.ok) throw await serverError(response);
    return response;
  };

  const parsed = async <T>(method: string, path: string, response: Response): Promise<T> => {
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new ServerError(`the server sent an unreadable answer to ${method} ${path}: ${String(error)}`, response.status);
    }
  };

  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> => parsed<T>(method, path, await send(method, path, body));

  const thread = (id: string): string => `/threads/${encodeURIComponent(id)}`;
  function list(filter: ListFilter = {}): Promise<ThreadPage> {
    const query = new URLSearchParams();
    if (filter.agent) query.set('agent', filter.agent);
    if (filter.status) query.set('status', filter.status);
    if (filter.limit !== undefined) query.set('limit', String(filter.limit));
    if (filter.after !== undefined) query.set('after', filter.after);
    if (filter.updatedBefore !== undefined) query.set('updatedBefore', filter.updatedBefore);
    const text = query.toString();
    return json<ThreadPage>('GET', `/threads${text ? `?${text}` : ''}`);
  }

  return {
    url: base,
    async launch(agent, input, threadId) {
      const response = await send('POST', '/threads', { agent, input, ...(threadId ? { threadId } : {}) });
      return { thread: await parsed<ThreadView>('POST', '/threads', response), created: response.status === 201 };
    },
    agents: () => json<AgentSummary[]>('GET', '/agents'),
    list,
    get: (id) => json<ThreadView>('GET', thread(id)),
    respond: (id, body) => json<ThreadView>('POST', `${thread(id)}/respond`, body),
    control: (id, action, body = {}) => json<ThreadView>('POST', `${thread(id)}/${action}`, body),
    async delete(id) {
      const response = await send('DELETE', thread(id));
      return response.status === 204 ? undefined : parsed<DeletedThread>('DELETE', thread(id), response);
    },
    async *events(id, { afterSeq = 0, signal } = {}) {
      // The last event yielded: a stream opened again resumes after it.
      const last: LastEvent = { seq: afterSeq, id: undefined };
      let opened = false;
      // Since when no stream has brought an event, and the tries since.
      let closedAt: number | undefined;
      let tries = 0;
      // The last try's 503, which says how long to wait.
      let unavailable: ServerError | undefined;
      // How the last stream ended (the server's event: error says why): the cause when giving up.
      let closed: StreamClosed | undefined;
      for (;;) {
        const before = last.seq;
        try {
          // Its id too, which names the thread's incarnation: the server tells a thread launched
          // again under the id since (it replays that one from its start) from the one followed.
          const resume: Record<string, string> = last.id === undefined ? {} : { 'last-event-id': last.id };
          const response = await send('GET', `${thread(id)}/events?after=${last.seq}`, undefined, signal, resume);
          opened = true;
          // 204: the thread ended and nothing is left to send.
          if (response.status === 204 || response.body === null) return;
          if (yield* streamed(response.body, last, id)) return;
        } catch (error) {
          // Never opened: nothing answers there. A refusal (401, 404) is the server's answer; a 503
          // (its store unavailable for now) is tried again, no sooner than it asked.
          if (signal?.aborted || !opened || (error instanceof ServerError && error.status !== 503)) throw error;
          unavailable = error instanceof ServerError ? error : undefined;
          if (error instanceof StreamClosed) closed = error;
        }
        if (last.seq !== before) [closedAt, tries] = [undefined, 0];
        closedAt ??= Date.now();
        const backoffMs = Math.min(reconnect.maxDelayMs, reconnect.firstDelayMs * 2 ** Math.min(tries++, 16));
        const delayMs = reconnectDelayMs(backoffMs, unavailable?.retryAfterMs, Math.random());
        if (Date.now() - closedAt + (unavailable?.retryAfterMs ?? 0) >= reconnect.giveUpAfterMs) throw unavailable ?? new UnreachableError(base, closed && { cause: closed });
        // An abort ends the wait early; the next request then throws it.
        await sleep(systemClock, delayMs, signal).catch(() => undefined);
      }
    },
  };
}

/**
 * How long a follow waits before opening its stream again: the server's `retryAfterMs` as an agent
 * waits for a model endpoint's ({@link serverWaitDelay}: counted as {@link MAX_RETRY_AFTER_MS} at
 * most, plus up to 20 % of it, `unit` in 0..1 picking how much, so the followers one restart cut
 * off do not all come back together), but never less than its own `backoffMs` (a Retry-After: 0
 * would spin).
 */
export function reconnectDelayMs(backoffMs: number, retryAfterMs: number | undefined, unit: number): number {
  return Math.max(backoffMs, retryAfterMs === undefined || retryAfterMs <= 0 ? 0 : serverWaitDelay(retryAfterMs, DEFAULT_JITTER, unit));
}

/** The stream closed before the thread's `end` (a server restarting, a connection cut). */
class StreamClosed extends Error {}

/** The last event a follow got: its seq, and its stream id (`<incarnation>:<seq>`; undefined before the first). */
interface LastEvent {
  seq: number;
  id: string | undefined;
}

/**
 * Yields the events of one opened stream, keeping the last in `last`. True when it ended with the
 * server's `end`; throws {@link StreamClosed} when it closed or broke before it, and a 409
 * {@link ServerError} when an event is of another incarnation of thread `threadId` than the last.
 */
async function* streamed(body: ReadableStream<Uint8Array>, last: LastEvent, threadId: string): AsyncGenerator<ThreadEvent, boolean> {
  const reader = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      let read: Awaited<ReturnType<typeof reader.read>>;
      try {
        read = await reader.read();
      } catch (error) {
        throw new StreamClosed('the event stream broke', { cause: error });
      }
      if (read.done) throw new StreamClosed('the event stream closed before the end');
      if (read.value.event === 'end') return true;
      const event = threadEventOf(read.value.data);
      // The server says it is going away (or the stream failed there): reconnect, as after a cut.
      // A thread's own `error` event comes under the same name, with its seq: it is reported.
      if (read.value.event === 'error' && event === undefined) throw new StreamClosed(`the event stream ended: ${errorOf(read.value.data)}`);
      // Not a thread event (a frame of a kind added later): it must not move the cursor.
      if (event === undefined) continue;
      checkIncarnation(last.id, read.value.id, threadId);
      [last.seq, last.id] = [event.seq, read.value.id ?? last.id];
      yield event;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The thread event a frame's data holds: JSON with an integer `seq`, else undefined. */
function threadEventOf(data: string): ThreadEvent | undefined {
  try {
    const value = JSON.parse(data) as { seq?: unknown } | null;
    return typeof value === 'object' && value !== null && Number.isInteger(value.seq) ? (value as ThreadEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** The `error` an `event: error` frame carries, or the frame itself. */
function errorOf(data: string): string {
  try {
    const { error } = JSON.parse(data) as { error?: unknown };
    if (typeof error === 'string') return error;
  } catch {
    // not JSON: said as it came
  }
  return data.slice(0, 200);
}

/**
 * Throws when the stream id `next` names another incarnation than `previous` (the thread was deleted
 * and launched again under its id while the stream was cut): its events are not the followed one's.
 */
function checkIncarnation(previous: string | undefined, next: string | undefined, threadId: string): void {
  const [before, now] = [previous, next].map((id) => (id === undefined ? undefined : parseStreamEventId(id)?.incarnation));
  if (before === undefined || now === undefined || before === now) return;
  throw new ServerError(`thread ${threadId} was deleted and launched again under its id while its event stream was cut: the thread followed is gone`, 409);
}

/** The error a failed response describes: the server's `{ error, code, issues }` body, or its status. */
async function serverError(response: Response): Promise<ServerError> {
  const text = await response.text().catch(() => '');
  let message = `${response.status} ${response.statusText}`.trim();
  let issues: string[] = [];
  let code: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; code?: unknown; issues?: unknown };
    const error = typeof body.error === 'object' && body.error !== null ? (body.error as { message?: unknown }).message : body.error;
    if (typeof error === 'string' && error !== '') message = error;
    else if (typeof body.message === 'string' && body.message !== '') message = body.message;
    if (Array.isArray(body.issues)) issues = body.issues.filter((i): i is string => typeof i === 'string');
    if (typeof body.code === 'string' && body.code !== '') code = body.code;
  } catch {
    if (text.trim() !== '' && text.length < 300) message = text.trim();
  }
  const asked = retryAfterOf(response.headers, Date.now());
  if (asked === undefined) return new ServerError(message, response.status, issues, undefined, code);
  const retryAfterMs = Math.min(MAX_RETRY_AFTER_MS, asked);
  const when = retryAfterMs === 0 ? 'now' : `in ${Math.ceil(retryAfterMs / 1000)} s`;
  return new ServerError(`${message} (the server asks to try again ${when})`, response.status, issues, retryAfterMs, code);
}
