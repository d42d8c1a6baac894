import { ThreadEndedError, ThreadTooLargeError, VersionConflictError } from '../errors.js';
import { redactResponse } from '../context/redact.js';
import { appendEvents } from '../store/appendEvents.js';
import type { HumanResponse, Thread } from '../thread/events.js';
import { validateResponse } from '../thread/humanResponse.js';
import { deriveState } from '../thread/state.js';
import type { AgentDeps, StepInput } from './deps.js';

/**
 * Records a human's response after validating it against the open request. One too large for the
 * thread's store is refused like an invalid one: the request stays open for a smaller answer.
 */
export async function respondStep(input: StepInput, response: HumanResponse): Promise<{ thread: Thread; error?: string }> {
  const checked = validateResponse(input.state.pendingRequest, response);
  if (!checked.success) return { thread: input.thread, error: checked.error };
  try {
    return { thread: await appendEvents(input.deps, input.thread, [{ type: 'human_response', data: redactResponse(checked.data, input.agent.secrets) }], { tooLarge: false }) };
  } catch (error) {
    if (error instanceof ThreadTooLargeError) return { thread: input.thread, error: error.message };
    throw error;
  }
}

/** Each action as a refusal spells it ("cancel" + "d" is not a word). */
export const CONTROLLED = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const;

/**
 * Appends a control event (pause, resume, cancel) to the latest stored thread, retrying when
 * another writer got there first (control must land even while a step races it). One too large
 * for the store (a long reason on a thread that filled its store's reserve) is refused, the thread
 * unchanged. A thread that ended, also one that ended while this retried (the step in progress or
 * another process recorded its final first), takes no control: a {@link ThreadEndedError}
 * (`thread <id> already ended (done); it cannot be cancelled`), nothing written.
 */
export async function controlStep(
  deps: AgentDeps,
  threadId: string,
  control: { action: 'pause' | 'resume' | 'cancel'; reason?: string; by?: string },
): Promise<Thread> {
  for (let attempt = 0; ; attempt++) {
    const thread = await deps.store.get(threadId);
    if (thread === undefined) throw new Error(`thread ${threadId} vanished`);
    const ended = deriveState(thread.events).terminal;
    if (ended !== null) throw new ThreadEndedError(threadId, ended, `it cannot be ${CONTROLLED[control.action]}`);
    try {
      return await appendEvents(deps, thread, [{ type: 'control', data: control }], { tooLarge: false });
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= 10) throw error;
    }
  }
}

