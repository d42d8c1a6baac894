import { estimateTokens } from '../context/renderContext.js';
import { checkNumber, ConfigError, describeValue, messageOf } from '../errors.js';
import type { Model, ModelFailure, ModelRequest, ModelResult } from './model.js';

/** One scripted answer. */
export type ScriptedReply =
  /**
   * A tool call with these arguments, serialized for you. Any object type is taken (an `interface`
   * too, which has no index signature); checked at run time to be a plain object of JSON values
   * (strings, finite numbers, booleans, null, arrays and plain objects of them), when the script
   * is made, or a stand-in's reply when it answers. A member that is `undefined` is left out, as
   * `JSON.stringify` does (so the two literals of an inline `cond ? {...} : {...}`, which
   * TypeScript gives each other's members as `undefined`, type-check as written). Refused, naming
   * the member: a function, a symbol, a BigInt, NaN or an infinity, a class instance (a `Date`, a
   * `Map`), `undefined` in an array, a cycle, and args that are an array themselves.
   */
  | { intent: string; args?: object }
  /** A raw tool call, e.g. with broken JSON arguments. */
  | { toolCall: { name: string; arguments: string } }
  /** A text answer (should hold JSON with an "intent"). */
  | { text: string }
  /** A failure, as an HTTP error or a timeout. */
  | { error: ModelFailure }
  /** Never answers until the request's signal aborts (to test decision timeouts). */
  | { hang: true };

/** A step of a script: a reply, or a function of the request that returns one. */
export type ScriptStep = ScriptedReply | ((request: ModelRequest) => ScriptedReply);

/** A model that answers from a script, for testing agents without a network. */
export interface ScriptedModel extends Model {
  /**
   * The requests received, in order: the most recent `keepRequests` of them (1000 by default).
   * Past that many calls its length no longer counts them and `requests[0]` is not the first:
   * count calls with `requestCount`.
   */
  readonly requests: readonly ModelRequest[];
  /** How many calls it has answered in all (not bounded by `keepRequests`). */
  readonly requestCount: number;
  /** Replies not used yet. */
  remaining(): number;
}

/** Options of {@link scriptedModel}. */
export interface ScriptedModelOptions {
  /** @default 'scripted' */
  name?: string | undefined;
  /**
   * What to answer once the script is used up (a reply, or a function of the request: a stand-in
   * that answers every thread). The default fails at once: a failure that is not retried (an HTTP
   * 400), so the agent escalates to a human straight away with the
   * message `script exhausted: scripted model <name> has no reply left ...`, instead of backing
   * off (which, on a `SimulatedClock`, waits until the test moves the clock). To have it retried as
   * a flaky endpoint's would be, give `{ error: { kind: 'http', status: 500, message: '...' } }`.
   * @default a failure, not retried, that says the script is used up
   */
  whenExhausted?: ScriptStep | undefined;
  /**
   * How many of the most recent requests `requests` keeps: a stand-in served for days (as the README's
   * config does until a real model is set) holds no more than these, each with its prompt and context.
   * @default 1000
   */
  keepRequests?: number | undefined;
}

const DEFAULT_KEEP_REQUESTS = 1000;

/**
 * The HTTP status of the failures that mean the test's own script is wrong (it ran out, or a
 * stand-in function of it threw): a 4xx, which an agent does not retry (it escalates at once).
 */
const SCRIPT_FAILURE_STATUS = 400;

/**
 * A model that replies from a script, in order: what users import to test their own agents.
 * A step that is a function and throws (a bug in the test's stand-in) is answered as a failure
 * that is not retried, `stand-in of scripted model <name> threw: <message>`, so the agent
 * escalates at once with it instead of retrying and letting the next reply hide it.
 *
 * @example
 * ```ts
 * const model = scriptedModel([
 *   { intent: 'add', args: { a: 1, b: 2 } },
 *   { intent: 'done_for_now', args: { message: '3' } },
 * ]);
 * ```
 */
export function scriptedModel(script: readonly ScriptStep[], options: ScriptedModelOptions = {}): ScriptedModel {
  const { name = 'scripted', keepRequests = DEFAULT_KEEP_REQUESTS } = options;
  checkNumber(`scriptedModel ${name}`, 'keepRequests', keepRequests, 'a non-negative integer', (n) => Number.isSafeInteger(n) && n >= 0);
  const whenExhausted: ScriptStep = options.whenExhausted ?? {
    error: { kind: 'http', status: SCRIPT_FAILURE_STATUS, message: `script exhausted: scripted model ${name} has no reply left (give it more, or a whenExhausted reply)` },
  };
  script.forEach((step, i) => checkArgs(step, `script step ${i + 1}`));
  checkArgs(whenExhausted, 'whenExhausted');
  const requests: ModelRequest[] = [];
  let index = 0;
  let count = 0;
  return {
    name,
    requests,
    get requestCount() {
      return count;
    },
    remaining: () => Math.max(0, script.length - index),
    async complete(request: ModelRequest): Promise<ModelResult> {
      count++;
      requests.push(request);
      if (requests.length > keepRequests) requests.shift();
      const step = index < script.length ? script[index++]! : whenExhausted;
      const reply = typeof step === 'function' ? standIn(step, request, name) : step;
      const prompt = estimateTokens(request.system) + estimateTokens(request.context);
      if ('hang' in reply) {
        return new Promise((resolve) => {
          const done = () => resolve({ success: false, error: { kind: 'timeout', message: 'aborted' } });
          if (request.signal.aborted) done();
          else request.signal.addEventListener('abort', done, { once: true });
        });
      }
      if ('error' in reply) return { success: false, error: reply.error };
      if ('text' in reply) {
        return { success: true, data: { text: reply.text, usage: { prompt, completion: estimateTokens(reply.text) }, model: name } };
      }
      const toolCall = 'toolCall' in reply ? reply.toolCall : { name: reply.intent, arguments: JSON.stringify(reply.args ?? {}) };
      return {
        success: true,
        data: { toolCall, usage: { prompt, completion: estimateTokens(toolCall.arguments) + 1 }, model: name },
      };
    },
  };
}

/**
 * What a step that is a function answers; its throw, or args that are not JSON (bugs in the
 * test), as a failure that is not retried.
 */
function standIn(step: (request: ModelRequest) => ScriptedReply, request: ModelRequest, name: string): ScriptedReply {
  const failure = (message: string): ScriptedReply => ({ error: { kind: 'http', status: SCRIPT_FAILURE_STATUS, message: `stand-in of scripted model ${name} ${message}` } });
  let reply: ScriptedReply;
  try {
    reply = step(request);
  } catch (error) {
    return failure(`threw: ${messageOf(error)}`);
  }
  const problem = 'intent' in reply && reply.args !== undefined ? argsProblem(reply.args) : undefined;
  return problem === undefined || !('intent' in reply) ? reply : failure(`answered ${reply.intent} with args that are not JSON: ${problem}`);
}

/** Refuses, with a {@link ConfigError} naming `where`, a scripted tool call whose args are not JSON. */
function checkArgs(step: ScriptStep, where: string): void {
  if (typeof step === 'function' || !('intent' in step) || step.args === undefined) return;
  const problem = argsProblem(step.args);
  if (problem !== undefined) throw new ConfigError(`${where} (${step.intent}): ${problem}; args are a plain object of JSON values (strings, finite numbers, booleans, null, arrays and plain objects of them; a member that is undefined is left out)`);
}

/** What in `args` is not JSON (`args.at is an instance of Date`), or undefined when they are a plain object of JSON. */
function argsProblem(args: object): string | undefined {
  return Array.isArray(args) ? 'args is an array' : notJsonAt(args, 'args', new Set());
}

/** Nesting a thread holds (`isJson`): objects and arrays at depths 0 to 255. */
const MAX_DEPTH = 256;

function notJsonAt(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${describeValue(value)}`;
    case 'object':
      return value === null ? undefined : notJsonObjectAt(value, path, ancestors);
    default:
      return `${path} is ${describeValue(value)}`;
  }
}

function notJsonObjectAt(value: object, path: string, ancestors: Set<object>): string | undefined {
  if (ancestors.has(value)) return `${path} is a cycle (it holds itself)`;
  if (ancestors.size >= MAX_DEPTH) return `${path} is nested deeper than ${MAX_DEPTH} levels`;
  const isArray = Array.isArray(value);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (!isArray && prototype !== Object.prototype && prototype !== null) return `${path} is ${describeValue(value)}`;
  const members = isArray ? value.map((item: unknown, i) => [`[${i}]`, item] as const) : Object.entries(value).map(([key, m]) => [`.${key}`, m] as const);
  ancestors.add(value);
  try {
    for (const [at, member] of members) {
      // An object's undefined member is left out, as JSON.stringify does; in an array it would read null.
      const problem = member === undefined ? (isArray ? `${path}${at} is undefined (in an array)` : undefined) : notJsonAt(member, path + at, ancestors);
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}
