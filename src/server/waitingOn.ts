import { openDelegation } from '../pipeline/delegations.js';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import type { HumanRequest } from '../thread/events.js';
import type { ThreadStatus } from '../thread/state.js';

/** The child thread a pipeline waits on, as the HTTP API shows it beside the pipeline. */
export interface WaitingOn {
  readonly threadId: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** What the child waits for: answer it on the child (`POST /threads/<threadId>/respond`). */
  readonly pendingRequest: HumanRequest | null;
}

/**
 * A pipeline's view with `waitingOn`, the child its open step waits on (its last delegation
 * without a result, read from its log) and that child's status and pending request, read from the
 * runtime: a pipeline resting on a child's human shows `running` with nothing of its own to answer.
 * Any other view (an agent's thread, a pipeline that ended or is between steps, a child not
 * launched yet) comes back as it is.
 */
export async function withWaitingOn(runtime: Pick<Runtime, 'get' | 'pipelines'>, view: ThreadView): Promise<ThreadView & { readonly waitingOn?: WaitingOn }> {
  const child = runtime.pipelines.has(view.agent) ? openDelegation(view) : null;
  const childView = child === null ? undefined : await runtime.get(child.threadId);
  if (child === null || childView === undefined) return view;
  return { ...view, waitingOn: { threadId: child.threadId, agent: child.agent, status: childView.status, pendingRequest: childView.pendingRequest } };
}
