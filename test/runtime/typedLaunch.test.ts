/**
 * `runtime.launch` typed from the agents and pipelines the runtime was built with. The type-level
 * checks (expectTypeOf, `@ts-expect-error`) are checked by `npm run typecheck` (tsconfig.json
 * includes test/): an `@ts-expect-error` whose line compiles fails it. vitest runs the rest.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { agent, type Agent } from '../../src/agent/agent.js';
import { InvalidInputError, UnknownAgentError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type LaunchInputs, type LaunchInputsOf, type LaunchOptions, type Runtime } from '../../src/runtime/runtime.js';
import { defineConfig } from '../../src/runtime/config.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const support = agent({
  name: 'support',
  description: 'answers about an order',
  prompt: 'Help with the order.',
  tools: [],
  input: z.object({ orderId: z.number().int(), note: z.string().default('') }),
});
const chat = agent({ name: 'chat', description: 'free text', prompt: 'Chat.', tools: [] });
const release = pipeline({ name: 'release', description: 'tags a repo', input: z.object({ repo: z.string() }), output: z.object({ tag: z.string() }) })
  .code({ name: 'tag', run: ({ input }) => `${input.repo}@1` })
  .finish(({ results }) => ({ tag: results.tag }));

function typedRuntime() {
  const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });
  return createRuntime({ agents: [support, chat], pipelines: [release], store: createMemoryStore(), model });
}

describe('runtime.launch, typed from the runtime (type level)', () => {
  it('infers each definition: its name a literal, its input schema kept', () => {
    expectTypeOf(support).toEqualTypeOf<Agent<'support', z.ZodObject<{ orderId: z.ZodNumber; note: z.ZodDefault<z.ZodString> }, z.core.$strip>>>();
    expectTypeOf(chat).toEqualTypeOf<Agent<'chat', undefined>>();
    expectTypeOf(release).toEqualTypeOf<Pipeline<'release', z.ZodObject<{ repo: z.ZodString }, z.core.$strip>>>();
    // Still agents and pipelines wherever one is taken.
    expectTypeOf(support).toExtend<Agent>();
    expectTypeOf(release).toExtend<Pipeline>();
  });

  it("takes the names it has, each with its schema's input type (z.input: a default may be left out)", () => {
    const runtime = typedRuntime();
    expectTypeOf(runtime).toEqualTypeOf<Runtime<{ readonly support: { orderId: number; note?: string | undefined }; readonly chat: unknown; readonly release: { repo: string } }>>();
    expectTypeOf<Parameters<typeof runtime.launch>[0]>().toEqualTypeOf<'support' | 'chat' | 'release'>();
    expectTypeOf<Parameters<typeof runtime.launch<'support'>>[1]>().toEqualTypeOf<{ orderId: number; note?: string | undefined }>();
    expectTypeOf<Parameters<typeof runtime.launch<'release'>>[1]>().toEqualTypeOf<{ repo: string }>();
    // An agent without an input schema takes any value (a launch checks that it is JSON).
    expectTypeOf<Parameters<typeof runtime.launch<'chat'>>[1]>().toEqualTypeOf<unknown>();
  });

  it('refuses, at compile time, an unknown name and input of the wrong shape', () => {
    const runtime = typedRuntime();
    // Not awaited: only their types matter here (each would reject; caught so nothing is left unhandled).
    const refused = [
      // @ts-expect-error -- no agent or pipeline is named supprot
      runtime.launch('supprot', { orderId: 1 }),
      // @ts-expect-error -- orderId is a number
      runtime.launch('support', { orderId: '1' }),
      // @ts-expect-error -- orderId is required
      runtime.launch('support', { note: 'n' }),
      // @ts-expect-error -- the pipeline takes { repo }, not the agent's input
      runtime.launch('release', { orderId: 1 }),
    ];
    for (const launched of refused) launched.catch(() => {});
    return runtime.close();
  });

  it("defineConfig keeps its agents' and pipelines' types: a runtime built from them is typed", () => {
    const config = defineConfig({ agents: [support, chat], pipelines: [release] });
    const runtime = createRuntime({ agents: config.agents ?? [], pipelines: config.pipelines ?? [], store: createMemoryStore(), model: scriptedModel([]) });
    expectTypeOf<Parameters<typeof runtime.launch>[0]>().toEqualTypeOf<'support' | 'chat' | 'release'>();
    // @ts-expect-error -- orderId is a number
    const refused = runtime.launch('support', { orderId: '1' });
    refused.catch(() => {});
    return runtime.close();
  });

  it('stays the untyped Runtime where the names are not known, and a typed one is a Runtime', () => {
    const someAgents: Agent[] = [support, chat];
    const untyped = createRuntime({ agents: someAgents, store: createMemoryStore(), model: scriptedModel([]) });
    expectTypeOf(untyped).toEqualTypeOf<Runtime>();
    expectTypeOf(untyped).toEqualTypeOf<Runtime<LaunchInputs>>();
    expectTypeOf<Parameters<typeof untyped.launch>>().toEqualTypeOf<[agent: string, input: unknown, options?: LaunchOptions]>();
    // One definition of an unknown name (a string) makes the whole runtime untyped.
    expectTypeOf<LaunchInputsOf<typeof support | Agent>>().toEqualTypeOf<LaunchInputs>();
    // A typed runtime goes wherever a Runtime is taken: an annotation, the surfaces.
    const typed = typedRuntime();
    const annotated: Runtime = typed;
    expectTypeOf(annotated.launch).toBeCallableWith('anything', 42);
    expectTypeOf(createHttpApp).toBeCallableWith(typed, { token: '' });
    return Promise.all([untyped.close(), typed.close()]);
  });
});

describe('runtime.launch, typed (run time)', () => {
  it('launches an agent and a pipeline through the typed API; the input is still validated at run time', async () => {
    const runtime = typedRuntime();
    try {
      const thread = await runtime.launch('support', { orderId: 7 });
      const done = await runtime.settled(thread.id);
      expect(done.status).toBe('done');
      expect(done.agent).toBe('support');
      const released = await runtime.launch('release', { repo: 'switchyard' });
      const finished = await runtime.settled(released.id);
      expect(finished.status).toBe('done');
      expect(finished.output).toEqual({ tag: 'switchyard@1' });
      // A caller the types do not reach (JavaScript, a surface: `Runtime`) is still checked.
      const untyped: Runtime = runtime;
      await expect(untyped.launch('support', { orderId: 'seven' })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(untyped.launch('supprot', { orderId: 7 })).rejects.toBeInstanceOf(UnknownAgentError);
    } finally {
      await runtime.close();
    }
  });
});
