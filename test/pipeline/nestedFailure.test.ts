/**
 * A failure reason is bounded, but a nested pipeline's root cause (at the end, behind each parent's
 * "step x: agent thread ... failed: " prefix) must still reach the top pipeline's reason.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { MAX_PIPELINE_DEPTH, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const echo = agent({ name: 'echo', description: 'answers at once', prompt: 'p', tools: [] });
const model = () => scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });

/** A pipeline of one agent step, `down`, delegating to `target`. */
function delegating(name: string, target: string): Pipeline {
  return pipeline({ name, description: `delegates to ${target}`, input: z.unknown(), output: z.unknown() })
    .agent({ name: 'down', agent: target, input: () => 0 })
    .finish(({ results }) => results.down ?? null);
}

describe('the failure of a pipeline whose nested pipeline hit the depth limit', () => {
  it('names the depth limit at the top, after the outer step, within the bound', async () => {
    // p0 -> p1 -> ... -> p16 -> echo: no cycle, but p16 runs 16 levels down and its child would be the 17th.
    const pipelines = Array.from({ length: MAX_PIPELINE_DEPTH + 1 }, (_, i) => delegating(`p${i}`, i === MAX_PIPELINE_DEPTH ? 'echo' : `p${i + 1}`));
    const rt = createRuntime({ agents: [echo], pipelines, store: createMemoryStore(), model: model() });
    const { id } = await rt.launch('p0', 0, { threadId: 'top' });
    for await (const _ of rt.watch(id)) void _;
    const view = (await rt.get(id))!;
    await rt.close();
    expect(view.status).toBe('failed');
    const reason = view.failure!;
    expect(reason.startsWith('step down: agent thread top--down failed: step down: agent thread top--down--down failed: ')).toBe(true);
    expect(reason).toContain(`would launch agent echo ${MAX_PIPELINE_DEPTH + 1} levels below its top thread top (at most ${MAX_PIPELINE_DEPTH}): do pipelines delegate to each other in a cycle?`);
    expect(reason.length).toBeLessThanOrEqual(500);
    expect(reason).toContain('…');
  });
});
