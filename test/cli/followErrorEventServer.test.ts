/**
 * A follow (`switchyard launch`, `watch`, `respond`) of a thread that records an `error` event: the
 * server streams it as every event, `event: <type>`, so as `event: error` with its id and the event
 * as data. The client must yield it as the thread event it is, not take it for the server's own
 * `event: error` frame (shutting down, stream failed: `{error}`, no id), which made it reopen the
 * stream before that event again and again and give up 60 s later with "cannot reach switchyard".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { createClient } from '../../src/cli/client.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { within } from '../bus/waiting.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const lookup = tool({ name: 'lookup', description: 'Look it up', input: z.object({ id: z.string() }), idempotent: true, run: ({ id }) => id });
const helper = agent({ name: 'helper', description: 'looks things up', prompt: 'You are {{agent}}.\n{{tools}}', tools: [lookup] });

describe('following a thread that records an error event', () => {
  // QA27 upgrade D1: a model that named a tool the agent no longer has (a deploy renamed it) gave
  // the thread an `error` event, and `switchyard launch` printed nothing more for 60 s, then
  // "cannot reach switchyard at ...: is `switchyard serve` running?" while the server ran.
  it('yields the error event and follows the thread to its end', async () => {
    const model = scriptedModel([{ intent: 'refund', args: { id: 'A-1' } }, { intent: 'done_for_now', args: { message: 'ok' } }]);
    const runtime = createRuntime({ agents: [helper], store: createMemoryStore(), model });
    cleanups.push(() => runtime.close());
    const server = await startHttpServer(runtime, { port: 0, token: '' });
    cleanups.push(() => server.close());
    const { id } = await runtime.launch('helper', 'look A-1 up');
    const ended = await runtime.settled(id);
    expect(ended.events.map((e) => e.type)).toContain('error');

    const client = createClient({ url: server.url, reconnect: { firstDelayMs: 10, maxDelayMs: 20, giveUpAfterMs: 2_000 } });
    const types: string[] = [];
    await within(
      (async () => {
        for await (const event of client.events(id)) types.push(event.type);
      })(),
      10_000,
      'the follow to end',
    );
    expect(types).toEqual(ended.events.map((e) => e.type));
  });
});
