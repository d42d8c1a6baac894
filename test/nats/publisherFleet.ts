/** The nodes' options of the NATS tests that hold a tool call: a publisher agent on a held tool. */
import { agent } from '../../src/agent/agent.js';
import type { Pipeline } from '../../src/pipeline/pipelineDefinition.js';
import { heldPublishTool, publisherModel, type HeldTool } from '../support/heldTool.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { uniqueToken, type NatsTestBed } from './natsTestKit.js';

/**
 * A publisher agent on a held tool (and `pipelines`), a model that counts its decisions, and the
 * options every node of the test shares (its own prefix and bucket).
 */
export function publisherFleet(pipelines: readonly Pipeline[] = []) {
  const tools: HeldTool = heldPublishTool();
  const { model, asked } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const common = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}`, agents: [publisher], pipelines, model };
  return { tools, asked, common };
}

/**
 * A worker node and an API node (no worker) of `fleet`, and a thread a trigger launched on the
 * worker, its publish call held: what another process's control meets.
 */
export async function callHeldOnWorker(bed: NatsTestBed, fleet: ReturnType<typeof publisherFleet>): Promise<{ worker: NatsNode; api: NatsNode; id: string }> {
  const { tools, common } = fleet;
  const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'] });
  const api = await bed.node({ ...common, processId: 'api', worker: false });
  const token = uniqueToken();
  await bed.client.trigger(`${common.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: token });
  await tools.started.promise;
  return { worker, api, id: `trg-${token}` };
}
