// @ts-check
// Talking to the server: the bearer token the page was opened with, JSON requests, and the event
// stream (server-sent events read with fetch, so the token can be sent).

/** The app's base path: the page is `<base>/inspector`. */
const base = location.pathname.replace(/\/inspector\/?$/, '');

/** The token from `?token=` moves to the session's storage, out of the address bar and the history. */
function takeToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get('token');
  if (given) {
    sessionStorage.setItem('switchyard.token', given);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
  return sessionStorage.getItem('switchyard.token');
}

const token = takeToken();

/** An API error, with the HTTP status. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * @param {HeadersInit} [extra]
 * @returns {Headers}
 */
function headers(extra) {
  const all = new Headers(extra);
  if (token) all.set('Authorization', `Bearer ${token}`);
  return all;
}

/** @typedef {import('./types.js').ThreadRow} ThreadRow */
/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').Chart} Chart */
/** @typedef {import('./types.js').Machines} Machines */
/** @typedef {import('./types.js').AgentInfo} AgentInfo */

/**
 * A JSON request to the server; throws an {@link ApiError} with the server's message when it fails.
 * The server's routes define the answer's shape: the typed functions below name it.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<unknown>}
 */
async function request(path, init = {}) {
  const res = await fetch(base + path, { ...init, headers: headers(init.headers) });
  const text = await res.text();
  /** @type {{ error?: string, issues?: string[] }} */
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { error: text };
  }
  if (!res.ok) {
    let message = body.error || `${res.status} ${res.statusText}`;
    // The issues add to the message, unless they only repeat it (one issue, the error itself).
    const issues = Array.isArray(body.issues) ? body.issues.filter((issue) => issue !== body.error) : [];
    if (issues.length) message += `: ${issues.join('; ')}`;
    throw new ApiError(message, res.status);
  }
  return body;
}

/**
 * @param {string} path
 * @param {unknown} body
 */
function post(path, body) {
  return request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** The most recent threads (up to 10,000). */
export async function loadThreads() {
  const body = /** @type {{ threads: ThreadRow[] }} */ (await request('/inspector/api/threads?limit=10000'));
  return body.threads;
}

/**
 * A thread with its events.
 * @param {string} id
 */
export async function loadThread(id) {
  return /** @type {ThreadView} */ (await request(`/inspector/api/threads/${encodeURIComponent(id)}`));
}

/**
 * A thread with its events, or null when there is none (yet: a pipeline's child is journaled
 * before it is launched); its absence is no failed request.
 * @param {string} id
 */
export async function loadThreadIfAny(id) {
  return /** @type {ThreadView | null} */ (await request(`/inspector/api/threads/${encodeURIComponent(id)}?missing=null`));
}

/**
 * A machine's chart.
 * @param {string} machine
 */
export async function loadChart(machine) {
  return /** @type {Chart} */ (await request(`/inspector/api/graph/${encodeURIComponent(machine)}`));
}

/** The machines drawable, and the machine of each agent's and pipeline's threads. */
export async function loadMachines() {
  return /** @type {Machines} */ (await request('/inspector/api/machines'));
}

/** The agents of the HTTP API, to launch (fails when the HTTP API is not mounted). */
export async function loadAgents() {
  return /** @type {AgentInfo[]} */ (await request('/agents'));
}

/**
 * Launches a thread through the HTTP API.
 * @param {string} agent
 * @param {unknown} input
 */
export async function launch(agent, input) {
  return /** @type {ThreadView} */ (await post('/threads', { agent, input }));
}

/**
 * Answers a thread's pending human request through the HTTP API.
 * @param {string} id
 * @param {Record<string, unknown>} answer
 */
export async function respond(id, answer) {
  return /** @type {ThreadView} */ (await post(`/threads/${encodeURIComponent(id)}/respond`, answer));
}

/**
 * @typedef {object} StreamHandlers
 * @property {(event: string, payload: unknown) => void} event a parsed event of the stream
 * @property {(connection: 'connecting' | 'live' | 'offline', again: boolean) => void} state `again` when it reconnected
 * @property {(reason: 'no token' | 'wrong token') => void} denied the server refused the token (401): the stream stops for good
 */

/** The wait before asking for the stream again after it ended or failed; it doubles at each failure, up to {@link LONGEST_RETRY_MS}. */
const FIRST_RETRY_MS = 1500;
const LONGEST_RETRY_MS = 24_000;

/**
 * Follows `/inspector/stream`: reconnects after it ends or fails, 1.5 s after the first time and
 * twice as long after each failed try since (up to 24 s; once connected it starts over), but not
 * after a 401 (no token, or a wrong one: asking again would not help; the page must be opened
 * with `?token=`). `retryNow` asks at once while it waits to try again (the user asked, or came back to the tab).
 * @param {StreamHandlers} handlers
 * @returns {{ retryNow: () => void }}
 */
export function follow(handlers) {
  let connectedOnce = false;
  let wait = FIRST_RETRY_MS;
  /** The next try, while one is due. */
  let retry = 0;
  const connect = async () => {
    retry = 0;
    handlers.state('connecting', false);
    try {
      const res = await fetch(`${base}/inspector/stream`, { headers: headers({ accept: 'text/event-stream' }), cache: 'no-store' });
      if (res.status === 401) {
        handlers.denied(token ? 'wrong token' : 'no token');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      handlers.state('live', connectedOnce);
      connectedOnce = true;
      wait = FIRST_RETRY_MS;
      await readEvents(res.body, handlers.event);
    } catch {
      // ended or failed: try again
    }
    handlers.state('offline', false);
    retry = window.setTimeout(connect, wait);
    wait = Math.min(wait * 2, LONGEST_RETRY_MS);
  };
  void connect();
  return {
    retryNow() {
      if (!retry) return;
      clearTimeout(retry);
      void connect();
    },
  };
}

/**
 * Reads server-sent events until the stream ends.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(event: string, payload: unknown) => void} onEvent
 */
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return;
    buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const parsed = parseBlock(block);
      if (parsed) onEvent(parsed.event, parsed.payload);
    }
  }
}

/**
 * One server-sent event block: its event name and its data as JSON.
 * @param {string} block
 * @returns {{ event: string, payload: unknown } | undefined}
 */
function parseBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return undefined;
  try {
    return { event, payload: JSON.parse(data.join('\n')) };
  } catch {
    return undefined;
  }
}
