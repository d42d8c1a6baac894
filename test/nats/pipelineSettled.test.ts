import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { childThreadId } from '../../src/pipeline/pipeline.js';
import { halve, outer } from '../support/nestedPipelines.js';
import { eventually, uniqueToken, useNatsTestBed, within } from './natsTestKit.js';

// `settled` of a pipeline resolves once it waits on a child (README: "a pipeline also when it
// waits on a child"), read from the pipeline's log and its child's status: also in a process
// where no actor of the pipeline ever ran (an API process, `serve --no-worker`), and after the
// pipeline's actor rested (the wait begun later).
const bed = useNatsTestBed();
const WAIT_MS = 20_000;
const model = createDemoModel();

describe('settled of a pipeline over NATS', () => {
  it.each([
    ['in an API process that runs no worker', false],
    ['in the worker process, called after the pipeline rested', true],
  ])('resolves while its child waits for a human (%s)', async (_, inWorker) => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const worker = await bed.node({ ...names, agents: [calculator], pipelines: [halve, outer], model, processId: 'worker' });
    const api = inWorker ? worker : await bed.node({ ...names, agents: [calculator], pipelines: [halve, outer], model, processId: 'api', worker: false });
    const id = `ps-${uniqueToken()}`;
    await api.runtime.launch('halve', {}, { threadId: id });
    const childId = childThreadId(id, 'divide');
    await eventually(async () => ((await api.runtime.get(childId))?.status === 'awaiting_human' ? true : undefined), WAIT_MS, 'the child to wait for a human');
    const view = await within(api.runtime.settled(id), 5_000, 'settled of the pipeline waiting on its child');
    expect(view).toMatchObject({ id, status: 'running' });
  });

  it('resolves in an API process for a pipeline whose grandchild waits for a human', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    await bed.node({ ...names, agents: [calculator], pipelines: [halve, outer], model, processId: 'worker' });
    const api = await bed.node({ ...names, agents: [calculator], pipelines: [halve, outer], model, processId: 'api', worker: false });
    const id = `pn-${uniqueToken()}`;
    await api.runtime.launch('outer', {}, { threadId: id });
    const waiting = childThreadId(childThreadId(id, 'half'), 'divide');
    await eventually(async () => ((await api.runtime.get(waiting))?.status === 'awaiting_human' ? true : undefined), WAIT_MS, 'the grandchild to wait for a human');
    const view = await within(api.runtime.settled(id), 5_000, 'settled of the top pipeline');
    expect(view).toMatchObject({ id, status: 'running' });
  });
});
