import { z } from 'zod';
import { ConfigError, describeValue } from '../errors.js';

type JsonSchema = Record<string, unknown>;

/** A tool's input as the model is offered it: its JSON Schema, and whether it is sent strict. */
export interface ToolParameters {
  /**
   * The strict form ({@link toStrictJsonSchema}) when `strict`, else the plain JSON Schema (draft 7)
   * of what the input takes: optional properties stay optional, defaults and records' value schemas
   * stay, a plain `z.object()` is closed (the tool refuses unknown keys), a loose or catchall object
   * keeps what it takes beyond its properties.
   */
  readonly parameters: JsonSchema;
  /** Whether OpenAI's strict mode takes this input (see {@link strictModeProblems}). */
  readonly strict: boolean;
}

/**
 * Throws a {@link ConfigError} `<what> must be a zod 4 <kind> (got a zod 3 schema)` unless `value` is
 * a zod 4 schema (of zod or zod/mini, from any copy of zod 4: what zod 4's functions read is its
 * `_zod.def`). Call it before a schema meets zod's functions (its JSON Schema, its parse): there a
 * zod 3 schema (`zod/v3`) or a plain object fails inside zod (`Cannot read properties of undefined
 * (reading 'def')`), naming neither the definition nor the cause. A config file is loaded without
 * a type check, and zod 3 is what many tool examples show.
 */
export function checkZod4Schema(value: unknown, what: string, kind: 'schema' | 'object schema' = 'schema'): asserts value is z.ZodType {
  if (isZod4Schema(value)) return;
  throw new ConfigError(`${what} must be a zod 4 ${kind} (got ${isZod3Schema(value) ? 'a zod 3 schema' : describeValue(value)})`);
}

function isZod4Schema(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const internals = (value as { _zod?: { def?: unknown } })._zod;
  return typeof internals === 'object' && internals !== null && typeof internals.def === 'object' && internals.def !== null;
}

function isZod3Schema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && '_def' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

/**
 * The JSON Schema a tool's input is offered with: the strict form when OpenAI's strict mode takes
 * the input, else its plain JSON Schema, sent with `strict: false`, which admits what zod admits
 * (a record's entries, a loose object's extra keys, a URL...) where the strict form would be refused
 * with a 400 or admit nothing.
 */
export function toToolParameters(schema: z.ZodType): ToolParameters {
  const raw = rawJsonSchema(schema);
  if (strictModeProblems(raw).length > 0) return { parameters: closePlainObjects(raw), strict: false };
  return { parameters: strictify(raw), strict: true };
}

/**
 * zod -> JSON Schema in the strict form OpenAI-compatible structured outputs require: every object
 * closes `additionalProperties` and lists every property as required; optional properties become
 * nullable instead (their nulls are dropped again before validation, see {@link dropNullsAt}); a
 * `oneOf` (a discriminated union, whose members exclude each other already) becomes an `anyOf`.
 * Meant for an input {@link strictModeProblems} finds nothing in.
 */
export function toStrictJsonSchema(schema: z.ZodType): JsonSchema {
  return strictify(rawJsonSchema(schema));
}


function rawJsonSchema(schema: z.ZodType): JsonSchema {
  const raw = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
  delete raw.$schema;
  return raw;
}

/**
 * The keywords OpenAI's strict mode takes (its documented subset of JSON Schema: the types, `anyOf`,
 * `enum`/`const`, `$ref` with definitions; `pattern` and the formats below for strings; `minimum`,
 * `maximum`, their exclusive forms and `multipleOf` for numbers; `minItems`/`maxItems` for arrays),
 * plus what the strict form rewrites (`default` is dropped, `oneOf` becomes `anyOf`), annotations
 * (`description`, `title`) and the string lengths (listed as unsupported for fine-tuned models only).
 */
const STRICT_KEYWORDS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'anyOf', 'oneOf', 'enum', 'const',
  '$ref', 'definitions', '$defs', 'description', 'title', 'default', 'pattern', 'format', 'minLength',
  'maxLength', 'multipleOf', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minItems', 'maxItems',
]);

/** The string formats OpenAI's strict mode takes. */
const STRICT_FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);

/**
 * Why OpenAI's strict mode would refuse the JSON Schema `raw` (zod's, before the strict rewrite), or
 * could send nothing its zod schema takes: each as `<field path>: <what>`; none when it takes it.
 * Refused: a record or a loose or catchall object (keys beyond the properties: the strict form closes
 * every object), a value of no type (`z.any()`, `z.unknown()`), a tuple (positional `items`), a
 * format other than those listed, and any keyword outside the documented subset (`propertyNames`,
 * `allOf`, `not`, `examples`...).
 */
export function strictModeProblems(raw: JsonSchema): string[] {
  const problems: string[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    const schema = node as JsonSchema;
    const at = fieldPath(path);
    for (const key of Object.keys(schema)) {
      if (!STRICT_KEYWORDS.has(key)) problems.push(`${at}: ${key} is not supported in strict mode`);
    }
    if (!['type', 'anyOf', 'oneOf', '$ref', 'enum', 'const'].some((key) => key in schema)) problems.push(`${at}: any value (no type)`);
    if (typeof schema.format === 'string' && !STRICT_FORMATS.has(schema.format)) problems.push(`${at}: the format ${schema.format} is not supported in strict mode`);
    if ('additionalProperties' in schema && schema.additionalProperties !== false) {
      problems.push(`${at}: keys beyond its properties (a record, a loose or catchall object)`);
    }
    if (Array.isArray(schema.items)) problems.push(`${at}: a tuple (items by position)`);
    else visit(schema.items, [...path, 'items']);
    if (schema.additionalProperties !== false) visit(schema.additionalProperties, [...path, 'additionalProperties']);
    for (const key of ['properties', 'definitions', '$defs']) {
      const children = schema[key];
      if (children !== null && typeof children === 'object') {
        for (const [name, child] of Object.entries(children)) visit(child, key === 'properties' ? [...path, key, name] : [key]);
      }
    }
    for (const key of ['anyOf', 'oneOf']) {
      const members = schema[key];
      if (Array.isArray(members)) members.forEach((member, i) => visit(member, [...path, key, i]));
    }
  };
  visit(raw, []);
  return problems;
}

/** `raw` with `additionalProperties: false` on every object that says nothing of other keys (a plain z.object()). */
function closePlainObjects(node: unknown, inAllOf = false): JsonSchema {
  if (node === null || typeof node !== 'object') return node as JsonSchema;
  if (Array.isArray(node)) return node.map((item) => closePlainObjects(item, inAllOf)) as unknown as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' || key === 'definitions' || key === '$defs') {
      out[key] = Object.fromEntries(Object.entries(value as JsonSchema).map(([name, child]) => [name, closePlainObjects(child)]));
    } else if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples' || key === 'required') {
      out[key] = value; // values, not schemas
    } else {
      out[key] = closePlainObjects(value, key === 'allOf');
    }
  }
  // The members of an allOf each see the others' keys: closing one would refuse them.
  if (!inAllOf && (out.type === 'object' || out.properties !== undefined) && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

/**
 * The parts of an input schema JSON Schema cannot express (`z.date()`, `z.bigint()`, `z.map()`,
 * `z.custom()`...), each as `<field path>: <what it is and what to use instead>`; none for a schema
 * JSON Schema carries whole. zod would show such a part as `{}` (any value) to a model (whose strict
 * mode wants a type) and to whoever reads an agent's input schema, while what they send is JSON,
 * which such a part rarely accepts: a definition refuses them instead. A field that allows
 * `undefined` among other values (`z.literal([undefined, 'a'])`) is not one: it is simply optional.
 * With `coerced` (an agent's input, which a launch's JSON reaches as is), a coerced part
 * (`z.coerce.date()`, `z.coerce.bigint()`) is taken: it takes the JSON string a launch sends.
 */
export function unrepresentableParts(schema: z.ZodType, options: { coerced?: boolean } = {}): string[] {
  const parts: string[] = [];
  z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-7',
    unrepresentable: (ctx) => {
      const { def } = ctx.zodSchema._zod;
      const onlyOptional = def.type === 'literal' && ctx.message.includes('`undefined`') && def.values.some((value) => value !== undefined);
      const taken = options.coerced === true && (def as { coerce?: boolean }).coerce === true;
      if (!onlyOptional && !taken) parts.push(`${fieldPath(ctx.path)}: ${problemOf(def, ctx.message)}`);
      return 'any';
    },
  });
  return parts;
}

/** What a part JSON Schema cannot express is, and what to use instead. */
function problemOf(def: { readonly type: string; readonly coerce?: boolean }, message: string): string {
  switch (def.type) {
    case 'date':
      return `${def.coerce === true ? 'z.coerce.date()' : 'z.date()'} has no JSON Schema; use z.iso.datetime() (an ISO 8601 string), or z.iso.datetime().pipe(z.coerce.date()) for a Date`;
    case 'bigint':
      return `${def.coerce === true ? 'z.coerce.bigint()' : 'z.bigint()'} has no JSON Schema; use z.int() (a safe integer), or z.string().regex(/^-?\\d+$/).pipe(z.coerce.bigint()) for a BigInt`;
    case 'map':
      return 'z.map() has no JSON Schema; use z.record(keys, values) (an object)';
    case 'set':
      return 'z.set() has no JSON Schema; use z.array() (an array)';
    case 'custom':
      return 'z.custom() (or z.instanceof()) has no JSON Schema; describe the value with the types JSON has (z.object(), z.string()...) and .refine() it';
    case 'function':
    case 'symbol':
    case 'promise':
      return `z.${def.type}() has no JSON Schema: a model or a launch sends only JSON`;
    case 'undefined':
    case 'void':
      return `z.${def.type}() has no JSON Schema; make the field .optional()`;
    case 'literal':
      return /BigInt/.test(message)
        ? 'a BigInt literal has no JSON Schema; use a number or a string literal'
        : 'z.literal(undefined) has no JSON Schema; make the field .optional()';
    case 'nan':
      return 'z.nan() has no JSON Schema; use z.number() or z.null()';
    case 'transform':
      return 'a transform has no JSON Schema of what it takes; start from a schema of that JSON (z.string().transform(...))';
    default:
      return message;
  }
}

/**
 * The field a JSON Schema path points at: `items[].at` (an array's items), `range[1]` (a tuple's),
 * `byDay[*]` (a record's values), `(root)` for the whole input; a union's members are their field.
 */
function fieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const next = path[i + 1];
    if (segment === 'properties' && next !== undefined) {
      out += out === '' ? String(next) : `.${next}`;
      i++;
    } else if (segment === 'items' || segment === 'prefixItems') {
      if (typeof next === 'number') {
        out += `[${next}]`;
        i++;
      } else out += '[]';
    } else if (segment === 'additionalProperties' || segment === 'additionalItems') {
      out += '[*]';
    } else if (typeof next === 'number' && (segment === 'anyOf' || segment === 'oneOf' || segment === 'allOf')) {
      i++;
    }
  }
  return out === '' ? '(root)' : out;
}

function strictify(node: unknown): JsonSchema {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return node as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default') continue; // strict mode rejects defaults; zod applies them on parse
    if (key === 'oneOf' && Array.isArray(value)) {
      // Strict mode takes anyOf only; zod validates the exclusivity on parse.
      out.anyOf = value.map((item) => strictify(item));
    } else if (key === 'properties' && value && typeof value === 'object') {
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
 * `schema` with every plain `z.object()` (one that strips the keys it does not list) refusing them
 * instead, as `z.strictObject()` does, wherever it is nested (objects, arrays, tuples, record values,
 * unions, optional/nullable/default wrappers, a pipe's input, lazy and recursive schemas): the
 * model is shown `additionalProperties: false` for such an object, and a key it sends anyway is an
 * error it sees, not one recorded and then silently dropped. Loose and catchall objects keep their
 * catchall (their extra keys' objects closed too); refinements, transforms and defaults are kept.
 * The members of an intersection are left as they are: each must take the other's keys.
 */
export function closedObjects(schema: z.ZodType): z.ZodType {
  return closed(schema);
}

const closedSchemas = new WeakMap<z.ZodType, z.ZodType>();

/** The fields of a zod definition this rewrites (zod's own def types are a union per kind). */
interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly catchall?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly items?: readonly z.ZodType[];
  readonly rest?: z.ZodType | null;
  readonly valueType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly in?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

function closed(schema: z.ZodType): z.ZodType {
  const known = closedSchemas.get(schema);
  if (known !== undefined) return known;
  const def = schema._zod.def as unknown as Def;
  const changed = closedDef(def);
  const out = changed === null ? schema : (schema.clone(z.core.util.mergeDefs(def, changed) as never) as z.ZodType);
  closedSchemas.set(schema, out);
  return out;
}

/** The fields of `def` to replace, or null when nothing within it changes. */
function closedDef(def: Def): Partial<Record<keyof Def, unknown>> | null {
  const same = (changed: readonly unknown[], original: readonly unknown[]) => changed.every((item, i) => item === original[i]);
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      // Lazily, each once: a recursive schema's shape refers to the object being closed.
      const lazyShape: Record<string, z.ZodType> = {};
      for (const key of Object.keys(shape)) {
        Object.defineProperty(lazyShape, key, {
          enumerable: true,
          configurable: true,
          get() {
            const value = closed(shape[key]!);
            Object.defineProperty(lazyShape, key, { value, enumerable: true, configurable: false, writable: false });
            return value;
          },
        });
      }
      return { shape: lazyShape, catchall: def.catchall === undefined ? z.never() : closed(def.catchall) };
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch': {
      const inner = closed(def.innerType!);
      return inner === def.innerType ? null : { innerType: inner };
    }
    case 'array': {
      const element = closed(def.element!);
      return element === def.element ? null : { element };
    }
    case 'tuple': {
      const items = (def.items ?? []).map(closed);
      const rest = def.rest == null ? def.rest : closed(def.rest);
      return same(items, def.items ?? []) && rest === def.rest ? null : { items, rest };
    }
    case 'record': {
      const valueType = closed(def.valueType!);
      return valueType === def.valueType ? null : { valueType };
    }
    case 'union': {
      const options = (def.options ?? []).map(closed);
      return same(options, def.options ?? []) ? null : { options };
    }
    case 'pipe': {
      // What the arguments meet is the pipe's input; its output is the author's to shape.
      const input = closed(def.in!);
      return input === def.in ? null : { in: input };
    }
    case 'lazy': {
      const getter = def.getter!;
      return { getter: () => closed(getter()) };
    }
    default:
      return null;
  }
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
