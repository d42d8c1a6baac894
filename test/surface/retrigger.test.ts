/**
 * A stopping worker hands back a trigger whose thread was never created as a copy (see
 * `handBack` in src/surface/workerScope.ts). When the copy cannot be enqueued (the queue refuses
 * it, the server is away), the original is handed back as itself: nak'ed at once, so it comes
 * back, never acknowledged with nothing to carry it.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/bus/bus.js';
import { BusError } from '../../src/bus/bus.js';
import { encodePayload, parseJson } from '../../src/bus/busMessage.js';
import type { SurfaceContext } from '../../src/surface/surfaceContext.js';
import { busSubjects, TRIGGER_ID_HEADER } from '../../src/surface/subjects.js';
import { handBack, type WorkerScope } from '../../src/surface/workerScope.js';
import { capturingLogger } from '../support/capturingLogger.js';

/** A trigger job on its first delivery that records how it was settled. */
function triggerJob(subject: string): Job & { settled: string[] } {
  const data = encodePayload({ input: 'go' });
  const settled: string[] = [];
  return {
    id: 'switchyard_publisher:7',
    seq: 7,
    msgId: 'm1',
    subject,
    data,
    headers: { 'Nats-Msg-Id': 'm1', 'Switchyard-Reply-To': 'results.m1' },
    deliveryCount: 1,
    text: () => new TextDecoder().decode(data),
    json: () => parseJson(data),
    ack: async () => void settled.push('ack'),
    nak: async (delayMs?: number) => void settled.push(`nak ${delayMs ?? 0}`),
    term: async () => void settled.push('term'),
    working: async () => undefined,
    settled,
  };
}

/** A worker scope whose runtime has no thread and whose queue's enqueue does `enqueue`. */
function scopeWith(enqueue: (subject: string, payload: unknown, options: unknown) => Promise<{ duplicate: boolean; seq: number }>) {
  const { logger, out } = capturingLogger();
  const subjects = busSubjects('switchyard');
  const ctx = {
    runtime: { get: async () => undefined },
    queues: { queue: async () => ({ name: 'switchyard_publisher', enqueue }), config: { maxDeliver: 5 } },
    bus: { maxMessageBytes: () => Infinity },
    subjects,
    logger,
    maxPayloadBytes: 256 * 1024,
  } as unknown as SurfaceContext;
  const scope = { ctx, jobs: new Map(), running: new Set() } as unknown as WorkerScope;
  return { scope, out, subjects };
}

describe('a trigger handed back by a stopping worker', () => {
  it('whose copy is enqueued: the copy carries its thread id and the original trigger id, and the original is acknowledged', async () => {
    const enqueued: unknown[][] = [];
    const { scope, subjects } = scopeWith(async (...args) => {
      enqueued.push(args);
      return { duplicate: false, seq: 8 };
    });
    const job = triggerJob(subjects.trigger('publisher'));
    await handBack(scope, job, { agent: 'publisher', threadId: 'trg-m1' });
    expect(job.settled).toEqual(['ack']);
    expect(enqueued).toHaveLength(1);
    const [subject, payload, options] = enqueued[0]!;
    expect(subject).toBe(subjects.trigger('publisher'));
    expect(parseJson(payload as Uint8Array)).toEqual({ success: true, data: { input: 'go', threadId: 'trg-m1' } });
    expect(options).toEqual({ msgId: 'handback.switchyard_publisher:7', headers: { 'Switchyard-Reply-To': 'results.m1', [TRIGGER_ID_HEADER]: 'm1' } });
  });

  it('whose copy cannot be enqueued: the original is nak\'ed at once (it comes back), with a warning naming the thread, its agent and why', async () => {
    const { scope, out, subjects } = scopeWith(async () => {
      throw new BusError('unavailable', 'enqueue failed: the server is away');
    });
    const job = triggerJob(subjects.trigger('publisher'));
    await handBack(scope, job, { agent: 'publisher', threadId: 'trg-m1' });
    expect(job.settled).toEqual(['nak 0']);
    expect(out.lines).toContainEqual(
      expect.objectContaining({ level: 40, threadId: 'trg-m1', agent: 'publisher', err: 'enqueue failed: the server is away', msg: 'trigger handed back as itself: its copy could not be enqueued' }),
    );
  });
});
