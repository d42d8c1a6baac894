/**
 * A poison job (QA qa23 finding 7): every worker it is delivered to dies with it (or stalls past
 * the ack wait), so no delivery is ever acknowledged. After its last delivery's ack wait the
 * server's max-deliveries advisory makes a process dead-letter it. Its thread, if the trigger
 * created one, must come to rest where a human sees it (escalated, saying why and naming the dead
 * letter), and the trigger's `replyTo` must hear of it; answering runs it again. A trigger whose
 * thread was never created keeps its dead letter, and a warning names the thread id.
 *
 * A worker whose heartbeats never reach NATS and whose model never answers stands in for a
 * worker that dies with the job on each delivery: to the queue both look the same.
 */
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { Job, JobQueue } from '../../src/bus/bus.js';
import type { Logger } from '../../src/logger.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { Model } from '../../src/model/model.js';
import { createNatsBus, type NatsBus } from '../../src/nats/natsBus.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { doneOn, eventually, FAST_RECONNECT, uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();
const QUEUE = { ackWaitMs: 1_000, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver: 3 };
const WAIT_MS = 20_000;

/** A job whose heartbeats never reach NATS (its worker is dead, as far as the queue can tell). */
function frozenJob(job: Job): Job {
  return {
    id: job.id,
    seq: job.seq,
    ...(job.msgId === undefined ? {} : { msgId: job.msgId }),
    subject: job.subject,
    data: job.data,
    headers: job.headers,
    deliveryCount: job.deliveryCount,
    text: () => job.text(),
    json: () => job.json(),
    ack: () => job.ack(),
    nak: (delayMs) => job.nak(delayMs),
    term: (reason) => job.term(reason),
    working: async () => undefined,
  };
}

/** `bus`, whose job queues hand out {@link frozenJob}s (the consume options, its hooks among them, passed on). */
function freezingBus(bus: NatsBus): NatsBus {
  const frozen = (queue: JobQueue): JobQueue => ({ ...queue, consume: (handler, options) => queue.consume((job) => handler(frozenJob(job)), options) });
  return { ...bus, jobQueue: async (name, options) => frozen(await bus.jobQueue(name, options)) };
}

/** A model that never answers (until its request is aborted): the poison that kills each worker. */
const stallingModel: Model = {
  name: 'stalling',
  complete: (request) => new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), { once: true })),
};

/**
 * The worker every delivery of the job goes to: heartbeats frozen, its model stalled (and, with
 * `hangCreates`, its store unable to create a thread). Closing its connection first is it dying.
 */
async function dyingWorker(names: { prefix: string; bucket: string }, logger: Logger, hangCreates = false) {
  const bus = await createNatsBus({ servers: bed.url, connectOptions: FAST_RECONNECT });
  const store: ThreadStore = await createNatsKvStore({ nc: bus.nc, bucket: names.bucket });
  if (hangCreates) store.create = () => new Promise(() => undefined);
  const queues = createAgentQueues({ ...QUEUE, bus: freezingBus(bus), prefix: names.prefix, logger });
  const runtime = createRuntime({ agents: [calculator], store, model: stallingModel, schedule: queues.schedule, logger });
  const surface = await attachBus(runtime, { queues, processId: `poison-${uniqueToken()}`, logger });
  return {
    queues,
    runtime,
    async die(): Promise<void> {
      await bus.close();
      await surface.close({ drainMs: 0 }).catch(() => undefined);
      await runtime.close().catch(() => undefined);
    },
  };
}

const names = () => ({ prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` });

describe('a poison job (delivered maxDeliver times, never acknowledged)', () => {
  it('escalates its thread to a human, naming the dead letter, and reports the escalation to replyTo', async () => {
    const at = names();
    const { logger, out } = capturingLogger('info');
    const worker = await dyingWorker(at, logger);
    try {
      const reply = bed.client.inbox();
      await bed.client.trigger(`${at.prefix}.trigger.calculator`, { input: 'multiply 6 by 7', replyTo: reply.subject }, { msgId: 'p1' });
      const queue = await worker.queues.queue('calculator');
      const letters = await eventually(async () => {
        const stored = await queue.deadLetters();
        return stored.length > 0 ? stored : undefined;
      }, WAIT_MS, 'the dead letter', 100);
      expect(letters).toEqual([expect.objectContaining({ cause: 'max_deliver', reason: 'max deliveries (3) reached: ack wait expired', deliveryCount: 3 })]);
      const letter = letters[0]!;
      const escalated = await eventually(
        async () => {
          const view = await worker.runtime.get('trg-p1');
          return view?.status === 'escalated' ? view : undefined;
        },
        5_000,
        `the thread to be escalated once its job was dead-lettered (it is ${(await worker.runtime.get('trg-p1'))?.status})`,
        100,
      );
      expect(escalated.pendingRequest).toMatchObject({ kind: 'escalation', urgency: 'high' });
      const question = escalated.pendingRequest?.question ?? '';
      expect(question).toMatch(/delivered 3 times/);
      expect(question).toMatch(/no worker finished it/);
      expect(question).toContain(letter.id);
      expect(question).toMatch(/answer.*run.*again/i);
      expect(escalated.events.map((e) => e.type)).toEqual(['input', 'escalation', 'human_request']);
      const [result] = await reply.messages.until(1, WAIT_MS, 'the escalation on replyTo');
      expect(result).toMatchObject({ threadId: 'trg-p1', status: 'escalated', pendingRequest: { kind: 'escalation', question } });
      expect(out.lines.some((line) => (line.level ?? 0) >= 40 && line.threadId === 'trg-p1' && line.agent === 'calculator' && String(line.msg).includes('escalated'))).toBe(true);
      // One dead letter, whatever the number of processes that heard the advisory.
      expect(await queue.deadLetters()).toHaveLength(1);
    } finally {
      await worker.die();
    }
  }, 60_000);

  it('runs the thread again when a human answers the escalation', async () => {
    const at = names();
    const worker = await dyingWorker(at, capturingLogger('info').logger);
    let requestId: string;
    try {
      await bed.client.trigger(`${at.prefix}.trigger.calculator`, { input: 'multiply 6 by 7' }, { msgId: 'p2' });
      const escalated = await eventually(
        async () => {
          const view = await worker.runtime.get('trg-p2');
          return view?.status === 'escalated' ? view : undefined;
        },
        WAIT_MS,
        'the thread to be escalated',
        100,
      );
      requestId = escalated.pendingRequest!.requestId;
    } finally {
      await worker.die();
    }
    // The cause is fixed (a healthy model): a human answers, and a worker runs it to its end.
    const healthy = await bed.node({ agents: [calculator], model: createDemoModel(), prefix: at.prefix, bucket: at.bucket, queue: QUEUE });
    await bed.client.request(`${at.prefix}.thread.trg-p2.respond`, { requestId, answer: 'the model is fixed; go on', by: 'ops' });
    const done = await doneOn(healthy, 'trg-p2', WAIT_MS, 'the answered thread to end');
    expect(done.output).toBe('6 * 7 = 42');
  }, 60_000);

  it('keeps the dead letter of a trigger whose thread was never created, and names the thread in a warning', async () => {
    const at = names();
    const { logger, out } = capturingLogger('info');
    const worker = await dyingWorker(at, logger, true);
    try {
      await bed.client.trigger(`${at.prefix}.trigger.calculator`, { input: 'multiply 6 by 7' }, { msgId: 'p3' });
      const queue = await worker.queues.queue('calculator');
      const [letter] = await eventually(async () => {
        const letters = await queue.deadLetters();
        return letters.length > 0 ? letters : undefined;
      }, WAIT_MS, 'the dead letter', 100);
      expect(letter).toMatchObject({ cause: 'max_deliver', reason: 'max deliveries (3) reached: ack wait expired' });
      const warning = await eventually(async () => out.lines.find((line) => line.level === 40 && line.threadId === 'trg-p3' && line.deadLetter === letter!.id), 5_000, 'the warning naming the thread');
      expect(warning).toMatchObject({ agent: 'calculator' });
      expect(await worker.runtime.get('trg-p3')).toBeUndefined();
      expect(await queue.deadLetters()).toHaveLength(1);
    } finally {
      await worker.die();
    }
  }, 60_000);
});
