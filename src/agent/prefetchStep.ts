import { redactJson } from '../context/redact.js';
import { messageOf } from '../errors.js';
import { appendEvents } from '../store/appendEvents.js';
import type { Thread } from '../thread/events.js';
import type { StepInput } from './deps.js';
import { errorEvents } from './errorEvents.js';
import { toJson } from './tool.js';

/**
 * Runs the next prefetch step and records its result (factor 13), before the thread's first
 * decision only: a thread already past it (a step a new version of the agent added) skips it.
 */
export async function prefetchStep(input: StepInput, signal: AbortSignal): Promise<Thread> {
  const { agent, thread, state, deps } = input;
  const step = agent.prefetch.find((p) => !state.prefetched.includes(p.name));
  if (step === undefined || state.totalSteps > 0) return thread;
  const inputEvent = thread.events.find((e) => e.type === 'input');
  try {
    const result = await step.run({
      threadId: thread.id,
      input: inputEvent?.type === 'input' ? inputEvent.data.input : null,
      logger: deps.logger,
      signal,
    });
    return appendEvents(deps, thread, [
      { type: 'prefetch', data: { name: step.name, ok: true, result: redactJson(toJson(result), agent.secrets) } },
    ]);
  } catch (error) {
    if (signal.aborted) throw error;
    return appendEvents(deps, thread, errorEvents(input, 'prefetch_error', `prefetch ${step.name} failed: ${messageOf(error)}`, { tool: step.name }));
  }
}

