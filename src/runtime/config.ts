import { isAgent, type Agent } from '../agent/agent.js';
import { bothSites } from '../agent/definitionSite.js';
import { sealSecretsOf } from '../context/sealedArgs.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { isModel, type Model } from '../model/model.js';
import { isPipeline, isPipelineBuilder, pipelineCycle, type Pipeline } from '../pipeline/pipeline.js';
import type { ThreadStore } from '../store/threadStore.js';
import { isJson, type Json } from '../thread/events.js';

/** What a project's `store` factory is given. */
export interface StoreContext {
  /** The data directory `switchyard serve --dir` was given (absolute). */
  readonly dir: string;
}

/**
 * A user's project, as `switchyard.config.ts` default-exports it: everything `switchyard serve`,
 * `switchyard worker`, the Docker image and the inspector run.
 *
 * @typeParam TAgent - its agents (what {@link defineConfig} infers: their names and input schemas kept)
 * @typeParam TPipeline - its pipelines, likewise
 */
export interface SwitchyardConfig<TAgent extends Agent = Agent, TPipeline extends Pipeline = Pipeline> {
  /** The agents. Names are unique across agents and pipelines. @default [] */
  agents?: readonly TAgent[] | undefined;
  /** Pipelines over the agents. @default [] */
  pipelines?: readonly TPipeline[] | undefined;
  /**
   * The model for agents without one of their own.
   * @default an OpenAI-compatible model when the environment configures one (OPENAI_API_KEY,
   * SWITCHYARD_MODEL_API_KEY, SWITCHYARD_MODEL_BASE_URL or OPENAI_BASE_URL), else the scripted demo model
   */
  model?: Model | undefined;
  /**
   * Builds the thread store of the embedded deployment (ignored on NATS, where threads live in a KV
   * bucket). @default a file store under `<dir>/threads`
   */
  store?: ((context: StoreContext) => ThreadStore | Promise<ThreadStore>) | undefined;
  /** @default pino at SWITCHYARD_LOG_LEVEL (info) */
  logger?: Logger | undefined;
  /** Agent actors at once per process. @default 64 */
  maxConcurrent?: number | undefined;
  /**
   * What tool calls' secrets are sealed with in the threads (`RuntimeOptions.sealSecret`: one, or a
   * list whose first seals and all open). Better read from the environment: it is a secret.
   * @default SWITCHYARD_SEAL_SECRET, then SWITCHYARD_SEAL_SECRET_PREVIOUS (comma-separated); none when unset
   */
  sealSecret?: string | readonly string[] | undefined;
  /** A thread `switchyard serve` launches at start when the store is empty (a demo). @default none */
  demo?: { readonly agent: string; readonly input: Json } | undefined;
}

/**
 * Declares a project (a typed identity, checked): `export default defineConfig({ agents: [...] })`.
 * The config keeps its agents' and pipelines' types: a runtime created from them
 * (`createRuntime({ agents: config.agents ?? [], ... })`) launches them typed.
 * Throws a {@link ConfigError} naming what is wrong (two agents with one name, something in
 * `agents` that is not an agent, a pipeline step delegating to an agent the project lacks, pipelines
 * delegating to each other in a cycle).
 *
 * @example
 * ```ts
 * // switchyard.config.ts
 * import { defineConfig } from 'switchyard';
 * import { support } from './agents/support.js';
 * export default defineConfig({ agents: [support] });
 * ```
 */
export function defineConfig<TAgent extends Agent = never, TPipeline extends Pipeline = never>(config: SwitchyardConfig<TAgent, TPipeline>): SwitchyardConfig<TAgent, TPipeline> {
  checkConfig(config, 'defineConfig');
  return config;
}

/** Checks a value meant as a {@link SwitchyardConfig} (what a config file exported); `source` names it in errors. */
export function checkConfig(value: unknown, source: string): SwitchyardConfig {
  const fail = (message: string): never => {
    throw new ConfigError(`${source}: ${message}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('the config must be an object such as defineConfig({ agents: [...] }) (is there a default export?)');
  }
  const config = value as Record<string, unknown>;
  const known = new Set(['agents', 'pipelines', 'model', 'store', 'logger', 'maxConcurrent', 'sealSecret', 'demo']);
  const extra = Object.keys(config).filter((key) => !known.has(key));
  if (extra.length > 0) fail(`unknown option${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (known: ${[...known].join(', ')})`);
  const agents = listOf(config.agents, 'agents', isAgent, 'an agent (define it with agent({ ... }))', fail);
  if (Array.isArray(config.pipelines)) {
    const unfinished = config.pipelines.findIndex(isPipelineBuilder);
    if (unfinished !== -1) fail(`pipelines[${unfinished}] is a pipeline builder: end it with .finish(({ results }) => output)`);
  }
  const pipelines = listOf(config.pipelines, 'pipelines', isPipeline, 'a pipeline (define it with pipeline({ ... }))', fail);
  if (agents.length + pipelines.length === 0) fail('it names no agents and no pipelines');
  const named = new Map<string, Agent | Pipeline>();
  for (const item of [...agents, ...pipelines]) {
    const first = named.get(item.name);
    if (first !== undefined) fail(`two agents or pipelines are named ${item.name}${bothSites(first, item)}`);
    named.set(item.name, item);
  }
  for (const p of pipelines) {
    for (const step of p.steps) {
      if (step.kind === 'agent' && !named.has(step.agent)) fail(`pipeline ${p.name}: step ${step.name} delegates to agent ${step.agent}, which the config does not name`);
    }
  }
  const cycle = pipelineCycle(pipelines);
  if (cycle !== null) fail(cycle);
  if (config.model !== undefined && !isModel(config.model)) fail('model must be a Model ({ name, complete(request) }), e.g. createOpenAIModel()');
  if (config.store !== undefined && typeof config.store !== 'function') fail('store must be a function ({ dir }) => ThreadStore');
  const max = config.maxConcurrent;
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 1)) fail('maxConcurrent must be a positive integer');
  try {
    sealSecretsOf(config.sealSecret as string | readonly string[] | undefined);
  } catch (error) {
    fail(messageOf(error));
  }
  const demo = config.demo as { agent?: unknown; input?: unknown } | undefined;
  if (demo !== undefined && (typeof demo !== 'object' || demo === null || typeof demo.agent !== 'string' || !named.has(demo.agent) || !isJson(demo.input))) {
    fail('demo must be { agent: <a name in the config>, input: <JSON> }');
  }
  return config as SwitchyardConfig;
}

function listOf<T>(value: unknown, key: string, guard: (item: unknown) => item is T, what: string, fail: (message: string) => never): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail(`${key} must be an array`);
  value.forEach((item, index) => {
    if (!guard(item)) fail(`${key}[${index}] is not ${what}`);
  });
  return value as T[];
}
