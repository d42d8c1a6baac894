/**
 * Which project `serve` and `worker` run, as their start-up lines say: the config of the project
 * they are started in, also from a subfolder of it (a worker there takes the project's jobs, not
 * the bundled agents'), and the bundled demo agents only where no config is found, saying so and
 * where it looked.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from './runInProcess.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { ROOT } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const CONFIG = `
import { z } from 'zod';
import { agent, tool } from ${SRC};
const echo = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });
const alpha = agent({ name: 'alpha', description: 'alpha', prompt: 'You help.', tools: [echo] });
export default { agents: [alpha] };
`;

let nats: NatsServerHandle;
let project: string;
let empty: string;
beforeAll(async () => {
  nats = await startNatsServer();
  // Inside node_modules/ so the config's `import 'zod'` resolves as in a user's project.
  project = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-lookup-'));
  await writeFile(join(project, 'package.json'), '{"type":"module"}\n');
  await writeFile(join(project, 'switchyard.config.mts'), CONFIG);
  await mkdir(join(project, 'src/tools'), { recursive: true });
  // A folder of its own project (a package.json) without a config.
  empty = join(project, 'empty');
  await mkdir(join(empty, 'sub'), { recursive: true });
  await writeFile(join(empty, 'package.json'), '{}\n');
}, 120_000);
afterAll(async () => {
  await nats?.stop();
  if (project !== undefined) await rm(project, { recursive: true, force: true });
});

/** `switchyard <args>` in this process, in `cwd`, until it has started; then stopped. What it printed. */
async function startUp(args: readonly string[], cwd: string): Promise<string> {
  const run = await runInProcess(args, { NATS_URL: nats.url }, cwd);
  if ('ended' in run) throw new Error(`${args[0]} exited with ${run.ended.code} before it started\nstdout: ${run.ended.stdout}\nstderr: ${run.ended.stderr}`);
  expect(await run.started.stop()).toBe(0);
  return run.started.stdout();
}

const serve = (cwd: string, dir: string): Promise<string> => startUp(['serve', '--port', '0', '--no-demo', '--dir', dir], cwd);
const worker = (cwd: string): Promise<string> => startUp(['worker', '--prefix', `lookup${Math.random().toString(36).slice(2, 8)}`], cwd);

describe('serve and worker in a subfolder of a project', () => {
  it('serve runs the project\'s config found above it, and says which', async () => {
    const out = await serve(join(project, 'src/tools'), join(project, 'data-sub'));
    expect(out).toContain(`project: ${join(project, 'switchyard.config.mts')} (alpha)\n`);
  });

  it('worker takes the jobs of the project\'s agents, not the bundled ones', async () => {
    const out = await worker(join(project, 'src/tools'));
    expect(out).toContain(`project: ${join(project, 'switchyard.config.mts')} (alpha)\n`);
    expect(out).toContain('taking jobs for: alpha\n');
  });
});

describe('serve and worker where no config is found', () => {
  it('run the bundled demo agents, saying that no config was found and where they looked', async () => {
    const said = `project: the bundled demo agents (calculator, deploybot, triage, bugfix): no switchyard.config.{ts,mts,js,mjs} in ${join(empty, 'sub')} or the folders above it up to the project root ${empty}; --config <file> names one\n`;
    expect(await serve(join(empty, 'sub'), join(project, 'data-empty'))).toContain(said);
    expect(await worker(join(empty, 'sub'))).toContain(said);
  });
});
