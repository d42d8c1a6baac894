/**
 * "How long" from the logs: at debug, a line per model answer taken (intent, model, latencyMs,
 * tokens) and per tool call done (tool, callId, durationMs); at info, the rest line says how long
 * the thread has run from its first event (elapsedMs). Before, a thread that went well logged only
 * state names: how long a call took was in the thread alone (QA27 observe D6).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger } from '../support/capturingLogger.js';

const add = tool({ name: 'add', description: 'add', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: ({ a, b }) => a + b });
const adder = agent({ name: 'adder', description: 'adds', prompt: 'You are {{agent}}.\n{{tools}}', tools: [add] });

describe('progress in the logs', () => {
  it('logs each answer taken and each tool call done at debug, with their times, and the elapsed time at rest', async () => {
    const { logger, out } = capturingLogger('debug');
    const model = scriptedModel([{ intent: 'add', args: { a: 1, b: 2 } }, { intent: 'done_for_now', args: { message: '3' } }]);
    const rt = createRuntime({ agents: [adder], store: createMemoryStore(), model, logger });
    const { id } = await rt.launch('adder', '1 + 2');
    expect(await rt.settled(id)).toMatchObject({ status: 'done' });
    await rt.close();
    const of = (msg: string) => out.lines.filter((l) => l.threadId === id && l.msg === msg);

    const answers = of('model answered');
    expect(answers.map((l) => l.intent)).toEqual(['add', 'done_for_now']);
    expect(answers[0]).toMatchObject({ level: 20, agent: 'adder', state: 'deciding', model: 'scripted', step: 1, callId: expect.any(String) });
    expect(answers[0]!.latencyMs).toEqual(expect.any(Number));
    const calls = of('tool call done');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ level: 20, agent: 'adder', state: 'executing', tool: 'add', callId: answers[0]!.callId });
    expect(calls[0]!.durationMs).toEqual(expect.any(Number));
    const rest = of('agent at rest').at(-1);
    expect(rest).toMatchObject({ level: 30, status: 'done' });
    expect(rest!.elapsedMs).toEqual(expect.any(Number));
  });
});
