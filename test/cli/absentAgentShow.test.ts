/**
 * `switchyard show` of a thread whose agent the server's project no longer has (a deploy dropped or
 * renamed it, qa24 D4): the status it shows ("awaiting_human", "sleeping, wakes ...") would read as
 * if something will move it on; a note on stderr says nothing runs it until a version that has
 * the agent is served. Against an HTTP server in this process whose runtime serves another agent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { runCliHere } from '../support/inProcessCli.js';
import { threadOf } from '../support/agentHarness.js';

let runtime: Runtime;
let http: HttpServer;
let store: ReturnType<typeof createMemoryStore>;

const decided: NewEvent = {
  type: 'decision',
  data: { callId: 'call_2', step: 1, intent: 'refund', args: { orderId: 'A-1' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
};
const asked: NewEvent = {
  type: 'human_request',
  data: { requestId: 'req_3_x', kind: 'approval', question: 'Approve refund({"orderId":"A-1"})?', urgency: 'medium', format: 'yes_no', callId: 'call_2', tool: 'refund', args: { orderId: 'A-1' } },
};

beforeAll(async () => {
  store = createMemoryStore();
  const other = agent({ name: 'other', description: 'another agent', prompt: 'p', tools: [] });
  runtime = createRuntime({ agents: [other], store, model: scriptedModel([]) });
  await store.create(threadOf('waits-1', 'support', [{ type: 'input', data: { input: 'refund A-1' } }, decided, asked], Date.now()));
  await store.create(threadOf('ended-1', 'support', [{ type: 'input', data: { input: 'hi' } }, { type: 'final', data: { output: 'bye' } }], Date.now()));
  await store.create(threadOf('served-1', 'other', [{ type: 'input', data: { input: 'hi' } }, { type: 'final', data: { output: 'bye' } }], Date.now()));
  http = await startHttpServer(runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await runtime?.close();
});

describe('switchyard show of a thread whose agent the server does not have', () => {
  it('that has not ended: its details as ever, and a note that nothing runs it until a version with its agent is served', async () => {
    const { code, stdout, stderr } = await runCliHere(['show', 'waits-1', '--url', http.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^status +awaiting_human$/m);
    expect(stderr).toBe('note: agent support is not in the project this server runs (it has: other): nothing moves this thread on until a version that has support is served\n');
  });

  it('that has ended, or of an agent it has: no note', async () => {
    for (const id of ['ended-1', 'served-1']) {
      const { code, stderr } = await runCliHere(['show', id, '--url', http.url]);
      expect(code).toBe(0);
      expect(stderr).toBe('');
    }
  });

  it('pause: the resume hint it prints comes with the same note (a resume fails until its agent is served, qa24 D4)', async () => {
    await store.create(threadOf('waits-2', 'support', [{ type: 'input', data: { input: 'refund A-2' } }, decided, asked], Date.now()));
    const { code, stdout, stderr } = await runCliHere(['pause', 'waits-2', '--url', http.url]);
    expect(code).toBe(0);
    expect(stdout).toContain('resume: switchyard resume waits-2');
    expect(stderr).toBe('note: agent support is not in the project this server runs (it has: other): nothing moves this thread on until a version that has support is served\n');
  });

  it('--json prints the view only', async () => {
    const { code, stdout, stderr } = await runCliHere(['show', 'waits-1', '--json', '--url', http.url]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toMatchObject({ id: 'waits-1', agent: 'support', status: 'awaiting_human' });
  });
});
