/**
 * `switchyard serve`'s start lines for a large project (qa26-scale D5): with 40 agents and 10
 * pipelines, its `try:` block printed 50 `launch` lines between the URL and "press Ctrl+C". It
 * shows a few (the demo's agent first), then how many more there are; the `project:` line names all.
 */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { ROOT } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const NAMES = Array.from({ length: 12 }, (_, i) => `agent${String(i).padStart(2, '0')}`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-serve-banner-'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const agents = NAMES.map((name) => `const ${name} = agent({ name: '${name}', description: 'd', prompt: 'You help.', tools: [] });`).join('\n');
  await writeFile(
    join(dir, 'switchyard.config.ts'),
    `import { agent, defineConfig } from ${SRC};\n${agents}\nexport default defineConfig({ agents: [${NAMES.join(', ')}], demo: { agent: 'agent07', input: 'hi' } });\n`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('shows a few launch commands, the demo agent first, and says how many more the project has', async () => {
  let stdout = '';
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const code = await runCli(['node', 'switchyard', 'serve', '--port', '0', '--dir', join(dir, 'data'), '--no-demo'], {
    stdout: (text) => {
      stdout += text;
      if (stdout.includes('press Ctrl+C to stop')) stop('SIGTERM');
    },
    stderr: () => undefined,
    env: { SWITCHYARD_LOG_LEVEL: 'silent' },
    cwd: dir,
    stopped: () => stopped,
  });
  expect(code).toBe(0);
  const block = stdout.slice(stdout.indexOf('try:\n'), stdout.indexOf('\npress Ctrl+C')).trim().split('\n');
  expect(block).toEqual([
    'try:',
    expect.stringMatching(/^ {2}(npx )?switchyard launch agent07 hi --url http:\/\/127\.0\.0\.1:\d+$/),
    expect.stringMatching(/^ {2}(npx )?switchyard launch agent00 \.\.\. --url /),
    expect.stringMatching(/^ {2}(npx )?switchyard launch agent01 \.\.\. --url /),
    '  (9 more agents and pipelines: the project line above names them)',
    expect.stringMatching(/^ {2}(npx )?switchyard threads --url /),
  ]);
  expect(stdout).toContain(`(${NAMES.join(', ')})`);
});
