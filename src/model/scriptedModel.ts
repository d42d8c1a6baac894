import { estimateTokens } from '../context/renderContext.js';
import type { Json } from '../thread/events.js';
import type { Model, ModelFailure, ModelRequest, ModelResult } from './model.js';

/** One scripted answer. */
export type ScriptedReply =
  /** A tool call with these arguments (serialized for you). */
  | { intent: string; args?: Record<string, Json> }
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
  name?: string;
  /**
   * What to answer once the script is used up (a reply, or a function of the request: a stand-in
   * that answers every thread). @default a failure (an HTTP 500, retried as one) that says the
   * script is used up
   */
  whenExhausted?: ScriptStep;
}

/**
 * A model that replies from a script, in order: what users import to test their own agents.
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
    error: { kind: 'http', status: 500, message: `script exhausted: scripted model ${name} has no reply left (give it more, or a whenExhausted reply)` },
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
      const reply = typeof step === 'function' ? step(request) : step;
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
