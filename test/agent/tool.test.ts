import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { promptHash, promptTemplate } from '../../src/agent/prompt.js';
import { dropNullsAt, toStrictJsonSchema } from '../../src/agent/strictSchema.js';
import { toJson, tool } from '../../src/agent/tool.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { add, calculatorTools } from '../../tools/calculator.js';

const order = z.object({
  item: z.string(),
  quantity: z.number().int().optional(),
  note: z.string().nullable(),
  shipping: z.object({ express: z.boolean().optional(), address: z.string() }).optional(),
  tags: z.array(z.object({ label: z.string(), color: z.string().optional() })),
  priority: z.enum(['low', 'high']).default('low'),
});

/** Every object node of a JSON Schema, wherever it is nested. */
function objectNodes(node: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) node.forEach((item) => objectNodes(item, out));
  else if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (record.type === 'object') out.push(record);
    Object.values(record).forEach((value) => objectNodes(value, out));
  }
  return out;
}

const context = {
  threadId: 't',
  callId: 'call_2',
  idempotencyKey: 't:call_2',
  attempt: 1,
  logger: silentLogger(),
  signal: new AbortController().signal,
};

describe('strict JSON Schema', () => {
  const schema = toStrictJsonSchema(order);

  it('closes every object and requires every property, at every depth', () => {
    const objects = objectNodes(schema);
    expect(objects.length).toBe(3); // the order, shipping, a tag
    for (const node of objects) {
      expect(node.additionalProperties).toBe(false);
      expect(node.required).toEqual(Object.keys(node.properties as object));
    }
    expect(schema.$schema).toBeUndefined();
  });

  it('turns optional properties (and ones with defaults) into nullable ones, without defaults', () => {
    const props = schema.properties as Record<string, Record<string, unknown>>;
    expect(props.item).toEqual({ type: 'string' });
    expect(props.quantity).toEqual({ anyOf: [{ type: 'integer', minimum: expect.any(Number), maximum: expect.any(Number) }, { type: 'null' }] });
    expect(props.priority).toEqual({ anyOf: [{ type: 'string', enum: ['low', 'high'] }, { type: 'null' }] });
    expect(JSON.stringify(schema)).not.toContain('"default"');
    const shipping = props.shipping!.anyOf as Record<string, unknown>[];
    expect(shipping[1]).toEqual({ type: 'null' });
    expect((shipping[0]!.properties as Record<string, unknown>).express).toEqual({ anyOf: [{ type: 'boolean' }, { type: 'null' }] });
  });

  it('dropNullsAt removes only the null properties at the given paths, without mutating', () => {
    const value = { a: null, b: { c: null, d: null }, e: [{ f: null }, null], g: 1 };
    const out = dropNullsAt(value, [['a'], ['b', 'c'], ['e', 0, 'f'], ['e', 1], ['g'], ['missing', 'x']]);
    expect(out).toEqual({ b: { d: null }, e: [{}, null], g: 1 });
    expect(value).toEqual({ a: null, b: { c: null, d: null }, e: [{ f: null }, null], g: 1 });
  });
});

describe('tool()', () => {
  const place = tool({ name: 'place_order', description: 'Place an order', input: order, run: (input) => input });

  it('exposes its strict parameters', () => {
    expect(place.parameters).toEqual(toStrictJsonSchema(order));
    expect(place.idempotent).toBe(false);
    expect(place.breaksLoop).toBe(false);
    expect(place.timeoutMs).toBe(30_000);
  });

  it('parses the nulls a strict model sends for absent optional values, keeping nulls of nullable ones', () => {
    const parsed = place.parse({ item: 'tea', quantity: null, note: null, shipping: null, tags: [{ label: 'x', color: null }], priority: null });
    expect(parsed).toEqual({ success: true, data: { item: 'tea', note: null, tags: [{ label: 'x' }], priority: 'low' } });
    const nested = place.parse({ item: 'tea', quantity: 2, note: 'n', shipping: { express: null, address: 'here' }, tags: [], priority: 'high' });
    expect(nested).toEqual({ success: true, data: { item: 'tea', quantity: 2, note: 'n', shipping: { address: 'here' }, tags: [], priority: 'high' } });
    // A null for a required, non-nullable property is still refused.
    expect(place.parse({ item: null, note: null, tags: [] }).success).toBe(false);
  });

  it('keeps a null where the schema allows one', () => {
    const parsed = place.parse({ item: 'tea', note: null, tags: [] });
    expect(parsed).toEqual({ success: true, data: { item: 'tea', note: null, tags: [], priority: 'low' } });
  });

  it('reports invalid arguments with their paths, as a value', () => {
    const parsed = place.parse({ item: 3, note: 'n', tags: [{ label: 1 }] });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error).toMatch(/item: /);
    expect(parsed.error).toMatch(/tags\.0\.label: /);
    expect(place.parse('not an object').success).toBe(false);
    // A key the schema does not list is refused (the model sees it), never silently dropped.
    expect(place.parse({ item: 'x', note: null, tags: [], extra: 1 })).toEqual({ success: false, error: expect.stringMatching(/extra/) });
  });

  it('asks for approval as configured: never, always, or per input', () => {
    const base = { description: 'd', input: z.object({ amount: z.number() }), run: () => null };
    expect(tool({ ...base, name: 'a' }).needsApproval({ amount: 1 })).toBe(false);
    expect(tool({ ...base, name: 'b', approval: true }).needsApproval({ amount: 1 })).toBe(true);
    const big = tool({ ...base, name: 'c', approval: ({ amount }) => amount > 100 });
    expect(big.needsApproval({ amount: 5 })).toBe(false);
    expect(big.needsApproval({ amount: 500 })).toBe(true);
  });

  it('run returns JSON: undefined becomes null, dates become strings', async () => {
    const undef = tool({ name: 'u', description: 'd', input: z.object({}), run: () => undefined });
    expect(await undef.run({}, context)).toBeNull();
    const date = tool({ name: 'd', description: 'd', input: z.object({}), run: async () => ({ when: new Date(0), skip: undefined }) });
    expect(await date.run({}, context)).toEqual({ when: '1970-01-01T00:00:00.000Z' });
    expect(await add.run({ a: 2, b: 3 }, context)).toBe(5);
  });

  it('toJson normalizes values through JSON', () => {
    expect(toJson(undefined)).toBeNull();
    expect(toJson({ a: [1, undefined], b: undefined, c: NaN })).toEqual({ a: [1, null], c: null });
    expect(toJson('x')).toBe('x');
  });

  it('toJson keeps what JSON cannot hold in a lossy form, never throwing', () => {
    // BigInts (Prisma and pg ids) as decimal strings, wherever they are.
    expect(toJson(12345678901234567890n)).toBe('12345678901234567890');
    expect(toJson({ id: -7n, ids: [1n, Object(2n)] })).toEqual({ id: '-7', ids: ['1', '2'] });
    // A reference to an object that contains it (an HTTP response and its request) is "[Circular]";
    // an object seen twice but not inside itself is kept twice, as JSON.stringify does.
    const response: Record<string, unknown> = { status: 200 };
    response.self = response;
    response.request = { res: response, list: [response] };
    const shared = { n: 1 };
    expect(toJson({ response, a: shared, b: shared })).toEqual({
      response: { status: 200, self: '[Circular]', request: { res: '[Circular]', list: ['[Circular]'] } },
      a: { n: 1 },
      b: { n: 1 },
    });
    // Functions and symbols dropped as members, null in arrays and at the top (as undefined).
    expect(toJson(() => 1)).toBeNull();
    expect(toJson(Symbol('s'))).toBeNull();
    expect(toJson({ f: () => 1, s: Symbol('s'), u: undefined, list: [() => 1, undefined] })).toEqual({ list: [null, null] });
    // toJSON is honoured; one that throws (or a getter that does) leaves a note, not an exception.
    expect(toJson({ when: new Date(0), bad: { toJSON: () => { throw new Error('boom'); } } })).toEqual({ when: '1970-01-01T00:00:00.000Z', bad: '[Unserializable: boom]' });
    const getter = Object.defineProperty({}, 'x', { enumerable: true, get: () => { throw new Error('no'); } });
    expect(toJson(getter)).toEqual({ x: '[Unserializable: no]' });
  });

  it('toJson cuts what is nested deeper than a thread holds', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 300; i++) deep = { d: deep };
    let json = toJson(deep) as Record<string, unknown>;
    let depth = 0;
    while (typeof json === 'object') {
      json = json.d as Record<string, unknown>;
      depth++;
    }
    expect(depth).toBe(256);
    expect(json).toBe('[Too deep]');
  });

  it('run returns a lossy JSON form of what JSON cannot hold (the tool ran: its result is not lost)', async () => {
    const big = tool({ name: 'big', description: 'd', input: z.object({}), run: () => ({ id: 10n ** 20n }) });
    expect(await big.run({}, context)).toEqual({ id: '100000000000000000000' });
  });

  it('refuses bad names, non-object inputs and non-positive timeouts', () => {
    const base = { description: 'd', input: z.object({}), run: () => null };
    expect(() => tool({ ...base, name: 'has space' })).toThrow(ConfigError);
    expect(() => tool({ ...base, name: '' })).toThrow(ConfigError);
    expect(() => tool({ ...base, name: 'x'.repeat(65) })).toThrow(ConfigError);
    expect(() => tool({ ...base, name: 'ok', input: z.string() })).toThrow(/zod object/);
    expect(() => tool({ ...base, name: 'ok', timeoutMs: 0 })).toThrow(ConfigError);
  });
});

describe('tool() and agent(): a schema JSON Schema cannot express', () => {
  const base = { description: 'd', run: () => null };
  /** Fields the model would be shown as `{}` (anything) and never get past validation. */
  const cases: [string, z.ZodType, string, RegExp][] = [
    ['a date', z.object({ when: z.date() }), 'when', /z\.date\(\) has no JSON Schema; use z\.iso\.datetime\(\)/],
    ['a coerced date', z.object({ when: z.coerce.date() }), 'when', /z\.coerce\.date\(\) has no JSON Schema; use z\.iso\.datetime\(\)/],
    ['a bigint', z.object({ n: z.bigint() }), 'n', /z\.bigint\(\) has no JSON Schema; use /],
    ['a map', z.object({ m: z.map(z.string(), z.number()) }), 'm', /z\.map\(\) has no JSON Schema; use z\.record\(/],
    ['a set', z.object({ s: z.set(z.string()) }), 's', /z\.set\(\) has no JSON Schema; use z\.array\(/],
    ['a custom type', z.object({ c: z.custom<string>((v) => typeof v === 'string') }), 'c', /z\.custom\(\) \(or z\.instanceof\(\)\) has no JSON Schema/],
    ['an instanceof', z.object({ c: z.instanceof(URL) }), 'c', /z\.custom\(\) \(or z\.instanceof\(\)\) has no JSON Schema/],
    ['a function', z.object({ f: z.function() }), 'f', /z\.function\(\) has no JSON Schema/],
    ['undefined', z.object({ u: z.undefined() }), 'u', /z\.undefined\(\) has no JSON Schema; make the field \.optional\(\)/],
    ['a BigInt literal', z.object({ v: z.literal(5n) }), 'v', /a BigInt literal has no JSON Schema/],
    ['a date deep in arrays and optionals', z.object({ items: z.array(z.object({ at: z.date().optional() })) }), 'items[].at', /z\.date\(\)/],
    ['a date in a record', z.object({ byDay: z.record(z.string(), z.date()) }), 'byDay[*]', /z\.date\(\)/],
    ['a date in a union', z.object({ when: z.union([z.string(), z.date()]) }), 'when', /z\.date\(\)/],
    ['a date in a tuple', z.object({ range: z.tuple([z.string(), z.date()]) }), 'range[1]', /z\.date\(\)/],
  ];

  it.each(cases)('tool() refuses %s, naming the tool, the field and what to use', (_name, input, path, hint) => {
    const define = () => tool({ ...base, name: 'sched', input });
    expect(define).toThrow(ConfigError);
    expect(define).toThrow(/^tool sched: /);
    expect(define).toThrow(`${path}: `);
    expect(define).toThrow(hint);
  });

  it("agent() takes a coerced date or bigint in its input, as it did: a launch's JSON string becomes the value (review)", async () => {
    const dated = agent({ name: 'dated', description: 'd', prompt: 'p', tools: [], input: z.object({ when: z.coerce.date(), n: z.coerce.bigint() }) });
    expect(dated.input!.safeParse({ when: '2026-01-01T00:00:00.000Z', n: '12' })).toMatchObject({ success: true, data: { when: new Date('2026-01-01T00:00:00.000Z'), n: 12n } });
  });

  it.each(cases.filter(([name]) => name !== 'a coerced date'))('agent() refuses an input with %s, naming the agent and the field', (_name, input, path, hint) => {
    const define = () => agent({ name: 'sched', description: 'd', prompt: 'p', tools: [], input });
    expect(define).toThrow(ConfigError);
    expect(define).toThrow(/^agent sched: /);
    expect(define).toThrow(`${path}: `);
    expect(define).toThrow(hint);
  });

  it('names every such field at once, and a whole input that is one (an agent may take any input)', () => {
    expect(() => tool({ ...base, name: 'two', input: z.object({ a: z.date(), b: z.bigint() }) })).toThrow(/a: z\.date\(\).*; b: z\.bigint\(\)/);
    expect(() => agent({ name: 'whole', description: 'd', prompt: 'p', tools: [], input: z.date() })).toThrow(/^agent whole: .*\(root\): z\.date\(\)/);
  });

  it('accepts what the hints suggest, which the model is shown with a type and which parse to what the author wanted', () => {
    const when = z.iso.datetime().pipe(z.coerce.date());
    const n = z.string().regex(/^-?\d+$/).pipe(z.coerce.bigint());
    const t = tool({ ...base, name: 'sched', input: z.object({ when, at: z.iso.datetime(), n, tags: z.array(z.string()), byKey: z.record(z.string(), z.number()) }) });
    const props = t.parameters.properties as Record<string, Record<string, unknown>>;
    for (const key of ['when', 'at', 'n', 'tags', 'byKey']) expect(props[key]!.type).toBeDefined();
    const parsed = t.parse({ when: '2025-01-01T00:00:00Z', at: '2025-01-01T00:00:00Z', n: '12345678901234567890', tags: [], byKey: {} });
    expect(parsed).toEqual({ success: true, data: expect.objectContaining({ when: new Date('2025-01-01T00:00:00Z'), n: 12345678901234567890n }) });
    // Transforms after a representable input, and z.any() / z.unknown(), stay allowed.
    expect(() => tool({ ...base, name: 'ok', input: z.object({ len: z.string().transform((s) => s.length), any: z.any(), u: z.unknown() }) })).not.toThrow();
    // A literal that allows undefined among other values is only optional.
    expect(() => tool({ ...base, name: 'ok', input: z.object({ mode: z.literal(['a', undefined]) }) })).not.toThrow();
    expect(() => agent({ name: 'ok', description: 'd', prompt: 'p', tools: [], input: z.object({ d: when }) })).not.toThrow();
  });
});

describe('agent()', () => {
  const base = { name: 'calc', description: 'does sums', prompt: 'You are {{agent}}: {{description}}.\n{{tools}}', tools: calculatorTools };

  it('normalizes defaults and appends the human-contact tools', () => {
    const a = agent(base);
    expect(a.maxSteps).toBe(12);
    expect(a.maxConsecutiveErrors).toBe(3);
    expect(a.contextBudget).toBe(6000);
    // Unset: a decision waits for the model's own timeout plus 5 s (60 s for a model that says none).
    expect(a.decideTimeoutMs).toBeUndefined();
    expect(a.backoff).toEqual({ initialMs: 1000, factor: 2, maxMs: 30_000, jitter: 0.2 });
    expect(a.prefetch).toEqual([]);
    expect(a.tools.map((t) => t.name)).toEqual(['add', 'subtract', 'multiply', 'divide', 'request_human_input', 'done_for_now']);
    expect(a.toolsByName.get('divide')).toBe(calculatorTools[3]);
    expect(a.prompt.includesContext).toBe(false);
  });

  it('enforces maxSteps from 3 to 20', () => {
    expect(agent({ ...base, maxSteps: 3 }).maxSteps).toBe(3);
    expect(agent({ ...base, maxSteps: 20 }).maxSteps).toBe(20);
    for (const maxSteps of [2, 21, 0, 3.5, Number.NaN]) {
      expect(() => agent({ ...base, maxSteps })).toThrow(ConfigError);
    }
    expect(() => agent({ ...base, maxSteps: 50 })).toThrow(/pipeline/);
  });

  it('refuses duplicate tools, including one named like a built-in', () => {
    expect(() => agent({ ...base, tools: [add, add] })).toThrow(/two tools are named add/);
    const shadow = tool({ name: 'done_for_now', description: 'd', input: z.object({}), run: () => null });
    expect(() => agent({ ...base, tools: [shadow] })).toThrow(/done_for_now/);
  });

  it('refuses bad names, duplicate prefetch steps and bad options', () => {
    for (const name of ['Calc', '1calc', 'calc.v2', '', 'a'.repeat(65)]) {
      expect(() => agent({ ...base, name })).toThrow(ConfigError);
    }
    expect(agent({ ...base, name: 'calc_v2-b' }).name).toBe('calc_v2-b');
    const step = { name: 'p', run: () => 1 };
    expect(() => agent({ ...base, prefetch: [step, step] })).toThrow(/two prefetch steps/);
    expect(() => agent({ ...base, maxConsecutiveErrors: 0 })).toThrow(ConfigError);
    expect(() => agent({ ...base, maxConsecutiveRateLimits: 0 })).toThrow(/maxConsecutiveRateLimits must be a positive integer/);
    expect(agent(base).maxConsecutiveRateLimits).toBe(10);
    expect(() => agent({ ...base, backoff: { jitter: 2 } })).toThrow(ConfigError);
  });

  it('refuses a prompt template with an unknown variable', () => {
    expect(() => agent({ ...base, prompt: 'Hello {{user}}' })).toThrow(/unknown variable \{\{user\}\}/);
    expect(() => agent({ ...base, prompt: new URL('./missing-prompt.md', import.meta.url) })).toThrow(/cannot read prompt template/);
  });

  it('refuses a prompt given as a path string (it would be the prompt text), naming the URL form to use', () => {
    for (const path of ['./prompt.md', 'agents/support/prompt.md', 'prompt.txt']) {
      expect(() => agent({ ...base, prompt: path })).toThrow(`prompt "${path}" looks like a file path`);
      expect(() => agent({ ...base, prompt: path })).toThrow(`new URL('${path}', import.meta.url)`);
    }
    // Text stays text, even text that mentions a file.
    expect(agent({ ...base, prompt: 'Read the notes in notes.md before answering.' }).prompt.text).toBe('Read the notes in notes.md before answering.');
  });

  it('drops empty secrets', () => {
    expect(agent({ ...base, secrets: ['', 'abcd'] }).secrets).toEqual(['abcd']);
  });
});

describe('prompt templates', () => {
  it('renders the known variables and records whether the context is placed', () => {
    const template = promptTemplate('{{ agent }} / {{description}} / {{tools}} / {{context}}');
    expect(template.includesContext).toBe(true);
    expect(template.render({ agent: 'a', description: 'b', tools: '- t', context: '<input/>' })).toBe('a / b / - t / <input/>');
  });

  it('hashes the rendered prompt', () => {
    expect(promptHash('x')).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(promptHash('x')).toBe(promptHash('x'));
    expect(promptHash('x')).not.toBe(promptHash('y'));
  });
});
