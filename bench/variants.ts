/**
 * Variants of the micro-agent task that isolate one layer (used by breakdown.ts and profile.ts):
 * the SDK alone and the OpenAI model alone (replaying the requests a switchyard run sends), the
 * agent's steps in a plain loop, and the agent machine without the runtime.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { decideStep } from '../src/agent/decideStep.js';
import { executeStep } from '../src/agent/executeStep.js';
import { type AgentDeps } from '../src/agent/deps.js';
import { systemClock } from '../src/clock.js';
import { silentLogger } from '../src/logger.js';
import type { Model, ModelRequest } from '../src/model/model.js';
import { createAgentActor, whenSettled } from '../src/runtime/agentActor.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { createMemoryStore } from '../src/store/memoryStore.js';
import type { Thread } from '../src/thread/events.js';
import { deriveState, statusOf } from '../src/thread/state.js';
import { benchAgent, benchOpenAIModel, TASK, type Runner } from './microAgent.js';

/** Records the requests of one switchyard run, so the model alone can replay them. */
export async function recordRun(baseURL: string): Promise<{ requests: ModelRequest[]; thread: Thread }> {
  const { model: real, close } = benchOpenAIModel(baseURL);
  const requests: ModelRequest[] = [];
  const recording: Model = { name: real.name, complete: (request) => (requests.push(request), real.complete(request)) };
  const store = createMemoryStore();
  const runtime = createRuntime({ agents: [benchAgent], store, model: recording });
  const launched = await runtime.launch('bench', TASK);
  const view = await runtime.settled(launched.id);
  await runtime.close();
  await close();
  if (view.status !== 'done' || requests.length !== 5) throw new Error(`recording run ended ${view.status} after ${requests.length} requests`);
  return { requests, thread: { id: view.id, agent: view.agent, events: view.events } };
}

/** `createOpenAIModel` alone, replaying a switchyard run's requests (prompt, context, tools). */
export function modelOnlyRunner(baseURL: string, requests: readonly ModelRequest[]): Runner {
  return {
    mode: 'bare',
    async prepare() {
      const { model, close } = benchOpenAIModel(baseURL);
      const run = async (): Promise<void> => {
        for (const request of requests) {
          // A signal per request, as the agent machine gives one per decision.
          const result = await model.complete({ ...request, signal: new AbortController().signal });
          if (!result.success) throw new Error(`model-only: ${result.error.message}`);
        }
      };
      return { run, close };
    },
  };
}

/** The SDK alone with switchyard's request bodies (no AbortController or timer of our own). */
export function sdkOnlyRunner(baseURL: string, requests: readonly ModelRequest[]): Runner {
  return {
    mode: 'bare',
    async prepare() {
      const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0 });
      const bodies = requests.map((request) => ({
        model: 'fake-model',
        messages: [
          { role: 'system' as const, content: request.system },
          { role: 'user' as const, content: request.context },
        ],
        tools: request.tools.map((t) => ({
          type: 'function' as const,
          function: { name: t.name, description: t.description, parameters: t.parameters, strict: true },
        })),
        tool_choice: 'required' as const,
        parallel_tool_calls: false,
      }));
      const run = async (): Promise<void> => {
        for (const body of bodies) await client.chat.completions.create(body);
      };
      return { run, close: async () => {} };
    },
  };
}

/**
 * The same steps, store and model as a switchyard run, in a plain loop: no agent machine, no
 * supervisor, no runtime. The difference to {@link agentActorRunner} is what XState costs.
 */
export function plainStepsRunner(model: string | (() => Model)): Runner {
  return {
    mode: 'switchyard',
    async prepare() {
      const store = createMemoryStore();
      const { model: built, close } = modelOf(model);
      const deps: AgentDeps = { model: built, store, clock: systemClock, logger: silentLogger() };
      const run = async (): Promise<void> => {
        let thread = await store.create(newThread());
        let state = deriveState(thread.events);
        // One controller per run, as the agent machine's step runner keeps one per actor.
        const controller = new AbortController();
        let recordedCall: string | undefined;
        while (state.terminal === null) {
          if (state.pendingRequest !== null || state.backoffUntil !== null) throw new Error(`plain steps: thread ${thread.id} stopped (${statusOf(state)})`);
          const input = { agent: benchAgent, thread, state, deps, ...(recordedCall === undefined ? {} : { recordedCall }) };
          if (state.pendingCall !== null) {
            thread = await executeStep(input, controller.signal);
            recordedCall = undefined;
          } else {
            ({ thread, recordedCall } = await decideStep(input, controller));
          }
          state = deriveState(thread.events);
        }
        check('plain steps', thread, statusOf(state));
      };
      return { run, close };
    },
  };
}

/** The agent machine alone (createAgentActor + whenSettled): no supervisor, no runtime. */
export function agentActorRunner(model: string | (() => Model)): Runner {
  return {
    mode: 'switchyard',
    async prepare() {
      const store = createMemoryStore();
      const { model: built, close } = modelOf(model);
      // One logger for all actors (createAgentActor's default builds a new pino logger per actor).
      const logger = silentLogger();
      const run = async (): Promise<void> => {
        const thread = await store.create(newThread());
        const actor = createAgentActor({ agent: benchAgent, thread, model: built, store, logger });
        const settled = await whenSettled(actor);
        actor.stop();
        check('agent actor', settled.thread, settled.status);
      };
      return { run, close };
    },
  };
}

/** A base URL means the OpenAI model against the fake server; a function builds an in-process model. */
function modelOf(model: string | (() => Model)): { model: Model; close: () => Promise<void> } {
  return typeof model === 'string' ? benchOpenAIModel(model) : { model: model(), close: async () => {} };
}

function newThread(): Thread {
  return {
    id: `th_${randomUUID()}`,
    agent: benchAgent.name,
    events: [{ seq: 1, at: new Date().toISOString(), type: 'input', data: { input: TASK } }],
  };
}

function check(what: string, thread: Thread, status: string): void {
  const results = thread.events.filter((e) => e.type === 'tool_result').length;
  if (status !== 'done' || results !== 4) throw new Error(`${what}: thread ${thread.id} ended ${status} with ${results} tool results`);
}
