import { appendEvents } from '../store/appendEvents.js';
import { messageOf } from '../errors.js';
import { type AgentDeps } from '../agent/deps.js';
import { toJson } from '../agent/tool.js';
import { type Json, type NewEvent, type Thread } from '../thread/events.js';
import { deriveState, type ThreadStatus } from '../thread/state.js';
import { childThreadId, type Pipeline, type PipelineStepContext } from './pipeline.js';

/** What a pipeline needs to delegate to agents: launching (idempotent by id) and reading child threads. */
export interface ChildLauncher {
  launch(agent: string, input: Json, options: { threadId: string; parentId: string }): Promise<{ status: ThreadStatus; output: Json | undefined; failure: string | undefined }>;
}

/** The dependencies of a pipeline actor. */
export interface PipelineDeps extends AgentDeps {
  readonly children: ChildLauncher;
}

/** The result of one pipeline step: the thread as persisted, and what the pipeline waits for now. */
export interface PipelineStepResult {
  readonly thread: Thread;
  /** A child thread must end first. */
  readonly waiting: boolean;
  /** A durable sleep runs until this time (epoch ms). */
  readonly sleepUntil?: number;
}

/** Step results recorded so far, by step name. */
export function stepResults(thread: Thread): Record<string, Json> {
  const results: Record<string, Json> = {};
  for (const event of thread.events) if (event.type === 'tool_result') results[event.data.tool] = event.data.result;
  return results;
}

/** The name of the next step to run, or null when every step has a result. */
export function nextStepName(pipeline: Pipeline, thread: Thread): string | null {
  const results = stepResults(thread);
  return pipeline.steps.find((s) => !(s.name in results))?.name ?? null;
}

function pipelineInput(pipeline: Pipeline, thread: Thread): { success: true; data: unknown } | { success: false; error: string } {
  const first = thread.events[0];
  const raw = first?.type === 'input' ? first.data.input : null;
  const parsed = pipeline.input.safeParse(raw);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, error: parsed.error.issues.map((i) => i.message).join('; ') };
}

function failure(reason: string): NewEvent[] {
  return [{ type: 'failed', data: { reason: reason.slice(0, 500) } }];
}

/** Runs the next step of the pipeline (or finishes it), journaling like a tool call. */
export async function runPipelineStep(pipeline: Pipeline, thread: Thread, deps: PipelineDeps, signal: AbortSignal): Promise<PipelineStepResult> {
  const input = pipelineInput(pipeline, thread);
  if (!input.success) return { thread: await appendEvents(deps, thread, failure(`invalid pipeline input: ${input.error}`)), waiting: false };
  const results = stepResults(thread);
  const context: PipelineStepContext = { threadId: thread.id, input: input.data, results, logger: deps.logger, signal };
  const index = pipeline.steps.findIndex((s) => !(s.name in results));
  if (index === -1) return { thread: await finishPipeline(pipeline, thread, deps, context), waiting: false };
  const step = pipeline.steps[index]!;
  const callId = `step_${index + 1}`;
  const state = deriveState(thread.events);
  const calls = thread.events.filter((e) => e.type === 'tool_call' && e.data.callId === callId);
  const journal = (args: Record<string, Json>): NewEvent => ({
    type: 'tool_call',
    data: { callId, tool: step.name, args, idempotencyKey: `${thread.id}:${callId}`, attempt: calls.length + 1 },
  });
  const result = (value: Json, durationMs = 0): NewEvent => ({ type: 'tool_result', data: { callId, tool: step.name, result: value, durationMs } });

  if (step.skip?.(context)) {
    return { thread: await appendEvents(deps, thread, [journal({}), result({ skipped: true })]), waiting: false };
  }

  if (step.kind === 'sleep') {
    let current = thread;
    let until: number;
    const recorded = calls[0];
    if (recorded === undefined) {
      const ms = Math.max(0, Number(step.duration(context)) || 0);
      until = deps.clock.now() + ms;
      current = await appendEvents(deps, thread, [journal({ until: new Date(until).toISOString(), ms })]);
    } else {
      until = Date.parse(String(recorded.type === 'tool_call' ? recorded.data.args.until : ''));
      if (!Number.isFinite(until)) until = deps.clock.now();
    }
    if (deps.clock.now() < until) return { thread: current, waiting: false, sleepUntil: until };
    return { thread: await appendEvents(deps, current, [result({ slept: true, until: new Date(until).toISOString() })]), waiting: false };
  }

  if (step.kind === 'agent') {
    const childId = childThreadId(thread.id, step.name);
    let current = thread;
    if (calls.length === 0) {
      const childInput = toJson(step.input(context));
      current = await appendEvents(deps, thread, [journal({ threadId: childId, agent: step.agent, input: childInput })]);
    }
    const recorded = calls[0] ?? current.events.at(-1)!;
    const childInput = recorded.type === 'tool_call' ? (recorded.data.args.input ?? null) : null;
    const child = await deps.children.launch(step.agent, childInput, { threadId: childId, parentId: thread.id });
    if (child.status === 'done') {
      const output = child.output ?? null;
      if (step.output) {
        const checked = step.output.safeParse(output);
        if (!checked.success) return { thread: await appendEvents(deps, current, failure(`step ${step.name}: agent ${step.agent} returned an invalid output: ${checked.error.issues.map((i) => i.message).join('; ')}`)), waiting: false };
      }
      return { thread: await appendEvents(deps, current, [result(output)]), waiting: false };
    }
    if (child.status === 'failed' || child.status === 'cancelled') {
      return { thread: await appendEvents(deps, current, failure(`step ${step.name}: agent thread ${childId} ${child.status}${child.failure ? `: ${child.failure}` : ''}`)), waiting: false };
    }
    return { thread: current, waiting: true };
  }

  const current = await appendEvents(deps, thread, [journal({})]);
  const started = deps.clock.now();
  try {
    const value = toJson(await step.run(context));
    if (signal.aborted) throw signal.reason;
    return { thread: await appendEvents(deps, current, [result(value, Math.max(0, deps.clock.now() - started))]), waiting: false };
  } catch (error) {
    if (signal.aborted) throw error;
    const attempt = state.consecutiveErrors + 1;
    const message = `step ${step.name} failed: ${messageOf(error)}`.slice(0, 500);
    const events: NewEvent[] =
      attempt >= pipeline.maxConsecutiveErrors
        ? [{ type: 'error', data: { kind: 'tool_error', message, callId, tool: step.name, attempt } }, ...failure(`${message} (${attempt} times in a row)`)]
        : [{ type: 'error', data: { kind: 'tool_error', message, callId, tool: step.name, attempt, retryAt: new Date(deps.clock.now() + pipeline.retryDelayMs * 2 ** (attempt - 1)).toISOString() } }];
    return { thread: await appendEvents(deps, current, events), waiting: false };
  }
}

async function finishPipeline(pipeline: Pipeline, thread: Thread, deps: PipelineDeps, context: PipelineStepContext): Promise<Thread> {
  let output: unknown;
  try {
    output = pipeline.finish(context);
  } catch (error) {
    return appendEvents(deps, thread, failure(`finish failed: ${messageOf(error)}`));
  }
  const checked = pipeline.output.safeParse(output);
  if (!checked.success) return appendEvents(deps, thread, failure(`invalid pipeline output: ${checked.error.issues.map((i) => i.message).join('; ')}`));
  return appendEvents(deps, thread, [{ type: 'final', data: { output: toJson(checked.data) } }]);
}
