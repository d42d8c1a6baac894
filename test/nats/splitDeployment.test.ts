import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { multiplyPipeline } from './fixtures/multiplyPipeline.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// Agents and pipelines split over workers: the process that finishes a pipeline's child need not
// know the pipeline; the continuation is a durable job that a process serving the pipeline takes.
const bed = useNatsTestBed();
const model = createDemoModel();

describe('a split deployment', () => {
  it.each([
    ['the pipeline process also knows the agent but does not serve it', true],
    ['the pipeline process has no agents at all', false],
  ])('finishes a pipeline whose child ran in a worker without the pipeline (%s)', async (_, knowsAgent) => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    await bed.node({ ...names, agents: [calculator], pipelines: [], model, processId: 'children' });
    await bed.node({ ...names, agents: knowsAgent ? [calculator] : [], pipelines: [multiplyPipeline], serve: ['times'], model, processId: 'pipelines' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    await bed.client.trigger(`${names.prefix}.trigger.times`, { input: { a: 6, b: 7 }, replyTo: subject }, { msgId: id });
    const [result] = await messages.until(1, 20_000, 'the pipeline result');
    expect(result).toMatchObject({ threadId: `trg-${id}`, agent: 'times', status: 'done', output: '6 * 7 = 42' });
  });
});
