/**
 * A prefix's job queues carry the jobs of the threads of one KV bucket. A process on the same
 * prefix with another bucket would take those jobs, find none of their threads in its bucket and
 * drop them, leaving the threads `running` for good (QA23 finding 1): each queue is bound to its
 * bucket when it is set up, and a process with another bucket is refused at start-up.
 */
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { QueueOwnerError } from '../../src/bus/bus.js';
import { ConfigError } from '../../src/errors.js';
import { createNatsBus } from '../../src/nats/natsBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { busSubjects } from '../../src/surface/subjects.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { eventually, FAST_RECONNECT, uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();

function deployment(): { prefix: string; bucket: string } {
  return { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
}

/** What starting a node resolves with: 'started', or the error it was refused with. */
async function startOutcome(options: Parameters<typeof bed.node>[0]): Promise<unknown> {
  return bed.node(options).then(
    () => 'started',
    (error: unknown) => error,
  );
}

describe('two processes on one prefix with different KV buckets', () => {
  it('refuse the second one at start-up, worker or not, naming the queue, both buckets and the fix', async () => {
    const { prefix, bucket } = deployment();
    const other = `other_${uniqueToken()}`;
    const model = createDemoModel();
    await bed.node({ prefix, bucket, agents: [calculator], model, processId: 'api', worker: false });
    for (const worker of [true, false]) {
      const refused = await startOutcome({ prefix, bucket: other, agents: [calculator], model, processId: `wrong-${worker}`, worker });
      expect(refused).toBeInstanceOf(ConfigError);
      const message = String((refused as Error).message);
      expect(message).toContain(busSubjects(prefix).queueName('calculator'));
      expect(message).toContain(bucket);
      expect(message).toContain(other);
      expect(message).toMatch(/--bucket/);
      expect(message).toMatch(/--prefix/);
    }
  });

  it('refuse it before it sets up a queue of its own, which would refuse the processes of the first bucket', async () => {
    const { prefix, bucket } = deployment();
    const model = createDemoModel();
    const second = agent({ name: 'second', description: 'a second agent', prompt: 'p', tools: [] });
    await bed.node({ prefix, bucket, agents: [calculator], model, processId: 'first' });
    const refused = await startOutcome({ prefix, bucket: `other_${uniqueToken()}`, agents: [calculator, second], model, processId: 'wrong' });
    expect(refused).toBeInstanceOf(ConfigError);
    const jsm = await jetstreamManager(bed.client.nc);
    await expect(jsm.streams.info(busSubjects(prefix).queueName('second'))).rejects.toThrow();
    // The first bucket's deployment can still add the agent.
    expect(await startOutcome({ prefix, bucket, agents: [calculator, second], model, processId: 'grown' })).toBe('started');
  });

  it('with the same bucket both start and share the work', async () => {
    const names = deployment();
    const model = createDemoModel();
    await bed.node({ ...names, agents: [calculator], model, processId: 'one' });
    await bed.node({ ...names, agents: [calculator], model, processId: 'two' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${names.prefix}.trigger.calculator`, { input: 'multiply 6 by 7', replyTo: subject }, { msgId: 'same-1' });
    expect((await messages.until(1, 15_000, 'the result'))[0]).toMatchObject({ status: 'done', output: '6 * 7 = 42' });
  });
});

describe('a job queue set up by an older version (bound to no bucket)', () => {
  it('is adopted by the first process that opens it: bound to its bucket, a process with another bucket refused', async () => {
    const { prefix, bucket } = deployment();
    const subjects = busSubjects(prefix);
    const stream = subjects.queueName('calculator');
    const jsm = await jetstreamManager(bed.client.nc);
    // The stream as earlier versions made it: no description.
    await jsm.streams.add({
      name: stream,
      subjects: [subjects.trigger('calculator'), subjects.jobs('calculator')],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: 1,
      duplicate_window: 120_000 * 1_000_000,
    });
    const model = createDemoModel();
    await bed.node({ prefix, bucket, agents: [calculator], model, processId: 'adopter' });
    expect((await jsm.streams.info(stream)).config.description).toContain(bucket);
    const refused = await startOutcome({ prefix, bucket: `other_${uniqueToken()}`, agents: [calculator], model, processId: 'wrong' });
    expect(refused).toBeInstanceOf(ConfigError);
    // The adopter works on it.
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 2 by 21', replyTo: subject }, { msgId: 'adopted-1' });
    expect((await messages.until(1, 15_000, 'the result'))[0]).toMatchObject({ status: 'done', output: '2 * 21 = 42' });
  });
});

describe('a guard job whose thread is not in the bucket', () => {
  it('is acknowledged after its deliveries with a warning naming the thread and the bucket', async () => {
    const { prefix, bucket } = deployment();
    const { logger, out } = capturingLogger('info');
    await bed.node({ prefix, bucket, agents: [calculator], model: createDemoModel(), processId: 'worker', logger });
    await bed.client.trigger(busSubjects(prefix).jobs('calculator'), { threadId: 'ghost-1', after: 0 }, { msgId: 'ghost-guard' });
    const warned = await eventually(
      async () => out.lines.find((line) => line.level === 40 && line.threadId === 'ghost-1'),
      15_000,
      'a warning about the missing thread',
      100,
    );
    expect(warned).toMatchObject({ bucket, agent: 'calculator' });
    expect(String(warned.msg)).toMatch(/no thread|not in/);
  });
});

describe('the NATS bus\'s job queue owner', () => {
  it('is kept by an open that names none, and refuses an open for another owner with a QueueOwnerError', async () => {
    const bus = await createNatsBus({ servers: bed.url, connectOptions: FAST_RECONNECT });
    try {
      const name = `owned_${uniqueToken()}`;
      await bus.jobQueue(name, { owner: 'alpha', ackWaitMs: 1_000 });
      // A changed option and no owner (as createAgentQueues without a bucket): updated, still bound.
      await bus.jobQueue(name, { ackWaitMs: 2_000 });
      const jsm = await jetstreamManager(bus.nc);
      expect((await jsm.streams.info(name)).config.description).toBe('switchyard job queue bound to: alpha');
      expect((await jsm.consumers.info(name, `${name}_workers`)).config.ack_wait).toBe(2_000 * 1_000_000);
      await bus.jobQueue(name, { owner: 'alpha' });
      const refused = await bus.jobQueue(name, { owner: 'beta' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(QueueOwnerError);
      expect(refused).toMatchObject({ code: 'conflict', queue: name, boundTo: 'alpha', owner: 'beta' });
      expect((await jsm.streams.info(name)).config.description).toBe('switchyard job queue bound to: alpha');
    } finally {
      await bus.close();
    }
  });
});
