import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { multiplyPipeline } from './fixtures/multiplyPipeline.js';
import { plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

// Agents and pipelines split over workers: the process that finishes a pipeline's child need not
// know the pipeline; the continuation is a durable job that a process serving the pipeline takes.
let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];
const model = createDemoModel();

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((node) => node.close({ drainMs: 1_000 })));
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

async function node(options: Parameters<typeof startNode>[1]): Promise<NatsNode> {
  const started = await startNode(server.url, { queue: { ackWaitMs: 5_000, retryDelayMs: 200, maxDeliver: 3 }, ...options });
  nodes.push(started);
  return started;
}

describe('a split deployment', () => {
  it.each([
    ['the pipeline process also knows the agent but does not serve it', true],
    ['the pipeline process has no agents at all', false],
  ])('finishes a pipeline whose child ran in a worker without the pipeline (%s)', async (_, knowsAgent) => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    await node({ ...names, agents: [calculator], pipelines: [], model, processId: 'children' });
    await node({ ...names, agents: knowsAgent ? [calculator] : [], pipelines: [multiplyPipeline], serve: ['times'], model, processId: 'pipelines' });
    const { subject, messages } = client.inbox<TriggerResult>();
    const id = uniqueToken();
    await client.trigger(`${names.prefix}.trigger.times`, { input: { a: 6, b: 7 }, replyTo: subject }, { msgId: id });
    const [result] = await messages.until(1, 20_000, 'the pipeline result');
    expect(result).toMatchObject({ threadId: `trg-${id}`, agent: 'times', status: 'done', output: '6 * 7 = 42' });
  });
});
