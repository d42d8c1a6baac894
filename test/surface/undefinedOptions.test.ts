/**
 * Options given as `undefined` are options not given (what the types admit, for users under
 * exactOptionalPropertyTypes, since QA21 D4): nothing set around them is overridden by the undefined.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { eventually } from '../bus/waiting.js';
import { capturingLogger } from '../support/capturingLogger.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

describe('options given as undefined', () => {
  it("attachBus({ logger, callbacks: { logger: undefined } }): the callbacks log to the surface's logger, as without the key", async () => {
    const { logger, out } = capturingLogger('warn');
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const queues = createAgentQueues({ bus });
    const echo = agent({ name: 'echo', description: 'answers at once', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'done' } }]);
    const runtime = createRuntime({ agents: [echo], store: createMemoryStore(), model, schedule: queues.schedule });
    // No secret: a thread with a callbackUrl is warned about (on the callbacks' logger) and not called back.
    const surface = await attachBus(runtime, { queues, logger, callbacks: { secret: '', logger: undefined } });
    cleanups.push(async () => {
      await surface.close({ drainMs: 0 });
      await runtime.close();
    });
    await runtime.launch('echo', 'go', { threadId: 'cb-1', source: { kind: 'http', replyTo: 'http://127.0.0.1:9/hook' } });
    const line = await eventually(async () => out.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('the thread has a callbackUrl but')), 5_000, "the callbacks' warning");
    expect(line).toMatchObject({ threadId: 'cb-1', agent: 'echo' });
  });
});
