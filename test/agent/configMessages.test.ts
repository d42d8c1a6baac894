/**
 * A definition that is wrong says what is wrong, in the user's terms: a config file is loaded
 * without a type check (README), so a zod 3 schema, a string from `process.env` or a single tool
 * where a list goes must get a ConfigError naming the option and the value, never a crash inside
 * zod or a message that shows the wrong value as if it were right.
 */
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import { describe, expect, it } from 'vitest';
import { agent, type AgentOptions } from '../../src/agent/agent.js';
import { beforeDecision, intent } from '../../src/agent/customStep.js';
import { stepEvents } from '../../src/agent/customStepRun.js';
import { tool, type ToolOptions } from '../../src/agent/tool.js';
import { ConfigError } from '../../src/errors.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { refusal } from '../support/refusal.js';

/** What a config file may hand over: the types say nothing at run time. */
const loose = <T>(value: unknown): T => value as T;

const base = { name: 'a', description: 'd', prompt: 'p', tools: [] };
const toolBase = { name: 't', description: 'd', input: z.object({ n: z.number() }), run: () => 1 };

describe('a schema that is not a zod 4 one', () => {
  it("is refused for a pipeline's input, output and a step's output, naming the pipeline (and the step)", () => {
    const head = { name: 'p', description: 'd', input: z.object({}), output: z.unknown() };
    const build = (options: typeof head, stepOutput?: unknown) =>
      pipeline(options)
        .code({ name: 's', ...(stepOutput === undefined ? {} : { output: loose<z.ZodType>(stepOutput) }), run: () => 1 })
        .finish(() => 1);
    expect(refusal(() => build({ ...head, input: loose(z3.object({ n: z3.number() })) }))).toBe('pipeline p: input must be a zod 4 schema (got a zod 3 schema)');
    expect(refusal(() => build({ ...head, output: loose({ n: 'number' }) }))).toBe('pipeline p: output must be a zod 4 schema (got a plain object)');
    expect(refusal(() => build(head, z3.number()))).toBe('pipeline p: step s: output must be a zod 4 schema (got a zod 3 schema)');
  });

  it('is refused for a tool input, naming the tool and what it got', () => {
    const v3 = { ...toolBase, name: 'v3', input: loose<z.ZodType>(z3.object({ n: z3.number() })) };
    expect(refusal(() => tool(v3))).toBe('tool v3: input must be a zod 4 object schema (got a zod 3 schema)');
    const plain = { ...toolBase, name: 'plain', input: loose<z.ZodType>({ n: 'number' }) };
    expect(refusal(() => tool(plain))).toBe('tool plain: input must be a zod 4 object schema (got a plain object)');
    const none = { ...toolBase, input: loose<z.ZodType>(undefined) };
    expect(refusal(() => tool(none))).toBe('tool t: input must be a zod 4 object schema (got undefined)');
  });

  it('is refused for an agent input and an intent input', () => {
    const input = loose<z.ZodType>(z3.object({ orderId: z3.string() }));
    expect(refusal(() => agent({ ...base, input }))).toBe('agent a: input must be a zod 4 schema (got a zod 3 schema)');
    const wait = { name: 'wait_a_bit', description: 'd', input: loose<z.ZodObject>(z3.object({ s: z3.number() })), run: () => ({}) };
    expect(refusal(() => intent(wait))).toMatch(/^tool wait_a_bit: input must be a zod 4 object schema \(got a zod 3 schema\)/);
  });
});

describe('agent() options of the wrong kind', () => {
  it('refuses tools that are not a list', () => {
    const one = tool(toolBase);
    expect(refusal(() => agent({ ...base, tools: loose<AgentOptions['tools']>(one) }))).toMatch(/^agent a: tools must be an array/);
  });

  it('says a tool named like a built-in one clashes with the built-in, not that two tools share a name', () => {
    for (const name of ['done_for_now', 'request_human_input']) {
      const shadow = tool({ ...toolBase, name });
      const message = refusal(() => agent({ ...base, tools: [shadow] }));
      expect(message).toContain(`${name} is a built-in tool of every agent`);
      expect(message).toContain('rename yours');
      expect(message).not.toContain('two tools');
    }
  });

  it('shows a value that is not a number as what it is, with its type', () => {
    const cases: [Partial<AgentOptions>, string][] = [
      [{ maxSteps: loose('5') }, 'agent a: maxSteps must be an integer from 3 to 20 (got "5", a string)'],
      [{ maxConsecutiveErrors: loose('3') }, 'agent a: maxConsecutiveErrors must be a positive integer (got "3", a string)'],
      [{ maxConsecutiveRateLimits: loose(null) }, 'agent a: maxConsecutiveRateLimits must be a positive integer (got null)'],
      [{ contextBudget: loose('6000') }, 'agent a: contextBudget must be a positive number of tokens (got "6000", a string)'],
      [{ decideTimeoutMs: loose('60s') }, 'agent a: decideTimeoutMs must be a positive number of milliseconds'],
      [{ backoff: { initialMs: loose('1s') } }, 'agent a: backoff.initialMs must be'],
      [{ backoff: { factor: loose('2') } }, 'agent a: backoff.factor must be'],
      [{ backoff: { maxMs: loose(true) } }, 'agent a: backoff.maxMs must be'],
      [{ backoff: { jitter: loose('0.5') } }, 'agent a: backoff.jitter must be a number from 0 to 1 (got "0.5", a string)'],
    ];
    for (const [options, message] of cases) expect(refusal(() => agent({ ...base, ...options }))).toContain(message);
    // A number stays a number in the message.
    expect(refusal(() => agent({ ...base, maxSteps: 50 }))).toContain('(got 50)');
  });

  it('refuses a decision timeout of none or of more than one timer holds', () => {
    for (const decideTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(refusal(() => agent({ ...base, decideTimeoutMs }))).toContain('decideTimeoutMs must be a positive number of milliseconds');
    }
  });
});

describe('tool() options of the wrong kind', () => {
  it('says timeoutMs is a positive number of milliseconds and shows what it got', () => {
    const timeoutMs = loose<ToolOptions<z.ZodObject, number>['timeoutMs']>('5s');
    expect(refusal(() => tool({ ...toolBase, timeoutMs }))).toBe('tool t: timeoutMs must be a positive number of milliseconds, at most 2147483647 (got "5s", a string)');
    expect(refusal(() => tool({ ...toolBase, timeoutMs: 0 }))).toContain('(got 0)');
    expect(refusal(() => tool({ ...toolBase, timeoutMs: 2 ** 31 }))).toContain('(got 2147483648)');
  });
});

describe('stepEvents for a step the agent does not have', () => {
  it('is a ConfigError naming the steps it has', async () => {
    const greeter = agent({ ...base, name: 'greeter', beforeDecision: [beforeDecision({ name: 'profile', run: () => ({}) })] });
    const thread = { id: 'th', agent: 'greeter', events: [] };
    const asked = stepEvents(greeter, 'profil', thread);
    await expect(asked).rejects.toBeInstanceOf(ConfigError);
    await expect(asked).rejects.toThrow('agent greeter has no step named profil (its steps: profile)');
  });
});

describe("a prompt template that is wrong (qa26-scale D1: one prompt shared by many agents)", () => {
  it('names the agent whose prompt or variables are wrong', () => {
    const shared = 'You are {{agent}} of {{team}}.';
    expect(refusal(() => agent({ ...base, name: 'agent20', prompt: shared, variables: { teem: 'x' } }))).toBe(
      'agent agent20: prompt template (inline) uses unknown variable {{team}}; known: agent, description, tools, context, teem',
    );
    expect(refusal(() => agent({ ...base, name: 'agent21', prompt: new URL('./no-such-prompt.md', import.meta.url) }))).toMatch(
      /^agent agent21: cannot read prompt template \S+no-such-prompt\.md$/,
    );
    expect(refusal(() => agent({ ...base, name: 'agent22', prompt: 'p', variables: { agent: 'x' } }))).toBe(
      'agent agent22: prompt variable {{agent}} is built in and cannot be redefined',
    );
  });
});
