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

describe('createDemoModel: other agents', () => {
  it('finishes at once, saying it only knows the bundled agents', async () => {
    start();
    const finished = await launch('echo', 'say hi');
    expect(finished.status).toBe('done');
    expect(decisions(finished)).toHaveLength(1);
    expect(finished.output).toMatch(/only knows the bundled agents/);
  });
});
