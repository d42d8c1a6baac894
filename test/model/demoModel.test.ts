import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { createDeploybot } from '../../agents/deploybot/index.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { Clock } from '../../src/clock.js';
import { estimateTokens } from '../../src/context/renderContext.js';
import { createDemoModel, DEMO_MODEL_NAME, parseArithmetic } from '../../src/model/demoModel.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createSimulatedDeployTarget } from '../../tools/deploy.js';
import type { NewEvent } from '../../src/thread/events.js';
import { runToEnd, startRun, threadOf } from '../support/agentHarness.js';

const echo = agent({
  name: 'echo',
  description: 'says things',
  prompt: 'You are {{agent}}.\n{{tools}}',
  tools: [tool({ name: 'say', description: 'Say something', input: z.object({ text: z.string() }), run: ({ text }) => text })],
  maxSteps: 3,
});

let runtime: Runtime;
let target: ReturnType<typeof createSimulatedDeployTarget>;

function start(clock?: Clock): Runtime {
  target = createSimulatedDeployTarget();
  runtime = createRuntime({
    agents: [calculator, createDeploybot({ target }), echo],
    store: createMemoryStore(),
    model: createDemoModel(),
    ...(clock ? { clock } : {}),
  });
  return runtime;
}

afterEach(async () => {
  await runtime?.close();
});

describe('skills chosen by the tools offered', () => {
  it('runs any agent that has the calculator tools, whatever its name', async () => {
    const mine = agent({ name: 'my_maths', description: 'sums', prompt: 'You are {{agent}}.\n{{tools}}', tools: calculator.tools.filter((t) => ['add', 'subtract', 'multiply', 'divide'].includes(t.name)) });
    runtime = createRuntime({ agents: [mine], store: createMemoryStore(), model: createDemoModel() });
    const thread = await runtime.launch('my_maths', 'add 2 and 3 then multiply by 4');
    expect(await runtime.settled(thread.id)).toMatchObject({ status: 'done', output: '(2 + 3) * 4 = 20' });
  });
});

/** The decisions of a thread as `intent(args)`. */
function decisions(view: ThreadView): string[] {
  return view.events.flatMap((e) => (e.type === 'decision' ? [`${e.data.intent}(${JSON.stringify(e.data.args)})`] : []));
}

async function launch(agentName: string, input: unknown): Promise<ThreadView> {
  const launched = await runtime.launch(agentName, input);
  return runtime.settled(launched.id);
}

async function approve(view: ThreadView, approved: boolean, comment?: string): Promise<ThreadView> {
  expect(view.pendingRequest?.kind).toBe('approval');
  await runtime.respond(view.id, { requestId: view.pendingRequest!.requestId, approved, ...(comment ? { comment } : {}) });
  return runtime.settled(view.id);
}

describe('createDemoModel: calculator', () => {
  it('computes (3 + 4) / 2 with one tool call per operation, stopping for the division approval', async () => {
    start();
    const waiting = await launch('calculator', 'what is (3 + 4) / 2');
    expect(waiting.status).toBe('awaiting_human');
    expect(decisions(waiting)).toEqual(['add({"a":3,"b":4})', 'divide({"a":7,"b":2})']);
    expect(waiting.pendingRequest).toMatchObject({ kind: 'approval', tool: 'divide', args: { a: 7, b: 2 } });

    const finished = await approve(waiting, true);
    expect(finished.status).toBe('done');
    expect(finished.output).toBe('(3 + 4) / 2 = 3.5');
    const decision = finished.events.find((e) => e.type === 'decision');
    expect(decision?.type === 'decision' && decision.data.model).toBe(DEMO_MODEL_NAME);
  });

  it('explains that a denied division was not approved', async () => {
    start();
    const waiting = await launch('calculator', 'add 3 and 4 then divide by 2');
    const finished = await approve(waiting, false, 'no divisions today');
    expect(finished.status).toBe('done');
    expect(finished.output).toMatch(/not approved/);
    expect(finished.output).toMatch(/no divisions today/);
    expect(finished.events.some((e) => e.type === 'tool_result' && e.data.tool === 'divide')).toBe(false);
  });

  it('runs verbal requests without approvals to the end', async () => {
    start();
    const product = await launch('calculator', 'multiply 6 by 7');
    expect(decisions(product)).toEqual(['multiply({"a":6,"b":7})', 'done_for_now({"message":"6 * 7 = 42"})']);
    expect(product.output).toBe('6 * 7 = 42');

    const chain = await launch('calculator', 'subtract 2 from 10, then multiply by 3 and then add 1');
    expect(decisions(chain).slice(0, 3)).toEqual(['subtract({"a":10,"b":2})', 'multiply({"a":8,"b":3})', 'add({"a":24,"b":1})']);
    expect(chain.output).toBe('(10 - 2) * 3 + 1 = 25');
  });

  it('asks a human for an expression it cannot parse, then uses the answer', async () => {
    start();
    const asking = await launch('calculator', 'how many legs do three spiders have?');
    expect(asking.status).toBe('awaiting_human');
    expect(asking.pendingRequest).toMatchObject({ kind: 'input', format: 'free_text' });
    expect(asking.pendingRequest?.question).toMatch(/simple expression/);

    await runtime.respond(asking.id, { requestId: asking.pendingRequest!.requestId, answer: '3 * 8' });
    const finished = await runtime.settled(asking.id);
    expect(finished.status).toBe('done');
    expect(finished.output).toBe('3 * 8 = 24');
  });

  it('finishes with the tool error when a division by zero fails', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2025-01-01T00:00:00.000Z'));
    start(clock);
    // The failed call backs off before the next decision: skip the wait on the simulated clock.
    runtime.subscribe((change) => {
      if (change.status === 'backing_off') queueMicrotask(() => clock.increment(60_000));
    });
    const waiting = await launch('calculator', '5 / 0');
    const finished = await approve(waiting, true);
    expect(finished.events.some((e) => e.type === 'error' && e.data.kind === 'tool_error')).toBe(true);
    expect(finished.status).toBe('done');
    expect(finished.output).toMatch(/could not finish 5 \/ 0: divide failed: division by zero/);
  });

  it('reports token usage as about a quarter of the characters', async () => {
    const model = createDemoModel();
    const context = '<input>\nwhat is 1 + 2\n</input>';
    const system = 'You are calculator.';
    const result = await model.complete({
      threadId: 't',
      agent: 'calculator',
      system,
      context,
      tools: calculator.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
      signal: new AbortController().signal,
    });
    if (!result.success) throw new Error('expected an answer');
    expect(result.data.toolCall).toEqual({ name: 'add', arguments: '{"a":1,"b":2}' });
    expect(result.data.usage.prompt).toBe(estimateTokens(system) + estimateTokens(context));
    expect(result.data.usage.completion).toBeGreaterThan(0);
  });
});

describe('parseArithmetic', () => {
  it.each([
    ['what is (3 + 4) / 2?', '(3 + 4) / 2'],
    ['What is 6 times 7', '6 * 7'],
    ['2 + 3 * 4', '2 + 3 * 4'],
    ['10 - (4 - 1)', '10 - (4 - 1)'],
    ['add three and four then divide by two', '(3 + 4) / 2'],
    ['divide 9 by 3', '9 / 3'],
    ['-2 * 3', '-2 * 3'],
  ])('reads %j', (input, expected) => {
    const expr = parseArithmetic(input);
    expect(expr).not.toBeNull();
    // Shown through the model's plan: rebuild the text from the tree.
    const show = (e: NonNullable<typeof expr>, parent = 0, right = false): string => {
      if ('value' in e) return String(e.value);
      const prec = e.op === 'add' || e.op === 'subtract' ? 1 : 2;
      const sym = { add: '+', subtract: '-', multiply: '*', divide: '/' }[e.op];
      const text = `${show(e.left, prec)} ${sym} ${show(e.right, prec, true)}`;
      return prec < parent || (right && prec === parent) ? `(${text})` : text;
    };
    expect(show(expr!)).toBe(expected);
  });

  it.each(['hello', 'what is love', '3 +', '(1 + 2', 'add 3'])('refuses %j', (input) => {
    expect(parseArithmetic(input)).toBeNull();
  });
});

describe('createDemoModel: deploybot', () => {
  it('lists tags and deploys the newest backend tag to staging after approval', async () => {
    start();
    const waiting = await launch('deploybot', 'deploy the latest backend');
    expect(decisions(waiting)).toEqual(['list_git_tags({})', 'deploy_backend({"tag":"v1.5.0","environment":"staging"})']);
    const finished = await approve(waiting, true);
    expect(finished.status).toBe('done');
    expect(finished.output).toBe('Deployed the backend v1.5.0 to staging (deployment dep-1).');
    expect(target.history).toEqual([{ id: 'dep-1', service: 'backend', tag: 'v1.5.0', environment: 'staging' }]);
  });

  it('deploys the named tag of the frontend to production', async () => {
    start();
    const waiting = await launch('deploybot', { request: 'ship frontend v1.4.1 to production' });
    expect(waiting.pendingRequest?.args).toEqual({ tag: 'v1.4.1', environment: 'production' });
    expect(waiting.pendingRequest?.tool).toBe('deploy_frontend');
    const finished = await approve(waiting, true);
    expect(finished.output).toMatch(/Deployed the frontend v1\.4\.1 to production/);
  });

  it('says nothing was deployed when the deploy is denied', async () => {
    start();
    const waiting = await launch('deploybot', 'deploy');
    const finished = await approve(waiting, false, 'freeze until Monday');
    expect(finished.status).toBe('done');
    expect(finished.output).toMatch(/Nothing was deployed.*not approved.*freeze until Monday/);
    expect(target.history).toEqual([]);
  });
});

/**
 * A call started and never recorded (its process died) that a human was asked about: the answer
 * reads `took_effect="true|false"`. Told it took effect, the demo model does not call it again (a
 * second rollback, a second triage filed) but finishes saying so; told it did not, it carries on.
 */
describe('createDemoModel: an interrupted call a human answered', () => {
  /** What the demo model answers to `context`, offered `tools` (names only: it picks its rules by them). */
  async function nextStep(tools: readonly string[], context: string): Promise<{ intent: string; args: Record<string, unknown> }> {
    const result = await createDemoModel().complete({
      threadId: 't',
      agent: 'a',
      system: 'You are a.',
      context,
      tools: tools.map((name) => ({ name, description: name, parameters: { type: 'object', properties: {} } })),
      signal: new AbortController().signal,
    });
    if (!result.success || result.data.toolCall === undefined) throw new Error('expected a tool call');
    return { intent: result.data.toolCall.name, args: JSON.parse(result.data.toolCall.arguments) as Record<string, unknown> };
  }

  /** The blocks of a call of `tool` that was interrupted, and a human's answer whether it `tookEffect`. */
  const interrupted = (tool: string, args: string, tookEffect: boolean, comment: string): string =>
    `<decision step="1" intent="${tool}">${args}</decision>\n` +
    `<human_request kind="interrupted" id="req_4" tool="${tool}">${tool}(${args}) was started and its outcome was not recorded. Run it again?</human_request>\n` +
    `<human_response to="req_4" took_effect="${tookEffect}">${comment}</human_response>`;

  it('deploybot: a rollback a human says took effect is not run again; the run ends saying so', async () => {
    const target = createSimulatedDeployTarget();
    const deploybot = createDeploybot({ target });
    const args = { service: 'backend', environment: 'staging' };
    const started: NewEvent[] = [
      { type: 'input', data: { input: 'roll back the backend on staging' } },
      { type: 'decision', data: { callId: 'call_1', step: 1, intent: 'rollback', args, model: DEMO_MODEL_NAME, promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_1', tool: 'rollback', args, idempotencyKey: 'thread-1:call_1', attempt: 1 } },
    ];
    const { actor, clock } = await startRun({ agent: deploybot, model: createDemoModel(), thread: threadOf('thread-1', 'deploybot', started) });
    const asked: string[] = [];
    const end = await runToEnd(actor, clock, {
      answer: (request) => {
        asked.push(request.kind);
        return { approved: false, comment: 'it went through at 14:02' };
      },
    });
    expect(asked).toEqual(['interrupted']);
    expect(end.state).toBe('done');
    const intents = end.thread.events.flatMap((e) => (e.type === 'decision' ? [e.data.intent] : []));
    expect(intents).toEqual(['rollback', 'done_for_now']);
    const final = end.thread.events.find((e) => e.type === 'final');
    expect(final?.data.output).toBe('Rolled back the backend on staging: the rollback was interrupted before its outcome was recorded, and a human said it took effect: it went through at 14:02');
  });

  it('deploybot: a deploy a human says took effect is reported with its tag, not deployed again', async () => {
    const context = `<input>\ndeploy the latest backend\n</input>\n<tool_result tool="list_git_tags" call="call_1">\n["v1.4.1","v1.5.0"]\n</tool_result>\n${interrupted('deploy_backend', '{"tag":"v1.5.0","environment":"staging"}', true, '')}`;
    expect(await nextStep(['list_git_tags', 'deploy_backend', 'deploy_frontend'], context)).toEqual({
      intent: 'done_for_now',
      args: { message: 'Deployed the backend v1.5.0 to staging: the deploy was interrupted before its outcome was recorded, and a human said it took effect.' },
    });
  });

  it('deploybot: a rollback a human says did not take effect is asked for again', async () => {
    const context = `<input>\nroll back the backend on staging\n</input>\n${interrupted('rollback', '{"service":"backend","environment":"staging"}', false, 'nothing happened')}`;
    expect(await nextStep(['list_git_tags', 'deploy_backend', 'deploy_frontend', 'rollback'], context)).toEqual({ intent: 'rollback', args: { service: 'backend', environment: 'staging' } });
  });

  it('calculator: an operation a human says took effect, its result not recorded, ends the run saying so', async () => {
    const context = `<input>\nwhat is 8 / 2\n</input>\n${interrupted('divide', '{"a":8,"b":2}', true, 'it ran')}`;
    expect(await nextStep(['add', 'subtract', 'multiply', 'divide'], context)).toEqual({
      intent: 'done_for_now',
      args: { message: 'I could not finish 8 / 2: the divide step was interrupted before its result was recorded (a human said it took effect: it ran).' },
    });
  });

  it('triage: a triage a human says was filed is not filed again', async () => {
    const context = `<input>\nthe login page is blank\n</input>\n<tool_result tool="search_known_issues" call="call_1">\n[]\n</tool_result>\n${interrupted('file_triage', '{"component":"frontend","severity":"medium","summary":"the login page is blank"}', true, 'filed as BUG-7')}`;
    expect(await nextStep(['search_known_issues', 'file_triage'], context)).toEqual({
      intent: 'done_for_now',
      args: { message: 'The triage was filed: the file_triage call was interrupted before its outcome was recorded, and a human said it took effect: filed as BUG-7' },
    });
  });
});

describe('createDemoModel: other agents', () => {
  it('finishes at once, saying it only knows the bundled agents', async () => {
    start();
    const finished = await launch('echo', 'say hi');
    expect(finished.status).toBe('done');
    expect(decisions(finished)).toHaveLength(1);
    expect(finished.output).toMatch(/only knows the bundled agents/);
  });
});
