/**
 * Arguments a strict tool schema refuses for a key it does not take: zod says `Unrecognized key:
 * "amount"`, and the error the model sees (and the log) must name that key, not read `key: "…"` as
 * a secret's pair and print `"[REDACTED]"`: the model would not learn which argument to drop (the
 * case of a tool whose argument a deploy renamed).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
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

  it('keeps a secret after a `key:` elsewhere redacted', () => {
    expect(redactText('(root): Unrecognized key: "amount"')).toBe('(root): Unrecognized key: "amount"');
    expect(redactText('key: "s3cr3t-value-123"')).toBe('key: "[REDACTED]"');
  });
});
