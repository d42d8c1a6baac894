import type { z } from 'zod';
import { MAX_TIMER_MS } from '../clock.js';
import { checkNumber, ConfigError, formatIssues, messageOf, promiseOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Json } from '../thread/events.js';
import { checkZod4Schema, closedObjects, dropNullsAt, toToolParameters, unrepresentableParts } from './strictSchema.js';

/** What a tool's `run` receives besides its validated input. */
export interface ToolContext {
  readonly threadId: string;
  readonly callId: string;
  /**
   * `<threadId>@<incarnation>:<callId>` (the incarnation: the thread's creation instant, epoch ms in
   * base 36, so a thread deleted and launched again under its id does not reuse its earlier self's
   * keys): the same on every run of one call, so side effects can be deduplicated. A call started
   * by a version before incarnations keeps the `<threadId>:<callId>` it was recorded with.
   */
  readonly idempotencyKey: string;
  /** 1 on the first run of this call, 2 when an idempotent call is re-run after a restart. */
  readonly attempt: number;
  /** The runtime's logger, with the call bound (tool, callId); the agent's `secrets`, its model's key, secret-shaped text and secret-named fields are redacted from its lines. */
  readonly logger: Logger;
  /** Aborted when the tool times out or the thread is cancelled. */
  readonly signal: AbortSignal;
}

/** What the agent does with a decided call of this tool. */
export type ToolPolicy = 'run' | 'approval' | 'break';

/** Options of {@link tool}. */
export interface ToolOptions<TInput extends z.ZodType, TOutput> {
  /** Letters, digits, `_` and `-`, at most 64 characters. */
  name: string;
  /** What the tool does, for the model. */
  description: string;
  /**
   * The input schema, a zod object; the model sees its JSON Schema and arguments are validated with
   * it. The schema is sent strict when OpenAI's strict mode takes it, else plain, with `strict: false`
   * (a record, a loose or catchall object, `z.any()`, a tuple, a format such as `z.url()`'s: see
   * {@link Tool.strict}). A type JSON Schema cannot express (`z.date()`, `z.bigint()`, `z.map()`,
   * `z.custom()`...) is refused when the tool is defined: use `z.iso.datetime()` and the like.
   */
  input: TInput;
  /**
   * Runs the tool. What it returns is recorded as the call's result, as JSON ({@link toJson}): what
   * JSON cannot hold is kept in a lossy form (a BigInt as its decimal string, a circular reference
   * as `"[Circular]"`, functions and undefined dropped), never turned into an error, since the tool
   * has run. Only a throw (or a rejection) is the tool failing.
   */
  run: (input: z.output<TInput>, context: ToolContext) => Promise<TOutput> | TOutput;
  /**
   * Safe to run twice with the same idempotency key. After a crash between the journaled call and
   * its result, an idempotent call runs again; any other asks a human what happened (and so does
   * one past `timeoutMs`, which for an idempotent tool is an error retried after a backoff).
   * @default false
   */
  idempotent?: boolean | undefined;
  /**
   * A human must approve each call before it runs (a function decides per input; one that throws
   * counts as asking for approval).
   * @default false
   */
  approval?: boolean | ((input: z.output<TInput>) => boolean) | undefined;
  /**
   * After this tool runs, its result is the agent's final output and the loop ends.
   * @default false
   */
  breaksLoop?: boolean | undefined;
  /**
   * Time one call may take. Past it the tool's `signal` aborts and a `tool_timeout` is recorded:
   * an idempotent tool's is an error the model retries after; for any other a human is asked
   * whether to run it again (`kind: "interrupted"`): it runs again only on an approval, and its
   * own result, should it still come, is recorded all the same (and answers the question).
   * @default 30000
   */
  timeoutMs?: number | undefined;
}

/** A tool definition, normalized. */
export interface Tool {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType;
  /** JSON Schema of the input: its strict form when {@link strict}, else its plain one. */
  readonly parameters: Record<string, unknown>;
  /**
   * Whether the input is offered in strict mode: false when OpenAI's strict mode would refuse its
   * schema or admit none of some values zod takes (a record's entries, a loose or catchall object's
   * extra keys, a value of no type, a tuple, a format other than date-time, time, date, duration,
   * email, hostname, ipv4, ipv6 and uuid, a keyword outside its subset such as `allOf`).
   */
  readonly strict: boolean;
  readonly idempotent: boolean;
  readonly breaksLoop: boolean;
  readonly timeoutMs: number;
  needsApproval(input: unknown): boolean;
  /**
   * Validates raw arguments from the model: `{ success, data | error }`. A key a plain object does
   * not list is refused; with `recorded`, arguments a decision already recorded (perhaps by an
   * earlier version, which dropped such keys) are read as then: the key dropped, not refused.
   */
  parse(args: unknown, recorded?: 'recorded'): { success: true; data: unknown } | { success: false; error: string };
  run(input: unknown, context: ToolContext): Promise<Json>;
}

export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Defines a tool: a zod input schema, turned into (strict when it can be) JSON Schema for the model, and a `run`.
 *
 * @example
 * ```ts
 * const add = tool({
 *   name: 'add',
 *   description: 'Add two numbers',
 *   input: z.object({ a: z.number(), b: z.number() }),
 *   idempotent: true,
 *   run: ({ a, b }) => a + b,
 * });
 * ```
 */
export function tool<TInput extends z.ZodType, TOutput>(options: ToolOptions<TInput, TOutput>): Tool {
  const { name, description, input, idempotent = false, approval = false, breaksLoop = false, timeoutMs = 30_000 } =
    options;
  if (!TOOL_NAME.test(name)) throw new ConfigError(`tool name "${name}" must match ${TOOL_NAME}`);
  checkTimeout(`tool ${name}`, 'timeoutMs', timeoutMs);
  checkZod4Schema(input, `tool ${name}: input`, 'object schema');
  const { parameters, strict } = toToolParameters(input);
  if (parameters.type !== 'object') throw new ConfigError(`tool ${name}: input must be a zod object schema`);
  const unrepresentable = unrepresentableParts(input);
  if (unrepresentable.length > 0) {
    throw new ConfigError(`tool ${name}: its input has types JSON Schema cannot express (the model would be shown any value there, and it sends JSON): ${unrepresentable.join('; ')}`);
  }
  // Arguments are validated against what the model was shown: a key a plain object does not list is
  // refused, not stripped (the decision records the arguments as sent, and the tool must see those).
  const closedInput = closedObjects(input);
  return {
    name,
    description,
    input,
    parameters,
    strict,
    idempotent,
    breaksLoop,
    timeoutMs,
    needsApproval(value) {
      if (typeof approval !== 'function') return approval;
      try {
        return Boolean(approval(value as z.output<TInput>));
      } catch {
        // The author's rule failed: a human decides rather than nobody (it runs inside the agent's
        // actor, where a throw would stop the thread).
        return true;
      }
    },
    parse(args, recorded) {
      const schema = recorded === undefined ? closedInput : input;
      // A refinement or transform of the author's may throw: that is an invalid input too.
      try {
        let result = schema.safeParse(args);
        if (!result.success) {
          // Strict models send null for absent optional values: drop the nulls zod refused (not the
          // ones a nullable property accepts) and try once more.
          const refused = result.error.issues.map((issue) => issue.path).filter((path) => path.length > 0);
          const retry = schema.safeParse(dropNullsAt(args, refused));
          if (retry.success) result = retry;
        }
        if (result.success) return { success: true, data: result.data };
        return { success: false, error: formatIssues(result.error.issues).join('; ') };
      } catch (error) {
        return { success: false, error: `the input schema of ${name} threw: ${messageOf(error)}` };
      }
    },
    run(value, context) {
      // Not an async function, which would suspend a frame of its own on every call: the output
      // (or what its promise gives) made JSON; a throw is a rejection, as it was.
      return promiseOf(() => options.run(value as z.output<TInput>, context)).then(toJson);
    },
  };
}

/**
 * Throws a {@link ConfigError} unless `value` is a time a timer holds: positive, and at most
 * {@link MAX_TIMER_MS} (Node fires a longer timer at once).
 */
export function checkTimeout(owner: string, option: string, value: unknown): void {
  checkNumber(owner, option, value, `a positive number of milliseconds, at most ${MAX_TIMER_MS}`, (ms) => ms > 0 && ms <= MAX_TIMER_MS);
}

/**
 * Normalizes a tool's output (or a step's value) to a JSON value a thread holds, as
 * `JSON.parse(JSON.stringify(value))` would, and in a lossy form where that would throw: the value
 * was produced (a tool that returned has had its effect), so it is recorded, never lost to an error.
 *
 * - `toJSON` is honoured (a Date becomes its ISO string); boxed numbers, strings and booleans are unwrapped.
 * - undefined, functions and symbols: dropped as members, null in arrays and at the top.
 * - NaN and ±Infinity: null. A BigInt (boxed or not): its decimal string (`12n` -> `"12"`).
 * - An object inside itself (an HTTP response and its request): `"[Circular]"` where it recurs. An
 *   object met twice elsewhere is kept twice, as JSON.stringify does.
 * - An object nested deeper than a thread holds (256 levels): `"[Too deep]"`.
 * - A `toJSON` or getter that throws: `"[Unserializable: <its message>]"`.
 *
 * Never throws; what it returns passes the thread's JSON check (`isJson`).
 */
export function toJson(value: unknown): Json {
  // A string, number or boolean needs no walk (nor the holder and set it starts with).
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return scalarJson(value);
  return toJsonAt({ '': value }, '', new Set(), 0) ?? null;
}

/** Nesting a thread holds (`isJson`): objects and arrays at depths 0 to 255. */
const MAX_DEPTH = 256;

/** What `holder` holds under `key` as JSON (read here: a getter may throw); undefined for what JSON.stringify leaves out. */
function toJsonAt(holder: object, key: string, ancestors: Set<object>, depth: number): Json | undefined {
  try {
    let v = (holder as Record<string, unknown>)[key];
    if ((typeof v === 'object' && v !== null) || typeof v === 'bigint') {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, key) as unknown;
    }
    if (typeof v === 'object' && v !== null) v = unboxed(v);
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'number':
        return scalarJson(v);
      case 'bigint':
        return v.toString();
      case 'object':
        return v === null ? null : containerToJson(v, ancestors, depth);
      default:
        return undefined; // undefined, a function, a symbol
    }
  } catch (error) {
    return `[Unserializable: ${messageOf(error)}]`;
  }
}

/** A string, number or boolean as JSON: a number that is not finite is null, -0 is 0 (as JSON.stringify writes them). */
function scalarJson(value: string | number | boolean): Json {
  return typeof value === 'number' ? (Number.isFinite(value) ? value + 0 : null) : value;
}

/** The primitive a boxed number, string, boolean or BigInt holds; any other object as it is. */
function unboxed(value: object): unknown {
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) return value.valueOf();
  return value;
}

function containerToJson(value: object, ancestors: Set<object>, depth: number): Json {
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Too deep]';
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const out: Json[] = [];
      for (let i = 0; i < value.length; i++) out.push(toJsonAt(value, String(i), ancestors, depth + 1) ?? null);
      return out;
    }
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value)) {
      const item = toJsonAt(value, key, ancestors, depth + 1);
      if (item === undefined) continue;
      // An own "__proto__" key (JSON.parse makes one) is defined: assigning it would set the prototype.
      if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
      else out[key] = item;
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}
