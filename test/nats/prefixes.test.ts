import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

// Two deployments on one NATS server, told apart by their prefixes (staging and production, two
// teams). With the threads bucket shared, a trigger of one with the msg id of a trigger of the other
// got the other's thread back, and each listed the other's threads.
const bed = useNatsTestBed();

describe('two deployments with different prefixes on one server', () => {
  it('keep their threads apart: the same msg id is two threads, and each lists only its own', async () => {
    const [a, b] = [`sya${uniqueToken()}`, `syb${uniqueToken()}`];
    // No bucket named: each takes its prefix's default.
    const nodeA = await bed.node({ prefix: a, agents: [calculator], model: createDemoModel(), processId: 'a' });
    const nodeB = await bed.node({ prefix: b, agents: [calculator], model: createDemoModel(), processId: 'b' });
    const msgId = uniqueToken();
    const { subject, messages } = bed.client.inbox<TriggerResult>();
    await bed.client.trigger(`${a}.trigger.calculator`, { input: 'what is 3 + 4', replyTo: subject }, { msgId });
    const [first] = await messages.until(1, 10_000, "a's result");
    await bed.client.trigger(`${b}.trigger.calculator`, { input: 'what is 5 + 6', replyTo: subject }, { msgId });
    const [, second] = await messages.until(2, 10_000, "b's result");
    expect(first).toMatchObject({ status: 'done', output: '3 + 4 = 7' });
    expect(second).toMatchObject({ status: 'done', output: '5 + 6 = 11' });
    expect((await nodeA.runtime.list()).map((t) => t.id)).toEqual([first!.threadId]);
    expect((await nodeB.runtime.list()).map((t) => t.id)).toEqual([second!.threadId]);
  });
});
