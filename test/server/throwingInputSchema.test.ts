import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

// An input schema whose refine throws (an author's bug, or a check that calls out and fails) is
// bad input for this launch, not a server error.
const throwing = z.object({ n: z.number() }).refine(() => {
  throw new Error('lookup service down');
});
const picky = agent({ name: 'picky', description: 'has a throwing input schema', prompt: 'You are {{agent}}.\n{{tools}}', tools: [], input: throwing });
const echo = agent({ name: 'echo', description: 'echoes', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });
const flow = pipeline({ name: 'flow', description: 'has a throwing input schema', input: throwing, output: z.string() })
  .agent({ name: 'say', agent: 'echo', input: () => 'hi' })
  .finish(({ results }) => String(results.say));

describe('POST /threads with an input schema that throws', () => {
  it.each(['picky', 'flow'])('answers 400 naming the throw for %s, and launches nothing', async (name) => {
    const store = createMemoryStore();
    const runtime = createRuntime({ agents: [picky, echo], pipelines: [flow], store, model: scriptedModel([]) });
    try {
      const app = createHttpApp(runtime, { token: '' });
      const res = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: name, input: { n: 1 } }) });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string };
      expect(body.error).toContain(name);
      expect(body.error).toContain('lookup service down');
      expect(await runtime.list()).toHaveLength(0);
    } finally {
      await runtime.close();
    }
  });
});
