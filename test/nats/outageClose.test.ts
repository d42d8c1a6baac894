/**
 * A NATS worker told to stop (SIGTERM: `close({ drainMs })`) while its nats-server is away, with a
 * job in flight, keeps its drain's promise: nothing it waits for can complete until NATS is back
 * (the hand-back reads the thread and enqueues on a dead connection), so it stops waiting at its
 * deadline, names the job it leaves unacknowledged, and the queue delivers that job again once the
 * server is back: another worker finishes the thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { Model, ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { heldPublishTool } from '../support/heldTool.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { doneOn, eventually, plainClient, startNode, uniqueToken, within, type PlainClient } from './natsTestKit.js';

/** How long the close lets the tool call in progress run. */
const DRAIN_MS = 1_000;
/**
 * What the close may take past its drain time, generous for a loaded 2-core machine: a bound on
 * behaviour (the close ends), not a measure of speed. Before the fix it took over 20 s (or never ended).
 */
const PAST_DRAIN_MS = 15_000;

let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((node) => node.close({ drainMs: 500 })));
  await server?.stop();
});

/** Publishes, then is done. */
const publishThenDone = (): Model =>
  scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply =>
      request.context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
  });

describe('a NATS worker closed while its nats-server is down and a job is in flight', () => {
  it('closes within its drain time and a bound, names the job it leaves unacknowledged, and a worker after the restart finishes the thread', async () => {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    // An idempotent call held until the test lets it go (it ignores its abort, as many tools do):
    // the next worker runs it again.
    const { publish, started, release, runs } = heldPublishTool({ idempotent: true });
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const common = { agents: [publisher], ...own, observe: false, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } };
    const { logger, out } = capturingLogger();
    const workerA = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-a', logger });
    try {
      await client.trigger(`${own.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'outage' });
      await started.promise;

      // A crash of the server (its JetStream data stays), then the worker is told to stop.
      await server.kill();
      await within(workerA.close({ drainMs: DRAIN_MS }), DRAIN_MS + PAST_DRAIN_MS, 'the close of the worker while NATS is down');
      const abandoned = out.lines.filter((line) => line.level === 40 && line.threadId === 'trg-outage' && /left unacknowledged/.test(String(line.msg)));
      expect(abandoned).toEqual([expect.objectContaining({ threadId: 'trg-outage', agent: 'publisher' })]);
    } finally {
      // Worker A's process has exited by now, and its call with it.
      release.resolve('published');
    }

    await server.restart();
    await eventually(() => client.nc.flush().then(() => true, () => undefined), 15_000, 'the client to reconnect', 100);
    const workerB = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-b' });
    nodes.push(workerB);
    // The job A left unacknowledged comes back (after its ack wait at most) and B runs the thread to its end.
    const done = await doneOn(workerB, 'trg-outage', 30_000, 'worker B to finish the thread worker A left');
    // The idempotent call A left without a result is run again by B (a second attempt), then the thread ends.
    expect(done.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(done.events[3]).toMatchObject({ type: 'tool_call', data: { tool: 'publish', attempt: 2 } });
    expect(done.events[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(runs()).toBe(2);
  }, 90_000);
});
