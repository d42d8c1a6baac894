/**
 * A thread deleted through one process of a NATS deployment reaches every other process: their
 * followers (`watch`, `settled`, an SSE stream) end as deleted at once, and their callbacks of the
 * thread under way or waiting to retry are dropped. A notice of a deleted incarnation heard after
 * the id was launched again leaves the new thread's followers and callbacks alone.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { NotFoundError } from '../../src/errors.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import type { CallbackDelivery } from '../../src/surface/callbacks.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { threadOf } from '../support/agentHarness.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { publishCallStarted } from '../support/heldTool.js';
import { openSse } from '../server/harness.js';
import { startReceiver } from '../server/receiver.js';
import { eventually, jobsSettled, uniqueToken, useNatsTestBed, within } from './natsTestKit.js';

const bed = useNatsTestBed();
const SECRET = 'whsec_deletion_notice';

/** A `publish` tool whose calls cannot run past 1 s: the deleting process waits that (+ 10 s) for a call's outcome. */
const quickPublish = tool({ name: 'publish', description: 'publishes the post', input: z.object({ post: z.string() }), timeoutMs: 1_000, run: async () => 'published' });
const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [quickPublish] });

/** Fresh subjects and bucket for one test's deployment. */
function deployment(): { prefix: string; bucket: string } {
  return { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
}

/** Collects a watch's events; resolves once it ends. */
function follow(node: NatsNode, threadId: string): { events: ThreadEvent[]; ended: Promise<void> } {
  const events: ThreadEvent[] = [];
  const ended = (async () => {
    for await (const event of node.runtime.watch(threadId)) events.push(event);
  })();
  return { events, ended };
}

describe('a deletion on NATS reaches the other processes', () => {
  it('followers in another API process (watch, settled, an SSE stream) end as deleted at once, not when their wait for a call’s outcome runs out', async () => {
    const names = deployment();
    // The deleting process knows the publisher (its call's outcome cannot come after 11 s); the
    // other one does not, and waits 2 minutes from the call's start for it.
    const a = await bed.node({ ...names, agents: [publisher], model: createDemoModel(), worker: false, processId: 'api-a' });
    const b = await bed.node({ ...names, agents: [calculator], model: createDemoModel(), worker: false, processId: 'api-b' });
    const http = await startHttpServer(b.runtime, { port: 0, token: '' });
    try {
      // Cancelled 30 s ago while its call ran in a worker: the outcome is awaited until 90 s from now on b.
      const cancel: NewEvent = { type: 'control', data: { action: 'cancel' } };
      await a.store.create(threadOf('t1', 'publisher', [...publishCallStarted('t1'), cancel], Date.now() - 30_000));
      const watching = follow(b, 't1');
      const settling = b.runtime.settled('t1');
      settling.catch(() => undefined);
      const sse = await openSse(`${http.url}/threads/t1/events`);
      try {
        await sse.until((f) => f.event === 'control');
        await eventually(async () => (watching.events.length === 4 ? true : undefined), 5_000, 'the watch on b to read the stored events');

        await a.runtime.delete('t1');

        await within(watching.ended, 5_000, 'the watch on b to end');
        await expect(within(settling, 5_000, 'settled on b to reject')).rejects.toBeInstanceOf(NotFoundError);
        const rest = (await within(sse.until((f) => f.event === 'end'), 5_000, 'the SSE stream on b to end')).filter((f) => f.event !== undefined);
        expect(rest.map((f) => f.event)).toEqual(['end']);
        expect(JSON.parse(rest[0]!.data!)).toEqual({ status: null, deleted: true });
        expect(watching.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'control']);
      } finally {
        sse.close();
      }
    } finally {
      await http.close();
    }
  });

  it('a callback a worker waits to retry (its receiver down) is dropped, never sent once the receiver is back', async () => {
    const names = deployment();
    const deliveries: CallbackDelivery[] = [];
    const a = await bed.node({ ...names, agents: [calculator], model: createDemoModel(), worker: false, callbacks: false, processId: 'api-a' });
    const b = await bed.node({
      ...names,
      agents: [calculator],
      model: createDemoModel(),
      observe: false,
      processId: 'worker-b',
      callbacks: { secret: SECRET, attempts: 4, initialDelayMs: 3_000, onDelivery: (d) => deliveries.push(d) },
    });
    // Down (503) for the first attempt, up from then on.
    const receiver = await startReceiver([503, 200]);
    try {
      await a.runtime.launch('calculator', 'multiply 2 by 21', { threadId: 'cb-1', source: { kind: 'http', replyTo: receiver.url } });
      const [first] = await receiver.waitFor(1);
      expect(JSON.parse(first!.body)).toMatchObject({ type: 'thread.finished', threadId: 'cb-1' });

      await a.runtime.delete('cb-1');

      const delivery = await eventually(async () => deliveries.find((d) => d.threadId === 'cb-1'), 15_000, 'the worker to settle the callback');
      expect(delivery).toMatchObject({ ok: false, deleted: true, attempts: 1 });
      // A callback dropped for its thread's deletion is owed to nobody (checkCallback): the job is
      // acked, not failed again and not dead-lettered.
      await jobsSettled(bed.client, names.prefix, ['calculator']);
      expect(receiver.received).toHaveLength(1);
      expect(deliveries.filter((d) => d.threadId === 'cb-1')).toHaveLength(1);
      expect(await (await b.queues.queue('calculator')).deadLetters()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('a notice of a deleted incarnation heard after the id was launched again leaves the new thread’s followers and callback alone', async () => {
    const names = deployment();
    const deliveries: CallbackDelivery[] = [];
    const { logger, out } = capturingLogger('debug');
    const a = await bed.node({ ...names, agents: [calculator], model: createDemoModel(), worker: false, callbacks: false, processId: 'api-a' });
    const b = await bed.node({
      ...names,
      agents: [calculator],
      model: createDemoModel(),
      processId: 'worker-b',
      logger,
      callbacks: { secret: SECRET, attempts: 4, initialDelayMs: 3_000, onDelivery: (d) => deliveries.push(d) },
    });
    const notices = bed.client.watch(`${names.prefix}.deleted.>`);
    await bed.client.nc.flush();
    const done: NewEvent[] = [{ type: 'input', data: { input: 'x' } }, { type: 'final', data: { output: 'ok' } }];
    await a.store.create(threadOf('t3', 'calculator', done, Date.now() - 60_000));
    await a.runtime.delete('t3');
    const [notice] = await notices.until(1, 5_000, 'the deletion notice of t3');

    // Launched again: it waits for an approval, its callback for that waiting to retry (503).
    const receiver = await startReceiver([503, 200]);
    try {
      await a.runtime.launch('calculator', 'what is 8 / 2', { threadId: 't3', source: { kind: 'http', replyTo: receiver.url } });
      const [asked] = await receiver.waitFor(1);
      const request = JSON.parse(asked!.body) as { type: string; pendingRequest: { requestId: string } };
      expect(request.type).toBe('thread.human_request');
      const watching = follow(b, 't3');
      await eventually(async () => (watching.events.some((e) => e.type === 'human_request') ? true : undefined), 5_000, 'the watch on b to read the request');

      // A notice that is not one (an incarnation of another id) is refused with a warning.
      bed.client.nc.publish(notice!.subject, JSON.stringify({ ...(notice!.data as object), incarnation: 'other@mxbc0rgr' }));
      const refused = await eventually(async () => out.lines.find((l) => l.msg === 'deletion notice ignored: not a valid notice'), 5_000, 'b to refuse the notice');
      expect(refused).toMatchObject({ level: 40, subject: notice!.subject, err: 'incarnation: incarnation must be the thread id, then @ and its incarnation' });
      // The earlier incarnation's notice again (late, or twice), heard by b.
      const before = out.lines.length;
      bed.client.nc.publish(notice!.subject, JSON.stringify(notice!.data));
      const heard = await eventually(async () => out.lines.slice(before).find((l) => l.msg?.startsWith('deletion notice') === true && l.threadId === 't3'), 5_000, 'b to hear the notice again');

      const [, sent] = await receiver.waitFor(2);
      expect(JSON.parse(sent!.body)).toMatchObject({ type: 'thread.human_request', threadId: 't3' });
      const delivered = await eventually(async () => deliveries.find((d) => d.threadId === 't3'), 5_000, 'the worker to settle the callback');
      expect(delivered).toMatchObject({ ok: true, attempts: 2 });
      await a.runtime.respond('t3', { requestId: request.pendingRequest.requestId, approved: true });
      await within(watching.ended, 15_000, 'the watch on b to end with the thread');
      expect(watching.events.at(-1)?.type).toBe('final');
      expect((await a.runtime.get('t3'))?.status).toBe('done');
      expect(heard.msg).toBe('deletion notice: the thread is there, only followers of the incarnation deleted end');
    } finally {
      await receiver.close();
    }
  });
});
