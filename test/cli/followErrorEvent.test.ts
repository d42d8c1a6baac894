/**
 * A follow (`switchyard launch`, `watch`, `respond`) of a thread whose log holds an `error` event.
 * The event stream names each frame after its event's type, so that event comes as `event: error`,
 * the name the server also gives its own "the stream failed / shutting down" notice (`{error}`, no
 * id, no seq). The client must tell the two apart: a thread event is reported, the notice reconnects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createClient } from '../../src/cli/client.js';
import { followThread } from '../../src/cli/follow.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('following a thread that recorded an error', () => {
  // QA27 observe D1: `watch` of such a thread printed the events before the error, then hung
  // (the client took the thread's `event: error` frame for the server's notice and reconnected
  // after the same seq, again and again) until it gave up: "cannot reach switchyard".
  it('reports the error event and the rest, up to the end', async () => {
    const model = scriptedModel([{ error: { kind: 'http', status: 500, message: 'upstream down' } }, { intent: 'done_for_now', args: { message: 'ok' } }]);
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model });
    cleanups.push(() => runtime.close());
    const { id } = await runtime.launch('calculator', 'what is 1 + 1');
    const ended = await runtime.settled(id);
    expect(ended.status).toBe('done');
    expect(ended.events.map((e) => e.type)).toContain('error');

    const server = await startHttpServer(runtime, { port: 0, token: '' });
    cleanups.push(() => server.close());
    const client = createClient({ url: server.url, reconnect: { firstDelayMs: 10, maxDelayMs: 20, giveUpAfterMs: 2_000 } });
    const seen: ThreadEvent[] = [];
    const view = await within(followThread(client, id, { onEvent: (event) => seen.push(event) }), 10_000, 'the follow to end');

    expect(view.status).toBe('done');
    expect(seen.map((e) => e.type)).toEqual(ended.events.map((e) => e.type));
  });
});
