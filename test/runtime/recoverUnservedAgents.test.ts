import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { capturingLogger } from '../support/capturingLogger.js';

// A deploy that dropped or renamed an agent leaves its moving threads in the store. recover()
// cannot continue them (nothing here runs that agent): they stay `running` (or `backing_off` with a
// wake-up in the past) for ever. It says so, naming the agent and its threads, instead of skipping
// them silently (QA20 hostile D5).

const input = (text: string): NewEvent[] => [{ type: 'input', data: { input: text } }];

describe('recover() with moving threads of an agent the runtime does not serve', () => {
  it('leaves them as they are and warns once per agent, naming it, how many, some of the threads, and what to do', async () => {
    const store = createMemoryStore();
    const at = new Date().toISOString();
    for (const id of ['ghost-1', 'ghost-2']) await store.create({ id, agent: 'ghost', events: stampEvents(0, input('x'), at) });
    await store.create({ id: 'ended-ghost', agent: 'ghost', events: stampEvents(0, [...input('x'), { type: 'final', data: { output: 'ok' } }], at) });
    const echo = agent({ name: 'echo', description: 'echoes', prompt: 'p', tools: [] });
    const { logger, out } = capturingLogger('info');
    const runtime = createRuntime({ agents: [echo], store, model: scriptedModel([]), logger });
    try {
      expect(await runtime.recover()).toBe(0);
      const warnings = out.lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ agent: 'ghost', threads: 2, threadIds: ['ghost-1', 'ghost-2'] });
      expect(warnings[0]!.msg).toContain('not served here');
      expect((await runtime.get('ghost-1'))?.status).toBe('running');
    } finally {
      await runtime.close();
    }
  });
});
