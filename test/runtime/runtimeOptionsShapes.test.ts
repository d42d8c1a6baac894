/**
 * `createRuntime` refuses, with a ConfigError naming what is wrong, a `store` that is not a
 * ThreadStore and `pipelines` that are not an array (plain JavaScript, a config file's typo),
 * instead of failing later as a TypeError on the first launch; what is a ThreadStore or an array
 * of pipelines, however built, is taken.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';

const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });
const NOT_A_STORE = 'createRuntime: store must be a ThreadStore ({ create, append, get, list, close })';
const NOT_AN_ARRAY = 'createRuntime: options.pipelines must be an array of pipelines';

/** What `createRuntime` throws for these options (not what the types allow): a ConfigError's message, or 'created'. */
function refusal(options: Record<string, unknown>): string {
  try {
    createRuntime(options as unknown as RuntimeOptions); // holds nothing to close: no thread was launched
    return 'created';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

/** A memory store without `method`. */
function storeWithout(method: keyof ThreadStore): Record<string, unknown> {
  const store = createMemoryStore();
  const methods = ['create', 'append', 'get', 'list', 'close', 'delete', 'ready'] as const;
  return Object.fromEntries(methods.filter((m) => m !== method && store[m] !== undefined).map((m) => [m, (store[m] as (...args: never[]) => unknown).bind(store)]));
}

const calculations = pipeline({ name: 'calculations', description: 'calculates', input: z.string(), output: z.unknown() })
  .agent({ name: 'calc', agent: 'calculator', input: ({ input }) => input })
  .finish(({ results }) => results.calc ?? null);

describe('createRuntime refuses a store that is not a ThreadStore', () => {
  it.each([
    ['a string', 'memory'],
    ['a number', 1],
    ['an empty object', {}],
    ['an array', [createMemoryStore()]],
    ['a store factory not called', createMemoryStore],
  ])('%s', (_, store) => {
    expect(refusal({ agents: [calculator], model, store })).toBe(NOT_A_STORE);
  });

  it.each(['create', 'append', 'get', 'list', 'close'] as const)('a store without %s', (method) => {
    expect(refusal({ agents: [calculator], model, store: storeWithout(method) })).toBe(NOT_A_STORE);
  });

  it('a store whose method is not a function', () => {
    expect(refusal({ agents: [calculator], model, store: { ...storeWithout('append'), append: 'append' } })).toBe(NOT_A_STORE);
  });

  it('takes a ThreadStore however built: without its optional delete and ready, or with its methods on a prototype', () => {
    expect(refusal({ agents: [calculator], model, store: createMemoryStore() })).toBe('created');
    expect(refusal({ agents: [calculator], model, store: storeWithout('delete') })).toBe('created');
    expect(refusal({ agents: [calculator], model, store: storeWithout('ready') })).toBe('created');
    expect(refusal({ agents: [calculator], model, store: Object.create(createMemoryStore()) as unknown })).toBe('created');
  });
});

describe('createRuntime refuses pipelines that are not an array', () => {
  it.each([
    ['one pipeline, not in an array', calculations],
    ['a map of pipelines', new Map([['calculations', calculations]])],
    ['an object of pipelines', { calculations }],
    ['a name', 'calculations'],
    ['null', null],
  ])('%s', (_, pipelines) => {
    expect(refusal({ agents: [calculator], model, store: createMemoryStore(), pipelines })).toBe(NOT_AN_ARRAY);
  });

  it('takes none (undefined), an empty array, and an array of pipelines', () => {
    expect(refusal({ agents: [calculator], model, store: createMemoryStore(), pipelines: undefined })).toBe('created');
    expect(refusal({ agents: [calculator], model, store: createMemoryStore(), pipelines: [] })).toBe('created');
    expect(refusal({ agents: [calculator], model, store: createMemoryStore(), pipelines: [calculations] })).toBe('created');
  });
});
