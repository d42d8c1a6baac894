/**
 * A thread waiting for a slot (`maxConcurrent`) is told apart from one that runs: its view (from
 * the runtime that queues it) says it is queued, with its place and the supervisor's figures, `show`
 * says so, and a debug line is logged when it is queued. Its stored status stays `running`.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { threadDetails } from '../../src/cli/format.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

describe('a thread waiting for a concurrency slot', () => {
  it('is queued in its view and in show, with how many run of maxConcurrent, and logged at debug', async () => {
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const { logger, out } = capturingLogger('debug');
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model, logger, maxConcurrent: 1 });
    const first = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    const second = await rt.launch('publisher', 'publish again');

    const view = (await rt.get(second.id))!;
    expect(view.status).toBe('running');
    expect(view.queued).toEqual({ position: 1, running: 1, maxConcurrent: 1 });
    expect(threadDetails(view)).toContain('queued   waiting for a slot: 1 running of maxConcurrent 1 (1st in the queue)');
    // The one that holds the slot is not queued.
    expect((await rt.get(first.id))!.queued).toBeUndefined();
    expect(out.lines.find((l) => l.msg === 'thread queued: waiting for a slot')).toMatchObject({ threadId: second.id, agent: 'publisher', running: 1, queued: 1, maxConcurrent: 1 });

    tools.release.resolve('published');
    const done = await rt.settled(second.id);
    expect(done.status).toBe('done');
    expect((await rt.get(second.id))!.queued).toBeUndefined();
    await rt.close();
  });
});
