/**
 * A thread cancelled by another process while its tool call runs on a NATS worker: the call's
 * result is still journaled (after the cancel, which the other process wrote), the thread stays
 * cancelled, and the worker takes no step after it.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { controlStep } from '../../src/agent/controlStep.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadReply } from '../../src/surface/payloads.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import type { CallbackPayload } from '../../src/surface/callbacks.js';
import type { HeldTool } from '../support/heldTool.js';
import { startReceiver } from '../server/receiver.js';
import { eventually, jobsSettled, uniqueToken, useNatsTestBed, within } from './natsTestKit.js';
import { callHeldOnWorker, publisherFleet } from './publisherFleet.js';

const bed = useNatsTestBed();

const types = (events: readonly ThreadEvent[]) => events.map((e) => e.type);

/** Publishes through the publisher. */
const ship = pipeline({ name: 'ship', description: 'publishes through the publisher', input: z.object({}), output: z.unknown() })
  .agent({ name: 'post', agent: 'publisher', input: () => 'publish hello' })
  .finish(({ results }) => results.post);

/** Releases the held call and waits until `reader` sees its result journaled and the worker has let go of every job. */
async function released(tools: HeldTool, reader: NatsNode, worker: NatsNode, threadId: string): Promise<readonly ThreadEvent[]> {
  tools.release.resolve('published');
  const events = await eventually(
    async () => {
      const thread = await reader.store.get(threadId);
      return thread?.events.some((e) => e.type === 'tool_result') ? thread.events : undefined;
    },
    10_000,
    `the tool_result of ${threadId}`,
  );
  await eventually(async () => (worker.surface.activeJobs() === 0 ? true : undefined), 10_000, 'the worker to let go of its jobs');
  return events;
}

/** What the log shows after the call was released: the result, the cancel, nothing decided after either. */
function expectResultKept(events: readonly ThreadEvent[], cancelledBy: Record<string, unknown>): void {
  const types = events.map((e) => e.type);
  expect(types.slice(0, 3)).toEqual(['input', 'decision', 'tool_call']);
  expect([...types.slice(3)].sort()).toEqual(['control', 'tool_result']);
  expect(events.find((e) => e.type === 'tool_result')).toMatchObject({ data: { tool: 'publish', result: 'published' } });
  expect(events.find((e) => e.type === 'control')).toMatchObject({ data: { action: 'cancel', ...cancelledBy } });
}

describe('cancelling from another process while a tool call runs on a NATS worker', () => {
  it('keeps the result of the call: an API process cancels a thread that a worker runs', async () => {
    const fleet = publisherFleet([ship]);
    const { tools, asked } = fleet;
    const { worker, api, id } = await callHeldOnWorker(bed, fleet);

    // As the API process's HTTP server would.
    expect(await api.runtime.cancel(id, { by: 'qa' })).toMatchObject({ status: 'cancelled' });
    const events = await released(tools, api, worker, id);

    expectResultKept(events, { by: 'qa' });
    expect((await api.runtime.get(id))!.status).toBe('cancelled');
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
  });

  it("keeps the result of the call: a pipeline's cancel cascades to its child while the child's call runs on another worker", async () => {
    const { tools, asked, common } = publisherFleet([ship]);
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'] });
    const pipelines = await bed.node({ ...common, processId: 'pipelines', serve: ['ship'] });
    const token = uniqueToken();
    await bed.client.trigger(`${common.prefix}.trigger.ship`, { input: {} }, { msgId: token });
    const id = `trg-${token}`;
    const childId = childThreadId(id, 'post');
    await tools.started.promise;

    expect(await pipelines.runtime.cancel(id, { by: 'qa' })).toMatchObject({ status: 'cancelled' });
    const events = await released(tools, pipelines, worker, childId);

    expectResultKept(events, { reason: `pipeline ${id} cancelled`, by: 'qa' });
    expect((await pipelines.runtime.get(childId))!.status).toBe('cancelled');
    expect((await pipelines.runtime.get(id))!.status).toBe('cancelled');
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
  });

  it('answers at once and keeps the result: a control request on NATS reaches the worker that runs the thread, which tells the call to stop and records its outcome after the cancel', async () => {
    const { tools, asked, common } = publisherFleet([ship]);
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'] });
    await bed.node({ ...common, processId: 'api', worker: false });
    const token = uniqueToken();
    await bed.client.trigger(`${common.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: token });
    const id = `trg-${token}`;
    const signal = await tools.started.promise;

    // The `nats` CLI's default timeout (qa23 #4): answered while the call (which ignores its signal) still runs.
    const reply = await bed.client.request<ThreadReply>(`${common.prefix}.thread.${id}.control`, { action: 'cancel', by: 'qa' }, 5_000);
    expect(reply).toMatchObject({ ok: true, thread: { id, status: 'cancelled' } });
    expect(types((await worker.store.get(id))!.events)).toEqual(['input', 'decision', 'tool_call', 'control']);
    // The worker's actor got the cancel: the tool is told to stop, and finishes anyway.
    await within(new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve, { once: true }))), 5_000, 'the call told to stop');
    const events = await released(tools, worker, worker, id);

    expect(types(events)).toEqual(['input', 'decision', 'tool_call', 'control', 'tool_result']);
    expect(events[3]).toMatchObject({ type: 'control', data: { action: 'cancel', by: 'qa' } });
    expect(events[4]).toMatchObject({ type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect((await worker.runtime.get(id))!.status).toBe('cancelled');
    expect(tools.runs()).toBe(1);
    expect(asked).toEqual(['publisher']);
  });

  it('does not run a recorded call of a tool that is not idempotent when another process cancelled the thread between the decision and its execute step', async () => {
    const { tools, asked, common } = publisherFleet([ship]);
    tools.release.resolve('published'); // a call that runs returns at once
    const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'] });
    const api = await bed.node({ ...common, processId: 'api', worker: false });
    const token = uniqueToken();
    const id = `trg-${token}`;
    // The worker's decision (its call recorded with it) lands; before the worker goes on, the API
    // process writes a cancel to the store itself (as it does when the worker did not answer its
    // forwarded request in time), so the cancel never reaches the worker's actor.
    const inner = worker.store.append.bind(worker.store);
    const otherDeps = { store: api.store, clock: systemClock, model: common.model, logger: silentLogger() };
    worker.store.append = async (threadId, expectedVersion, events) => {
      const written = await inner(threadId, expectedVersion, events);
      if (threadId === id && events.some((e) => e.type === 'tool_call') && events.some((e) => e.type === 'decision')) {
        await controlStep(otherDeps, id, { action: 'cancel', by: 'qa' });
      }
      return written;
    };
    await bed.client.trigger(`${common.prefix}.trigger.publisher`, { input: 'publish hello' }, { msgId: token });

    const events = await eventually(
      async () => {
        const thread = await api.store.get(id);
        return thread !== undefined && thread.events.length >= 5 ? thread.events : undefined;
      },
      10_000,
      `what ${id} records after the cancel`,
    );
    await eventually(async () => (worker.surface.activeJobs() === 0 ? true : undefined), 10_000, 'the worker to let go of its jobs');

    const call = events[2]!;
    expect(events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control', 'error']);
    expect(events[3]).toMatchObject({ type: 'control', data: { action: 'cancel', by: 'qa' } });
    expect(events[4]).toMatchObject({
      type: 'error',
      data: { kind: 'tool_error', tool: 'publish', callId: call.type === 'tool_call' ? call.data.callId : '', message: 'publish was not run: cancel requested' },
    });
    expect(tools.runs()).toBe(0);
    expect((await api.runtime.get(id))!.status).toBe('cancelled');
    expect(asked).toEqual(['publisher']);
  });

  it('calls an HTTP launch back with the final view only: the worker reports the rest after it records the outcome', async () => {
    const { tools, common } = publisherFleet([ship]);
    const origin = await startReceiver();
    try {
      const worker = await bed.node({ ...common, processId: 'worker', serve: ['publisher'], callbacks: { secret: 'whsec_cancel_call', initialDelayMs: 10 } });
      const api = await bed.node({ ...common, processId: 'api', worker: false, callbacks: false });
      const { id } = await api.runtime.launch('publisher', 'publish hello', { source: { kind: 'http', replyTo: origin.url } });
      await tools.started.promise;

      expect(await api.runtime.cancel(id, { by: 'qa' })).toMatchObject({ status: 'cancelled', version: 4 });
      const events = await released(tools, api, worker, id);

      expectResultKept(events, { by: 'qa' });
      // Every job of the thread settled (the cancel's own continuation job too): a job calls back before its ack.
      await jobsSettled(bed.client, common.prefix, ['publisher']);
      // At least once: the cancel's continuation job may report the same rest again (same id).
      const bodies = origin.received.map((r) => JSON.parse(r.body) as CallbackPayload);
      expect(bodies.length).toBeGreaterThan(0);
      for (const body of bodies) {
        expect(body).toMatchObject({ id: `${incarnationKeyOf((await api.runtime.get(id))!)}:5`, type: 'thread.finished', status: 'cancelled', version: 5, by: 'qa' });
        expect(body).not.toHaveProperty('unrecordedCall');
      }
    } finally {
      await origin.close();
    }
  });
});
