/**
 * A user's project as `serve` and `worker` load it: `--config`, `switchyard.config.*` in the
 * working directory or the nearest folder above it up to the project root, else the bundled
 * examples; bad configs are clear errors.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { loadProject, narrowProject, selectNames, type Project } from '../../src/cli/project.js';
import { agent as defineAgent } from '../../src/agent/agent.js';
import { pipeline } from '../../src/pipeline/pipeline.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src/index.ts');
let dir: string;
beforeEach(async () => {
  // Inside node_modules/ so a config's `import 'zod'` resolves as it does in a user's project.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-project-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const agentSource = (name: string): string => `
import { z } from 'zod';
import { agent, defineConfig, tool } from ${JSON.stringify(SRC)};
const echo = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: async ({ text }) => text });
export const mine = agent({ name: ${JSON.stringify(name)}, description: 'mine', prompt: 'You help.', tools: [echo] });
`;

// Each config below imports switchyard's source through jiti, which transpiles the whole tree on a
// load: seconds alone, over half a minute for a case of two loads on a loaded 2-core machine.
describe('loadProject', { timeout: 120_000 }, () => {
  it('falls back to the bundled examples without a config', async () => {
    const project = await loadProject({ cwd: dir });
    expect(project.path).toBeNull();
    expect(project.agents.map((a) => a.name)).toEqual(['calculator', 'deploybot', 'triage']);
    expect(project.pipelines.map((p) => p.name)).toEqual(['bugfix']);
  });

  it('loads a TypeScript switchyard.config.ts from the working directory without a build step', async () => {
    await writeFile(join(dir, 'switchyard.config.ts'), `${agentSource('helper')}\nconst n: number = 3;\nexport default defineConfig({ agents: [mine], maxConcurrent: n });\n`);
    const project = await loadProject({ cwd: dir });
    expect(project.path).toBe(join(dir, 'switchyard.config.ts'));
    expect(project.agents.map((a) => a.name)).toEqual(['helper']);
    expect(project.config.maxConcurrent).toBe(3);
  });

  it('finds switchyard.config.* in the nearest folder above the working directory that has one, up to the project\'s package.json', async () => {
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeFile(join(dir, 'switchyard.config.mts'), `${agentSource('top')}\nexport default { agents: [mine] };\n`);
    await mkdir(join(dir, 'src/agents/deep'), { recursive: true });
    const fromDeep = await loadProject({ cwd: join(dir, 'src/agents/deep') });
    expect(fromDeep.path).toBe(join(dir, 'switchyard.config.mts'));
    expect(fromDeep.agents.map((a) => a.name)).toEqual(['top']);

    // The nearest wins.
    await writeFile(join(dir, 'src/switchyard.config.ts'), `${agentSource('near')}\nexport default { agents: [mine] };\n`);
    const fromNear = await loadProject({ cwd: join(dir, 'src/agents/deep') });
    expect(fromNear.path).toBe(join(dir, 'src/switchyard.config.ts'));
    expect(fromNear.agents.map((a) => a.name)).toEqual(['near']);
  });

  it('does not look above a folder with a package.json: a package inside a project with a config is a project of its own', async () => {
    await writeFile(join(dir, 'switchyard.config.mts'), `${agentSource('outer')}\nexport default { agents: [mine] };\n`);
    await mkdir(join(dir, 'inner/src'), { recursive: true });
    await writeFile(join(dir, 'inner/package.json'), '{}\n');
    const project = await loadProject({ cwd: join(dir, 'inner/src') });
    expect(project.path).toBeNull();
    expect(project.agents.map((a) => a.name)).toEqual(['calculator', 'deploybot', 'triage']);
    expect(project.searched).toEqual({ from: join(dir, 'inner/src'), to: join(dir, 'inner') });
  });

  it('loads --config <file> relative to the working directory', async () => {
    await writeFile(join(dir, 'other.config.mts'), `${agentSource('other')}\nexport default { agents: [mine] };\n`);
    const project = await loadProject({ cwd: dir, config: 'other.config.mts' });
    expect(project.agents.map((a) => a.name)).toEqual(['other']);
  });

  it('loads --config <folder> from the config in that folder, and refuses a folder without one', async () => {
    await mkdir(join(dir, 'mine/empty'), { recursive: true });
    await writeFile(join(dir, 'mine/switchyard.config.mts'), `${agentSource('inside')}\nexport default { agents: [mine] };\n`);
    const project = await loadProject({ cwd: dir, config: 'mine' });
    expect(project.path).toBe(join(dir, 'mine/switchyard.config.mts'));
    expect(project.agents.map((a) => a.name)).toEqual(['inside']);

    const refused = loadProject({ cwd: dir, config: 'mine/empty' });
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(`--config mine/empty is a folder without switchyard.config.{ts,mts,js,mjs} (${join(dir, 'mine/empty')})`);
  });

  it('names a missing file, a module that fails, two agents of one name and a non-agent', async () => {
    await expect(loadProject({ cwd: dir, config: 'nope.mjs' })).rejects.toThrow(/--config nope\.mjs: no such file/);
    await writeFile(join(dir, 'broken.mjs'), 'throw new Error("boom at load")\n');
    await expect(loadProject({ cwd: dir, config: 'broken.mjs' })).rejects.toThrow(/broken\.mjs failed to load: boom at load/);
    await writeFile(join(dir, 'twice.mts'), `${agentSource('same')}\nexport default { agents: [mine, mine] };\n`);
    await expect(loadProject({ cwd: dir, config: 'twice.mts' })).rejects.toThrow(/two agents or pipelines are named same/);
    await writeFile(join(dir, 'bad.mjs'), 'export default { agents: [{ name: "fake" }] };\n');
    await expect(loadProject({ cwd: dir, config: 'bad.mjs' })).rejects.toThrow(ConfigError);
    await expect(loadProject({ cwd: dir, config: 'bad.mjs' })).rejects.toThrow(/agents\[0\] is not an agent/);
    await writeFile(join(dir, 'typo.mjs'), 'export default { agent: [] };\n');
    await expect(loadProject({ cwd: dir, config: 'typo.mjs' })).rejects.toThrow(/unknown option agent/);
  });

  it('names the tool whose input is a zod 3 schema, before zod tries to convert it', async () => {
    await writeFile(join(dir, 'switchyard.config.ts'), `
import { z } from 'zod/v3';
import { agent, defineConfig, tool } from ${JSON.stringify(SRC)};
const v3 = tool({ name: 'v3', description: 'd', input: z.object({ n: z.number() }) as never, run: () => 1 });
export default defineConfig({ agents: [agent({ name: 'a', description: 'd', prompt: 'p', tools: [v3] })] });
`);
    const loading = loadProject({ cwd: dir });
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loading).rejects.toThrow('switchyard.config.ts: tool v3: input must be a zod 4 object schema (got a zod 3 schema)');
  });

  it('says a config without a default export has none, and how to write it', async () => {
    // Only named exports: not a config with unknown options (jiti handed the whole module over).
    await writeFile(join(dir, 'noexport.config.ts'), `${agentSource('named')}\nexport const x = 1;\n`);
    await writeFile(join(dir, 'noexport.config.mjs'), 'export const x = 1;\n');
    for (const file of ['noexport.config.ts', 'noexport.config.mjs']) {
      const loading = loadProject({ cwd: dir, config: file });
      await expect(loading).rejects.toThrow(ConfigError);
      await expect(loading).rejects.toThrow(`${file} has no default export: end it with export default defineConfig({ agents: [...] })`);
    }
  });
});

describe('--agents', () => {
  it('picks names of the project and refuses unknown ones', async () => {
    const project = await loadProject({ cwd: dir });
    expect(selectNames(project, ['triage'])).toEqual(['triage']);
    expect(() => selectNames(project, ['nope'])).toThrow(/unknown agent or pipeline nope/);
    expect(narrowProject(project, ['calculator']).agents.map((a) => a.name)).toEqual(['calculator']);
    expect(() => narrowProject(project, ['bugfix'])).toThrow(/pipeline bugfix needs triage/);
  });

  it('suggests the name a typo is close to, for each unknown name', async () => {
    const project = await loadProject({ cwd: dir });
    expect(() => selectNames(project, ['calculatr', 'traige', 'nope'])).toThrow(/^--agents: unknown agent or pipeline calculatr \(did you mean calculator\?\), traige \(did you mean triage\?\), nope; /);
  });

  it("names every agent and pipeline a picked pipeline needs at once, its nested pipelines' too (QA19 pipelines #9)", () => {
    const named = (name: string) => defineAgent({ name, description: name, prompt: 'p', tools: [] });
    const inner = pipeline({ name: 'inner', description: 'pays', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'pay', agent: 'charger', input: () => 'pay' })
      .finish(({ results }) => results.pay);
    const outer = pipeline({ name: 'outer', description: 'asks, then pays', input: z.unknown(), output: z.unknown() })
      .agent({ name: 'ask', agent: 'asker', input: () => 'ask' })
      .agent({ name: 'sub', agent: 'inner', input: () => ({}) })
      .finish(({ results }) => results.sub);
    const project: Project = { config: { agents: [] }, agents: [named('asker'), named('charger')], pipelines: [inner, outer], path: null };
    expect(() => narrowProject(project, ['outer'])).toThrow('--agents: pipeline outer needs asker, inner, charger (the agents and pipelines its steps delegate to, and theirs); add them to --agents');
    expect(() => narrowProject(project, ['outer', 'asker', 'inner'])).toThrow('--agents: pipeline inner needs charger (the agents and pipelines its steps delegate to, and theirs); add it to --agents');
    expect(narrowProject(project, ['outer', 'asker', 'inner', 'charger']).pipelines.map((p) => p.name)).toEqual(['inner', 'outer']);
  });
});
