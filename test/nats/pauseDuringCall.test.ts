/**
 * A thread paused while its tool call runs on a NATS worker: by another process's write (an API
 * process), or through the control subject, which reaches the worker and is answered at once.
 * Either way the pause is recorded at once, the call's result is journaled after it, the thread is
 * paused, and a resume goes on from the result without asking a human and without running the
 * tool again.
 */
import { describe, expect, it } from 'vitest';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { ThreadReply } from '../../src/surface/payloads.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';
import { callHeldOnWorker, publisherFleet } from './publisherFleet.js';

const bed = useNatsTestBed();

const types = (events: readonly ThreadEvent[]) => events.map((e) => e.type);

/** The thread's events once `reader` sees them end with `last`. */
async function eventsEndingWith(reader: NatsNode, threadId: string, last: ThreadEvent['type']): Promise<readonly ThreadEvent[]> {
  return eventually(
    async () => {
      const thread = await reader.store.get(threadId);
      return thread?.events.at(-1)?.type === last ? thread.events : undefined;
    },
    10_000,
    `a ${last} event ending ${threadId}`,
  );
}

describe('pausing a thread while its tool call runs on a NATS worker', () => {
  it('an API process pauses it: the worker journals the result after the pause, and a resume goes on from it', async () => {
    const fleet = publisherFleet();
    const { tools, asked } = fleet;
    const { worker, api, id } = await callHeldOnWorker(bed, fleet);

    // As the API process's HTTP server would.
    expect(await api.runtime.pause(id, { by: 'ops' })).toMatchObject({ status: 'paused' });
    tools.release.resolve('published');
    const paused = await eventsEndingWith(api, id, 'tool_result');
    expect(types(paused)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(paused[3]).toMatchObject({ type: 'control', data: { action: 'pause', by: 'ops' } });
    expect(paused[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect((await api.runtime.get(id))!.status).toBe('paused');
    await eventually(async () => (worker.surface.activeJobs() === 0 ? true : undefined), 10_000, 'the worker to let go of its jobs');

    await api.runtime.resume(id, { by: 'ops' });
    const done = await eventsEndingWith(api, id, 'final');
    expect(types(done)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result', 'control', 'decision', 'final']);
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
  });

  it('a pause on the control subject is answered at once while the call runs: the worker journals the result after the pause, and a resume goes on from it', async () => {
    const { tools, asked, common } = publisherFleet();
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'] });
    await bed.node({ ...common, processId: 'api', worker: false });
    const token = uniqueToken();
    await bed.client.trigger(`${common.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: token });
    const id = `trg-${token}`;
    await tools.started.promise;

    // The `nats` CLI's default timeout (qa23 #4): answered while the call still runs.
    const reply = await bed.client.request<ThreadReply>(`${common.prefix}.thread.${id}.control`, { action: 'pause', by: 'ops' }, 5_000);
    expect(reply).toMatchObject({ ok: true, thread: { id, status: 'paused' } });
    expect(types((await worker.store.get(id))!.events)).toEqual(['input', 'decision', 'tool_call', 'control']);
    tools.release.resolve('published');
    const paused = await eventsEndingWith(worker, id, 'tool_result');
    expect(types(paused)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(paused[3]).toMatchObject({ type: 'control', data: { action: 'pause', by: 'ops' } });
    expect(paused[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect((await worker.runtime.get(id))!.status).toBe('paused');
    await eventually(async () => (worker.surface.activeJobs() === 0 ? true : undefined), 10_000, 'the worker to let go of its jobs');

    expect(await bed.client.request<ThreadReply>(`${common.prefix}.thread.${id}.control`, { action: 'resume', by: 'ops' })).toMatchObject({ ok: true });
    const done = await eventsEndingWith(worker, id, 'final');
    expect(types(done)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result', 'control', 'decision', 'final']);
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher', 'publisher']);
  });
});
