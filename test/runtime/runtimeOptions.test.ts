/**
 * `createRuntime` checks what only TypeScript would otherwise check (plain JavaScript, a spread of
 * a partial options object): a missing model or store, and agents and pipelines in the wrong list,
 * are refused at creation with a ConfigError naming what is wrong, not met later as a TypeError.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });

/** The options as a JavaScript caller may pass them: not what the types allow. */
function untyped(options: Record<string, unknown>): RuntimeOptions {
  return options as unknown as RuntimeOptions;
}

/** What `createRuntime` throws for these options: a ConfigError's message, or 'created'. */
function refusal(options: RuntimeOptions | undefined): string {
  try {
    createRuntime(options as RuntimeOptions); // holds nothing to close: no thread was launched
    return 'created';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

const calculations = pipeline({ name: 'calculations', description: 'calculates', input: z.string(), output: z.unknown() }).agent({ name: 'calc', agent: 'calculator', input: ({ input }) => input });
const finished = calculations.finish(({ results }) => results.calc ?? null);

describe('createRuntime without a model of its own', () => {
  it('runs agents that each bring their own model (options.model is optional then)', async () => {
    const own = agent({ name: 'own', description: 'has its own model', prompt: 'p {{tools}}', tools: [], model: scriptedModel([{ intent: 'done_for_now', args: { message: 'mine' } }]) });
    const runtime = createRuntime({ agents: [own], store: createMemoryStore() });
    const { id } = await runtime.launch('own', 'go');
    expect(await runtime.settled(id)).toMatchObject({ status: 'done', output: 'mine' });
    await runtime.close();
  });
});

describe('createRuntime refuses options only the types would catch', () => {
  it('needs a model for agents without one of their own', () => {
    expect(refusal(untyped({ agents: [calculator], store: createMemoryStore() }))).toBe('createRuntime needs a model (options.model): agent calculator has none of its own');
    expect(refusal(untyped({ agents: [calculator], store: createMemoryStore(), model: {} }))).toBe('createRuntime: model must be a Model ({ name, complete(request) })');
    // A model without a name would record none on its decisions (review).
    expect(refusal(untyped({ agents: [calculator], store: createMemoryStore(), model: { complete: async () => ({ success: false }) } }))).toBe('createRuntime: model must be a Model ({ name, complete(request) })');
  });

  it('does not need one when every agent has its own, nor for pipelines alone', () => {
    const own = agent({ name: 'own', description: 'has its model', prompt: 'p', tools: [], model });
    expect(refusal(untyped({ agents: [own], store: createMemoryStore() }))).toBe('created');
    // A process that runs a pipeline whose agents run elsewhere.
    expect(refusal(untyped({ agents: [], pipelines: [finished], store: createMemoryStore() }))).toBe('created');
  });

  it('needs a store, and says so when it was not awaited', () => {
    expect(refusal(untyped({ agents: [calculator], model }))).toBe('createRuntime needs a store (options.store), e.g. createMemoryStore() or await createFileStore({ dir })');
    // As `createFileStore({ dir })` without its await.
    const pending = Promise.resolve(createMemoryStore());
    expect(refusal(untyped({ agents: [calculator], model, store: pending }))).toBe('createRuntime: store is a promise; await it (await createFileStore({ dir }))');
  });

  it('needs agents, each an agent', () => {
    expect(refusal(untyped({ store: createMemoryStore(), model }))).toBe('createRuntime needs agents (options.agents): an array of agents');
    expect(refusal(untyped({ agents: [finished], store: createMemoryStore(), model }))).toBe('createRuntime: agents[0] is a pipeline (calculations): pass it in options.pipelines');
    expect(refusal(untyped({ agents: [calculator, 'calculator'], store: createMemoryStore(), model }))).toBe('createRuntime: agents[1] is not an agent (define it with agent({ ... }))');
  });

  it('takes only finished pipelines in pipelines', () => {
    expect(refusal(untyped({ agents: [calculator], pipelines: [calculations], store: createMemoryStore(), model }))).toBe(
      'createRuntime: pipelines[0] is a pipeline builder: end it with .finish(({ results }) => output)',
    );
    expect(refusal(untyped({ agents: [], pipelines: [calculator], store: createMemoryStore(), model }))).toBe('createRuntime: pipelines[0] is an agent (calculator): pass it in options.agents');
    expect(refusal(untyped({ agents: [calculator], pipelines: [finished], store: createMemoryStore(), model }))).toBe('created');
  });

  it('needs options at all', () => {
    expect(refusal(undefined)).toBe('createRuntime needs options { agents, store, model }');
  });
});
