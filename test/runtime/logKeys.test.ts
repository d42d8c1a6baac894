import { Writable } from 'node:stream';
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agentMachineFor } from '../../machines/agentMachine.js';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import { systemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createAgentActor, whenSettled, type AgentActor } from '../../src/runtime/agentActor.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createThread } from '../support/agentHarness.js';

/** The logger `serve` and `worker` use, at debug, writing raw lines into `raw`. */
function capturingLogger() {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') raw.push(line);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), raw };
}

/** How often `key` occurs as a key in a raw JSON line (JSON.parse keeps only the last of duplicates). */
const occurrences = (line: string, key: string): number => line.split(`"${key}":`).length - 1;

const add = tool({ name: 'add', description: 'adds', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: ({ a, b }) => a + b });
const adder = agent({ name: 'adder', description: 'adds', prompt: 'You are {{agent}}.\n{{tools}}', tools: [add] });
const script = () => scriptedModel([{ intent: 'add', args: { a: 1, b: 2 } }, { intent: 'done_for_now', args: { message: '3' } }]);

/** Every line names each of threadId, agent and state at most once, and the `agent state` lines name the thread and agent. */
function expectEachKeyOnce(raw: readonly string[], threadId: string): void {
  for (const line of raw) {
    for (const key of ['threadId', 'agent', 'state']) expect(occurrences(line, key), `${key} in ${line}`).toBeLessThanOrEqual(1);
  }
  const states = raw.filter((line) => line.includes('"msg":"agent state"'));
  expect(states.length).toBeGreaterThan(2);
  for (const line of states) expect(JSON.parse(line)).toMatchObject({ level: 20, threadId, agent: 'adder' });
}

describe('debug log lines', () => {
  it('of a runtime name threadId and agent once each (a strict JSON pipeline refuses duplicate keys)', async () => {
    const { logger, raw } = capturingLogger();
    const rt = createRuntime({ agents: [adder], store: createMemoryStore(), model: script(), logger });
    const { id } = await rt.launch('adder', 'go');
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: '3' });
    await rt.close();
    expectEachKeyOnce(raw, id);
  });

  it('of an actor from createAgentActor, and of one built on the exported machine with a logger not bound to its thread, name threadId and agent once each', async () => {
    for (const build of ['createAgentActor', 'agentMachineFor'] as const) {
      const { logger, raw } = capturingLogger();
      const store = createMemoryStore();
      const thread = await createThread(store, { id: `t-${build}`, agent: 'adder', input: 'go' });
      const actor: AgentActor =
        build === 'createAgentActor'
          ? createAgentActor({ agent: adder, thread, model: script(), store, logger })
          : (createActor(agentMachineFor(adder), { input: { agent: adder, thread, deps: { model: script(), store, clock: systemClock, logger } } }) as AgentActor);
      actor.start();
      expect(await whenSettled(actor)).toMatchObject({ status: 'done' });
      expectEachKeyOnce(raw, thread.id);
    }
  });
  it('of a step of the agent\'s author, written through its ctx.logger, name threadId, agent and state once each', async () => {
    const { logger, raw } = capturingLogger();
    const note = beforeDecision({
      name: 'note',
      when: (_thread, state) => state.totalSteps === 0,
      run: (ctx) => {
        ctx.logger.info({ looked: true }, 'noted by the step');
        return {};
      },
    });
    const noting = agent({ name: 'adder', description: 'adds', prompt: 'You are {{agent}}.\n{{tools}}', tools: [add], beforeDecision: [note] });
    const rt = createRuntime({ agents: [noting], store: createMemoryStore(), model: script(), logger });
    const { id } = await rt.launch('adder', 'go');
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: '3' });
    await rt.close();
    const noted = raw.filter((line) => line.includes('"msg":"noted by the step"'));
    expect(noted).toHaveLength(1);
    expect(JSON.parse(noted[0]!)).toMatchObject({ threadId: id, agent: 'adder', state: 'note', looked: true });
    expectEachKeyOnce(raw, id);
  });
});
