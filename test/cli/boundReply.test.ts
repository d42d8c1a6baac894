/**
 * A reply the CLI prints is bound to the request it was printed for: run after the thread moved on
 * to another request (a second operator with the same printed command, a human who read it late),
 * it is refused, saying that its request was already answered, and approves nothing it never showed.
 * `respond` without `--request` answers the pending request and names it. Against an HTTP server
 * in this process over an agent whose scripted model calls its approved tool again and again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

let runtime: Runtime;
let http: HttpServer;

beforeAll(async () => {
  const refund = tool({ name: 'refund', description: 'refunds', input: z.object({ customer: z.string(), amount: z.number() }), approval: true, run: ({ customer, amount }) => `refunded ${amount} to ${customer}` });
  const payer = agent({ name: 'payer', description: 'refunds, again and again', prompt: 'You refund.', tools: [refund], maxSteps: 10 });
  const model = scriptedModel([], { whenExhausted: () => ({ intent: 'refund', args: { customer: 'wes', amount: 10 } }) });
  runtime = createRuntime({ agents: [payer], store: createMemoryStore(), model });
  http = await startHttpServer(runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await runtime?.close();
});

/** What `switchyard <args> --url <server>` printed and its exit code. */
function cli(...args: string[]): Promise<CliRun> {
  return runCliHere([...args, '--url', http.url]);
}

async function viewOf(id: string): Promise<ThreadView> {
  return (await fetch(`${http.url}/threads/${id}`)).json() as Promise<ThreadView>;
}

/** A thread of `payer` that waits for the approval of its first refund. */
async function waiting(id: string): Promise<string> {
  const launched = await cli('launch', 'payer', 'refund wes', '--thread-id', id);
  expect(launched.stdout).toContain(`thread ${id} is awaiting_human`);
  return (await viewOf(id)).pendingRequest!.requestId;
}

describe('a reply the CLI prints', () => {
  it('names its request: run again once the thread moved on to another request, it is refused as answered already and approves nothing', async () => {
    const first = await waiting('rec-1');
    const shown = await cli('show', 'rec-1');
    const printed = /reply: switchyard (respond .*?) --url /.exec(shown.stdout)?.[1];
    expect(printed).toBe(`respond rec-1 --approve --request ${first}`);
    const args = [...printed!.split(' '), '--by', 'op1'];

    // Operator 1: the refund runs, and the agent asks to approve another one.
    const approved = await cli(...args);
    expect(approved.code).toBe(0);
    expect(approved.stdout.split('\n').map((line) => line.trim())).toContain(`✓ approved refund({"customer":"wes","amount":10}) (${first}) by op1`);
    const second = (await viewOf('rec-1')).pendingRequest!.requestId;
    expect(second).not.toBe(first);

    // Operator 2, with the very same printed command: refused, the new request left open.
    const repeated = await cli(...args);
    expect(repeated.code).toBe(1);
    expect(repeated.stdout).toBe('');
    // When, in local time as the CLI shows every instant (the server says it in UTC).
    expect(repeated.stderr).toMatch(new RegExp(`^error: request ${first} was already answered \\(approved by op1 at \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\)\\n$`));
    // With --json, the server's code says so for a script: its answer had landed, the thread moved on.
    const repeatedJson = await cli(...args, '--json');
    expect(repeatedJson.code).toBe(1);
    expect(JSON.parse(repeatedJson.stderr)).toMatchObject({ code: 'already_answered', error: expect.stringMatching(new RegExp(`^request ${first} was already answered`)) });
    const after = await viewOf('rec-1');
    expect(after.pendingRequest?.requestId).toBe(second);
    expect(after.events.filter((event) => event.type === 'human_response')).toHaveLength(1);
  });

  it('a request named once its thread ended is judged by the server: the refusal and its code are the server\'s', async () => {
    const first = await waiting('rec-3');
    expect((await cli('respond', 'rec-3', '--approve', '--request', first, '--by', 'op1', '--no-follow')).code).toBe(0);
    expect((await (await fetch(`${http.url}/threads/rec-3/wait`)).json()) as ThreadView).toMatchObject({ status: 'awaiting_human' });
    expect((await cli('cancel', 'rec-3', '--by', 'op1')).code).toBe(0);
    const direct = await fetch(`${http.url}/threads/rec-3/respond`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: first, approved: true }) });
    const server = (await direct.json()) as { error: string; code: string };
    expect(server).toMatchObject({ code: 'already_answered', error: expect.stringMatching(new RegExp(`^thread rec-3 is cancelled; request ${first} was already answered`)) });
    const repeated = await cli('respond', 'rec-3', '--approve', '--request', first, '--json');
    expect(repeated.code).toBe(1);
    expect(JSON.parse(repeated.stderr)).toMatchObject(server);
    // No request named: nothing to ask the server; refused with the code it gives such a thread.
    const unnamed = await cli('respond', 'rec-3', '--approve', '--json');
    expect(JSON.parse(unnamed.stderr)).toMatchObject({ code: 'thread_ended', error: 'thread rec-3 is not waiting for a human (it is cancelled)' });
  });

  it('respond without --request answers the pending request and says which one, with or without following', async () => {
    const first = await waiting('rec-2');
    const unfollowed = await cli('respond', 'rec-2', '--deny', '--comment', 'not now', '--by', 'op1', '--no-follow');
    expect(unfollowed.code).toBe(0);
    expect(unfollowed.stdout.split('\n')[0]).toBe(`✗ denied refund({"customer":"wes","amount":10}) (${first}) by op1: not now`);

    // The agent asks again: another refund to approve.
    const rested = (await (await fetch(`${http.url}/threads/rec-2/wait`)).json()) as ThreadView;
    const second = rested.pendingRequest!.requestId;
    expect(second).not.toBe(first);
    const followed = await cli('respond', 'rec-2', '--approve', '--by', 'op2');
    expect(followed.code).toBe(0);
    expect(followed.stdout.split('\n')[0]!.trim()).toBe(`✓ approved refund({"customer":"wes","amount":10}) (${second}) by op2`);
  });
});
