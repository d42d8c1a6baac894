/**
 * The exit code of a command that follows a thread (`launch`, `watch`, `respond`, `resume`) says
 * how the thread it followed came to rest, for scripts and CI: 1 when it ended failed or
 * cancelled, 0 when it is done or rests waiting for someone (a human, an escalation, a resume).
 * Against a `switchyard serve` of a config whose scripted model loops on one tool: `asker`'s tool
 * needs an approval, `looper` escalates at its step limit, the pipeline `broken` fails at its first
 * step (its code returns what its output schema refuses), and `shipit` hands its step to `asker`.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cliTestTimeout, runCli, serveProject, startCli, type CliProcess, type CliResult } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const TESTING = JSON.stringify(join(ROOT, 'src/testing/index.ts'));

const CONFIG = `
import { z } from 'zod';
import { agent, defineConfig, pipeline, tool } from ${SRC};
import { scriptedModel } from ${TESTING};
const note = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });
const ship = tool({ name: 'echo', description: 'echo, approved', input: z.object({ text: z.string() }), approval: true, run: ({ text }) => text });
const looper = agent({ name: 'looper', description: 'never finishes', prompt: 'You help.', tools: [note], maxSteps: 3 });
const asker = agent({ name: 'asker', description: 'asks first', prompt: 'You help.', tools: [ship], maxSteps: 3 });
const broken = pipeline({ name: 'broken', description: 'fails at once', input: z.string(), output: z.number() })
  .code({ name: 'count', output: z.number(), run: () => 'not a number' })
  .finish(({ results }) => Number(results.count));
const shipit = pipeline({ name: 'shipit', description: 'has asker ship', input: z.string(), output: z.string() })
  .agent({ name: 'ship', agent: 'asker', input: ({ input }) => input })
  .finish(({ results }) => String(results.ship));
export default defineConfig({ agents: [looper, asker], pipelines: [broken, shipit], model: scriptedModel([], { whenExhausted: () => ({ intent: 'echo', args: { text: 'again' } }) }) });
`;

const project = serveProject('exit', CONFIG);

const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--url', project.url], { cwd: project.dir });
const watch = (id: string): CliProcess => startCli(['watch', id, '--url', project.url], { cwd: project.dir });
const launchedId = (result: CliResult): string => /^launched (th_[\w-]+)/m.exec(result.stdout)?.[1] ?? '';
const lastLine = (stdout: string): string | undefined => stdout.trim().split('\n').at(-1);

describe('launch', () => {
  it('exits 1 when the thread it follows fails, after its progress and status', { timeout: cliTestTimeout(1) }, async () => {
    const result = await cli('launch', 'broken', 'go');
    const id = launchedId(result);
    expect(id).not.toBe('');
    expect(result.stdout).toMatch(/✗ failed: step count returned an invalid output/);
    expect(lastLine(result.stdout)).toBe(`thread ${id} is failed`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
  });

  it('exits 1 with --json too, the thread on stdout', { timeout: cliTestTimeout(1) }, async () => {
    const result = await cli('launch', 'broken', 'go', '--json');
    expect(JSON.parse(result.stdout)).toMatchObject({ agent: 'broken', status: 'failed' });
    expect(result.code).toBe(1);
  });

  it('exits 0 when the thread rests waiting for a human: an approval, an escalation', { timeout: cliTestTimeout(2) }, async () => {
    for (const [agent, status] of [['asker', 'awaiting_human'], ['looper', 'escalated']] as const) {
      const result = await cli('launch', agent, 'go');
      expect(lastLine(result.stdout), agent).toBe(`thread ${launchedId(result)} is ${status}`);
      expect(result.code, agent).toBe(0);
    }
  });

  it('--no-follow exits 0 whatever becomes of the thread', { timeout: cliTestTimeout(1) }, async () => {
    const result = await cli('launch', 'broken', 'go', '--no-follow');
    expect(result.stdout.trim()).toMatch(/^th_[\w-]+$/);
    expect(result.code).toBe(0);
  });
});

describe('watch', () => {
  it('exits 1 when the thread it follows is cancelled meanwhile; the cancel itself exits 0', { timeout: cliTestTimeout(3) }, async () => {
    const id = launchedId(await cli('launch', 'asker', 'go'));
    const watching = watch(id);
    await watching.waitFor(/reply: switchyard respond \S+ --approve/);
    const cancelled = await cli('cancel', id);
    expect(cancelled.code).toBe(0);
    expect(await watching.exited()).toBe(1);
    expect(lastLine(watching.stdout())).toBe(`thread ${id} is cancelled`);
    expect(watching.stderr()).toBe('');
  });

  it('of a pipeline exits 1 when it fails because its child was cancelled', { timeout: cliTestTimeout(3) }, async () => {
    const launched = await cli('launch', 'shipit', 'go');
    const parent = launchedId(launched);
    const child = /↳ delegated to asker: thread (\S+)/.exec(launched.stdout)?.[1] ?? '';
    expect(launched.stdout).toContain(`↳ waiting on asker thread ${child}, which is awaiting_human`);
    expect(launched.code).toBe(0);

    const watching = watch(parent);
    await watching.waitFor(/↳ waiting on asker thread \S+, which is awaiting_human\n/);
    expect((await cli('cancel', child)).code).toBe(0);
    expect(await watching.exited()).toBe(1);
    expect(watching.stdout()).toMatch(/✗ failed: step ship: agent thread \S+ cancelled/);
    expect(lastLine(watching.stdout())).toBe(`thread ${parent} is failed`);
  });

  it('of a thread that ended failed or cancelled exits 1 at once', { timeout: cliTestTimeout(5) }, async () => {
    const failed = launchedId(await cli('launch', 'broken', 'go'));
    const cancelled = launchedId(await cli('launch', 'asker', 'go'));
    expect((await cli('cancel', cancelled)).code).toBe(0);
    for (const [id, status] of [[failed, 'failed'], [cancelled, 'cancelled']] as const) {
      const result = await cli('watch', id);
      expect(lastLine(result.stdout), status).toBe(`thread ${id} is ${status}`);
      expect(result.code, status).toBe(1);
    }
  });
});

describe('respond', () => {
  it('--deny of an escalation exits 0: the thread ends failed as asked, at once, with nothing to follow', { timeout: cliTestTimeout(2) }, async () => {
    const id = launchedId(await cli('launch', 'looper', 'go'));
    const denied = await cli('respond', id, '--deny');
    const lines = denied.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    // What it answered, then where that left the thread.
    expect(lines[0]).toMatch(/^✗ denied the escalation \(req_\w+\)( by .+)?$/);
    expect(lines[1]).toBe(`thread ${id} is failed`);
    // Who denied it: the CLI's user, whoever runs the suite.
    expect(lines[2]).toMatch(/^ {2}failure: a human \(.+\) stopped the agent after an escalation$/);
    expect(denied.code).toBe(0);
  });
});
