/**
 * Arguments a strict tool schema refuses for a key it does not take: zod says `Unrecognized key:
 * "amount"`, which the text redaction reads as a secret's `key: "…"` pair (`"[REDACTED]"`): the
 * model would not learn which argument to drop (the case of a tool whose argument a deploy
 * renamed). Every refusal the runtime words (a tool's arguments, a launch input, a step's output)
 * says `unknown key "amount"` instead (errors.ts `formatIssues`), which names it through redaction.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { judge } from '../../src/agent/customStep.js';
import { stepEvents } from '../../src/agent/customStepRun.js';
import { redactText } from '../../src/context/redact.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const refund = tool({
  name: 'refund',
  description: 'Refund an amount in cents',
  input: z.strictObject({ orderId: z.string(), amountCents: z.number().int() }),
  approval: true,
  run: () => 'refunded',
});
const payer = agent({ name: 'payer', description: 'refunds', prompt: 'You are {{agent}}.\n{{tools}}', tools: [refund] });

describe("zod's unrecognized key in a refused call", () => {
  // QA27 upgrade D2: `(root): Unrecognized key: "[REDACTED]"` after refund's `amount` became `amountCents`.
  it('names the key in the error event', async () => {
    const model = scriptedModel([{ intent: 'refund', args: { orderId: 'A-1', amount: 40 } }, { intent: 'done_for_now', args: { message: 'ok' } }]);
    const runtime = createRuntime({ agents: [payer], store: createMemoryStore(), model });
    try {
      const { id } = await runtime.launch('payer', 'refund A-1');
      const ended = await runtime.settled(id);
      const error = ended.events.find((e) => e.type === 'error');
      expect(error?.type === 'error' ? error.data.message : undefined).toContain('unknown key "amount"');
    } finally {
      await runtime.close();
    }
  });

  it("names the key when a step's output has one its schema does not take, in the runtime's one wording", async () => {
    const strict = judge({ name: 'strict', output: z.strictObject({ n: z.number() }), run: () => ({ verdict: 'accept', output: { n: 1, amount: 2 } as { n: number } }) });
    const a = agent({ name: 'payer', description: 'refunds', prompt: 'p', tools: [refund], afterDecision: [strict] });
    const at = '2026-01-01T00:00:00.000Z';
    const thread = {
      id: 'th_1',
      agent: 'payer',
      events: [
        { seq: 1, at, type: 'input' as const, data: { input: 'go' } },
        { seq: 2, at, type: 'decision' as const, data: { step: 1, intent: 'refund', args: { orderId: 'A-1', amountCents: 1 }, callId: 'c1', model: 'm', promptHash: 'sha256:0', tokens: { prompt: 0, completion: 0 }, latencyMs: 0 } },
      ],
    };
    await expect(stepEvents(a, 'strict', thread)).rejects.toThrow('strict failed: its output does not match its schema: (root): unknown key "amount"');
  });

  it("keeps the runtime's wording of an unknown key as it is, and a secret after a `key:` redacted", () => {
    expect(redactText('(root): unknown key "amount"')).toBe('(root): unknown key "amount"');
    expect(redactText('(root): unknown keys "amount", "note"')).toBe('(root): unknown keys "amount", "note"');
    expect(redactText('key: "s3cr3t-value-123"')).toBe('key: "[REDACTED]"');
  });
});
