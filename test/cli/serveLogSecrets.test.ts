/**
 * Secrets in what `serve` prints that is not about a thread: the one line of a config that fails to
 * load (its error may quote a DSN, a token), and its pino lines (an HTTP request failed on an error
 * of the project's own store). Thread lines are redacted by the agent's logger; these were printed
 * as they came, so a password in a user's error reached the container's logs.
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { ROOT } from './cliProcess.js';
import { runInProcess, serveInProcess } from './runInProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const PASSWORD = 'pgS3cretPassw0rd';
const TOKEN = 'abcdEFGH12345678';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-serve-log-secrets-'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(
    join(dir, 'throws.config.ts'),
    `import { defineConfig } from ${SRC};\nthrow new Error('cannot connect to postgres://app:${PASSWORD}@db.internal:5432/prod (token=${TOKEN})');\nexport default defineConfig({ agents: [] });\n`,
  );
  // A store of the project's own whose read of one thread fails quoting its DSN; lines to a file.
  await writeFile(
    join(dir, 'store.config.ts'),
    [
      `import { pino } from 'pino';`,
      `import { agent, createMemoryStore, defineConfig } from ${SRC};`,
      `const store = () => { const s = createMemoryStore(); const get = s.get.bind(s); return Object.assign(s, { get: (id: string) => id === 'th_boom' ? Promise.reject(new Error('query failed on postgres://app:${PASSWORD}@db.internal/prod')) : get(id) }); };`,
      `export default defineConfig({ agents: [agent({ name: 'a', description: 'a', prompt: 'You help.', tools: [] })], store, logger: pino({ level: 'info' }, pino.destination({ dest: ${JSON.stringify(join(dir, 'serve.log'))}, sync: true })) });`,
    ].join('\n'),
  );
  // A demo thread whose launch fails on the project's own store, quoting its DSN.
  await writeFile(
    join(dir, 'demo.config.ts'),
    [
      `import { agent, createMemoryStore, defineConfig } from ${SRC};`,
      `const store = () => Object.assign(createMemoryStore(), { create: () => Promise.reject(new Error('insert failed on postgres://app:${PASSWORD}@db.internal/prod')) });`,
      `export default defineConfig({ agents: [agent({ name: 'a', description: 'a', prompt: 'You help.', tools: [] })], store, demo: { agent: 'a', input: 'hi' } });`,
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('secrets in what serve prints that is not about a thread', () => {
  // QA27 observe D2: `error: throws.config.ts failed to load: cannot connect to postgres://app:pgS3cretPassw0rd@...`
  it('masks a password and a token in the line of a config that fails to load', async () => {
    let stderr = '';
    const code = await runCli(['node', 'switchyard', 'serve', '--port', '0', '--dir', join(dir, 'data'), '--config', join(dir, 'throws.config.ts')], {
      stdout: () => undefined,
      stderr: (text) => void (stderr += text),
      env: {},
      cwd: dir,
      stopped: () => new Promise(() => undefined),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('failed to load: cannot connect to postgres://app:***@db.internal:5432/prod');
    expect(stderr).not.toContain(PASSWORD);
    expect(stderr).not.toContain(TOKEN);
  });

  it('masks a password in the line of a demo thread that did not start', async () => {
    const run = await runInProcess(['serve', '--port', '0', '--demo', '--dir', join(dir, 'data3'), '--config', join(dir, 'demo.config.ts')], {});
    if ('ended' in run) throw new Error(`serve exited with ${run.ended.code}: ${run.ended.stderr}`);
    const stderr = run.started.stderr();
    await run.started.stop();
    expect(stderr).toContain('demo: the demo thread did not start: insert failed on postgres://app:***@db.internal/prod');
    expect(stderr).not.toContain(PASSWORD);
  });

  it('masks a password in its pino lines not about a thread (an HTTP request failed)', async () => {
    const serve = await serveInProcess(['--dir', join(dir, 'data2'), '--config', join(dir, 'store.config.ts')], {});
    try {
      const response = await fetch(`${serve.url}/threads/th_boom`);
      expect(response.status).toBe(500);
    } finally {
      await serve.stop();
    }
    const log = await readFile(join(dir, 'serve.log'), 'utf8');
    expect(log).toContain('HTTP request failed');
    expect(log).toContain('postgres://app:***@db.internal/prod');
    expect(log).not.toContain(PASSWORD);
  });
});
