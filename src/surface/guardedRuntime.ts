import { randomUUID } from 'node:crypto';
import { checkLaunch } from '../runtime/launching.js';
import { THREAD_ID_PATTERN, type LaunchOptions, type Runtime, type ThreadView } from '../runtime/runtime.js';
import { TERMINAL_STATUSES } from '../thread/state.js';
import type { AgentQueues } from './agentQueues.js';

/**
 * The runtime, with every write from outside a job guarded (see {@link AgentQueues.guard}): before
 * `respond`, `resume` and `cancel` store their event, and before `launch` creates a thread, the
 * continuation job is enqueued, so a process killed between its write and the runtime's own
 * `schedule` never leaves a thread `running` with no job. Everything else is the runtime's own.
 *
 * {@link attachBus} answers NATS requests with it; hand `surface.runtime` to the other surfaces of
 * the same process (`createHttpApp`), so an HTTP response is as safe.
 */
export function guardedRuntime(runtime: Runtime, queues: AgentQueues): Runtime {
  /** Guards a write to an existing thread, when `due` says the write will go ahead. */
  async function guardWrite<T>(threadId: string, due: (view: ThreadView) => boolean, write: () => Promise<T>): Promise<T> {
    const view = await runtime.get(threadId);
    if (view !== undefined && !TERMINAL_STATUSES.includes(view.status) && due(view)) await queues.guard(view.agent, view.id, view.version, view.createdAt);
    return write();
  }

  return {
    ...runtime,
    async launch(agent: string, input: unknown, options: LaunchOptions = {}) {
      const threadId = options.threadId ?? `th_${randomUUID()}`;
      // What the launch refuses at once (no such agent, a bad id, input its schema refuses) writes
      // nothing, so it needs no guard: one would only come back to a worker, find no thread and warn.
      if (refusedAtOnce(runtime, agent, input, threadId, options)) return runtime.launch(agent, input, options);
      await queues.guard(agent, threadId, 0);
      return runtime.launch(agent, input, { ...options, threadId });
    },
    respond: (threadId, response) =>
      guardWrite(
        threadId,
        (view) => view.pendingRequest !== null && view.pendingRequest.requestId === (response as { requestId?: unknown } | null)?.requestId,
        () => runtime.respond(threadId, response),
      ),
    resume: (threadId, options) => guardWrite(threadId, (view) => view.status === 'paused', () => runtime.resume(threadId, options)),
    cancel: (threadId, options) => guardWrite(threadId, () => true, () => runtime.cancel(threadId, options)),
  };
}

/** Whether a launch is refused before it writes anything: it names no agent or pipeline here, or a bad thread id, or input its schema refuses. */
function refusedAtOnce(runtime: Runtime, agent: string, input: unknown, threadId: string, options: LaunchOptions): boolean {
  if ((!runtime.agents.has(agent) && !runtime.pipelines.has(agent)) || !THREAD_ID_PATTERN.test(threadId)) return true;
  try {
    checkLaunch({ agents: runtime.agents, pipelines: runtime.pipelines, scheduled: true }, agent, input, options);
    return false;
  } catch {
    return true;
  }
}
