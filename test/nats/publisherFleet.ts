/** The nodes' options of the NATS tests that hold a tool call: a publisher agent on a held tool. */
import { agent } from '../../src/agent/agent.js';
import type { Pipeline } from '../../src/pipeline/pipelineDefinition.js';
import { heldPublishTool, publisherModel, type HeldTool } from '../support/heldTool.js';
import { uniqueToken } from './natsTestKit.js';

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
