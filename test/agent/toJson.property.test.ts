import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toJson } from '../../src/agent/tool.js';
import { isJson, jsonSchema } from '../../src/thread/events.js';

/**
 * Whatever a tool may return: JSON, and what JSON cannot hold (BigInts, functions, undefined,
 * symbols, dates, maps, sets, typed arrays, boxed values, sparse arrays, null prototypes).
 */
const returned = fc.anything({
  maxDepth: 4,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withObjectString: true,
  values: [fc.constant(undefined), fc.constant(() => 1), fc.constant(Symbol('s')), fc.double(), fc.bigInt(), fc.string()],
});

/** The objects and arrays inside `value` (itself included), each once, depth first. */
function containers(value: unknown, out: object[] = []): object[] {
  if (value === null || typeof value !== 'object' || out.includes(value)) return out;
  out.push(value);
  for (const key of Object.keys(value)) containers((value as Record<string, unknown>)[key], out);
  return out;
}

/** `value` with back-references added: each pick links a container to one of the containers before it. */
const withCycles = fc.tuple(returned, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.string({ maxLength: 3 })), { maxLength: 4 })).map(([value, links]) => {
  const all = containers(value);
  for (const [from, to, key] of links) {
    if (all.length === 0) break;
    const holder = all[from % all.length]! as Record<string, unknown>;
    if (Object.isFrozen(holder) || ArrayBuffer.isView(holder)) continue;
    holder[`${key}_ref`] = all[Math.min(to % all.length, all.indexOf(holder))];
  }
  return value;
});

describe('toJson (property)', () => {
  it('never throws, and what it returns is JSON a thread holds', () => {
    fc.assert(
      fc.property(withCycles, (value) => {
        const json = toJson(value);
        expect(isJson(json)).toBe(true);
        expect(jsonSchema.safeParse(json).success).toBe(true);
        // Already JSON: converting again changes nothing.
        expect(toJson(json)).toEqual(json);
      }),
      { numRuns: 300 },
    );
  });

  it('is what JSON.stringify then JSON.parse give, wherever those succeed', () => {
    fc.assert(
      fc.property(returned, (value) => {
        let text: string | undefined;
        try {
          text = JSON.stringify(value);
        } catch {
          return; // a BigInt: JSON.stringify refuses it
        }
        expect(toJson(value)).toEqual(text === undefined ? null : JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps values JSON already holds as they are', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(toJson(value)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});
