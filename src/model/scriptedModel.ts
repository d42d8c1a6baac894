import { estimateTokens } from '../context/renderContext.js';
import type { Json } from '../thread/events.js';
import type { Model, ModelFailure, ModelRequest, ModelResult } from './model.js';

/** One scripted answer. */
export type ScriptedReply =
  /**
   * A tool call with these arguments (serialized for you, as `JSON.stringify` does: a member that
   * is `undefined` is left out, so the two literals of an inline `cond ? {...} : {...}`, which
   * TypeScript gives each other's members as `undefined`, type-check as written).
   */
  | { intent: string; args?: Record<string, Json | undefined> }
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
  /** Every request received, in order. */
  readonly requests: readonly ModelRequest[];
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
}

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
  const { name = 'scripted' } = options;
  const whenExhausted: ScriptStep = options.whenExhausted ?? {
    error: { kind: 'http', status: SCRIPT_FAILURE_STATUS, message: `script exhausted: scripted model ${name} has no reply left (give it more, or a whenExhausted reply)` },
  };
  const requests: ModelRequest[] = [];
  let index = 0;
  return {
    name,
    requests,
    remaining: () => Math.max(0, script.length - index),
    async complete(request: ModelRequest): Promise<ModelResult> {
      requests.push(request);
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

/** What a step that is a function answers; its throw (a bug in the test) as a failure that is not retried. */
function standIn(step: (request: ModelRequest) => ScriptedReply, request: ModelRequest, name: string): ScriptedReply {
  try {
    return step(request);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { error: { kind: 'http', status: SCRIPT_FAILURE_STATUS, message: `stand-in of scripted model ${name} threw: ${message}` } };
  }
}
