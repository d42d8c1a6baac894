/**
 * `switchyard cancel` of a thread whose tool call runs in another process (a worker on NATS), its
 * outcome not recorded yet: the person cancelling, who most needs to know that the call may still
 * take effect, is told so as `show` tells it. Against an HTTP server in this process whose runtime
 * does not run the thread (its call was journaled by another process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { runCliHere } from '../support/inProcessCli.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publishCallStarted, publisherModel } from '../support/heldTool.js';

const ID = 'canc-1';

let runtime: Runtime;
let http: HttpServer;

beforeAll(async () => {
  const store = createMemoryStore();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
  runtime = createRuntime({ agents: [publisher], store, model: publisherModel().model });
  // Its call `publish` started just now, in another process.
  await store.create(threadOf(ID, 'publisher', publishCallStarted(ID), Date.now()));
  http = await startHttpServer(runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await runtime?.close();
});

describe('switchyard cancel of a thread whose call runs elsewhere', () => {
  it('says, after the status, that the call may have taken effect, as show does', async () => {
    const { code, stdout, stderr } = await runCliHere(['cancel', ID, '--reason', 'customer changed mind', '--url', http.url]);

    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout.trimEnd().split('\n')).toEqual([
      `thread ${ID} is cancelled`,
      `  ? publish (call c1) was running when the thread was cancelled and its outcome is not recorded yet: it may have taken effect; later: switchyard show ${ID} --url ${http.url}`,
    ]);
  });
});
