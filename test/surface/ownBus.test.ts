/**
 * A user's own `Bus` (the interface is public): one written before `maxMessageBytes` existed, or
 * one that carries any size, leaves it out, and the surface serves it with the default limit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { collector } from '../bus/waiting.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a Bus of its own without maxMessageBytes', () => {
  it('is attached with the default payload limit and serves a trigger', async () => {
    const memory = createMemoryBus();
    const { maxMessageBytes: _left, ...rest } = memory;
    const bus: Bus = rest;
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel() });
    const queues = createAgentQueues({ bus });
    const surface = await attachBus(runtime, { queues });
    cleanups.push(async () => {
      await surface.close();
      await runtime.close();
      await memory.close();
    });
    const results = collector<Partial<TriggerResult> & { code?: string }>();
    bus.subscribe('own.results', (msg) => {
      const parsed = msg.json();
      if (parsed.success) results.push(parsed.data as Partial<TriggerResult>);
    });
    await bus.publish(queues.subjects.trigger('calculator'), { input: 'multiply 6 by 7', replyTo: 'own.results' });
    expect((await results.until(1, 10_000, 'the result'))[0]).toMatchObject({ status: 'done', output: '6 * 7 = 42' });
    // Over the default limit (256 KiB): refused with an error reply, as before.
    await bus.publish(queues.subjects.trigger('calculator'), { input: 'x'.repeat(300 * 1024), replyTo: 'own.results' });
    expect((await results.until(2, 10_000, 'the refusal'))[1]).toMatchObject({ code: 'payload_too_large' });
  });
});
