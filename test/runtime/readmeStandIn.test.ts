/**
 * The README's served config (`switchyard.config.ts`, with its stand-in model) run as written, in
 * process: a refund approved, started, then interrupted (the process stopped before its outcome
 * was recorded). A human says it went through: the thread ends saying the refund was made, and
 * nothing is refunded twice (qa26-hitl D9).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { Model } from '../../src/model/model.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { threadOf } from '../support/agentHarness.js';
import { readmeBlock } from '../support/readmeBlock.js';

const ROOT = join(import.meta.dirname, '..', '..');
// Under the repository (ignored by git) so that the config's own imports (zod) resolve.
const dir = join(ROOT, 'tmp', `readme-stand-in-${process.pid}`);

afterAll(() => rm(dir, { recursive: true, force: true }));

/** The README's config, its imports of switchyard pointed at this checkout's sources. */
async function readmeConfig(): Promise<{ support: Agent; model: Model }> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'prompt.md'), readmeBlock(readme, '`prompt.md`, your prompt', 'md'));
  const config = readmeBlock(readme, '`switchyard.config.ts`, which', 'ts')
    .replace("from 'switchyard/testing'", `from '${pathToFileURL(join(ROOT, 'src', 'testing', 'index.ts')).href}'`)
    .replace("from 'switchyard'", `from '${pathToFileURL(join(ROOT, 'src', 'index.ts')).href}'`);
  await writeFile(join(dir, 'switchyard.config.ts'), config);
  return (await import(pathToFileURL(join(dir, 'switchyard.config.ts')).href)) as { support: Agent; model: Model };
}

const decision = (callId: string, step: number, intent: string, args: Record<string, string | number>): NewEvent => ({
  type: 'decision',
  data: { callId, step, intent, args, model: 'stand-in', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 },
});

// With a model configured in the environment, the config uses it instead of its stand-in.
const configured = ['OPENAI_API_KEY', 'SWITCHYARD_MODEL_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'OPENAI_BASE_URL'].some((name) => process.env[name]);

describe("the README's stand-in model", () => {
  it.skipIf(configured)('ends a thread whose interrupted refund a human says went through as refunded, without refunding again', async () => {
    const { support, model } = await readmeConfig();
    const refund = { orderId: 'A-1001', amount: 40 };
    // Approved and started; the process stopped before the refund's outcome was recorded.
    const started = threadOf('th-readme', 'support', [
      { type: 'input', data: { input: 'refund order A-1001, it arrived broken' } },
      decision('call_2', 1, 'lookup_order', { orderId: 'A-1001' }),
      { type: 'tool_call', data: { callId: 'call_2', tool: 'lookup_order', args: { orderId: 'A-1001' }, idempotencyKey: 'th-readme:call_2', attempt: 1 } },
      { type: 'tool_result', data: { callId: 'call_2', tool: 'lookup_order', result: { orderId: 'A-1001', total: 40 }, durationMs: 1 } },
      decision('call_5', 2, 'refund', refund),
      { type: 'human_request', data: { requestId: 'req_6', kind: 'approval', question: 'Approve refund?', urgency: 'medium', format: 'yes_no', callId: 'call_5', tool: 'refund', args: refund } },
      { type: 'human_response', data: { requestId: 'req_6', approved: true, by: 'ana' } },
      { type: 'tool_call', data: { callId: 'call_5', tool: 'refund', args: refund, idempotencyKey: 'th-readme:call_5', attempt: 1 } },
    ]);
    const store = createMemoryStore();
    await store.create(started);
    const runtime = createRuntime({ agents: [support], store, model });
    try {
      await runtime.recover();
      const asking = await runtime.settled(started.id);
      expect(asking.pendingRequest).toMatchObject({ kind: 'interrupted', tool: 'refund' });
      await runtime.respond(started.id, { requestId: asking.pendingRequest!.requestId, approved: false, comment: 'it went through', by: 'ana' });
      const end = await runtime.settled(started.id);
      expect(end.status).toBe('done');
      expect(end.output).toBe('Refunded $40 on order A-1001.');
      expect(end.events.filter((e) => e.type === 'tool_call' && e.data.tool === 'refund')).toHaveLength(1);
    } finally {
      await runtime.close();
    }
  });
});
