import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A message of a chat completions request, as loosely as servers accept it. */
export interface ChatMessage {
  role: string;
  content?: string | Array<{ type: string; text?: string }> | null;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  name?: string;
}

/** A tool offered in a chat completions request. */
export interface ChatTool {
  type: string;
  function: { name: string; description?: string; parameters?: unknown; strict?: boolean };
}

/** The parsed JSON body of a `POST /v1/chat/completions` request. */
export interface ChatRequestBody {
  model: string;
  messages: ChatMessage[];
  tools?: ChatTool[];
  tool_choice?: unknown;
  parallel_tool_calls?: boolean;
  temperature?: number;
  [key: string]: unknown;
}

/** What the fake server answers to one request. */
export type FakeReply =
  /** A completion holding one function tool call (finish_reason 'tool_calls'). */
  | { toolCall: { name: string; arguments: string } }
  /** A completion holding text (finish_reason 'stop'). */
  | { content: string }
  /**
   * An OpenAI-shaped error body `{ error: { message, type, code } }` with this status, and these
   * response headers besides (`retry-after`, `retry-after-ms`, a fixed `date`...).
   */
  | { status: number; message?: string; headers?: Readonly<Record<string, string>> }
  /** No answer until the client disconnects or the server closes. */
  | { hang: true }
  /** This exact body (e.g. broken JSON) as application/json, with this status (default 200). */
  | { raw: string; status?: number };

/** Decides the reply to the `index`-th (0-based) chat completions request. */
export type FakeHandler = (body: ChatRequestBody, index: number) => FakeReply | Promise<FakeReply>;

/** A running fake OpenAI-compatible server. */
export interface FakeOpenAI {
  /** The base URL to give the SDK, like `http://127.0.0.1:PORT/v1`. */
  readonly baseURL: string;
  /** Every parsed chat completions request body received, in order. */
  readonly requests: ChatRequestBody[];
  /** Stops the server and destroys open sockets (hanging requests included). */
  close(): Promise<void>;
}

/**
 * Starts a fake OpenAI-compatible server on 127.0.0.1 (random port) that serves
 * `POST /v1/chat/completions` with `handler`'s replies; any other route is a 404 JSON error.
 */
export async function startFakeOpenAI(handler: FakeHandler): Promise<FakeOpenAI> {
  const requests: ChatRequestBody[] = [];
  const sockets = new Set<Socket>();
  let index = 0;

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || !isCompletionsPath(req.url)) {
      sendError(res, 404, `no route for ${req.method} ${req.url}`, 'not_found');
      return;
    }
    readBody(req).then(
      async (text) => {
        let body: ChatRequestBody;
        try {
          body = JSON.parse(text) as ChatRequestBody;
        } catch {
          sendError(res, 400, 'request body is not valid JSON', 'invalid_request_error');
          return;
        }
        requests.push(body);
        let reply: FakeReply;
        try {
          reply = await handler(body, index++);
        } catch (error) {
          sendError(res, 500, `fake handler threw: ${String(error)}`, 'server_error');
          return;
        }
        sendReply(res, body, reply);
      },
      () => res.destroy(),
    );
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
    });
    return closing;
  }

  return { baseURL: `http://127.0.0.1:${port}/v1`, requests, close };
}

/** A handler that answers `replies` in order, then `{ status: 500, message: 'script exhausted' }`. */
export function scriptedHandler(replies: readonly FakeReply[]): FakeHandler {
  let next = 0;
  return () => replies[next++] ?? { status: 500, message: 'script exhausted' };
}

const BENCH_STEPS = 4;
const TOOL_RESULT_TAG = '<tool_result';

/**
 * A stateless handler for the benchmark task "one user message, four tool calls, then a final
 * answer". Progress is the number of `tool` messages plus the occurrences of `<tool_result` in all
 * message contents; below 4 it calls `add` with `{ a: progress, b: 1 }`, at 4 it calls
 * `done_for_now` (when offered) or answers text, with "the answer is 10".
 */
export const benchHandler: FakeHandler = (body) => {
  let progress = 0;
  let offersDone = false;
  for (const message of body.messages) {
    if (message.role === 'tool') progress++;
    const content = message.content;
    if (typeof content === 'string') progress += countTag(content);
    else if (Array.isArray(content)) {
      for (const part of content) if (typeof part.text === 'string') progress += countTag(part.text);
    }
  }
  if (progress < BENCH_STEPS) {
    return { toolCall: { name: 'add', arguments: `{"a":${progress},"b":1}` } };
  }
  if (body.tools) {
    for (const tool of body.tools) if (tool.function?.name === 'done_for_now') offersDone = true;
  }
  return offersDone
    ? { toolCall: { name: 'done_for_now', arguments: '{"message":"the answer is 10"}' } }
    : { content: 'the answer is 10' };
};

function countTag(text: string): number {
  let count = 0;
  for (let at = text.indexOf(TOOL_RESULT_TAG); at !== -1; at = text.indexOf(TOOL_RESULT_TAG, at + 1)) {
    count++;
  }
  return count;
}

function isCompletionsPath(url: string | undefined): boolean {
  if (!url) return false;
  const path = url.split('?', 1)[0];
  return path === '/v1/chat/completions';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

let completionCounter = 0;

function sendReply(res: ServerResponse, body: ChatRequestBody, reply: FakeReply): void {
  if ('hang' in reply) return;
  if ('raw' in reply) {
    sendJson(res, reply.status ?? 200, reply.raw);
    return;
  }
  if ('status' in reply) {
    sendError(res, reply.status, reply.message ?? `fake error ${reply.status}`, errorType(reply.status), reply.headers);
    return;
  }
  const id = ++completionCounter;
  let message: Record<string, unknown>;
  let finishReason: string;
  let replyChars: number;
  if ('toolCall' in reply) {
    const { name, arguments: args } = reply.toolCall;
    message = {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: `call_${id}`, type: 'function', function: { name, arguments: args } }],
    };
    finishReason = 'tool_calls';
    replyChars = name.length + args.length;
  } else {
    message = { role: 'assistant', content: reply.content };
    finishReason = 'stop';
    replyChars = reply.content.length;
  }
  const promptTokens = Math.ceil(messageChars(body.messages) / 4);
  const completionTokens = Math.ceil(replyChars / 4);
  sendJson(
    res,
    200,
    JSON.stringify({
      id: `chatcmpl-fake-${id}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: 'fake-model',
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    }),
  );
}

function messageChars(messages: readonly ChatMessage[] | undefined): number {
  let chars = 0;
  if (!Array.isArray(messages)) return chars;
  for (const message of messages) {
    const content = message.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (const part of content) if (typeof part.text === 'string') chars += part.text.length;
    }
  }
  return chars;
}

function errorType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sendError(res: ServerResponse, status: number, message: string, type: string, headers: Readonly<Record<string, string>> = {}): void {
  sendJson(res, status, JSON.stringify({ error: { message, type, code: type } }), headers);
}

function sendJson(res: ServerResponse, status: number, body: string, headers: Readonly<Record<string, string>> = {}): void {
  // A `date` given here replaces the one Node would send.
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
