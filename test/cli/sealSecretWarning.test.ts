/**
 * `serve` without a seal secret warns at start, in one pino line (stderr holds the log, JSON), about
 * the tools whose calls will be refused (an input property named as a secret: the thread may keep
 * its value only sealed), and says nothing with `SWITCHYARD_SEAL_SECRET` set, nor for a project
 * without such a tool.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { toolsWithSecretArgs, warnUnsealedTools } from '../../src/cli/sealWarning.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { ROOT, cliTestTimeout, startCli } from './cliProcess.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const temp = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

/** A project whose agent has `create_account({ user, password })` and `lookup({ id })`. */
function project(): string {
  // Inside the checkout's node_modules, as test/cli/project.test.ts's projects: the config's bare
  // 'zod' import resolves from there (from the system's temp directory it resolves nowhere).
  const dir = mkdtempSync(join(ROOT, 'node_modules', '.switchyard-seal-project-'));
  dirs.push(dir);
  const source =
    `import { z } from 'zod';\n` +
    `import { agent, tool } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};\n` +
    `const createAccount = tool({ name: 'create_account', description: 'd', input: z.object({ user: z.string(), password: z.string() }), run: () => 'ok' });\n` +
    `const lookup = tool({ name: 'lookup', description: 'd', input: z.object({ id: z.string() }), run: () => 'ok' });\n` +
    `const signup = agent({ name: 'signup', description: 'd', prompt: 'You help.', tools: [createAccount, lookup] });\n` +
    `export default { agents: [signup] };\n`;
  writeFileSync(join(dir, 'switchyard.config.ts'), source);
  return dir;
}

/** What `switchyard serve` (a child process, as a user runs it: its log on its own stderr) printed until stopped. */
async function serveOutput(env: Record<string, string>, cwd: string): Promise<{ stdout: string; stderr: string }> {
  const served = startCli(['serve', '--port', '0', '--no-demo', '--dir', temp('switchyard-seal-data-')], { cwd, env });
  try {
    await served.waitFor(/press Ctrl\+C to stop/);
  } finally {
    expect(await served.stop()).toBe(0);
  }
  return { stdout: served.stdout(), stderr: served.stderr() };
}

describe('serve without a seal secret', { timeout: cliTestTimeout(1) }, () => {
  it('warns once, as a pino line among the others on stderr, naming the tools whose input has a secret-named property', async () => {
    const { stdout, stderr } = await serveOutput({}, project());
    expect(stdout).not.toContain('no seal secret');
    const lines = stderr.split('\n').filter((line) => line.includes('no seal secret'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 40, name: 'switchyard', tools: ['create_account (password)'] });
    expect(line.msg).toContain('no seal secret (SWITCHYARD_SEAL_SECRET): calls of create_account (password) will be refused until it is set');
    expect(lines[0]).not.toContain('lookup');
  });

  it('says nothing with SWITCHYARD_SEAL_SECRET set', async () => {
    const { stdout, stderr } = await serveOutput({ SWITCHYARD_SEAL_SECRET: 'seal-SECRET-VALUE' }, project());
    expect(stdout + stderr).not.toContain('no seal secret');
  });
});

describe('warnUnsealedTools (serve and worker)', () => {
  it('logs one warning naming the tools, none when no tool takes a secret-named argument', () => {
    const login = tool({ name: 'login', description: 'd', input: z.object({ user: z.string(), token: z.string() }), run: () => 'ok' });
    const plain = tool({ name: 'plain', description: 'd', input: z.object({ note: z.string() }), run: () => 'ok' });
    const { logger, out } = capturingLogger('info');
    warnUnsealedTools(logger, [agent({ name: 'a', description: 'd', prompt: 'p', tools: [plain] })]);
    expect(out.lines).toEqual([]);
    warnUnsealedTools(logger, [agent({ name: 'b', description: 'd', prompt: 'p', tools: [login, plain] })]);
    expect(out.lines).toEqual([expect.objectContaining({ level: 40, tools: ['login (token)'], msg: expect.stringContaining('calls of login (token) will be refused') })]);
  });
});

describe('toolsWithSecretArgs', () => {
  it('names each tool once, with its secret-named top-level properties', () => {
    const login = tool({ name: 'login', description: 'd', input: z.object({ user: z.string(), token: z.string(), apiKey: z.string().optional(), maxTokens: z.number() }), run: () => 'ok' });
    const plain = tool({ name: 'plain', description: 'd', input: z.object({ note: z.string() }), run: () => 'ok' });
    const a = agent({ name: 'a', description: 'd', prompt: 'p', tools: [login, plain] });
    const b = agent({ name: 'b', description: 'd', prompt: 'p', tools: [login] });
    expect(toolsWithSecretArgs([a, b])).toEqual(['login (token, apiKey)']);
  });
});
