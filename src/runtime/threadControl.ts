import { controlStep } from '../agent/controlStep.js';
import type { AgentDeps } from '../agent/deps.js';
import { formatIssues, InvalidInputError, InvalidStateError } from '../errors.js';
import type { Thread } from '../thread/events.js';
import { humanResponseInputSchema, validateResponse } from '../thread/humanResponse.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../thread/state.js';
import type { ThreadDriver } from './threadDriver.js';
import { viewOf, type ThreadView } from './threadView.js';

/** Who asked for a control operation and why (recorded on the event). */
export interface ControlOptions {
  reason?: string;
  by?: string;
}

/** What answering and controlling threads need from the runtime. */
export interface ControlSources {
  /** The runtime's dependencies (its store is the one listeners see). */
  readonly deps: AgentDeps;
  readonly driver: ThreadDriver;
  load(threadId: string): Promise<Thread>;
  settled(threadId: string): Promise<ThreadView>;
}

/**
 * Pauses, resumes or cancels a thread: through its running actor (resolving once it rests), else
 * by appending the control event and, for a resume, continuing the thread.
 */
export async function controlThread(sources: ControlSources, threadId: string, action: 'pause' | 'resume' | 'cancel', opts: ControlOptions): Promise<ThreadView> {
  const { driver } = sources;
  const current = viewOf(await sources.load(threadId));
  if (TERMINAL_STATUSES.includes(current.status)) {
    if (action === 'cancel' && current.status === 'cancelled') return current;
    throw new InvalidStateError(`thread ${threadId} is ${current.status}; it cannot be ${action}d`, threadId, current.status);
  }
  if (action === 'pause' && current.status === 'paused') return current;
  if (action === 'resume' && current.status !== 'paused') return current;
  if (action !== 'resume' && driver.isRunning(threadId)) {
    const done = sources.settled(threadId);
    driver.forward(threadId, action === 'pause' ? { type: 'PAUSE', ...opts } : { type: 'CANCEL', ...opts });
    return done;
  }
  if (action !== 'resume' && driver.isActive(threadId)) driver.evict(threadId);
  const written = await controlStep(sources.deps, threadId, { action, ...opts });
  if (action === 'resume') driver.continueAfterWrite(written);
  return viewOf(written);
}

/** Records a human's answer to the open request and continues the thread (see {@link Runtime.respond}). */
export async function respondToThread(sources: ControlSources, threadId: string, response: unknown): Promise<ThreadView> {
  const { store, clock, logger } = sources.deps;
  const parsed = humanResponseInputSchema.safeParse(response);
  if (!parsed.success) throw new InvalidInputError('invalid response', formatIssues(parsed.error.issues));
  const thread = await sources.load(threadId);
  const state = deriveState(thread.events);
  if (state.terminal !== null) throw new InvalidStateError(`thread ${threadId} is ${state.terminal}`, threadId, state.terminal);
  const checked = validateResponse(state.pendingRequest, parsed.data);
  if (!checked.success) {
    if (checked.code === 'invalid_response') throw new InvalidInputError(checked.error, [checked.error]);
    throw new InvalidStateError(checked.error, threadId, statusOf(state));
  }
  const written = await store.append(threadId, state.version, [
    { seq: state.version + 1, at: new Date(clock.now()).toISOString(), type: 'human_response', data: checked.data },
  ]);
  logger.info({ threadId, agent: thread.agent, requestId: checked.data.requestId, state: 'responded' }, 'human responded');
  sources.driver.continueAfterWrite(written);
  return viewOf(written);
}
