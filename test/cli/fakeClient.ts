/**
 * A {@link Client} over threads held in memory, for tests of what the CLI does with a server's
 * answers: the test appends events (a live stream sees them) and can make a thread answer
 * "not found" for its first requests, as a child a pipeline has just named does.
 */
import { ServerError, type Client } from '../../src/cli/client.js';
import { viewOf } from '../../src/runtime/threadView.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../../src/thread/state.js';

export interface FakeClient extends Client {
  /** Adds events to a thread (creating it), as its writer would; open streams see them. */
  append(threadId: string, agent: string, events: readonly NewEvent[]): void;
  /** The next `count` requests about `threadId` (events or get) answer 404, as before it exists. */
  missing(threadId: string, count: number): void;
  /** Requests made so far, as `events <id>` or `get <id>`. */
  readonly requests: readonly string[];
}

export function createFakeClient(): FakeClient {
  const threads = new Map<string, { agent: string; events: ThreadEvent[] }>();
  const notFound = new Map<string, number>();
  const listeners = new Set<() => void>();
  const requests: string[] = [];
  let clock = Date.parse('2026-01-01T00:00:00Z');

  const lookup = (id: string): { agent: string; events: ThreadEvent[] } => {
    const left = notFound.get(id) ?? 0;
    if (left > 0) notFound.set(id, left - 1);
    const thread = threads.get(id);
    if (left > 0 || thread === undefined) throw new ServerError(`thread not found: ${id}`, 404);
    return thread;
  };
  const changed = (): Promise<void> =>
    new Promise((resolve) => {
      const listener = (): void => {
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });
  const unsupported = (): never => {
    throw new Error('not used by these tests');
  };

  return {
    url: 'http://fake',
    requests,
    append(threadId, agent, events) {
      const thread = threads.get(threadId) ?? { agent, events: [] };
      threads.set(threadId, thread);
      for (const event of events) {
        clock += 1000;
        thread.events.push({ ...event, seq: thread.events.length + 1, at: new Date(clock).toISOString() } as ThreadEvent);
      }
      for (const listener of [...listeners]) listener();
    },
    missing(threadId, count) {
      notFound.set(threadId, count);
    },
    async get(id) {
      requests.push(`get ${id}`);
      const thread = lookup(id);
      return viewOf({ id, agent: thread.agent, events: [...thread.events] });
    },
    async *events(id, { afterSeq = 0, signal } = {}) {
      requests.push(`events ${id}`);
      const thread = lookup(id);
      let next = afterSeq;
      for (;;) {
        if (signal?.aborted) return;
        const waiting = changed();
        while (next < thread.events.length) yield thread.events[next++]!;
        // The server closes the stream once the thread ended.
        if (TERMINAL_STATUSES.includes(statusOf(deriveState(thread.events)))) return;
        await Promise.race([waiting, new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }))]);
      }
    },
    launch: unsupported,
    agents: unsupported,
    list: unsupported,
    respond: unsupported,
    control: unsupported,
    delete: unsupported,
  };
}
