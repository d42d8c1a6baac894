/**
 * A follow (`switchyard watch`, `launch`, `respond`) whose API server restarts: the event stream
 * closes without its `end`, and the client reconnects where it was (the stream resumes after the
 * last seq it got) instead of failing, for a bounded time. A server that never answered is still
 * an error at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createClient, UnreachableError } from '../../src/cli/client.js';
import { followThread } from '../../src/cli/follow.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serving(runtime: Runtime, port = 0): Promise<HttpServer> {
  const server = await startHttpServer(runtime, { port, token: '' });
  cleanups.push(() => server.close());
  return server;
}


/** Waits (at most 5 s) until a follower has seen `count` events. */
function eventsSoFar(seen: readonly ThreadEvent[], count: number): Promise<void> {
  return within(
    (async () => {
      while (seen.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5_000,
    'the events so far',
  );
}
describe('following a thread across a restart of its API server', () => {
  // QA: `switchyard watch` exited 1 ("cannot reach switchyard") the moment the old server closed the
  // stream, so a rolling deploy of the API killed every watcher, though the stream can resume.
  it('reconnects after the last event it got, and reports every event once, up to the end', async () => {
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel() });
    cleanups.push(() => runtime.close());
    const { id } = await runtime.launch('calculator', 'what is (3 + 4) / 2');
    const waiting = await runtime.settled(id);
    expect(waiting.status).toBe('awaiting_human');
    const first = await serving(runtime);
    const client = createClient({ url: first.url, reconnect: { firstDelayMs: 20, maxDelayMs: 100, giveUpAfterMs: 10_000 } });

    const seen: ThreadEvent[] = [];
    const following = followThread(client, id, { untilMoved: true, onEvent: (event) => seen.push(event) });
    await eventsSoFar(seen, waiting.version);
    // The server restarts (its streams end without `end`); the thread moves while it is down.
    await first.close();
    await runtime.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    await serving(runtime, first.port);

    const view = await within(following, 10_000, 'the follow to reach the end through the new server');
    expect(view).toMatchObject({ status: 'done', output: '(3 + 4) / 2 = 3.5' });
    expect(seen.map((e) => e.seq)).toEqual(view.events.map((e) => e.seq));
  });

  // QA22 http #4: it resumed with ?after=<seq>, so a thread deleted and launched again under its id
  // meanwhile had its first events skipped (or, shorter, nothing came and the follow waited for ever).
  it('tells a thread deleted and launched again under its id while the stream was cut from the one it followed', async () => {
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel() });
    cleanups.push(() => runtime.close());
    const { id } = await runtime.launch('calculator', 'what is (3 + 4) / 2', { threadId: 'again-1' });
    const waiting = await runtime.settled(id);
    const first = await serving(runtime);
    const client = createClient({ url: first.url, reconnect: { firstDelayMs: 20, maxDelayMs: 100, giveUpAfterMs: 10_000 } });

    const seen: ThreadEvent[] = [];
    const abort = new AbortController();
    cleanups.push(async () => abort.abort());
    const following = (async () => {
      for await (const event of client.events(id, { signal: abort.signal })) seen.push(event);
    })();
    await eventsSoFar(seen, waiting.version);
    await first.close();
    await runtime.cancel(id);
    await runtime.delete(id);
    await new Promise((resolve) => setTimeout(resolve, 5)); // another creation instant
    await runtime.launch('calculator', 'what is (3 + 4) / 2', { threadId: 'again-1' });
    expect((await runtime.settled(id)).version).toBe(waiting.version);
    await serving(runtime, first.port);

    await expect(within(following, 5_000, 'the follow to fail')).rejects.toThrow('thread again-1 was deleted and launched again under its id while its event stream was cut');
    expect(seen.map((e) => e.seq)).toEqual(waiting.events.map((e) => e.seq));
  });

  it('still fails at once when the server never answered', async () => {
    const client = createClient({ url: 'http://127.0.0.1:9', reconnect: { firstDelayMs: 20, maxDelayMs: 100, giveUpAfterMs: 10_000 } });
    await expect(within(followThread(client, 'th-none'), 5_000, 'the failure')).rejects.toBeInstanceOf(UnreachableError);
  });
});
