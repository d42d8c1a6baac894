import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// A worker keeps the job of a thread in a durable sleep (heartbeating, so a crash hands it to
// another worker), while the thread holds no actor: it is started again at its deadline.
const bed = useNatsTestBed();

const nap = pipeline({ name: 'nap', description: 'sleep briefly, then answer', input: z.object({}), output: z.string() })
  .sleep({ name: 'wait', ms: 400 })
  .code({ name: 'answer', run: () => 'rested' })
  .finish(({ results }) => results.answer);

describe('a thread sleeping on a worker', () => {
  it('finishes after its deadline, holding no actor while it sleeps', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const node = await bed.node({ ...names, agents: [], pipelines: [nap], model: scriptedModel([]), processId: 'sleeper' });
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    const id = uniqueToken();
    const started = Date.now();
    await bed.client.trigger(`${names.prefix}.trigger.nap`, { input: {}, replyTo: subject }, { msgId: id });
    let sawSleep = false;
    for (let i = 0; i < 100 && !sawSleep; i++) {
      const thread = await node.runtime.get(`trg-${id}`);
      const types = thread?.events.map((e) => e.type) ?? [];
      // Asleep (the deadline journaled, no result yet) with no actor in memory.
      sawSleep = types.includes('tool_call') && !types.includes('tool_result') && node.runtime.activeCount() === 0;
      if (!sawSleep) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sawSleep).toBe(true);
    const [result] = await messages.until(1, 10_000, 'the result after the sleep');
    expect(result).toMatchObject({ threadId: `trg-${id}`, agent: 'nap', status: 'done', output: 'rested' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });
});
