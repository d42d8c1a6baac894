import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger } from '../support/capturingLogger.js';

const SECRET = 'tok-SUPERSECRET-999';

/** Fails its first `failures` runs (naming the secret), then answers. */
function flakyTool(failures: number) {
  let runs = 0;
  return tool({
    name: 'flaky',
    description: 'fails at first',
    input: z.object({ sku: z.string() }),
    idempotent: true,
    run: async ({ sku }) => {
      runs++;
      if (runs <= failures) throw new Error(`backend 503 for ${sku} with ${SECRET}`, { cause: new Error('read ECONNRESET') });
      return { sku, stock: 3 };
    },
  });
}

function setup(failures: number, script: ScriptStep[]) {
  const { logger, out } = capturingLogger('info');
  const worker = agent({
    name: 'worker',
    description: 'looks up stock',
    prompt: 'You are {{agent}}.\n{{tools}}',
    tools: [flakyTool(failures)],
    secrets: [SECRET],
    backoff: { initialMs: 1, jitter: 0 },
  });
  const rt = createRuntime({ agents: [worker], store: createMemoryStore(), model: scriptedModel(script), logger });
  const failed = (id: string) => out.lines.filter((l) => l.threadId === id && l.msg === 'tool call failed');
  return { rt, out, failed };
}

const lookup: ScriptStep = { intent: 'flaky', args: { sku: 'A-1' } };
const done: ScriptStep = { intent: 'done_for_now', args: { message: 'ok' } };

describe('a tool that fails, in the logs', () => {
  it('one warn per failure with thread, agent, tool, call, attempt, retry time and the error (its cause, secrets redacted); none for the success', async () => {
    const { rt, out, failed } = setup(2, [lookup, lookup, lookup, done]);
    const { id } = await rt.launch('worker', 'stock of A-1?');
    const view = await rt.settled(id);
    expect(view).toMatchObject({ status: 'done' });

    const lines = failed(id);
    expect(lines).toHaveLength(2);
    const errors = view.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(2);
    for (const [i, line] of lines.entries()) {
      const error = errors[i]!;
      if (error.type !== 'error') throw new Error('not an error');
      expect(line).toMatchObject({ level: 40, threadId: id, agent: 'worker', state: 'executing', kind: 'tool_error', tool: 'flaky', callId: error.data.callId, attempt: i + 1, retryAt: error.data.retryAt });
      expect(line.err).toBe(`flaky failed: backend 503 for A-1 with [REDACTED]: read ECONNRESET`);
      expect(line).not.toHaveProperty('escalated');
    }
    expect(lines[0]!.callId).not.toBe(lines[1]!.callId);
    expect(out.text).not.toContain('SUPERSECRET');
    await rt.close();
  });

  it('the failure that escalates (maxConsecutiveErrors in a row) is logged without a retry time, marked escalated', async () => {
    const { rt, failed } = setup(3, [lookup, lookup, lookup]);
    const { id } = await rt.launch('worker', 'stock of A-1?');
    expect(await rt.settled(id)).toMatchObject({ status: 'escalated' });
    const lines = failed(id);
    expect(lines.map((l) => l.attempt)).toEqual([1, 2, 3]);
    expect(lines[2]).toMatchObject({ level: 40, escalated: true, tool: 'flaky' });
    expect(lines[2]).not.toHaveProperty('retryAt');
    await rt.close();
  });
});
