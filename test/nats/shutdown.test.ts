/**
 * A NATS worker closed (`close({ drainMs })`) while a job's tool call runs: the call that finishes
 * within the drain time has its result journaled, and the job runs its thread to rest before the
 * worker lets go, so nothing is left for a human to be asked about.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { heldPublishTool } from '../support/heldTool.js';
import { plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

const prefix = `sy${uniqueToken()}`;
const bucket = `threads_${uniqueToken()}`;
let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((node) => node.close({ drainMs: 1_000 })));
  await server?.stop();
});

describe('a NATS worker closed while a tool call runs', () => {
  it('journals the result of a call that finishes within the drain time', async () => {
    const { publish, started, release, runs } = heldPublishTool();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const model = scriptedModel([], {
      whenExhausted: (request: ModelRequest): ScriptedReply =>
        request.context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
    });
    const common = { agents: [publisher], model, prefix, bucket, observe: false, queue: { ackWaitMs: 5_000, retryDelayMs: 200 } };
    const worker = await startNode(server.url, { ...common, processId: 'worker-1' });
    await client.trigger(`${prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: 'p-1' });
    const signal = await started.promise;

    const closing = worker.close({ drainMs: 3_600_000 });
    const abortedWhileDraining = signal.aborted;
    release.resolve('published');
    await closing;

    const reader = await startNode(server.url, { ...common, processId: 'reader', worker: false });
    nodes.push(reader);
    const stored = (await reader.store.get('trg-p-1'))!;
    expect(stored.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(stored.events[3]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(abortedWhileDraining).toBe(false);
    expect(runs()).toBe(1);
  });
});
