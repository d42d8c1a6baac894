import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/**
 * zod -> JSON Schema in the strict form OpenAI-compatible structured outputs require: every object
 * closes `additionalProperties` and lists every property as required; optional properties become
 * nullable instead (their nulls are dropped again before validation, see {@link dropNulls}).
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

/** Removes null-valued object properties, recursively: strict schemas send null for "absent". */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== null) out[key] = dropNulls(item);
    return out;
  }
  return value;
}
