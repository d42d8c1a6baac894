/**
 * What an operator reads from the client commands (in this process, against a real HTTP server):
 * a `threads` page cut at its limit says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { decide, echo, launchAndWait } from '../server/harness.js';

let runtime: Runtime;
let server: HttpServer;

beforeAll(async () => {
  runtime = createRuntime({ agents: [echo], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
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
