// Shared by the server suites: a runtime with the calculator over a scripted model, and HTTP helpers.
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { Thread } from '../../src/thread/events.js';
import { splitDeliveryId } from '../../src/thread/incarnation.js';
import { expect } from 'vitest';

/** A second agent, so listing can filter by agent: it answers with its input. */
export const echo = agent({ name: 'echo', description: 'repeats its input', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });

/**
 * What the scripted model does, read from the thread's input in the rendered context:
 * - `{ op: 'add' | 'divide', a, b }`: calls the tool, then finishes with `result <n>` (or `denied`
 *   when the division's approval was refused)
 * - `{ ask: '<question>' }`: asks a human, then finishes with `you said <answer>`
 * - `{ hang: true }`: never answers (until the decision times out or the thread is cancelled)
 * - anything for `echo`: finishes with the input as JSON
 */
export function decide(request: ModelRequest): ScriptedReply {
  const match = /<input>\n([\s\S]*?)\n<\/input>/.exec(request.context);
  let input: Record<string, unknown> | string = {};
  try {
    input = JSON.parse(match![1]!) as Record<string, unknown>;
  } catch {
    input = match?.[1] ?? ''; // a string input is shown as is
  }
  const done = (message: string): ScriptedReply => ({ intent: 'done_for_now', args: { message } });
  if (request.agent === 'echo') return done(JSON.stringify(input));
  if (typeof input === 'string') return done(`no plan for ${input}`);
  if (input.hang === true) return { hang: true };
  const result = /<tool_result [^>]*>\n([\s\S]*?)\n<\/tool_result>/.exec(request.context);
  if (result) return done(`result ${result[1]}`);
  if (/<human_response [^>]*approved="false"/.test(request.context)) return done('denied');
  const answer = /<human_response [^>]*>([\s\S]*?)<\/human_response>/.exec(request.context);
  if (answer) return done(`you said ${answer[1]}`);
  if (typeof input.ask === 'string') return { intent: 'request_human_input', args: { question: input.ask } };
  return { intent: String(input.op), args: { a: Number(input.a), b: Number(input.b) } };
}

export interface Harness {
  readonly runtime: Runtime;
  readonly model: ScriptedModel;
}

/** A runtime over a memory store whose model follows {@link decide}, however many threads run. */
export function createHarness(): Harness {
  const model = scriptedModel([], { whenExhausted: decide });
  const runtime = createRuntime({ agents: [calculator, echo], store: createMemoryStore(), model });
  return { runtime, model };
}

/** A JSON response: its status, headers and parsed body. */
export interface JsonResponse<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** Calls the server with a JSON body (a string is sent as is) and parses the answer. */
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Launches a thread and waits until it stops moving. */
export async function launchAndWait(base: string, agentName: string, input: unknown): Promise<ThreadView> {
  const launched = await call<ThreadView>(base, 'POST', '/threads', { agent: agentName, input });
  if (launched.status !== 201) throw new Error(`launch failed: ${launched.status} ${JSON.stringify(launched.body)}`);
  const waited = await call<ThreadView>(base, 'GET', `/threads/${launched.body.id}/wait`);
  if (waited.status !== 200) throw new Error(`wait failed: ${waited.status}`);
  return waited.body;
}

/** One server-sent event (or a comment line, as `comment`). */
export interface SseFrame {
  readonly event?: string;
  readonly id?: string;
  readonly data?: string;
  readonly comment?: string;
}

/** An open event stream read frame by frame. */
export interface SseReader {
  readonly status: number;
  readonly headers: Headers;
  /** The next frame, or `undefined` when the server closed the stream. */
  next(): Promise<SseFrame | undefined>;
  /** Frames until (and including) the first that matches, or until the stream closes. */
  until(predicate: (frame: SseFrame) => boolean): Promise<SseFrame[]>;
  close(): void;
}

/** Opens `GET <url>` as an event stream. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const pending: SseFrame[] = [];
  let ended = reader === undefined;
  const parse = (block: string): SseFrame => {
    const frame: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) frame.comment = line.slice(1).trim();
      else {
        const at = line.indexOf(':');
        const key = line.slice(0, at);
        const value = line.slice(at + 1).replace(/^ /, '');
        frame[key] = key === 'data' && frame.data !== undefined ? `${frame.data}\n${value}` : value;
      }
    }
    return frame;
  };
  const next = async (): Promise<SseFrame | undefined> => {
    for (;;) {
      if (pending.length > 0) return pending.shift();
      if (ended) return undefined;
      const { done, value } = await reader!.read();
      if (done) {
        ended = true;
        continue;
      }
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        pending.push(parse(buffer.slice(0, cut)));
        buffer = buffer.slice(cut + 2);
      }
    }
  };
  return {
    status: response.status,
    headers: response.headers,
    next,
    async until(predicate) {
      const frames: SseFrame[] = [];
      for (let frame = await next(); frame !== undefined; frame = await next()) {
        frames.push(frame);
        if (predicate(frame)) break;
      }
      return frames;
    },
    close: () => abort.abort(),
  };
}

/**
 * Asserts that deliveries of one thread to one receiver (their bodies, in the order received) came
 * in the order of their ids' seqs, with nothing after the thread.finished; returns that finish.
 */
export function expectDeliveredInOrder<T extends { type: string; id: string }>(sent: readonly T[]): T {
  const finished = sent.findIndex((p) => p.type === 'thread.finished');
  expect(finished).toBeGreaterThan(0);
  expect(sent.slice(finished + 1).map((p) => `${p.type} ${p.id}`)).toEqual([]);
  const seqs = sent.map((p) => splitDeliveryId(p.id)[1]);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  return sent[finished]!;
}

/** A thread an HTTP launch with callback `replyTo` started, done with output 'x' (of {@link echo}). */
export function finishedThread(id: string, replyTo: string): Thread {
  return {
    id,
    agent: 'echo',
    events: [
      { seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'input', data: { input: 'x', source: { kind: 'http', replyTo } } },
      { seq: 2, at: '2026-01-01T00:00:01.000Z', type: 'final', data: { output: 'x' } },
    ],
  };
}
