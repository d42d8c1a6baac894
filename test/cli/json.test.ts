/**
 * `--json` for scripts: every client command prints one JSON value on stdout; `threads` prints the
 * body `GET /threads` answers with the same filters (`{ threads, next? }`, with or without
 * `--after`); and a failure prints one JSON line on stderr, the HTTP API's error body
 * (`{ error, issues? }`), with the exit code it has without `--json`. The CLI runs in this process
 * against a real HTTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { runCli } from '../../src/cli/program.js';
import { runCliHere } from '../support/inProcessCli.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { call, decide, echo, launchAndWait } from '../server/harness.js';

/** An agent whose input schema refuses a negative amount. */
const billing = agent({ name: 'billing', description: 'bills', prompt: 'p', tools: [], input: z.object({ amount: z.number().positive() }) });

let runtime: Runtime;
let server: HttpServer;
let base: string;
const ids: Record<'echoA' | 'echoB' | 'added' | 'dividing', string> = { echoA: '', echoB: '', added: '', dividing: '' };

beforeAll(async () => {
  runtime = createRuntime({ agents: [calculator, echo, billing], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
  server = await startHttpServer(runtime, { port: 0, token: '' });
  base = server.url;
  ids.echoA = (await launchAndWait(base, 'echo', 'a')).id;
  ids.echoB = (await launchAndWait(base, 'echo', 'b')).id;
  ids.added = (await launchAndWait(base, 'calculator', { op: 'add', a: 1, b: 2 })).id;
  ids.dividing = (await launchAndWait(base, 'calculator', { op: 'divide', a: 7, b: 2 })).id;
});

afterAll(async () => {
  await server?.close();
  await runtime?.close();
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `switchyard <args> --url <server>` in this process. */
function cli(...args: string[]): Promise<Result> {
  return runCliHere([...args, '--url', base]);
}

/** The one JSON line a failure printed on stderr, parsed; nothing on stdout. */
function errorLine(result: Result): unknown {
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  const lines = result.stderr.slice(0, -1).split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!);
}

describe('threads --json', () => {
  it.each([
    [[], 'limit=50'],
    [['--limit', '2'], 'limit=2'],
    [['--agent', 'echo'], 'agent=echo&limit=50'],
    [['--status', 'done'], 'status=done&limit=50'],
    [['--waiting'], 'status=awaiting_human,escalated&limit=50'],
    [['--after', ''], 'limit=50&after='],
    [['--limit', '2', '--after', ''], 'limit=2&after='],
  ])('%j prints what GET /threads?%s answers', async (flags, query) => {
    const http = await call(base, 'GET', `/threads?${query}`);
    expect(http.status).toBe(200);
    const listed = await cli('threads', '--json', ...flags);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(http.body);
  });

  it('says where the next page starts while pages come back full, and walks every thread once', async () => {
    const seen: string[] = [];
    let page = JSON.parse((await cli('--json', 'threads', '--limit', '3', '--after', '')).stdout) as { threads: { id: string }[]; next?: string };
    expect(page.threads).toHaveLength(3);
    expect(typeof page.next).toBe('string');
    seen.push(...page.threads.map((t) => t.id));
    page = JSON.parse((await cli('--json', 'threads', '--limit', '3', '--after', page.next!)).stdout) as typeof page;
    seen.push(...page.threads.map((t) => t.id));
    expect(page.next).toBeUndefined();
    expect(seen.sort()).toEqual(Object.values(ids).sort());
  });
});

describe('every other command with --json', () => {
  it('prints one JSON value on stdout: the thread', async () => {
    const asking = (await launchAndWait(base, 'calculator', { ask: 'which?' })).id;
    const runs: [string[], Partial<ThreadView>][] = [
      [['show', ids.added], { id: ids.added, status: 'done' }],
      [['watch', ids.added], { id: ids.added, status: 'done' }],
      [['launch', 'echo', 'hi'], { agent: 'echo', status: 'done' }],
      [['launch', 'echo', 'hi', '--no-follow'], { agent: 'echo' }],
      [['respond', ids.dividing, '--approve', '--by', 'qa'], { id: ids.dividing, status: 'done', output: 'result 3.5' }],
      [['pause', asking], { id: asking, status: 'paused' }],
      [['resume', asking], { id: asking, status: 'awaiting_human' }],
      [['cancel', asking], { id: asking, status: 'cancelled' }],
    ];
    for (const [args, expected] of runs) {
      const result = await cli(...args, '--json');
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.code, args.join(' ')).toBe(0);
      expect(JSON.parse(result.stdout), args.join(' ')).toMatchObject(expected);
    }
  });
});

describe('a failure with --json', () => {
  it('prints the HTTP error body as one JSON line on stderr, exit code 1: a thread not found, a cancel of an ended thread', async () => {
    const missing = await cli('show', 'no-such-thread', '--json');
    expect(missing.code).toBe(1);
    const notFound = await call(base, 'GET', '/threads/no-such-thread');
    expect(notFound.status).toBe(404);
    expect(errorLine(missing)).toEqual(notFound.body);

    const cancel = await cli('--json', 'cancel', ids.echoA);
    expect(cancel.code).toBe(1);
    const conflict = await call(base, 'POST', `/threads/${ids.echoA}/cancel`, {});
    expect(conflict.status).toBe(409);
    expect(errorLine(cancel)).toEqual(conflict.body);
  });

  it('keeps the issues of an input the agent refuses', async () => {
    const launched = await cli('launch', 'billing', '--input-json', '{"amount":-5}', '--json');
    expect(launched.code).toBe(1);
    const refused = await call(base, 'POST', '/threads', { agent: 'billing', input: { amount: -5 } });
    expect(refused.status).toBe(400);
    expect(refused.body.issues.length).toBeGreaterThan(0);
    expect(errorLine(launched)).toEqual(refused.body);
  });

  it('prints a usage error as { error } with exit code 2, without the help hint', async () => {
    const badLimit = await cli('threads', '--limit', 'abc', '--json');
    expect(badLimit.code).toBe(2);
    expect(errorLine(badLimit)).toEqual({ error: "option '--limit <n>' argument 'abc' is invalid. must be a number from 1 to 10000" });

    const noInput = await cli('--json', 'launch', 'echo');
    expect(noInput.code).toBe(2);
    expect(errorLine(noInput)).toEqual({ error: 'launch needs an input: words after the agent name, or --input-json <json>' });

    const unknownCommand = await cli('--json', 'lanch', 'echo');
    expect(unknownCommand.code).toBe(2);
    expect(errorLine(unknownCommand)).toMatchObject({ error: expect.stringContaining("unknown command 'lanch'") });
  });

  it('prints an unreachable server as { error }, exit code 1', async () => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(['node', 'switchyard', 'threads', '--json', '--url', 'http://127.0.0.1:1'], {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      env: {},
      stopped: () => new Promise<string>(() => undefined),
    });
    expect(code).toBe(1);
    expect(errorLine({ code, stdout, stderr })).toEqual({ error: 'cannot reach switchyard at http://127.0.0.1:1: is `switchyard serve` running?' });
  });

  it('without --json, stays text', async () => {
    const missing = await cli('show', 'no-such-thread');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: /);
    const badLimit = await cli('threads', '--limit', 'abc');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('(add --help for usage)');
  });
});
