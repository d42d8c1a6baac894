import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { Model } from '../../src/model/model.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually, plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

/** Fails each thread's first decision (an HTTP 503), so the thread backs off; then finishes. */
const flakyModel: Model = {
  name: 'flaky',
  async complete(request) {
    if (!request.context.includes('<error')) return { success: false, error: { kind: 'http', status: 503, message: 'overloaded' } };
    return {
      success: true,
      data: { toolCall: { name: 'done_for_now', arguments: JSON.stringify({ message: 'made it' }) }, usage: { prompt: 1, completion: 1 }, model: 'flaky' },
    };
  },
};
const flaky = agent({
  name: 'flaky',
  description: 'fails once, then finishes',
  prompt: 'You are {{agent}}.\n{{tools}}',
  tools: [],
  model: flakyModel,
  maxSteps: 3,
  backoff: { initialMs: 2_500, jitter: 0 },
});

const prefix = `sy${uniqueToken()}`;
let server: NatsServerHandle;
let worker: NatsNode;
let client: PlainClient;

beforeAll(async () => {
  server = await startNatsServer();
  worker = await startNode(server.url, {
    agents: [calculator, flaky],
    model: createDemoModel(),
    prefix,
    bucket: `threads_${uniqueToken()}`,
    queue: { ackWaitMs: 3_000, retryDelayMs: 200 },
  });
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await worker?.close({ drainMs: 1_000 });
  await server?.stop();
});

/** Restarts the server and waits until both connections and JetStream answer again. */
async function restartServer(): Promise<void> {
  await server.restart();
  await eventually(() => client.nc.flush().then(() => true, () => undefined), 15_000, 'the client to reconnect', 100);
  await eventually(() => worker.bus.flush().then(() => true, () => undefined), 15_000, 'the worker to reconnect', 100);
}

const seqsOf = (events: readonly ThreadEvent[]): number[] => events.map((e) => e.seq);

describe('a nats-server restart', () => {
  it('loses nothing of a thread waiting for a human: it is answered and finishes afterwards', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(`${prefix}.trigger.calculator`, { input: 'what is (3 + 4) / 2', replyTo: subject }, { msgId: 'restart-human' });
    const [waiting] = await messages.until(1, 15_000, 'the awaiting_human result');
    expect(waiting?.status).toBe('awaiting_human');
    const before = (await worker.runtime.get('trg-restart-human'))!.events;

    await restartServer();

    // JetStream may take a moment to come back: retry until the response is taken (a second
    // try of a taken response would be refused as a conflict, never applied twice).
    const reply = await eventually(
      () =>
        client
          .request<ThreadReply>(`${prefix}.thread.trg-restart-human.respond`, { requestId: waiting!.pendingRequest!.requestId, approved: true }, 3_000)
          .then((r) => (r.ok ? r : undefined), () => undefined),
      20_000,
      'the response to be taken',
      200,
    );
    expect(reply.ok).toBe(true);
    const [, done] = await messages.until(2, 20_000, 'the final result');
    expect(done).toMatchObject({ status: 'done', output: '(3 + 4) / 2 = 3.5' });
    const after = (await worker.runtime.get('trg-restart-human'))!.events;
    expect(after.slice(0, before.length)).toEqual(before);
    expect(seqsOf(after)).toEqual(after.map((_, i) => i + 1));
  });

  it('loses nothing of a thread backing off mid-run: its job survives and it finishes', async () => {
    const { subject, messages } = client.inbox<TriggerResult>();
    const errors = client.watch<ThreadEvent>(`${prefix}.events.flaky.trg-restart-backoff.error`);
    await client.trigger(`${prefix}.trigger.flaky`, { input: 'go', replyTo: subject }, { msgId: 'restart-backoff' });
    await errors.until(1, 15_000, 'the error that starts the backoff');

    await restartServer();

    const [done] = await messages.until(1, 30_000, 'the result after the restart');
    expect(done).toMatchObject({ threadId: 'trg-restart-backoff', status: 'done', output: 'made it' });
    const events = (await worker.runtime.get('trg-restart-backoff'))!.events;
    expect(events.map((e) => e.type)).toEqual(['input', 'error', 'decision', 'final']);
    expect(seqsOf(events)).toEqual([1, 2, 3, 4]);
  });

  // In the wild: the KV store's background connection (index entries, summaries, listings) kept
  // nats.js's default of 10 reconnect attempts while the bus reconnects forever; after a longer
  // outage the worker ran threads again, but every listing failed on a closed connection.
  it("keeps the store's background connection through an outage longer than its reconnect attempts", async () => {
    await server.kill();
    // 10 attempts 100 ms apart (FAST_RECONNECT) are spent well before this.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await restartServer();

    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 6 by 7', replyTo: subject }, { msgId: 'after-outage' });
    expect((await messages.until(1, 20_000, 'the result after the outage'))[0]).toMatchObject({ threadId: 'trg-after-outage', status: 'done' });
    // A listing by status reads the index through the background connection.
    const done = async (): Promise<string[]> => (await worker.runtime.list({ agent: 'calculator', status: 'done' })).map((summary) => summary.id);
    await expect.poll(() => done().catch((error: unknown) => [String(error)]), { timeout: 15_000, interval: 250 }).toEqual(expect.arrayContaining(['trg-after-outage']));
  });
});
