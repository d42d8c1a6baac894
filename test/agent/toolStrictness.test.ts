/**
 * Which tools are offered strict: a tool whose input OpenAI's strict mode takes (its documented
 * subset of JSON Schema) is sent in the strict form, any other in its plain JSON Schema, which
 * admits what the zod schema admits.
 */
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { humanTools } from '../../src/agent/humanTools.js';
import { tool } from '../../src/agent/tool.js';

const base = { description: 'd', run: () => null };

describe('a tool OpenAI strict mode cannot take', () => {
  it('a record keeps its value schema and takes any key', () => {
    const t = tool({ ...base, name: 'tally', input: z.object({ byKey: z.record(z.string(), z.number()), note: z.string().optional() }) });
    expect(t.strict).toBe(false);
    expect(t.parameters).toEqual({
      type: 'object',
      properties: { byKey: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'number' } }, note: { type: 'string' } },
      required: ['byKey'],
      additionalProperties: false,
    });
    expect(t.parse({ byKey: { a: 1, b: 2 } })).toEqual({ success: true, data: { byKey: { a: 1, b: 2 } } });
  });

  it('a loose or catchall object keeps taking the keys beyond its properties', () => {
    const loose = tool({ ...base, name: 'loose', input: z.looseObject({ a: z.string() }) });
    expect(loose.strict).toBe(false);
    expect(loose.parameters).toEqual({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: {} });
    const nested = tool({ ...base, name: 'nested', input: z.object({ opts: z.object({ a: z.string() }).catchall(z.number()) }) });
    expect(nested.strict).toBe(false);
    expect(nested.parameters.properties).toEqual({ opts: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: { type: 'number' } } });
    expect(nested.parse({ opts: { a: 'x', extra: 2 } })).toEqual({ success: true, data: { opts: { a: 'x', extra: 2 } } });
  });

  it('a format strict mode does not know (a URL) keeps its format, and optional fields stay optional', () => {
    const t = tool({ ...base, name: 'fetch_page', input: z.object({ url: z.url(), retries: z.number().default(2) }) });
    expect(t.strict).toBe(false);
    expect(t.parameters).toEqual({
      type: 'object',
      properties: { url: { type: 'string', format: 'uri' }, retries: { type: 'number', default: 2 } },
      required: ['url'],
      additionalProperties: false,
    });
  });

  it('an untyped value (z.any(), z.unknown(), z.json()) is sent as any value', () => {
    const t = tool({ ...base, name: 'store', input: z.object({ value: z.any(), items: z.array(z.unknown()) }) });
    expect(t.strict).toBe(false);
    expect(t.parameters.properties).toEqual({ value: {}, items: { type: 'array', items: {} } });
    expect(tool({ ...base, name: 'json', input: z.object({ doc: z.json() }) }).strict).toBe(false);
  });

  it('a tuple keeps its positions', () => {
    const t = tool({ ...base, name: 'range', input: z.object({ range: z.tuple([z.string(), z.number()]) }) });
    expect(t.strict).toBe(false);
    expect(t.parameters.properties).toEqual({ range: { type: 'array', items: [{ type: 'string' }, { type: 'number' }], additionalItems: false, minItems: 2, maxItems: 2 } });
  });

  it('the agent offers each tool with its own decision', () => {
    const page = tool({ ...base, name: 'fetch_page', input: z.object({ url: z.url() }) });
    const add = tool({ ...base, name: 'add', input: z.object({ a: z.number(), b: z.number() }) });
    const a = agent({ name: 'mixed', description: 'd', prompt: 'p', tools: [page, add] });
    expect(a.toolSpecs.map((spec) => [spec.name, spec.strict])).toEqual([
      ['fetch_page', false],
      ['add', true],
      ['request_human_input', true],
      ['done_for_now', true],
    ]);
    expect(a.toolSpecs[0]!.parameters).toEqual(page.parameters);
  });
});

describe('a tool OpenAI strict mode takes', () => {
  it('plain objects, optionals, defaults, enums and nullables stay strict, exactly as before', () => {
    const input = z.object({
      city: z.string().min(1).describe('Where'),
      days: z.number().int().min(1).max(14).optional(),
      unit: z.enum(['c', 'f']).default('c'),
      note: z.string().nullable(),
      stops: z.array(z.object({ name: z.string(), minutes: z.number().optional() })).max(5),
    });
    const t = tool({ ...base, name: 'plan', input });
    expect(t.strict).toBe(true);
    expect(t.parameters).toEqual({
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 1, description: 'Where' },
        days: { anyOf: [{ type: 'integer', minimum: 1, maximum: 14 }, { type: 'null' }] },
        unit: { anyOf: [{ type: 'string', enum: ['c', 'f'] }, { type: 'null' }] },
        note: { type: ['string', 'null'] },
        stops: {
          maxItems: 5,
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, minutes: { anyOf: [{ type: 'number' }, { type: 'null' }] } },
            required: ['name', 'minutes'],
            additionalProperties: false,
          },
        },
      },
      required: ['city', 'days', 'unit', 'note', 'stops'],
      additionalProperties: false,
    });
    for (const human of humanTools) expect(human.strict).toBe(true);
  });

  it('the formats strict mode knows stay strict', () => {
    const t = tool({ ...base, name: 'book', input: z.object({ email: z.email(), at: z.iso.datetime(), day: z.iso.date(), id: z.uuid(), host: z.ipv4() }) });
    expect(t.strict).toBe(true);
  });

  it('a discriminated union is offered as anyOf (its members exclusive already), strict', () => {
    const t = tool({
      ...base,
      name: 'act',
      input: z.object({ action: z.discriminatedUnion('kind', [z.object({ kind: z.literal('move'), to: z.string() }), z.object({ kind: z.literal('stop') })]) }),
    });
    expect(t.strict).toBe(true);
    expect(t.parameters.properties).toEqual({
      action: {
        anyOf: [
          { type: 'object', properties: { kind: { type: 'string', const: 'move' }, to: { type: 'string' } }, required: ['kind', 'to'], additionalProperties: false },
          { type: 'object', properties: { kind: { type: 'string', const: 'stop' } }, required: ['kind'], additionalProperties: false },
        ],
      },
    });
  });
});
