/**
 * "agent at rest" is logged once per rest. A run of a thread already at rest (a continuation job
 * that finds it so: the job of a thread a late call's outcome revived, once the run that finished
 * it let go; a redelivered job) moves nothing: it is no second rest, and logs none at info
 * (qa26 fleet D6: two identical lines 4 ms apart).
 */
import { describe, expect, it } from 'vitest';
import { agent, createMemoryStore, createRuntime } from '../../src/index.js';
import { scriptedModel } from '../../src/testing/index.js';
import { capturingLogger } from '../support/capturingLogger.js';

const echo = agent({ name: 'echo', description: 'echoes', prompt: 'You are {{agent}}.\nTools:\n{{tools}}', tools: [] });

describe('the "agent at rest" line', () => {
  it('is logged once for a thread that rests, not again by a run that finds it at rest', async () => {
    const { logger, out } = capturingLogger();
    const runtime = createRuntime({
      agents: [echo],
      store: createMemoryStore(),
      logger,
      model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }),
    });
    try {
      const { id } = await runtime.launch('echo', 'hi');
      expect((await runtime.settled(id)).status).toBe('done');
      const rests = () => out.lines.filter((l) => l.msg === 'agent at rest' && l.threadId === id);
      expect(rests()).toHaveLength(1);
      expect((await runtime.run(id)).status).toBe('done');
      expect(rests()).toHaveLength(1);
    } finally {
      await runtime.close();
    }
  });
});
