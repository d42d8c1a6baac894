import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { Bus, ConsumeOptions, Job, JobHandler, JobQueue, JobQueueOptions } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { deferred, eventually } from '../bus/waiting.js';
import { threadOf } from '../support/agentHarness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A logger at warn whose lines are kept, parsed. */
function capturingLines() {
  const { logger, out } = capturingLogger('warn');
  return { logger, lines: out.lines };
}

/** The bus as a worker cut off from the server sees it: every heartbeat (`job.working()`) fails. */
function failingHeartbeats(bus: Bus): Bus {
  return new Proxy(bus, {
    get(target, key, receiver) {
      if (key !== 'jobQueue') return Reflect.get(target, key, receiver) as unknown;
      return async (name: string, options?: JobQueueOptions): Promise<JobQueue> => {
        const queue = await target.jobQueue(name, options);
        return Object.assign(Object.create(queue) as JobQueue, {
          consume: (handler: JobHandler, consumeOptions?: ConsumeOptions) =>
            queue.consume((job) => handler(Object.assign(Object.create(job) as Job, { working: () => Promise.reject(new Error('connection disconnected')) })), consumeOptions),
        });
      };
    },
  });
}

describe('worker warnings about a thread', () => {
  it('a failed heartbeat names the thread and its agent, beside the job', async () => {
    const release = deferred<void>();
    const slow = tool({ name: 'slow', description: 'takes its time', input: z.object({}), idempotent: true, run: async () => (await release.promise, 'ok') });
    const slowpoke = agent({ name: 'slowpoke', description: 'calls a slow tool', prompt: 'You are {{agent}}.\n{{tools}}', tools: [slow] });
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const { logger, lines } = capturingLines();
    const queues = createAgentQueues({ bus: failingHeartbeats(bus) });
    const model = scriptedModel([{ intent: 'slow' }, { intent: 'done_for_now', args: { message: 'done' } }]);
    const runtime = createRuntime({ agents: [slowpoke], store: createMemoryStore(), model, schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, logger, heartbeatMs: 20 });
    cleanups.push(async () => {
      release.resolve();
      await surface.close({ drainMs: 0 });
      await runtime.close();
    });
    await bus.publish('switchyard.trigger.slowpoke', { input: 'go', threadId: 'hb-1' }, { headers: { [MSG_ID_HEADER]: 'hb-1' } });
    const line = await eventually(async () => lines.find((l) => l.msg === 'heartbeat failed'), 5_000, 'a failed heartbeat');
    expect(line).toMatchObject({ threadId: 'hb-1', agent: 'slowpoke', jobId: expect.anything(), err: 'connection disconnected' });
  });
});

describe('queue lines about a thread', () => {
  it('"continuation job enqueued" names the thread, its agent and the state it is in, as every line about a thread does', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const { logger, out } = capturingLogger('debug');
    const queues = createAgentQueues({ bus, logger });
    const thread = threadOf('cj-1', 'worker', [{ type: 'input', data: { input: 'go' } }]);
    await queues.schedule(thread);
    await queues.schedule(thread, { wakeAt: Date.parse('2030-01-01T00:00:00Z') });
    const lines = out.lines.filter((line) => line.msg === 'continuation job enqueued');
    expect(lines.map(({ threadId, agent, state }) => ({ threadId, agent, state }))).toEqual([
      { threadId: 'cj-1', agent: 'worker', state: 'running' },
      { threadId: 'cj-1', agent: 'worker', state: 'asleep' },
    ]);
  });
});
