import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { MAX_PIPELINE_DEPTH, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { defineConfig } from '../../src/runtime/config.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

/** The thread's view once it has ended (watch ends with the thread). */
async function finished(rt: ReturnType<typeof createRuntime>, id: string) {
  for await (const _ of rt.watch(id)) void _;
  return (await rt.get(id))!;
}

const echo = agent({ name: 'echo', description: 'answers at once', prompt: 'p', tools: [] });
const model = () => scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });

/** A pipeline of one code step, then one agent step delegating to `target` (an agent or a pipeline). */
function delegating(name: string, step: string, target: string): Pipeline {
  return pipeline({ name, description: `delegates to ${target}`, input: z.unknown(), output: z.unknown() })
    .code({ name: 'prep', run: () => 1 })
    .agent({ name: step, agent: target, input: () => 0 })
    .finish(({ results }) => results[step] ?? null);
}

describe('pipelines that delegate to each other in a cycle', () => {
  const self = delegating('pself', 'me', 'pself');
  const pa = delegating('pa', 'b', 'pb');
  const pb = delegating('pb', 'a', 'pa');

  it('are refused when the runtime is built, naming the cycle', () => {
    const build = (pipelines: Pipeline[]) => () => createRuntime({ agents: [echo], pipelines, store: createMemoryStore(), model: model() });
    expect(build([self])).toThrow(ConfigError);
    expect(build([self])).toThrow('pipeline pself: step me delegates to pipeline pself: a cycle (pself -> pself)');
    expect(build([pa, pb])).toThrow('pipeline pa: step b delegates to pipeline pb: a cycle (pa -> pb -> pa)');
    // A cycle further down a chain is named from where it closes.
    const top = delegating('top', 'sub', 'pa');
    expect(build([top, pa, pb])).toThrow('pipeline pa: step b delegates to pipeline pb: a cycle (pa -> pb -> pa)');
  });

  it('are refused by defineConfig (the config a project loads)', () => {
    expect(() => defineConfig({ agents: [echo], pipelines: [self], model: model() })).toThrow('defineConfig: pipeline pself: step me delegates to pipeline pself: a cycle (pself -> pself)');
    expect(() => defineConfig({ agents: [echo], pipelines: [pb, pa], model: model() })).toThrow('defineConfig: pipeline pb: step a delegates to pipeline pa: a cycle (pb -> pa -> pb)');
  });

  it('leaves nesting without a cycle alone: two steps into one pipeline, a chain of three', async () => {
    const leaf = delegating('leaf', 'work', 'echo');
    const mid = delegating('mid', 'down', 'leaf');
    const twice = pipeline({ name: 'twice', description: 'two children of one pipeline', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'one', agent: 'mid', input: () => 0 })
      .agent({ name: 'two', agent: 'leaf', input: () => 0 })
      .finish(({ results }) => [results.one, results.two]);
    expect(() => defineConfig({ agents: [echo], pipelines: [twice, mid, leaf], model: model() })).not.toThrow();
    const rt = createRuntime({ agents: [echo], pipelines: [twice, mid, leaf], store: createMemoryStore(), model: model() });
    const { id } = await rt.launch('twice', 0);
    expect(await finished(rt, id)).toMatchObject({ status: 'done', output: ['ok', 'ok'] });
    await rt.close();
  });
});

describe('the nesting depth of pipeline threads, bounded at run time', () => {
  /**
   * A store holding a chain of `depth` pipeline threads, each the child of the one before
   * (`a0` at the top): what the static check cannot see, e.g. a cycle through a pipeline another
   * deployment serves.
   */
  async function chain(depth: number) {
    const store = createMemoryStore();
    for (let i = 0; i < depth; i++) {
      const source = i === 0 ? { kind: 'typescript' as const } : { kind: 'pipeline' as const, parentId: `a${i - 1}` };
      await store.create({ id: `a${i}`, agent: 'outer', events: [{ seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'input', data: { input: 0, source } }] });
    }
    return store;
  }

  it('is documented as 16 levels', () => {
    expect(MAX_PIPELINE_DEPTH).toBe(16);
  });

  it(`fails a step that would launch a child more than ${16} levels below the top thread, without launching it`, async () => {
    const store = await chain(16);
    const inner = delegating('inner', 'work', 'echo');
    const rt = createRuntime({ agents: [echo], pipelines: [inner], store, model: model() });
    // inner runs 16 levels down (a15 is its parent): its child would be the 17th.
    const { id } = await rt.launch('inner', 0, { threadId: 'deep', source: { kind: 'pipeline', parentId: 'a15' } });
    const view = await finished(rt, id);
    expect(view.status).toBe('failed');
    expect(view.failure).toBe(
      `step work: pipeline inner would launch agent echo ${MAX_PIPELINE_DEPTH + 1} levels below its top thread a0 (at most ${MAX_PIPELINE_DEPTH}): do pipelines delegate to each other in a cycle?`,
    );
    expect(await store.get('deep--work')).toBeUndefined();
    await rt.close();
  });

  it('lets a step launch its child 16 levels below the top thread', async () => {
    const store = await chain(15);
    const inner = delegating('inner', 'work', 'echo');
    const rt = createRuntime({ agents: [echo], pipelines: [inner], store, model: model() });
    const { id } = await rt.launch('inner', 0, { threadId: 'deep', source: { kind: 'pipeline', parentId: 'a14' } });
    expect(await finished(rt, id)).toMatchObject({ status: 'done', output: 'ok' });
    expect((await store.get('deep--work'))?.agent).toBe('echo');
    await rt.close();
  });
});
