/**
 * `switchyard threads --agent <name>` with a name the server does not serve (qa26-scale D4): a typo
 * in a project of 40 agents (`agnet03`), or a list (`--agent a,b`, as `--status` takes), printed
 * `no threads` and nothing else. It says so on stderr, as `prune --agent` does; an agent removed
 * from the project whose threads are still stored lists them without a note.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { threadOf } from '../support/agentHarness.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { echo } from '../server/harness.js';

const DONE: NewEvent[] = [{ type: 'input', data: { input: 'x' } }, { type: 'final', data: { output: 'ok' } }];

let store: ThreadStore;
let runtime: Runtime;
let server: HttpServer;

beforeEach(async () => {
  store = createMemoryStore();
  runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([]) });
  server = await startHttpServer(runtime, { port: 0 });
});

afterEach(async () => {
  await server.close();
  await runtime.close();
});

const cli = (...args: string[]): Promise<CliRun> => runCliHere([...args, '--url', server.url]);

describe('switchyard threads --agent', () => {
  it('names the agents the server has when it names none of them and finds no thread', async () => {
    await store.create(threadOf('t1', 'calculator', DONE));
    const typo = await cli('threads', '--agent', 'calculater');
    expect(typo).toEqual({ code: 0, stdout: 'no threads\n', stderr: 'note: no agent or pipeline named calculater is served (did you mean calculator? the server has calculator, echo)\n' });
    const list = await cli('threads', '--agent', 'calculator,echo');
    expect(list.stderr).toBe('note: no agent or pipeline named calculator,echo is served (the server has calculator, echo); --agent takes one name\n');
  });

  it('adds no note for a served agent, nor for threads of an agent the server no longer has', async () => {
    await store.create(threadOf('t2', 'retired', DONE));
    expect((await cli('threads', '--agent', 'echo')).stderr).toBe('');
    const retired = await cli('threads', '--agent', 'retired');
    expect(retired.stdout).toMatch(/^ID +AGENT +STATUS/);
    expect(retired.stderr).toBe('');
  });
});
