/**
 * An in-process {@link Model} that answers the bench task instantly with the fake server's own
 * {@link benchHandler}: no HTTP, no SDK. A switchyard run on it measures the framework alone.
 */
import type { Model, ModelRequest, ModelResult } from '../src/model/model.js';
import { benchHandler, type ChatRequestBody } from '../test/support/fakeOpenAIServer.js';

/** Builds the instant bench model. */
export function instantBenchModel(): Model {
  return {
    name: 'instant',
    async complete(request: ModelRequest): Promise<ModelResult> {
      const body: ChatRequestBody = {
        model: 'instant',
        messages: [
          { role: 'system', content: request.system },
          { role: 'user', content: request.context },
        ],
        tools: request.tools.map((t) => ({ type: 'function', function: { name: t.name } })),
      };
      const reply = await benchHandler(body, 0);
      const usage = { prompt: 0, completion: 0 };
      if ('toolCall' in reply) return { success: true, data: { toolCall: reply.toolCall, usage, model: 'instant' } };
      if ('content' in reply) return { success: true, data: { text: reply.content, usage, model: 'instant' } };
      return { success: false, error: { kind: 'http', message: 'unexpected bench reply' } };
    },
  };
}
