// The warn line a refused trigger logs names the trigger as its error reply does (its msg id and
// the thread id it names or would have had), so an operator asked "why was my msg b-2 refused?"
// finds it in the log, and a trigger with no replyTo is found at all.
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { MSG_ID_HEADER } from '../../src/surface/subjects.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { eventually } from '../bus/waiting.js';

describe('the log line of a refused trigger', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('names its msg id and thread id, with or without a replyTo', async () => {
    const { logger, out } = capturingLogger();
    const bus = createMemoryBus();
    const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const surface = await attachBus(runtime, { queues, processId: 'p1', logger });
    cleanups.push(() => bus.close(), () => runtime.close(), () => surface.close({ drainMs: 1_000 }));
    await bus.publish('switchyard.trigger.calculator', { inputx: 'a' }, { headers: { [MSG_ID_HEADER]: 'bad-9' } });
    await bus.publish('switchyard.trigger.calculator', { inputx: 'b', threadId: 'order-7', replyTo: 'app.results' }, { headers: { [MSG_ID_HEADER]: 'bad-10' } });
    const refused = (): LogLine[] => out.lines.filter((line) => line.msg === 'trigger refused');
    await eventually(async () => (refused().length === 2 ? true : undefined), 5_000, 'two refusals logged');
    expect(refused()).toEqual([
      expect.objectContaining({ agent: 'calculator', msgId: 'bad-9', threadId: 'trg-bad-9' }),
      expect.objectContaining({ agent: 'calculator', msgId: 'bad-10', threadId: 'order-7' }),
    ]);
  });
});
