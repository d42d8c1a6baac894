import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dropNullsAt } from '../../src/agent/strictSchema.js';
import { tool } from '../../src/agent/tool.js';

/** A tool input with optional, nullable and defaulted properties, nested in objects and arrays. */
const order = z.object({
  item: z.string(),
  quantity: z.number().int().optional(),
  note: z.string().nullable(),
  gift: z.boolean().nullable().optional(),
  shipping: z.object({ express: z.boolean().optional(), address: z.string(), floor: z.number().nullable() }).optional(),
  tags: z.array(z.object({ label: z.string(), color: z.string().optional() })),
  priority: z.enum(['low', 'high']).default('low'),
});
type Order = z.input<typeof order>;
const orderTool = tool({ name: 'order', description: 'Place an order', input: order, run: () => null });

const orderArbitrary: fc.Arbitrary<Order> = fc.record(
  {
    item: fc.string({ maxLength: 5 }),
    quantity: fc.integer(),
    note: fc.option(fc.string({ maxLength: 5 }), { nil: null }),
    gift: fc.option(fc.boolean(), { nil: null }),
    shipping: fc.record({ express: fc.boolean(), address: fc.string({ maxLength: 5 }), floor: fc.option(fc.integer(), { nil: null }) }, { requiredKeys: ['address', 'floor'] }),
    tags: fc.array(fc.record({ label: fc.string({ maxLength: 3 }), color: fc.string({ maxLength: 3 }) }, { requiredKeys: ['label'] }), { maxLength: 3 }),
    priority: fc.constantFrom('low' as const, 'high' as const),
  },
  { requiredKeys: ['item', 'note', 'tags'] },
);

/** What a strict model sends for `value`: every absent optional property as null. */
function strictForm(value: Order): Record<string, unknown> {
  const { shipping } = value;
  return {
    quantity: null,
    gift: null,
    shipping: null,
    priority: null,
    ...value,
    ...(shipping === undefined ? {} : { shipping: { express: null, ...shipping } }),
    tags: value.tags.map((tag) => ({ color: null, ...tag })),
  };
}

describe('strict arguments (property)', () => {
  it('a strict model sending null for every absent optional value gets the input of one leaving them out', () => {
    fc.assert(
      fc.property(orderArbitrary, (value) => {
        const expected = order.parse(value);
        expect(orderTool.parse(value)).toEqual({ success: true, data: expected });
        // A nullable property keeps its null (null is one of its values), optional or not.
        const keptNull = value.gift === undefined ? { ...expected, gift: null } : expected;
        expect(orderTool.parse(strictForm(value))).toEqual({ success: true, data: keptNull });
      }),
      { numRuns: 200, seed: 71 },
    );
  });

  it('tool.parse never throws on any JSON, and refuses with the paths that were wrong', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const parsed = orderTool.parse(value);
        if (!parsed.success) expect(parsed.error).toMatch(/^[^;]*: /);
        else expect(order.safeParse(value).success || order.safeParse(parsed.data).success).toBe(true);
      }),
      { numRuns: 200, seed: 72 },
    );
  });

  it('dropNullsAt removes only the null properties at the given paths, and never throws', () => {
    const key = fc.constantFrom('a', 'b', '__proto__', 'constructor');
    const path = fc.array(fc.oneof(key, fc.nat(2)), { maxLength: 3 });
    // Values whose keys the paths name often, nulls included.
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom(null, 1, 'x'), fc.dictionary(key, tie('tree'), { maxKeys: 3 }), fc.array(tie('tree'), { maxLength: 3 })),
    }));
    fc.assert(
      fc.property(fc.oneof(tree, fc.jsonValue({ maxDepth: 3 })), fc.array(path, { maxLength: 4 }), (value, paths) => {
        const input = JSON.stringify(value);
        const out = dropNullsAt(value, paths);
        expect(JSON.stringify(value)).toBe(input); // the input is not mutated
        expect(JSON.stringify(out).length).toBeLessThanOrEqual(input.length);
        expect(dropNullsAt(out, paths)).toEqual(out);
        for (const p of paths) {
          const before = at(value, p);
          const after = at(out, p);
          if (before.found && before.value === null && p.length > 0 && after.parentIsObject) expect(after.found).toBe(false);
          // Unchanged, unless another path reaches below it (or this one dropped it above).
          else if (!paths.some((q) => q.length !== p.length && isPrefix(p.length < q.length ? p : q, p.length < q.length ? q : p))) expect(after).toEqual(before);
        }
      }),
      { numRuns: 300, seed: 73 },
    );
  });
});

/** The value at `path` (own properties only), and whether its parent is a plain object. */
function at(value: unknown, path: readonly (string | number)[]): { found: boolean; value?: unknown; parentIsObject: boolean } {
  let node = value;
  let parentIsObject = false;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return { found: false, parentIsObject: false };
    parentIsObject = !Array.isArray(node);
    if (Array.isArray(node) ? typeof key !== 'number' || key >= node.length : typeof key !== 'string' || !Object.hasOwn(node, key)) {
      return { found: false, parentIsObject };
    }
    node = (node as Record<string | number, unknown>)[key];
  }
  return { found: true, value: node, parentIsObject };
}

const isPrefix = (short: readonly unknown[], long: readonly unknown[]): boolean => short.every((k, i) => long[i] === k);
