/**
 * A poison job (QA qa23 finding 7): every worker it is delivered to dies with it, so no delivery
 * is ever acknowledged. After its last delivery's ack wait the server's max-deliveries advisory
 * makes a process (the worker started after the last death) dead-letter it. Its thread, if the
 * trigger created it, must come to rest where a human sees it (escalated, saying why and naming
 * the dead letter), and the trigger's `replyTo` must hear of it; answering runs it again. A
 * trigger whose thread was never created keeps its dead letter, and a warning names the thread id.
 * A pipeline's own thread, whose step kills every worker, is escalated in the same way (it used to
 * be left `running` for good, logged at error).
 *
 * Each worker dies (its NATS connection closed first, then the rest of it) once the job reaches
 * its model (or, for a thread never created, its store's create): as a model or a tool that
 * crashes the process would. The next worker is started in its place, as a supervisor would.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import type { Logger } from '../../src/logger.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { Model } from '../../src/model/model.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import type { DeadLetter } from '../../src/bus/bus.js';
import { createAgentQueues, type AgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { deferred, doneOn, eventually, FAST_RECONNECT, uniqueToken, useNatsTestBed, within } from './natsTestKit.js';

const bed = useNatsTestBed();
const QUEUE = { ackWaitMs: 1_000, retryDelayMs: 100, maxRetryDelayMs: 200, maxDeliver: 3 };
const WAIT_MS = 20_000;

interface Worker {
  readonly queues: AgentQueues;
  readonly runtime: Runtime;
  /** Resolves once a job reached the poison (its model, or with `poisonedCreates` its store's create). */
  readonly poisoned: Promise<void>;
  /** Dies: its connection closed first (nothing it does after that reaches NATS), then the rest. */
  die(): Promise<void>;
}

/** The dead letters of `agent`'s queue on `worker`, once there is one. */
async function deadLettersOf(worker: Worker, agent: string): Promise<DeadLetter[]> {
  const queue = await worker.queues.queue(agent);
  return eventually(async () => {
    const letters = await queue.deadLetters();
    return letters.length > 0 ? letters : undefined;
  }, WAIT_MS, 'the dead letter', 100);
}

/** Thread `threadId` once escalated (`what` names it in the timeout's message). */
function escalatedView(worker: Worker, threadId: string, what: string): Promise<ThreadView> {
  return eventually(
    async () => {
      const view = await worker.runtime.get(threadId);
      return view?.status === 'escalated' ? view : undefined;
    },
    5_000,
    `${what} ${threadId} to be escalated once its job was dead-lettered`,
    100,
  );
}

/** Where the poison is: the model (the default), the store's create, or the code step of the pipeline `crashing`. */
type Poisoned = 'model' | 'create' | 'pipeline';

/** A worker whose model (or its store's create, or its pipeline's code step) never answers, until it dies. */
async function worker(names: { prefix: string; bucket: string }, logger: Logger, poisonedAt: Poisoned = 'model'): Promise<Worker> {
  const poisoned = deferred();
  const dead = deferred();
  const poison = <T>(): Promise<T> => {
    poisoned.resolve();
    return dead.promise.then(() => Promise.reject(new Error('the process died')));
  };
  const model: Model = { name: 'poisoned', complete: () => poison() };
  const crashing = pipeline({ name: 'crashing', description: 'a code step that kills its worker', input: z.unknown(), output: z.unknown() })
    .code({ name: 'crash', run: () => poison<null>() })
    .finish(({ results }) => results.crash);
  const bus = await createNatsBus({ servers: bed.url, connectOptions: FAST_RECONNECT });
  const store: ThreadStore = await createNatsKvStore({ nc: bus.nc, bucket: names.bucket });
  if (poisonedAt === 'create') store.create = () => poison();
  const queues = createAgentQueues({ ...QUEUE, bus, prefix: names.prefix, logger });
  const runtime = createRuntime({ agents: [calculator], pipelines: [crashing], store, model, schedule: queues.schedule, logger });
  const surface = await attachBus(runtime, { queues, processId: `poison-${uniqueToken()}`, logger });
  let dying: Promise<void> | undefined;
  return {
    queues,
    runtime,
    poisoned: poisoned.promise,
    die() {
      dying ??= (async () => {
        await bus.close();
        dead.resolve();
        await surface.close({ drainMs: 0 }).catch(() => undefined);
        await runtime.close().catch(() => undefined);
      })();
      return dying;
    },
  };
}

/**
 * Publishes a trigger, lets each of `QUEUE.maxDeliver` workers die with it in turn, and resolves
 * with the worker started after the last death (it hears the max-deliveries advisory).
 */
async function poisonRun(names: { prefix: string; bucket: string }, logger: Logger, trigger: Record<string, unknown>, msgId: string, poisonedAt: Poisoned = 'model'): Promise<Worker> {
  let current = await worker(names, logger, poisonedAt);
  await bed.client.trigger(`${names.prefix}.trigger.${poisonedAt === 'pipeline' ? 'crashing' : 'calculator'}`, trigger, { msgId });
  for (let delivery = 1; delivery <= QUEUE.maxDeliver; delivery++) {
    try {
      await within(current.poisoned, WAIT_MS, `delivery ${delivery} to reach its poison`);
    } finally {
      await current.die();
    }
    current = await worker(names, logger, poisonedAt);
  }
  return current;
}

const names = () => ({ prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` });

describe('a poison job (delivered maxDeliver times, each worker dying with it)', () => {
  it('escalates its thread to a human, naming the dead letter, and reports the escalation to replyTo', async () => {
    const at = names();
    const { logger, out } = capturingLogger('info');
    const reply = bed.client.inbox();
    const last = await poisonRun(at, logger, { input: 'multiply 6 by 7', replyTo: reply.subject }, 'p1');
    try {
      const queue = await last.queues.queue('calculator');
      const letters = await deadLettersOf(last, 'calculator');
      expect(letters).toEqual([expect.objectContaining({ cause: 'max_deliver', reason: 'max deliveries (3) reached: ack wait expired', deliveryCount: 3 })]);
      const letter = letters[0]!;
      const escalated = await escalatedView(last, 'trg-p1', 'the thread');
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
      await last.die();
    }
  }, 90_000);

  it('runs the thread again when a human answers the escalation', async () => {
    const at = names();
    const last = await poisonRun(at, capturingLogger('info').logger, { input: 'multiply 6 by 7' }, 'p2');
    let requestId: string;
    try {
      const escalated = await eventually(
        async () => {
          const view = await last.runtime.get('trg-p2');
          return view?.status === 'escalated' ? view : undefined;
        },
        WAIT_MS,
        'the thread to be escalated',
        100,
      );
      requestId = escalated.pendingRequest!.requestId;
    } finally {
      await last.die();
    }
    // The cause is fixed (a healthy model): a human answers, and a worker runs it to its end.
    const healthy = await bed.node({ agents: [calculator], model: createDemoModel(), prefix: at.prefix, bucket: at.bucket, queue: QUEUE });
    await bed.client.request(`${at.prefix}.thread.trg-p2.respond`, { requestId, answer: 'the model is fixed; go on', by: 'ops' });
    const done = await doneOn(healthy, 'trg-p2', WAIT_MS, 'the answered thread to end');
    expect(done.output).toBe('6 * 7 = 42');
  }, 90_000);

  it('keeps the dead letter of a trigger whose thread was never created, and names the thread in a warning', async () => {
    const at = names();
    const { logger, out } = capturingLogger('info');
    const last = await poisonRun(at, logger, { input: 'multiply 6 by 7' }, 'p3', 'create');
    try {
      const queue = await last.queues.queue('calculator');
      const [letter] = await deadLettersOf(last, 'calculator');
      expect(letter).toMatchObject({ cause: 'max_deliver', reason: 'max deliveries (3) reached: ack wait expired' });
      const warning = await eventually(async () => out.lines.find((line) => line.level === 40 && line.threadId === 'trg-p3' && line.deadLetter === letter!.id), 5_000, 'the warning naming the thread');
      expect(warning).toMatchObject({ agent: 'calculator' });
      expect(await last.runtime.get('trg-p3')).toBeUndefined();
      expect(await queue.deadLetters()).toHaveLength(1);
    } finally {
      await last.die();
    }
  }, 90_000);

  it("escalates a pipeline's own thread whose step kills every worker, naming the dead letter, and reports the escalation to replyTo", async () => {
    const at = names();
    const { logger, out } = capturingLogger('info');
    const reply = bed.client.inbox();
    const last = await poisonRun(at, logger, { input: {}, replyTo: reply.subject }, 'p4', 'pipeline');
    try {
      const [letter] = await deadLettersOf(last, 'crashing');
      expect(letter).toMatchObject({ cause: 'max_deliver', reason: 'max deliveries (3) reached: ack wait expired', deliveryCount: 3 });
      const escalated = await escalatedView(last, 'trg-p4', 'the pipeline');
      expect(escalated.pendingRequest).toMatchObject({ kind: 'escalation', urgency: 'high' });
      const question = escalated.pendingRequest?.question ?? '';
      expect(question).toMatch(/delivered 3 times/);
      expect(question).toContain(letter!.id);
      const [result] = await reply.messages.until(1, WAIT_MS, 'the escalation on replyTo');
      expect(result).toMatchObject({ threadId: 'trg-p4', agent: 'crashing', status: 'escalated', pendingRequest: { kind: 'escalation', question } });
      expect(out.lines.some((line) => (line.level ?? 0) >= 40 && line.threadId === 'trg-p4' && line.agent === 'crashing' && String(line.msg).includes('escalated'))).toBe(true);
    } finally {
      await last.die();
    }
  }, 90_000);
});
