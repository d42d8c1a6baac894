/**
 * Which model `serve` and `worker` run, from the environment, and what they print about it: a
 * keyless local server set with `OPENAI_BASE_URL` (the OpenAI SDK's variable, which docker-compose.yml
 * passes on) counts as a configured model, as `SWITCHYARD_MODEL_BASE_URL` does, and a base URL is
 * printed without the credentials it may carry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { hasModelConfig, modelFromEnv } from '../../src/cli/env.js';
import { ROOT } from './cliProcess.js';
import { runInProcess } from './runInProcess.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

const MODEL_VARIABLES = ['SWITCHYARD_MODEL_API_KEY', 'OPENAI_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'OPENAI_BASE_URL', 'SWITCHYARD_MODEL'];

/**
 * What `serve --no-demo` prints at start (embedded, in a fresh data directory) with `env`, which is
 * also the process's environment while it runs, as it is for the real command; in `cwd` (its project).
 */
async function serveStartLines(env: Record<string, string>, cwd?: string): Promise<string> {
  for (const name of MODEL_VARIABLES) vi.stubEnv(name, env[name]);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-model-env-'));
  dirs.push(dir);
  const run = await runInProcess(['serve', '--port', '0', '--no-demo', '--dir', dir], env, cwd);
  if ('ended' in run) throw new Error(`serve exited with ${run.ended.code}\nstdout: ${run.ended.stdout}\nstderr: ${run.ended.stderr}`);
  expect(await run.started.stop()).toBe(0);
  return run.started.stdout() + run.started.stderr();
}

describe('OPENAI_BASE_URL', () => {
  it('counts as a configured model, as SWITCHYARD_MODEL_BASE_URL does', () => {
    expect(hasModelConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' })).toBe(true);
    expect(modelFromEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }).configured).toBe(true);
    expect(hasModelConfig({ OPENAI_BASE_URL: '' })).toBe(false);
    expect(modelFromEnv({}).configured).toBe(false);
  });

  it('serve runs the OpenAI-compatible model at that URL, not the scripted demo model', async () => {
    const out = await serveStartLines({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(out).toMatch(/^model: \S+ \(OpenAI-compatible at http:\/\/127\.0\.0\.1:11434\/v1\)$/m);
    expect(out).not.toContain('scripted demo model');
  });

  it('is among the variables serve names when no model is configured', async () => {
    const out = await serveStartLines({});
    expect(out).toContain('no model key is configured (SWITCHYARD_MODEL_API_KEY, OPENAI_API_KEY, SWITCHYARD_MODEL_BASE_URL or OPENAI_BASE_URL):');
  });
});

describe('a model base URL with credentials', () => {
  it('is printed by serve with its password and query values masked', async () => {
    const out = await serveStartLines({ SWITCHYARD_MODEL_BASE_URL: 'https://u:sk-URLKEY-555@127.0.0.1:18161/v1?api-key=sk-QUERYKEY-666' });
    expect(out).toMatch(/^model: \S+ \(OpenAI-compatible at https:\/\/u:\*\*\*@127\.0\.0\.1:18161\/v1\?api-key=\*\*\*\)$/m);
    expect(out).not.toContain('URLKEY');
    expect(out).not.toContain('QUERYKEY');
  });
});

describe('a model API key an HTTP header cannot carry', () => {
  it('stops serve at start (exit 2), naming the variable and the position, never the key', async () => {
    for (const name of MODEL_VARIABLES) vi.stubEnv(name, undefined);
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-model-env-'));
    dirs.push(dir);
    const env = { SWITCHYARD_MODEL_BASE_URL: 'http://127.0.0.1:1/v1', SWITCHYARD_MODEL_API_KEY: '\u201csk-qa24-QUOTED-1234567890\u201d' };
    const run = await runInProcess(['serve', '--port', '0', '--no-demo', '--dir', dir], env);
    if ('started' in run) {
      await run.started.stop();
      throw new Error('serve started with a key no header can carry');
    }
    expect(run.ended.code).toBe(2);
    expect(run.ended.stderr).toContain('SWITCHYARD_MODEL_API_KEY has a character an HTTP header cannot carry (U+201C) at index 0');
    expect(run.ended.stdout + run.ended.stderr).not.toContain('QUOTED');
  });
});

describe('OPENAI_API_KEY beside SWITCHYARD_MODEL_BASE_URL', () => {
  it('serve says at start that the key is not sent to that server, and what to set', async () => {
    const out = await serveStartLines({ SWITCHYARD_MODEL_BASE_URL: 'https://openrouter.example/api/v1', OPENAI_API_KEY: 'sk-openai-account-key' });
    expect(out).toMatch(/^model key: OPENAI_API_KEY is not sent to https:\/\/openrouter\.example\/api\/v1 \(OpenAI's key goes only to OpenAI or to OPENAI_BASE_URL\): set SWITCHYARD_MODEL_API_KEY if that server needs a key$/m);
    expect(out).not.toContain('sk-openai-account-key');
  });

  it('serve says it too when the project\'s config supplies its model, as worker does', async () => {
    const project = mkdtempSync(join(tmpdir(), 'switchyard-model-env-project-'));
    dirs.push(project);
    // A model of the config's own: nothing of it is asked at start.
    const model = "{ name: 'own-model', complete: async () => ({ success: false, error: { kind: 'http', message: 'unused' } }) }";
    const source = `import { agent } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};\nconst mine = agent({ name: 'mine', description: 'mine', prompt: 'You help.', tools: [] });\nexport default { agents: [mine], model: ${model} };\n`;
    writeFileSync(join(project, 'switchyard.config.ts'), source);
    const out = await serveStartLines({ SWITCHYARD_MODEL_BASE_URL: 'https://openrouter.example/api/v1', OPENAI_API_KEY: 'sk-openai-account-key' }, project);
    expect(out).toMatch(/^model: own-model \(from the config\)$/m);
    expect(out).toMatch(/^model key: OPENAI_API_KEY is not sent to https:\/\/openrouter\.example\/api\/v1 \(OpenAI's key goes only to OpenAI or to OPENAI_BASE_URL\): set SWITCHYARD_MODEL_API_KEY if that server needs a key$/m);
    expect(out).not.toContain('sk-openai-account-key');
  });

  it('says nothing of it when SWITCHYARD_MODEL_API_KEY is set, or the URL is OpenAI\'s', async () => {
    expect(await serveStartLines({ SWITCHYARD_MODEL_BASE_URL: 'https://openrouter.example/api/v1', SWITCHYARD_MODEL_API_KEY: 'sk-or-key', OPENAI_API_KEY: 'sk-openai-account-key' })).not.toContain('model key:');
    expect(await serveStartLines({ SWITCHYARD_MODEL_BASE_URL: 'https://api.openai.com/v1', OPENAI_API_KEY: 'sk-openai-account-key' })).not.toContain('model key:');
  });
});

describe('agents with a model of their own', () => {
  it('are named by serve at start with their model, after the default one', async () => {
    const project = mkdtempSync(join(tmpdir(), 'switchyard-model-env-project-'));
    dirs.push(project);
    const model = (name: string) => `{ name: '${name}', complete: async () => ({ success: false, error: { kind: 'http', message: 'unused' } }) }`;
    const source =
      `import { agent } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};\n` +
      `const plain = agent({ name: 'plain', description: 'd', prompt: 'You help.', tools: [] });\n` +
      `const big = agent({ name: 'big', description: 'd', prompt: 'You help.', tools: [], model: ${model('large-model')} });\n` +
      `const small = agent({ name: 'small', description: 'd', prompt: 'You help.', tools: [], model: ${model('small-model')} });\n` +
      `export default { agents: [plain, big, small], model: ${model('own-model')} };\n`;
    writeFileSync(join(project, 'switchyard.config.ts'), source);
    const out = await serveStartLines({}, project);
    expect(out).toMatch(/^model: own-model \(from the config\)\nagents with a model of their own: big \(large-model\), small \(small-model\)$/m);
  });

  it('are not mentioned when there are none', async () => {
    expect(await serveStartLines({})).not.toContain('model of their own');
  });
});
