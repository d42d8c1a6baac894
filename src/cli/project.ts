import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Agent } from '../agent/agent.js';
import { userFrameOf } from '../agent/definitionSite.js';
import { closestName, ConfigError, messageOf } from '../errors.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { checkConfig, type SwitchyardConfig } from '../runtime/config.js';
import { bundledProject } from './bundled.js';

/** The file names `serve` and `worker` look for (see {@link findConfig}), in this order. */
export const CONFIG_FILES: readonly string[] = ['switchyard.config.ts', 'switchyard.config.mts', 'switchyard.config.js', 'switchyard.config.mjs'];

/** {@link CONFIG_FILES}, as a person reads them. */
const CONFIG_NAMES = 'switchyard.config.{ts,mts,js,mjs}';

/** The folders {@link findConfig} looked in: from `from` up to `to`, both included. */
export interface ConfigSearch {
  /** The working directory. */
  readonly from: string;
  /** The project's root (the nearest folder with a package.json), else the filesystem root. */
  readonly to: string;
}

/** A loaded project: its config, and where it came from. */
export interface Project {
  readonly config: SwitchyardConfig;
  readonly agents: readonly Agent[];
  readonly pipelines: readonly Pipeline[];
  /** The config file's absolute path, or `null` for the bundled examples. */
  readonly path: string | null;
  /** Where the config was looked for, when none was found (the bundled examples). */
  readonly searched?: ConfigSearch;
}

/** Options of {@link loadProject}. */
export interface LoadProjectOptions {
  /** `--config <file>`, or a folder holding one of {@link CONFIG_FILES}; relative to `cwd`. */
  config?: string;
  /** Where to look for `switchyard.config.*`. */
  cwd: string;
}

/**
 * Loads the user's project: `--config <file>` (or the config in `--config <folder>`), else the
 * config {@link findConfig} finds from `cwd`, else the bundled examples. TypeScript configs load
 * without a build step (through jiti) and without a type check. Throws a {@link ConfigError} that says what is wrong: a missing file,
 * a module that fails to load, a config that names something that is not an agent or two agents
 * of one name.
 */
export async function loadProject(options: LoadProjectOptions): Promise<Project> {
  if (options.config === undefined) {
    const found = findConfig(options.cwd);
    if (typeof found !== 'string') return { ...projectOf(bundledProject(), null), searched: found };
    return loadConfig(found);
  }
  const path = resolve(options.cwd, options.config);
  if (!existsSync(path)) throw new ConfigError(`--config ${options.config}: no such file (${path})`);
  if (!statSync(path).isDirectory()) return loadConfig(path);
  // A folder: the project's, whose config is in it.
  const inside = configIn(path);
  if (inside === undefined) throw new ConfigError(`--config ${options.config} is a folder without ${CONFIG_NAMES} (${path})`);
  return loadConfig(inside);
}

async function loadConfig(path: string): Promise<Project> {
  const exported = await importConfig(path);
  if (exported === NO_DEFAULT_EXPORT) {
    throw new ConfigError(`${basename(path)} has no default export: end it with export default defineConfig({ agents: [...] })`);
  }
  return projectOf(checkConfig(exported, basename(path)), path);
}

/**
 * The project's config: the first of {@link CONFIG_FILES} in `cwd`, else in the nearest folder
 * above it that has one, looking no further up than the project's root (the nearest folder with a
 * package.json: a package inside another project is a project of its own, as the switchyard
 * checkout is) or the filesystem root. Answers the folders it looked in when there is none.
 */
export function findConfig(cwd: string): string | ConfigSearch {
  const from = resolve(cwd);
  for (let dir = from; ; dir = dirname(dir)) {
    const found = configIn(dir);
    if (found !== undefined) return found;
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) return { from, to: dir };
  }
}

/** The first of {@link CONFIG_FILES} in `dir`, if there is one. */
function configIn(dir: string): string | undefined {
  return CONFIG_FILES.map((name) => join(dir, name)).find((path) => existsSync(path));
}

/**
 * Which project runs, for the start-up lines of `serve` and `worker`: the config's path, or the
 * bundled demo agents and where no config was found; with the names of the agents and pipelines.
 */
export function describeProject(project: Project): string {
  const names = [...project.agents, ...project.pipelines].map((a) => a.name).join(', ');
  if (project.path !== null) return `${project.path} (${names})`;
  const searched = project.searched;
  if (searched === undefined) return `the bundled demo agents (${names})`;
  const { from, to } = searched;
  // findConfig stops at a package.json, else at the filesystem root.
  const where = dirname(to) === to ? (to === from ? from : `${from} or any folder above it`) : to === from ? `${from} (the project root)` : `${from} or the folders above it up to the project root ${to}`;
  return `the bundled demo agents (${names}): no ${CONFIG_NAMES} in ${where}; --config <file> names one`;
}

/** The line naming a project's agents that run on a model of their own, with it; `undefined` when none does. */
export function ownModelsLine(project: Project): string | undefined {
  const own = project.agents.flatMap((a) => (a.model === undefined ? [] : [`${a.name} (${a.model.name})`]));
  return own.length === 0 ? undefined : `agents with a model of their own: ${own.join(', ')}`;
}

function projectOf(config: SwitchyardConfig, path: string | null): Project {
  return { config, agents: config.agents ?? [], pipelines: config.pipelines ?? [], path };
}

/** What {@link importConfig} returns for an ES module without a default export. */
const NO_DEFAULT_EXPORT = Symbol('no default export');

/** The config module's default export (a CommonJS module's exports), or {@link NO_DEFAULT_EXPORT}. */
async function importConfig(path: string): Promise<unknown> {
  const ext = extname(path);
  try {
    if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
      // jiti compiles the config (and the TypeScript it imports) on the fly; packages it imports
      // from node_modules (switchyard itself) load natively, so they are the CLI's own modules.
      const { createJiti } = await import('jiti');
      const jiti = createJiti(import.meta.url, { interopDefault: true, moduleCache: false });
      const module = await jiti.import<Record<string, unknown>>(path);
      // jiti's module object answers `default` with the whole module when there is none; its own
      // keys tell: an ES module it compiled has `__esModule`, a CommonJS module's exports are the config.
      const own = Object.getOwnPropertyNames(module);
      if (own.includes('default')) return module.default;
      return own.includes('__esModule') ? NO_DEFAULT_EXPORT : module;
    }
    // Node gives a CommonJS module's exports as `default`, so only an ES module can lack it.
    const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    return 'default' in module ? module.default : NO_DEFAULT_EXPORT;
  } catch (error) {
    // A definition switchyard refused (defineConfig, agent(), tool()): the module is wrong, not
    // broken. By name: the config may have loaded another copy of switchyard than this CLI's.
    const refused = error instanceof Error && error.name === ConfigError.name;
    const message = refused ? `${basename(path)}: ${(error as Error).message}` : `${basename(path)} failed to load: ${messageOf(error)}`;
    throw new ConfigError(inProject(path, message + whereThrown(path, error, refused)), { cause: error });
  }
}

/**
 * ` (at <file>:<line>)`: where in the project's own files a config's error was thrown (a
 * definition refused in agents/billing.ts, a module that throws). Not for a definition the config
 * file itself refused (defineConfig's errors: the message names the config already).
 */
function whereThrown(path: string, error: unknown, refused: boolean): string {
  const site = userFrameOf(error instanceof Error ? error.stack : undefined);
  if (site === undefined || (refused && site.startsWith(`${path}:`))) return '';
  return ` (at ${site})`;
}

/** `message` with the paths of the config's folder shown relative to it (`agents/billing.ts:12`). */
function inProject(path: string, message: string): string {
  return message.split(`${dirname(path)}${sep}`).join('');
}

/**
 * The names `--agents` picked out of a project (all of them when `names` is undefined). Throws a
 * {@link ConfigError} for a name the project does not have.
 */
export function selectNames(project: Project, names: readonly string[] | undefined): string[] {
  const all = [...project.agents, ...project.pipelines].map((a) => a.name);
  if (names === undefined) return all;
  const unknown = names.filter((name) => !all.includes(name));
  if (unknown.length > 0) {
    const where = project.path === null ? 'the bundled ones are' : `${basename(project.path)} has`;
    const named = unknown.map((name) => {
      const close = closestName(name, all);
      return close === undefined ? name : `${name} (did you mean ${close}?)`;
    });
    throw new ConfigError(`--agents: unknown agent or pipeline ${named.join(', ')}; ${where} ${all.join(', ')}`);
  }
  return [...names];
}

/**
 * The project with only the agents and pipelines `names` picks (`serve --agents`). Throws a
 * {@link ConfigError} for an unknown name or a pipeline whose agents are not picked too.
 */
export function narrowProject(project: Project, names: readonly string[]): Project {
  const picked = new Set(selectNames(project, names));
  const agents = project.agents.filter((a) => picked.has(a.name));
  const pipelines = project.pipelines.filter((p) => picked.has(p.name));
  for (const p of pipelines) {
    const missing = delegatesOf(project, p).filter((name) => !picked.has(name));
    if (missing.length > 0) {
      throw new ConfigError(`--agents: pipeline ${p.name} needs ${missing.join(', ')} (the agents and pipelines its steps delegate to, and theirs); add ${missing.length > 1 ? 'them' : 'it'} to --agents`);
    }
  }
  return { ...project, agents, pipelines };
}

/** Every agent and pipeline `pipeline` delegates to, through the project's nested pipelines too, in the order met. */
function delegatesOf(project: Project, pipeline: Pipeline): string[] {
  const byName = new Map(project.pipelines.map((p) => [p.name, p]));
  const found = new Set<string>();
  const walk = (p: Pipeline): void => {
    for (const step of p.steps) {
      if (step.kind !== 'agent' || found.has(step.agent) || step.agent === pipeline.name) continue;
      found.add(step.agent);
      const nested = byName.get(step.agent);
      if (nested !== undefined) walk(nested);
    }
  };
  walk(pipeline);
  return [...found];
}
