import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/**
 * zod -> JSON Schema in the strict form OpenAI-compatible structured outputs require: every object
 * closes `additionalProperties` and lists every property as required; optional properties become
 * nullable instead (their nulls are dropped again before validation, see {@link dropNullsAt}).
 */
export function toStrictJsonSchema(schema: z.ZodType): JsonSchema {
  const raw = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
  delete raw.$schema;
  return strictify(raw);
}

function strictify(node: unknown): JsonSchema {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return node as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default') continue; // strict mode rejects defaults; zod applies them on parse
    if (key === 'properties' && value && typeof value === 'object') {
      const props: JsonSchema = {};
      for (const [name, prop] of Object.entries(value)) props[name] = strictify(prop);
      out.properties = props;
    } else if (Array.isArray(value)) {
      out[key] = value.map((item) => (typeof item === 'object' && item !== null ? strictify(item) : item));
    } else if (typeof value === 'object' && value !== null) {
      out[key] = strictify(value);
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'object' || out.properties !== undefined) {
    const props = (out.properties ?? {}) as JsonSchema;
    const required = new Set(Array.isArray(out.required) ? (out.required as string[]) : []);
    for (const name of Object.keys(props)) {
      if (!required.has(name)) props[name] = { anyOf: [props[name], { type: 'null' }] };
    }
    out.properties = props;
    out.required = Object.keys(props);
    out.additionalProperties = false;
  }
  return out;
}

/**
 * Removes the null-valued properties at `paths` (the paths zod refused), keeping every other null:
 * a strict model sends null for an absent optional value, but a nullable property needs its null.
 */
export function dropNullsAt(value: unknown, paths: readonly (readonly PropertyKey[])[]): unknown {
  let out = value;
  for (const path of paths) out = dropNullAt(out, path);
  return out;
}

function dropNullAt(value: unknown, path: readonly PropertyKey[]): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return value;
  const [key, ...rest] = path;
  if (Array.isArray(value)) {
    if (typeof key !== 'number' || rest.length === 0 || key >= value.length) return value;
    const copy = [...value];
    copy[key] = dropNullAt(copy[key], rest);
    return copy;
  }
  const record = value as Record<string, unknown>;
  if (typeof key !== 'string' || !Object.hasOwn(record, key)) return value;
  if (rest.length > 0) return { ...record, [key]: dropNullAt(record[key], rest) };
  if (record[key] !== null) return value;
  const { [key]: _dropped, ...others } = record;
  return others;
}
