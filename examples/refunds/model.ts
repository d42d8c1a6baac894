import { createOpenAIModel, type Model, type ModelRequest } from 'switchyard';
import { scriptedModel, type ScriptedReply } from 'switchyard/testing';

/**
 * The project's model: an OpenAI-compatible one when the environment configures it
 * (OPENAI_API_KEY, SWITCHYARD_MODEL_API_KEY, SWITCHYARD_MODEL_BASE_URL or OPENAI_BASE_URL, and
 * SWITCHYARD_MODEL for its name), else {@link offlineModel}.
 */
export function projectModel(env: NodeJS.ProcessEnv = process.env): Model {
  const configured = Boolean(env.OPENAI_API_KEY || env.SWITCHYARD_MODEL_API_KEY || env.SWITCHYARD_MODEL_BASE_URL || env.OPENAI_BASE_URL);
  return configured ? createOpenAIModel() : offlineModel();
}

/**
 * A stand-in for an LLM, so the project runs without an API key: like a real model it is a pure
 * function of what the agent shows it (the thread in switchyard's context format), so it behaves
 * the same on any process and after any restart.
 */
export function offlineModel(): Model {
  return scriptedModel([], { name: 'refunds-offline', whenExhausted: nextStep });
}

function nextStep({ context }: ModelRequest): ScriptedReply {
  const orderId = /\bA-\d+\b/.exec(context)?.[0];
  if (orderId === undefined) return { intent: 'request_human_input', args: { question: 'Which order is it (e.g. A-1001)?' } };
  if (!context.includes('<tool_result tool="lookup_order"')) return { intent: 'lookup_order', args: { orderId } };
  // Its result, or a human saying a refund cut short by a crash took effect.
  if (context.includes('<tool_result tool="refund"') || context.includes('took_effect="true"')) return { intent: 'done_for_now', args: { message: `Your refund on order ${orderId} is on its way.` } };
  if (context.includes('approved="false"')) return { intent: 'done_for_now', args: { message: `We could not refund order ${orderId}.` } };
  const total = Number(/"total":\s*([\d.]+)/.exec(context)?.[1]);
  const asked = Number(/\$\s*([\d.]+)/.exec(context)?.[1] ?? total);
  // A judge's rejection is in the context as <rejected ...>: then keep to the policy.
  const amount = context.includes('<rejected') ? total : asked;
  return { intent: 'refund', args: { orderId, amount, reason: 'customer request' } };
}
