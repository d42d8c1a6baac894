/**
 * What an operator reads from the client commands (in this process, against a real HTTP server):
 * a `threads` page cut at its limit says so; a followed thread that sleeps says it is followed on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli } from '../../src/cli/program.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { decide, echo, launchAndWait } from '../server/harness.js';

/** Sleeps a minute, then finishes. */
const napper = pipeline({ name: 'napper', description: 'naps', input: z.string(), output: z.string() })
  .sleep({ name: 'nap', ms: 60_000 })
  .finish(() => 'rested');

let runtime: Runtime;
let server: HttpServer;

beforeAll(async () => {
  runtime = createRuntime({ agents: [echo], pipelines: [napper], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
  server = await startHttpServer(runtime, { port: 0, token: '' });
  for (const input of ['a', 'b', 'c']) await launchAndWait(server.url, 'echo', input);
});

afterAll(async () => {
  await server?.close();
  await runtime?.close();
});

/** `switchyard <args> --url <server>` in this process. */
const cli = (...args: string[]): Promise<CliRun> => runCliHere([...args, '--url', server.url]);

describe('threads', () => {
  // QA (qa25-ops D5): `threads` and `threads --waiting` stopped at 50 rows without a word.
  it('says, after a page cut at its limit, that more may exist and how to see them', async () => {
    const listed = await cli('threads', '--limit', '2');
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('th_'))).toHaveLength(2);
    expect(lines.at(-1)).toBe("showing the 2 most recently updated; more may exist: --limit <n> shows more, --after '' pages through them all");
  });

  it('says nothing more when the page is not full, and prints only JSON with --json', async () => {
    const all = await cli('threads', '--limit', '4');
    expect(all.stdout.trimEnd().split('\n').at(-1)).toMatch(/^th_/);
    const json = await cli('threads', '--limit', '2', '--json');
    expect(Object.keys(JSON.parse(json.stdout) as object)).toEqual(['threads']);
  });
});

/** `switchyard <args> --url <server>` in this process, not awaited: what it printed so far, and its exit code once it ends. */
function started(...args: string[]): { stdout: () => string; exited: Promise<number> } {
  let stdout = '';
  const exited = runCli(['node', 'switchyard', ...args, '--url', server.url], {
    stdout: (text) => void (stdout += text),
    stderr: () => undefined,
    env: {},
    stopped: () => new Promise<string>(() => undefined),
  });
  return { stdout: () => stdout, exited };
}

const FOLLOWED_ON = /^  … sleeping until \d\d:\d\d:\d\d: following it until it moves \(Ctrl\+C stops following; the thread sleeps on\)$/m;

describe('a followed thread that sleeps', () => {
  // QA (qa25-ops D7): launch, resume and watch of a thread that sleeps followed it silently until
  // it woke (minutes, days).
  it('launch says once that it follows the thread until it moves, and follows on', async () => {
    const launch = started('launch', 'napper', 'zzz');
    await expect.poll(launch.stdout, { timeout: 10_000 }).toMatch(FOLLOWED_ON);
    const id = /^launched (\S+) \(napper\)$/m.exec(launch.stdout())![1]!;
    await runtime.cancel(id);
    expect(await launch.exited).toBe(1);
    expect(launch.stdout().match(new RegExp(FOLLOWED_ON.source, 'gm'))).toHaveLength(1);
    expect(launch.stdout()).toMatch(new RegExp(`${FOLLOWED_ON.source}[^]*thread ${id} is cancelled`, 'm'));
  });

  it('watch says it too, after the events so far', async () => {
    const { id } = await runtime.launch('napper', 'zzz');
    const watch = started('watch', id);
    await expect.poll(watch.stdout, { timeout: 10_000 }).toMatch(FOLLOWED_ON);
    expect(watch.stdout()).toMatch(new RegExp(`^watching ${id} \\(napper\\)\\n  • input: zzz\\n${FOLLOWED_ON.source.slice(1, -1)}\\n`));
    await runtime.cancel(id);
    expect(await watch.exited).toBe(1);
    expect(watch.stdout().match(new RegExp(FOLLOWED_ON.source, 'gm'))).toHaveLength(1);
  });

  it('resume of a paused thread that sleeps on says it too', async () => {
    const { id } = await runtime.launch('napper', 'zzz');
    await expect.poll(async () => (await runtime.get(id))?.status).toBe('sleeping');
    await runtime.pause(id);
    const resume = started('resume', id);
    await expect.poll(resume.stdout, { timeout: 10_000 }).toMatch(FOLLOWED_ON);
    await runtime.cancel(id);
    expect(await resume.exited).toBe(1);
  });
});

describe('help', () => {
  // QA (qa25-ops D11): serve --help named neither retention nor webhooks nor the inspector's
  // WebSocket, and --help's --json shape left out the code the README and the output have.
  it('serve --help names the environment variables that have no flag', async () => {
    const help = await runCliHere(['serve', '--help']);
    expect(help.code).toBe(0);
    for (const name of ['SWITCHYARD_RETAIN_ENDED', 'SWITCHYARD_WEBHOOK_URL', 'SWITCHYARD_WEBHOOK_SECRET', 'SWITCHYARD_WEBHOOK_SECRET_PREVIOUS', 'SWITCHYARD_HOOK_SECRET_PREVIOUS', 'SWITCHYARD_INSPECT_WS', 'SWITCHYARD_MODEL_API_KEY']) {
      expect(help.stdout).toMatch(new RegExp(`\\b${name}\\b`));
    }
  });

  it("--help gives --json's error shape with its code", async () => {
    const help = await runCliHere(['--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('{error, code?, issues?}');
  });
});

describe('smaller output', () => {
  // QA (qa25-ops D12).
  it("a relaunch with another input is refused with the CLI's advice, not HTTP's", async () => {
    const { id } = await launchAndWait(server.url, 'echo', 'first');
    const relaunch = await cli('launch', 'echo', 'second', '--thread-id', id);
    expect(relaunch.code).toBe(1);
    expect(relaunch.stderr).toContain(`thread ${id} already exists and was launched with another input`);
    expect(relaunch.stderr).toContain(`launch a new thread (another --thread-id), or follow it: switchyard watch ${id} --url ${server.url}`);
    expect(relaunch.stderr).not.toMatch(/GET \/threads|Idempotency-Key/);
  });

  it('resume of a thread that is not paused says so, and follows nothing', async () => {
    const { id } = await runtime.launch('napper', 'zzz');
    await expect.poll(async () => (await runtime.get(id))?.status).toBe('sleeping');
    const resume = await cli('resume', id);
    expect(resume.code).toBe(0);
    expect(resume.stderr).toBe(`thread ${id} was not paused (it is sleeping): nothing to resume\n`);
    expect(resume.stdout).toBe(`thread ${id} is sleeping\n`);
    await runtime.cancel(id);
  });

  it('prune lists the threads it deleted, one line each, before the count', async () => {
    const ids = [(await launchAndWait(server.url, 'echo', 'old 1')).id, (await launchAndWait(server.url, 'echo', 'old 2')).id];
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const pruned = await cli('prune', '--ended-before', '1s', '--agent', 'echo');
    expect(pruned.code).toBe(0);
    const lines = pruned.stdout.trimEnd().split('\n');
    for (const id of ids) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^deleted ${id} \\(echo, done, updated \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\)$`)));
    expect(lines.at(-1)).toMatch(new RegExp(`^deleted ${lines.length - 1} threads that ended before `));
  });
});
