import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bugfix } from '../../agents/bugfix/index.js';
import { createDeploybot } from '../../agents/deploybot/index.js';
import { triage } from '../../agents/triage/index.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { threadDetails } from '../../src/cli/format.js';
import { ConfigError, InvalidInputError } from '../../src/errors.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { delegationOf } from '../../src/pipeline/delegations.js';
import { agentStep, childThreadId, codeStep, FINISH, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { Json, ThreadEvent } from '../../src/thread/events.js';
import { createSimulatedDeployTarget } from '../../tools/deploy.js';

/** A model playing triage and deploybot by reading the context, like a real model would. */
function fleetModel() {
  return scriptedModel([], {
    whenExhausted: (r: ModelRequest): ScriptedReply => {
      const c = r.context;
      if (r.agent === 'triage') {
        if (!c.includes('<tool_result')) return { intent: 'search_known_issues', args: { query: 'login 500 session' } };
        const low = c.includes('cosmetic');
        return { intent: 'file_triage', args: { component: 'backend', severity: low ? 'low' : 'high', summary: 'login 500s', knownIssue: 'BUG-101', fixTag: 'v1.5.0' } };
      }
      if (r.agent === 'deploybot') {
        if (c.includes('approved="false"')) return { intent: 'done_for_now', args: { message: 'deploy was not approved' } };
        if (!c.includes('tool="list_git_tags"')) return { intent: 'list_git_tags', args: {} };
        if (!c.includes('tool="deploy_backend"')) return { intent: 'deploy_backend', args: { tag: 'v1.5.0', environment: 'staging' } };
        return { intent: 'done_for_now', args: { message: 'deployed backend v1.5.0 to staging' } };
      }
      return { intent: 'done_for_now', args: { message: '?' } };
    },
  });
}

/** Resolves when the thread has an event matching `test` (stored or live). */
async function untilEvent(rt: ReturnType<typeof createRuntime>, id: string, test: (e: ThreadEvent) => boolean): Promise<void> {
  for await (const event of rt.watch(id)) if (test(event)) return;
  throw new Error(`thread ${id} ended without the event`);
}
/** The thread's view once it has ended (watch ends with the thread). */
async function finished(rt: ReturnType<typeof createRuntime>, id: string) {
  for await (const _ of rt.watch(id)) void _;
  return (await rt.get(id))!;
}
const deployStarted = (e: ThreadEvent) => e.type === 'tool_call' && e.data.tool === 'deploy';

function fleet(store = createMemoryStore(), target = createSimulatedDeployTarget()) {
  return { target, store, rt: createRuntime({ agents: [triage, createDeploybot({ target })], pipelines: [bugfix], store, model: fleetModel() }) };
}

describe('pipelines', () => {
  it('bugfix: triage, plan, deploybot with approval, then the typed output', async () => {
    const { rt, target } = fleet();
    const run = await rt.launch('bugfix', { report: 'Users get a 500 on login after their session expired' });
    // The pipeline rests while deploybot waits for approval; the approval is on the child thread.
    await untilEvent(rt, run.id, deployStarted);
    const parked = await rt.settled(run.id);
    expect(parked.status).toBe('running');
    const deployId = childThreadId(run.id, 'deploy');
    const waiting = await rt.settled(deployId);
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'deploy_backend' });
    expect(target.history).toEqual([]);
    await rt.respond(deployId, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await finished(rt, run.id);
    expect(done.status).toBe('done');
    expect(done.output).toMatchObject({
      triage: { component: 'backend', severity: 'high', fixTag: 'v1.5.0' },
      plan: { deploy: true, service: 'backend', tag: 'v1.5.0', environment: 'staging' },
      deployment: 'deployed backend v1.5.0 to staging',
    });
    expect(target.history).toEqual([{ id: 'dep-1', service: 'backend', tag: 'v1.5.0', environment: 'staging' }]);
    // Steps are journaled like tool calls: a call before each result; the branch records its choice.
    expect(done.events.map((e) => e.type)).toEqual(['input', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'final']);
    expect(done.events.find((e) => e.type === 'tool_result' && e.data.tool === 'ship')).toMatchObject({ data: { callId: 'step_3', result: 'deploy' } });
    const triageThread = await rt.get(childThreadId(run.id, 'triage'));
    expect(triageThread?.events[0]).toMatchObject({ type: 'input', data: { source: { kind: 'pipeline', parentId: run.id } } });
  });

  it('skips the deploy for a low-severity report', async () => {
    const { rt, target } = fleet();
    const run = await rt.launch('bugfix', { report: 'cosmetic: login page 500 icon is blurry' });
    const done = await finished(rt, run.id);
    expect(done.status).toBe('done');
    expect(done.output).toMatchObject({ plan: { deploy: false }, deployment: { skipped: true } });
    // The branch chose to finish: deploy never ran, not even as a skipped step.
    expect(done.events.filter((e) => e.type === 'tool_result').map((e) => e.type === 'tool_result' && [e.data.tool, e.data.result])).toEqual([
      ['triage', expect.anything()],
      ['plan', expect.objectContaining({ deploy: false })],
      ['ship', FINISH],
    ]);
    expect(await rt.get(childThreadId(run.id, 'deploy'))).toBeUndefined();
    expect(target.history).toEqual([]);
  });

  it('resumes after a restart: a new runtime on the same store continues the pipeline', async () => {
    const store = createMemoryStore();
    const target = createSimulatedDeployTarget();
    const first = fleet(store, target).rt;
    const run = await first.launch('bugfix', { report: 'login 500 after session expiry' });
    await untilEvent(first, run.id, deployStarted);
    const deployId = childThreadId(run.id, 'deploy');
    const waiting = await first.settled(deployId);
    // "Restart": a new runtime over the same threads; the old one holds no actor for them.
    expect(first.activeCount()).toBe(0);
    const second = createRuntime({ agents: [triage, createDeploybot({ target })], pipelines: [bugfix], store, model: fleetModel() });
    await second.respond(deployId, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await finished(second, run.id);
    expect(done.status).toBe('done');
    expect(target.history).toHaveLength(1);
  });

  it('fails the pipeline when a delegated agent is cancelled', async () => {
    const { rt } = fleet();
    const run = await rt.launch('bugfix', { report: 'login 500' });
    await untilEvent(rt, run.id, deployStarted);
    const deployId = childThreadId(run.id, 'deploy');
    await rt.settled(deployId);
    await rt.cancel(deployId, { reason: 'not today' });
    const failed = await finished(rt, run.id);
    expect(failed.status).toBe('failed');
    expect(failed.failure).toMatch(/deploy.*cancelled/);
  });

  it('retries a failing code step with backoff, then fails after maxConsecutiveErrors', async () => {
    let calls = 0;
    const flaky = pipeline({
      name: 'flaky',
      description: 'f',
      input: z.object({ failTimes: z.number() }),
      output: z.object({ value: z.number() }),
      retryDelayMs: 1,
      steps: [
        codeStep({
          name: 'compute',
          run: ({ input }) => {
            calls++;
            if (calls <= (input as { failTimes: number }).failTimes) throw new Error(`boom ${calls}`);
            return 42;
          },
        }),
      ],
      finish: ({ results }) => ({ value: results.compute as number }),
    });
    const rt = createRuntime({ agents: [], pipelines: [flaky], store: createMemoryStore(), model: scriptedModel([]) });
    const ok = await rt.launch('flaky', { failTimes: 2 });
    const done = await finished(rt, ok.id);
    expect(done.output).toEqual({ value: 42 });
    expect(done.events.filter((e) => e.type === 'error')).toHaveLength(2);
    calls = 0;
    const bad = await rt.launch('flaky', { failTimes: 5 });
    const failed = await finished(rt, bad.id);
    expect(failed.status).toBe('failed');
    expect(failed.failure).toMatch(/boom 3 .*3 times in a row/);
  });

  it("does not take a thread it did not launch as its child: an id taken beforehand fails the step, and that thread is left as it was", async () => {
    const store = createMemoryStore();
    const pay = tool({ name: 'pay', description: 'pay', input: z.object({ to: z.string() }), run: ({ to }) => `paid ${to}` });
    // Pays whoever the thread's input names, like a model reading its context would.
    const model = scriptedModel([], {
      whenExhausted: ({ context }: ModelRequest): ScriptedReply => {
        const to = /pay (\w+)/.exec(context)?.[1] ?? 'nobody';
        return context.includes('<tool_result tool="pay"') ? { intent: 'done_for_now', args: { message: `paid ${to}` } } : { intent: 'pay', args: { to } };
      },
    });
    const payer = agent({ name: 'payer', description: 'pays', prompt: 'pay', tools: [pay], maxSteps: 5 });
    const payout = pipeline({ name: 'payout', description: 'pays the input', input: z.object({ to: z.string() }), output: z.unknown(), steps: [agentStep({ name: 'pay', agent: 'payer', input: ({ input }) => `pay ${(input as { to: string }).to}` })], finish: ({ results }) => results.pay ?? null });
    const rt = createRuntime({ agents: [payer], pipelines: [payout], store, model });
    // Someone launched a thread of the same agent under the id the pipeline's child will have.
    const other = await rt.launch('payer', 'pay mallory', { threadId: childThreadId('run-1', 'pay') });
    const before = await finished(rt, other.id);
    expect(before.output).toBe('paid mallory');
    const run = await rt.launch('payout', { to: 'alice' }, { threadId: 'run-1' });
    const ended = await finished(rt, run.id);
    expect(ended.status).toBe('failed');
    expect(ended.failure).toMatch(/step pay: .*run-1--pay.*not launched by pipeline run-1/);
    expect(ended.output).toBeUndefined();
    expect(ended.events.some((e) => e.type === 'tool_result')).toBe(false);
    expect((await rt.get(other.id))?.events).toEqual(before.events);
  });

  it("fails an agent step whose input the agent's schema refuses naming the agent and each issue, as a launch of the agent does, and records no delegation to a child that was never created", async () => {
    const store = createMemoryStore();
    const take = tool({ name: 'take', description: 'take', input: z.object({}), run: () => 'taken' });
    const intake = agent({ name: 'intake', description: 'takes orders', prompt: 'take', tools: [take], maxSteps: 5, input: z.object({ customer: z.string(), amount: z.number().positive() }) });
    const chain = pipeline({
      name: 'chain',
      description: 'hands the order on',
      input: z.object({ customer: z.string(), amount: z.number() }),
      output: z.unknown(),
      steps: [agentStep({ name: 'credit', agent: 'intake', input: ({ input }) => input as Json })],
      finish: ({ results }) => results.credit ?? null,
    });
    const rt = createRuntime({ agents: [intake], pipelines: [chain], store, model: scriptedModel([]) });
    // What launching the agent with the same input says, on every surface.
    const refused = await rt.launch('intake', { customer: 'n5', amount: -5 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(InvalidInputError);
    const { issues } = refused as InvalidInputError;
    expect(issues).toEqual([expect.stringMatching(/^amount: /)]);

    await rt.launch('chain', { customer: 'n5', amount: -5 }, { threadId: 'run-1' });
    const ended = await finished(rt, 'run-1');
    expect(ended.status).toBe('failed');
    expect(ended.failure).toContain('step credit: ');
    expect(ended.failure).toContain('agent intake');
    for (const issue of issues) expect(ended.failure).toContain(issue);
    // No child thread, and nothing in the pipeline's log says one was delegated to.
    expect(await rt.get(childThreadId('run-1', 'credit'))).toBeUndefined();
    expect(ended.events.filter((e) => delegationOf(e) !== null)).toEqual([]);
    expect(threadDetails(ended)).not.toContain('delegated');
  });

  it('runs its agent steps when its own id is as long as a thread id may be (128): the child ids stay valid, one per step and visit', async () => {
    const echo = tool({ name: 'echo', description: 'echo', input: z.object({}), run: () => 'echoed' });
    const model = scriptedModel([], { whenExhausted: ({ context }: ModelRequest): ScriptedReply => (context.includes('<tool_result tool="echo"') ? { intent: 'done_for_now', args: { message: 'echoed' } } : { intent: 'echo', args: {} }) });
    const helper = agent({ name: 'helper', description: 'echoes', prompt: 'echo', tools: [echo], maxSteps: 5 });
    const twice = pipeline({ name: 'twice', description: 'asks twice', input: z.object({}), output: z.unknown(), steps: [agentStep({ name: 'ask', agent: 'helper', input: () => 'echo' }), agentStep({ name: 'again', agent: 'helper', input: () => 'echo' })], finish: ({ results }) => [results.ask ?? null, results.again ?? null] });
    const rt = createRuntime({ agents: [helper], pipelines: [twice], store: createMemoryStore(), model });
    const id = 'p'.repeat(128);
    await rt.launch('twice', {}, { threadId: id });
    const done = await finished(rt, id);
    expect(done.failure).toBeUndefined();
    expect(done.output).toEqual(['echoed', 'echoed']);
    const children = [childThreadId(id, 'ask'), childThreadId(id, 'again'), childThreadId(id, 'ask', 2)];
    expect(new Set(children).size).toBe(3);
    for (const child of children) expect(child).toMatch(/^[A-Za-z0-9_:-]{1,128}$/);
    expect(childThreadId(id, 'ask')).toBe(children[0]);
    expect((await rt.get(children[0]!))?.events[0]).toMatchObject({ type: 'input', data: { source: { kind: 'pipeline', parentId: id } } });
    // Short ids keep their readable form.
    expect(childThreadId('run-1', 'ask')).toBe('run-1--ask');
  });

  it('validates pipeline input at launch and definitions at build time', async () => {
    const { rt } = fleet();
    await expect(rt.launch('bugfix', { nope: 1 })).rejects.toBeInstanceOf(InvalidInputError);
    expect(() => pipeline({ name: 'x', description: '', input: z.object({}), output: z.object({}), steps: [], finish: () => ({}) })).toThrow(ConfigError);
    const step = agentStep({ name: 'a', agent: 'triage', input: () => 'x' });
    expect(() => pipeline({ name: 'x', description: '', input: z.object({}), output: z.object({}), steps: [step, step], finish: () => ({}) })).toThrow(/two steps/);
  });
});

describe('bugfix on the demo model (what npm start runs)', () => {
  it('triages, plans and deploys with an approval', async () => {
    const { createDemoModel } = await import('../../src/model/demoModel.js');
    const target = createSimulatedDeployTarget();
    const rt = createRuntime({ agents: [triage, createDeploybot({ target })], pipelines: [bugfix], store: createMemoryStore(), model: createDemoModel() });
    const run = await rt.launch('bugfix', { report: 'Users get a 500 on login after their session cookie expired' });
    await untilEvent(rt, run.id, deployStarted);
    const deployId = childThreadId(run.id, 'deploy');
    const waiting = await rt.settled(deployId);
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'deploy_backend', args: { tag: 'v1.5.0', environment: 'staging' } });
    await rt.respond(deployId, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await finished(rt, run.id);
    expect(done.status).toBe('done');
    expect(done.output).toMatchObject({ triage: { component: 'backend', severity: 'high', knownIssue: 'BUG-101', fixTag: 'v1.5.0' }, plan: { deploy: true } });
    expect(target.history).toEqual([{ id: 'dep-1', service: 'backend', tag: 'v1.5.0', environment: 'staging' }]);
  });
});
