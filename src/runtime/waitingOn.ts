import { waitedDescendant, type Delegation, type WaitedDescendant } from '../pipeline/delegations.js';
import type { AskedRequest, ThreadStatus } from '../thread/state.js';
import type { Runtime } from './runtime.js';
import type { ThreadView } from './threadView.js';

/** The thread a pipeline waits on, as shown beside the pipeline (the HTTP API's `GET /threads/:id`, `advanceUntilSettled`). */
export interface WaitingOn {
  readonly threadId: string;
  readonly agent: string;
  readonly status: ThreadStatus;
  /** What the child waits for: answer it on the child (`POST /threads/<threadId>/respond`, `runtime.respond(threadId, ...)`). */
  readonly pendingRequest: AskedRequest | null;
  /** A nested pipeline's: the pipelines between this one and the thread it waits on, top down (absent for a direct child). */
  readonly through?: readonly Delegation[];
}

/** A thread's view, with `waitingOn` when it is a pipeline that waits on a thread (see {@link withWaitingOn}). */
export type WaitingView = ThreadView & { readonly waitingOn?: WaitingOn };

/** The `waitingOn` of a pipeline that waits on `waited` (see {@link waitedDescendant}). */
export function waitingOnOf({ child, view, through }: WaitedDescendant<ThreadView>): WaitingOn {
  return { threadId: child.threadId, agent: child.agent, status: view.status, pendingRequest: view.pendingRequest, ...(through.length === 0 ? {} : { through }) };
}

/**
 * A pipeline's view with `waitingOn`, the thread it waits on: the child its open step waits on
 * (its last delegation without a result, read from its log), or, while that child is a pipeline
 * running its own step, the thread down that chain (`through` names the pipelines in between),
 * with its status and pending request, read from the runtime: a pipeline resting on a human's
 * answer shows `running` with nothing of its own to answer. Any other view (an agent's thread, a
 * pipeline that ended or is between steps, a child not launched yet) comes back as it is.
 */
export async function withWaitingOn(runtime: Pick<Runtime, 'get' | 'pipelines'>, view: ThreadView): Promise<WaitingView> {
  const waited = await waitedOf(runtime, view);
  return waited === undefined ? view : { ...view, waitingOn: waitingOnOf(waited) };
}

/** The thread a pipeline's `view` waits on, read from `runtime` (see `waitedDescendant`); undefined for an agent's thread. */
export function waitedOf(runtime: Pick<Runtime, 'get' | 'pipelines'>, view: ThreadView): Promise<WaitedDescendant<ThreadView> | undefined> {
  return runtime.pipelines.has(view.agent) ? waitedDescendant(view, (threadId) => runtime.get(threadId)) : Promise.resolve(undefined);
}
