import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger } from '../support/capturingLogger.js';

// A model answer the decision refuses (arguments its tool's schema refuses, a tool that does not
// exist, no valid next step) is logged at warn, as a failed model call or tool call is: "the model
// keeps sending bad arguments" shows in the logs, with the model that answered (QA20 debug D7).

const SECRET = 'tok-SUPERSECRET-999';

describe('a refused model answer', () => {
  it('is logged at warn per answer, with its kind, the model, the attempt and when it retries; secrets redacted', async () => {
    const { logger, out } = capturingLogger('info');
    const lookup = tool({ name: 'lookup', description: 'looks up', input: z.object({ id: z.string() }), idempotent: true, run: () => 'found' });
    const worker = agent({ name: 'worker', description: 'looks up', prompt: 'p', tools: [lookup], secrets: [SECRET], backoff: { initialMs: 1, jitter: 0 } });
    const script: ScriptStep[] = [
      { intent: 'lookup', args: { identifier: 42 } },
      { intent: 'lookp', args: { id: SECRET } },
      { intent: 'lookup', args: { id: 'A-1' } },
      { intent: 'done_for_now', args: { message: 'ok' } },
    ];
    const rt = createRuntime({ agents: [worker], store: createMemoryStore(), model: scriptedModel(script), logger });
    const { id } = await rt.launch('worker', 'look it up');
    expect((await rt.settled(id)).status).toBe('done');
    const refused = out.lines.filter((l) => l.threadId === id && l.msg === 'model answer refused');
    expect(refused).toEqual([
      expect.objectContaining({ level: 40, agent: 'worker', state: 'deciding', kind: 'invalid_args', tool: 'lookup', attempt: 1, retryAt: expect.any(String), model: expect.any(String) }),
      expect.objectContaining({ level: 40, agent: 'worker', state: 'deciding', kind: 'unknown_intent', attempt: 2, retryAt: expect.any(String) }),
    ]);
    expect(String(refused[0]!.err)).toContain('arguments for lookup are invalid');
    expect(out.text).not.toContain(SECRET);
    await rt.close();
  });
});
