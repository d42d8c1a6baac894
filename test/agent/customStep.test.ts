/**
 * Factor 8, owned by the agent's author: steps before each decision, judges after each one and
 * intents handled by the author's code, each a named state of the agent's own machine whose
 * result is a typed `custom` event in the thread.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent, type AgentOptions } from '../../src/agent/agent.js';
import { beforeDecision, intent, judge } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import { stepEvents } from '../../src/agent/customStepRun.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createAgentActor } from '../../src/runtime/agentActor.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { CustomData } from '../../src/thread/events.js';
import { calculatorTools } from '../../tools/calculator.js';
import { agentMachineFor, agentMachine } from '../../machines/agentMachine.js';
import { machineGraph } from '../../src/inspector/graph.js';
import { waitForAWhile } from '../support/waitIntent.js';
import { T0, createClock, eventsOf, runToEnd, settle, startRun, threadOf, typesOf } from '../support/agentHarness.js';

const done = (message = 'all done'): ScriptStep => ({ intent: 'done_for_now', args: { message } });
const add = (a: number, b: number): ScriptStep => ({ intent: 'add', args: { a, b } });
const divide = (a: number, b: number): ScriptStep => ({ intent: 'divide', args: { a, b } });

function customAgent(options: Partial<AgentOptions> = {}) {
  return agent({
    name: 'custom',
    description: 'a test agent',
    prompt: 'You are {{agent}}: {{description}}.\nTools:\n{{tools}}',
    tools: calculatorTools,
    ...options,
  });
}

/** Rejects additions of 666, accepts anything else; records what it looked at. */
const noDevil = judge({
  name: 'no_devil',
  output: z.object({ looked: z.string() }),
  run: (call) =>
    (call.args as { a?: number }).a === 666
      ? { verdict: 'reject', feedback: 'no devil numbers, please', output: { looked: call.tool } }
      : { verdict: 'accept', output: { looked: call.tool } },
});

const customs = (events: readonly { type: string; data: unknown }[]): CustomData[] =>
  events.filter((e) => e.type === 'custom').map((e) => e.data as CustomData);

describe('a judge after each decision', () => {
  it('rejects a call with feedback the model sees, and lets the next one run', async () => {
    const a = customAgent({ afterDecision: [noDevil] });
    const model = scriptedModel([add(666, 1), add(6, 1), done('7')]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(typesOf(end.thread)).toEqual(['input', 'decision', 'custom', 'decision', 'custom', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(customs(end.thread.events)).toEqual([
      { step: 'no_devil', phase: 'after_decision', callId: expect.any(String), verdict: 'reject', feedback: 'no devil numbers, please', output: { looked: 'add' } },
      { step: 'no_devil', phase: 'after_decision', callId: expect.any(String), verdict: 'accept', output: { looked: 'add' } },
    ]);
    // The rejected call never ran; the model was told why on its next decision.
    expect(eventsOf(end.thread, 'tool_call').map((e) => e.data.args)).toEqual([{ a: 6, b: 1 }]);
    expect(model.requests[1]!.context).toContain('<rejected by="no_devil"');
    expect(model.requests[1]!.context).toContain('no devil numbers, please');
    expect(model.requests[0]!.context).not.toContain('rejected');
  });

  it('asks a human when the judge says ask; an approval runs the call, a denial goes back to the model', async () => {
    const unsure = judge({ name: 'unsure', run: () => ({ verdict: 'ask', feedback: 'Is adding 2 and 2 fine?' }) });
    const a = customAgent({ afterDecision: [unsure] });
    const model = scriptedModel([add(2, 2), add(3, 3), done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    let asked = 0;
    const end = await runToEnd(actor, clock, {
      answer: (request) => {
        asked++;
        expect(request).toMatchObject({ kind: 'approval', question: 'Is adding 2 and 2 fine?' });
        return asked === 1 ? { approved: true } : { approved: false, comment: 'not that one' };
      },
    });
    expect(end.status).toBe('done');
    expect(asked).toBe(2);
    // The approved call ran, the denied one did not.
    expect(eventsOf(end.thread, 'tool_call').map((e) => e.data.args)).toEqual([{ a: 2, b: 2 }]);
    expect(customs(end.thread.events).map((c) => c.verdict)).toEqual(['ask', 'ask']);
  });

  it('judges a call to an approval tool before a human approves it, and asks only once', async () => {
    const a = customAgent({ afterDecision: [noDevil] });
    const model = scriptedModel([divide(8, 2), done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const first = await settle(actor);
    expect(first.state).toBe('awaitingHuman');
    expect(typesOf(first.thread)).toEqual(['input', 'decision', 'custom', 'human_request']);
    const end = await runToEnd(actor, clock, { answer: () => ({ approved: true }) });
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'human_request')).toHaveLength(1);
    expect(eventsOf(end.thread, 'tool_result')[0]!.data.result).toBe(4);
  });

  it('a judge that throws or answers nonsense is an error event, retried after the backoff, then escalated', async () => {
    let calls = 0;
    const flaky = judge({
      name: 'flaky',
      output: z.object({ score: z.number() }),
      run: () => {
        calls++;
        if (calls === 1) throw new Error('the judge model is down');
        return { verdict: 'accept', output: { score: 'high' as unknown as number } };
      },
    });
    const a = customAgent({ afterDecision: [flaky], maxConsecutiveErrors: 3 });
    const model = scriptedModel([add(1, 1)]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.state).toBe('escalated');
    const errors = eventsOf(end.thread, 'error').map((e) => e.data);
    expect(errors.map((e) => e.kind)).toEqual(['step_error', 'step_error', 'step_error']);
    expect(errors[0]!.message).toContain('the judge model is down');
    expect(errors[1]!.message).toContain('score');
    expect(end.backoffs).toBe(2);
    expect(eventsOf(end.thread, 'tool_call')).toEqual([]);
    expect(model.requests).toHaveLength(1);
  });
});

describe('a step before each decision', () => {
  it('records its typed output, which the model sees, once per decision and only when due', async () => {
    const seen: number[] = [];
    const budget = beforeDecision({
      name: 'budget',
      output: z.object({ stepsLeft: z.number() }),
      when: (_thread, state) => state.steps > 0,
      run: ({ state }) => {
        seen.push(state.steps);
        return { output: { stepsLeft: 8 - state.steps } };
      },
    });
    const a = customAgent({ beforeDecision: [budget] });
    const model = scriptedModel([add(1, 2), add(3, 4), done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(seen).toEqual([1, 2]);
    expect(customs(end.thread.events)).toEqual([
      { step: 'budget', phase: 'before_decision', output: { stepsLeft: 7 } },
      { step: 'budget', phase: 'before_decision', output: { stepsLeft: 6 } },
    ]);
    expect(model.requests[0]!.context).not.toContain('<step');
    expect(model.requests[2]!.context).toContain('<step name="budget">{"stepsLeft":6}</step>');
  });

  it('does not run when the step budget is spent: the decision it would precede escalates (max_steps) at once', async () => {
    let runs = 0;
    const policy = beforeDecision({
      name: 'policy',
      run: () => {
        runs++;
        return {};
      },
    });
    const a = customAgent({ beforeDecision: [policy], maxSteps: 3 });
    const model = scriptedModel([add(1, 1), add(2, 2), add(3, 3), done()]);
    const { actor } = await startRun({ agent: a, model });
    const rest = await settle(actor);
    expect(rest.state).toBe('escalated');
    // One run before each of the three decisions, none before the escalation that decides nothing.
    expect(runs).toBe(3);
    expect(typesOf(rest.thread).slice(-3)).toEqual(['tool_result', 'escalation', 'human_request']);
  });

  it('a `when` that throws is an error event of the step, retried after the backoff, then escalated (the actor does not stop)', async () => {
    let runs = 0;
    const broken = beforeDecision({
      name: 'broken',
      when: () => {
        throw new Error('when is broken');
      },
      run: () => {
        runs++;
        return {};
      },
    });
    const a = customAgent({ beforeDecision: [broken], maxConsecutiveErrors: 3 });
    const model = scriptedModel([done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.state).toBe('escalated');
    const errors = eventsOf(end.thread, 'error').map((e) => e.data);
    expect(errors.map((e) => e.kind)).toEqual(['step_error', 'step_error', 'step_error']);
    expect(errors[0]!.message).toContain('when is broken');
    expect(runs).toBe(0);
    expect(model.requests).toHaveLength(0);
  });

  it('waits durably before the decision (rate limiting), never waking early', async () => {
    const pace = beforeDecision({ name: 'pace', when: (_t, state) => state.steps > 0, run: () => ({ waitMs: 60_000 }) });
    const a = customAgent({ beforeDecision: [pace] });
    const model = scriptedModel([add(1, 2), done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const rest = await settle(actor);
    expect(rest.state).toBe('sleeping');
    expect(rest.status).toBe('sleeping');
    expect(rest.sleepUntil).toBe(clock.now() + 60_000);
    clock.increment(59_999);
    await settle(actor);
    expect(model.requests).toHaveLength(1);
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(2);
  });
});

describe('an intent handled by the author’s code', () => {
  it('is offered to the model like a tool, records its output and sleeps durably across a restart', async () => {
    const a = customAgent({ intents: [waitForAWhile] });
    const script = [{ intent: 'wait_for_a_while', args: { seconds: 3600 } }, done('checked again')] satisfies ScriptStep[];
    const model = scriptedModel(script);
    const { actor, store, clock } = await startRun({ agent: a, model });
    const rest = await settle(actor);
    expect(rest.state).toBe('sleeping');
    expect(model.requests[0]!.tools.map((t) => t.name)).toContain('wait_for_a_while');
    expect(customs(rest.thread.events)).toEqual([
      { step: 'wait_for_a_while', phase: 'intent', callId: expect.any(String), output: { waited: 3600 }, until: T0 + 3_600_000 },
    ]);
    expect(eventsOf(rest.thread, 'tool_call')).toEqual([]);
    actor.stop(); // the process dies half way through the sleep

    clock.increment(1_800_000);
    const thread = (await store.get(rest.thread.id))!;
    const model2 = scriptedModel(script.slice(1));
    const restored = createAgentActor({ agent: a, thread, model: model2, store, clock });
    const again = await settle(restored);
    expect(again.state).toBe('sleeping'); // re-armed from the recorded deadline, not from scratch
    clock.increment(1_799_999);
    await settle(restored);
    expect(model2.requests).toHaveLength(0);
    clock.increment(1);
    const end = await runToEnd(restored, clock);
    expect(end.status).toBe('done');
    expect(model2.requests[0]!.context).toContain('<intent_result intent="wait_for_a_while"');
  });

  it('invalid arguments are an invalid_args error the model sees, the handler never runs', async () => {
    let runs = 0;
    const counted = intent({ name: 'count', description: 'count', input: z.object({ n: z.number() }), run: () => ((runs++), {}) });
    const a = customAgent({ intents: [counted] });
    const model = scriptedModel([{ intent: 'count', args: { n: 'three' } }, { intent: 'count', args: { n: 3 } }, done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(eventsOf(end.thread, 'error').map((e) => e.data.kind)).toEqual(['invalid_args']);
    expect(runs).toBe(1);
  });
});

describe('errors in a row with steps of the author', () => {
  // A step or a judge that merely ran between two failed calls is no success of the agent's: the
  // failing tool is retried with a growing backoff and escalated after maxConsecutiveErrors, as it
  // would be without them. An intent handled by the author's code is an outcome, as a tool result is.
  const note = beforeDecision({ name: 'note', run: () => ({ output: 'ok' }) });
  const nod = judge({ name: 'nod', run: () => ({ verdict: 'accept' }) });
  const broken = tool({
    name: 'broken',
    description: 'always fails',
    input: z.object({}),
    idempotent: true,
    run: () => {
      throw new Error('upstream 503');
    },
  });
  for (const [name, options] of [
    ['a step before each decision', { beforeDecision: [note] }],
    ['a judge after each decision', { afterDecision: [nod] }],
  ] as const) {
    it(`${name} does not reset the count: a tool failing every time escalates after three errors, its backoff growing`, async () => {
      const a = customAgent({ ...options, tools: [broken], maxConsecutiveErrors: 3, maxSteps: 12 });
      const model = scriptedModel([], { whenExhausted: { intent: 'broken', args: {} } });
      const { actor, clock } = await startRun({ agent: a, model });
      const end = await runToEnd(actor, clock);
      expect(end.state).toBe('escalated');
      const errors = eventsOf(end.thread, 'error');
      expect(errors.map((e) => [e.data.kind, e.data.attempt])).toEqual([['tool_error', 1], ['tool_error', 2], ['tool_error', 3]]);
      expect(eventsOf(end.thread, 'escalation')[0]!.data.reason).toBe('max_consecutive_errors');
      const [first, second] = errors.map((e) => Date.parse(e.data.retryAt ?? '') - Date.parse(e.at));
      expect(second).toBeGreaterThan(first!);
      expect(model.requests).toHaveLength(3);
    });
  }
});

describe('steps are pure over the thread', () => {
  it('stepEvents computes a judge’s events from a thread without a runtime', async () => {
    const a = customAgent({ afterDecision: [noDevil] });
    const thread = threadOf('t-pure', a.name, [
      { type: 'input', data: { input: 'add' } },
      { type: 'decision', data: { step: 1, intent: 'add', args: { a: 666, b: 1 }, callId: 'call_1', model: 'm', promptHash: 'h', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 } },
    ]);
    const events = await stepEvents(a, 'no_devil', thread, { now: T0 });
    expect(events).toEqual([
      { type: 'custom', data: { step: 'no_devil', phase: 'after_decision', callId: 'call_1', verdict: 'reject', feedback: 'no devil numbers, please', output: { looked: 'add' } } },
    ]);
    await expect(stepEvents(a, 'nope', thread)).rejects.toThrow(/no step named nope/);
  });

  it("stepEvents hands the step a logger that redacts the agent's secrets from what it writes", async () => {
    let written = '';
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    const talkative = beforeDecision({
      name: 'talkative',
      run: ({ logger }) => {
        logger.info({ key: 'hunter2-secret' }, 'using hunter2-secret');
        return {};
      },
    });
    const a = customAgent({ beforeDecision: [talkative], secrets: ['hunter2-secret'] });
    await stepEvents(a, 'talkative', threadOf('t-log', a.name, [{ type: 'input', data: { input: 'go' } }]), { logger: pino(destination) });
    expect(JSON.parse(written)).toMatchObject({ key: '[REDACTED]', msg: 'using [REDACTED]', state: 'talkative' });
  });
});

describe('definitions', () => {
  it('refuses step names that clash with the machine or with each other', () => {
    expect(() => beforeDecision({ name: 'deciding', run: () => ({}) })).toThrow(ConfigError);
    expect(() => judge({ name: 'Bad Name', run: () => ({ verdict: 'accept' }) })).toThrow(ConfigError);
    const twice = judge({ name: 'twice', run: () => ({ verdict: 'accept' }) });
    expect(() => customAgent({ afterDecision: [twice, twice] })).toThrow(/two steps are named twice/);
    expect(() => customAgent({ intents: [intent({ name: 'add', description: 'x', input: z.object({}), run: () => ({}) })] })).toThrow(/two tools are named add/);
  });

  it('an agent with steps runs its own machine, in which each step is a named state the inspector draws', () => {
    const a = customAgent({ beforeDecision: [beforeDecision({ name: 'budget', run: () => ({}) })], afterDecision: [noDevil] });
    expect(agentMachineFor(customAgent())).toBe(agentMachine);
    const machine = agentMachineFor(a);
    expect(machine.id).toBe('agent:custom');
    expect(agentMachineFor(a)).toBe(machine);
    const graph = machineGraph(machine);
    const keys = graph.nodes.map((n) => n.key);
    expect(keys).toEqual(expect.arrayContaining(['budget', 'no_devil', 'sleeping', 'deciding']));
    const into = (key: string) => graph.edges.filter((e) => e.target === `agent:custom.${key}`).map((e) => e.source);
    expect(into('no_devil')).toContain('agent:custom.routing');
    expect(graph.edges.filter((e) => e.source === 'agent:custom.no_devil').map((e) => e.target)).toContain('agent:custom.routing');
  });

  it('a memory store and the runtime run an agent with steps end to end', async () => {
    const { createRuntime } = await import('../../src/runtime/runtime.js');
    const a = customAgent({ afterDecision: [noDevil] });
    const runtime = createRuntime({ agents: [a], store: createMemoryStore({ clock: createClock() }), model: scriptedModel([add(666, 0), add(1, 0), done('1')]) });
    try {
      const thread = await runtime.launch('custom', 'add something');
      const end = await runtime.settled(thread.id);
      expect(end).toMatchObject({ status: 'done', output: '1' });
      expect(runtime.machineOf('custom')).toBe('agent:custom');
      expect(runtime.machines.has('agent:custom')).toBe(true);
    } finally {
      await runtime.close();
    }
  });
});
