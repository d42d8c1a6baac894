/**
 * `switchyard serve` and `switchyard worker` on a user's config, as processes: a config that
 * fails to load, names two agents alike, or names something that is not an agent, and an
 * `--agents` name the config lacks, are usage errors (exit 2, one clear line) before anything
 * starts; `--agents` serves only the agents it names.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as runCliInProcess } from '../../src/cli/program.js';
import { ROOT, runCli, startCli, type CliResult } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
/** Nothing listens there: a worker that got as far as connecting would exit 1, not 2. */
const NO_NATS = 'nats://127.0.0.1:1';

const agentModule = (...names: string[]): string => `
import { z } from 'zod';
import { agent, tool } from ${SRC};
const echo = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });
${names.map((name) => `export const ${name} = agent({ name: '${name}', description: '${name}', prompt: 'You help.', tools: [echo] });`).join('\n')}
`;

const CONFIGS: Record<string, string> = {
  'two.mts': `${agentModule('alpha', 'beta')}\nexport default { agents: [alpha, beta] };\n`,
  'broken.mjs': 'throw new Error("boom at load");\n',
  'twice.mts': `${agentModule('same')}\nimport { defineConfig } from ${SRC};\nexport default defineConfig({ agents: [same, same] });\n`,
  'twice-plain.mts': `${agentModule('same')}\nexport default { agents: [same, same] };\n`,
  'not-an-agent.mjs': 'export default { agents: [{ name: "fake", tools: [] }] };\n',
  'syntax.ts': 'const broken: number = ;\nexport default {};\n',
};

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ so the configs' `import 'zod'` resolves as in a user's project.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-config-'));
  await Promise.all(Object.entries(CONFIGS).map(([name, text]) => writeFile(join(dir, name), text)));
  await mkdir(join(dir, 'folder'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The bad configs, each with the one line it must produce. */
const BAD: readonly (readonly [args: readonly string[], message: RegExp])[] = [
  [['--config', 'missing.mjs'], /^error: --config missing\.mjs: no such file/],
  [['--config', 'folder'], /^error: --config folder is a folder without switchyard\.config\.\{ts,mts,js,mjs\} \(\S+folder\)$/],
  [['--config', 'broken.mjs'], /^error: broken\.mjs failed to load: boom at load$/],
  [['--config', 'syntax.ts'], /^error: syntax\.ts failed to load: /],
  [['--config', 'twice.mts'], /^error: twice\.mts: defineConfig: two agents or pipelines are named same$/],
  [['--config', 'twice-plain.mts'], /^error: twice-plain\.mts: two agents or pipelines are named same$/],
  [['--config', 'not-an-agent.mjs'], /^error: not-an-agent\.mjs: agents\[0\] is not an agent \(define it with agent\(\{ \.\.\. \}\)\)$/],
  [['--config', 'two.mts', '--agents', 'alpha,nope'], /^error: --agents: unknown agent or pipeline nope; two\.mts has alpha, beta$/],
];

function expectUsageError(result: CliResult, message: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  // One line (a syntax error adds where it is), no stack trace.
  expect(result.stderr.split('\n')[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** The CLI in this process (the same code as the command, minus the process). */
async function inProcess(args: readonly string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCliInProcess(['node', 'switchyard', ...args], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: {},
    cwd: dir,
    stopped: () => new Promise(() => undefined),
  });
  return { code, stdout, stderr };
}

describe('a config that cannot be served is a usage error (exit 2) naming what is wrong', () => {
  // One test per config: each loads a config through tsx, seconds apiece on a loaded machine.
  it.each(BAD)('for serve: %j', async (args, message) => {
    expectUsageError(await inProcess(['serve', '--port', '0', '--dir', join(dir, 'data'), ...args]), message);
  });

  it.each(BAD)('for worker, before it connects to NATS: %j', async (args, message) => {
    expectUsageError(await inProcess(['worker', '--nats-url', NO_NATS, ...args]), message);
  });

  it('as the exit code of the process', async () => {
    const [serve, worker, reached] = await Promise.all([
      runCli(['serve', '--port', '0', '--dir', join(dir, 'data'), '--config', 'broken.mjs'], { cwd: dir }),
      runCli(['worker', '--nats-url', NO_NATS, '--config', 'not-an-agent.mjs'], { cwd: dir }),
      // A good config gets as far as NATS, and fails there: exit 1.
      runCli(['worker', '--nats-url', NO_NATS, '--config', 'two.mts'], { cwd: dir }),
    ]);
    expectUsageError(serve, /^error: broken\.mjs failed to load: boom at load$/);
    expectUsageError(worker, /^error: not-an-agent\.mjs: agents\[0\] is not an agent/);
    expect(reached.code).toBe(1);
    expect(reached.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

describe('serve --agents', () => {
  it('serves only the agents it names from the config', async () => {
    const serve = startCli(['serve', '--port', '0', '--dir', join(dir, 'data'), '--config', 'two.mts', '--agents', 'beta'], { cwd: dir });
    try {
      const [, url] = await serve.waitFor(/switchyard listening on (http:\/\/\S+)/);
      await serve.waitFor(/press Ctrl\+C to stop/);
      expect(serve.stdout()).toMatch(/project: .*two\.mts \(beta\)/);
      const agents = (await (await fetch(`${url}/agents`)).json()) as { name: string }[];
      expect(agents.map((a) => a.name)).toEqual(['beta']);
      const refused = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'alpha', input: 'hi' }) });
      expect(refused.status).toBe(404);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});
