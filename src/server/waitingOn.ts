import { waitedDescendant, type Delegation } from '../pipeline/delegations.js';
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
  /** A nested pipeline's: the pipelines between this one and the thread it waits on, top down (absent for a direct child). */
  readonly through?: readonly Delegation[];
}

/**
 * A pipeline's view with `waitingOn`, the thread it waits on: the child its open step waits on
 * (its last delegation without a result, read from its log), or, while that child is a pipeline
 * running its own step, the thread down that chain (`through` names the pipelines in between),
 * with its status and pending request, read from the runtime: a pipeline resting on a human's
 * answer shows `running` with nothing of its own to answer. Any other view (an agent's thread, a
 * pipeline that ended or is between steps, a child not launched yet) comes back as it is.
 */
export async function withWaitingOn(runtime: Pick<Runtime, 'get' | 'pipelines'>, view: ThreadView): Promise<ThreadView & { readonly waitingOn?: WaitingOn }> {
  const waited = runtime.pipelines.has(view.agent) ? await waitedDescendant(view, (threadId) => runtime.get(threadId)) : undefined;
  if (waited === undefined) return view;
  const { child, view: childView, through } = waited;
  return { ...view, waitingOn: { threadId: child.threadId, agent: child.agent, status: childView.status, pendingRequest: childView.pendingRequest, ...(through.length === 0 ? {} : { through }) } };
}
