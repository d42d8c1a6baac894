/**
 * A project split over many files (qa26-scale: 40 agents in four modules): a config that fails to
 * load says in which of the project's files, and where, the failure was thrown (D2), and two
 * agents of one name say where each was defined (D3): the one line the CLI prints is all a user sees.
 * Lines only: the config's TypeScript is compiled on load (jiti), which keeps lines, not columns.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { ROOT } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));

const FILES: Record<string, string> = {
  'tools.ts': `import { z } from 'zod';\nimport { tool } from ${SRC};\nexport const echo = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });\n`,
  'agents/one.ts': `import { agent } from ${SRC};\nimport { echo } from '../tools.js';\n\nexport const a = agent({ name: 'same', description: 'one', prompt: 'You help.', tools: [echo] });\n`,
  'agents/two.ts': `import { agent } from ${SRC};\nimport { echo } from '../tools.js';\nexport const b = agent({ name: 'other', description: 'two', prompt: 'You help.', tools: [echo] });\n\nexport const c = agent({ name: 'same', description: 'two', prompt: 'You help.', tools: [echo] });\n`,
  'agents/throws.ts': `export const x = 1;\nthrow new Error('boom in a module');\n`,
  'agents/badPrompt.ts': `import { agent } from ${SRC};\n\nexport const d = agent({ name: 'typo', description: 'd', prompt: 'You are {{agent}} of {{team}}.', variables: { teem: 't' }, tools: [] });\n`,
  'dup.config.ts': `import { defineConfig } from ${SRC};\nimport { a } from './agents/one.js';\nimport { b, c } from './agents/two.js';\nexport default defineConfig({ agents: [a, b, c] });\n`,
  'throws.config.ts': `import { defineConfig } from ${SRC};\nimport { x } from './agents/throws.js';\nexport default defineConfig({ agents: [] , demo: undefined, maxConcurrent: x });\n`,
  'prompt.config.ts': `import { defineConfig } from ${SRC};\nimport { d } from './agents/badPrompt.js';\nexport default defineConfig({ agents: [d] });\n`,
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-config-where-'));
  await mkdir(join(dir, 'agents'));
  // The project's own files, outside node_modules (what a user has), resolving zod through it.
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await Promise.all(Object.entries(FILES).map(([name, text]) => writeFile(join(dir, name), text)));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serveError(config: string): Promise<string> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'switchyard', 'serve', '--port', '0', '--dir', join(dir, 'data'), '--config', config], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: {},
    cwd: dir,
    stopped: () => new Promise(() => undefined),
  });
  expect(code, stderr).toBe(2);
  expect(stdout).toBe('');
  return stderr.split('\n')[0]!;
}

describe("a config's error in one of the project's files", () => {
  it('says which file threw while loading, and where', async () => {
    expect(await serveError('throws.config.ts')).toBe('error: throws.config.ts failed to load: boom in a module (at agents/throws.ts:2)');
  });

  it("says where an agent the definition refused is defined", async () => {
    expect(await serveError('prompt.config.ts')).toBe(
      'error: prompt.config.ts: agent typo: prompt template (inline) uses unknown variable {{team}}; known: agent, description, tools, context, teem (at agents/badPrompt.ts:3)',
    );
  });

  it('says where each of two agents of one name is defined', async () => {
    expect(await serveError('dup.config.ts')).toBe(
      'error: dup.config.ts: defineConfig: two agents or pipelines are named same (agents/one.ts:4 and agents/two.ts:5)',
    );
  });
});
