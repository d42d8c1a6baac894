import { appendEvents } from '../store/appendEvents.js';
import { InvalidInputError, InvalidStateError, messageOf, NotFoundError } from '../errors.js';
import { type AgentDeps } from '../agent/deps.js';
import { idempotencyKeyFor } from '../agent/ids.js';
import { toJson } from '../agent/tool.js';
import { type Json, type NewEvent, type Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { deriveState, type ThreadStatus } from '../thread/state.js';
import { parsedResults, parseWith, type Parsed } from './parsedResults.js';
import { pipelineCursor, resolveChoice, type NextRun } from './pipelineCursor.js';
import { MAX_PIPELINE_DEPTH, nestingOf } from './pipelineNesting.js';
import { childThreadId, type AgentStep, type BranchStep, type CodeStep, type Pipeline, type PipelineStepContext, type SleepStep } from './pipelineDefinition.js';

/** What a pipeline needs to delegate to agents: launching (idempotent by id) and reading child threads. */
export interface ChildLauncher {
  /**
   * Throws what `launch` would refuse `input` with for `agent`, without creating anything: a
   * {@link NotFoundError} for an agent there is none of, an {@link InvalidInputError} naming the
   * issues of an input its schema refuses. Asked before the delegation is journaled, so a refusal
   * that does not depend on the store never leaves a delegation to a child that was not created.
   */
  check(agent: string, input: Json, options: { parentId: string }): void;
  /**
   * Launches (or finds again) the child `threadId` of the pipeline `parentId`, whose incarnation
   * (`incarnationKeyOf`) is `parentKey`: a child there of an earlier pipeline under that id (deleted
   * since) is refused, not taken for this one's.
   */
  launch(agent: string, input: Json, options: { threadId: string; parentId: string; parentKey?: string }): Promise<{ status: ThreadStatus; output: Json | undefined; failure: string | undefined }>;
}

/** The dependencies of a pipeline actor. */
export interface PipelineDeps extends AgentDeps {
  readonly children: ChildLauncher;
}

/** The result of one pipeline step: the thread as persisted, and what the pipeline waits for now. */
export interface PipelineStepResult {
  readonly thread: Thread;
  /** A child thread must end first. */
  readonly waiting?: boolean;
  /** A durable sleep runs until this time (epoch ms). */
  readonly sleepUntil?: number;
}

/** The name of the step that runs next, or null when the pipeline finishes next. */
export function nextStepName(pipeline: Pipeline, thread: Thread): string | null {
  const { next } = pipelineCursor(pipeline, thread);
  return next.kind === 'step' ? next.step.name : null;
}

function pipelineInput(pipeline: Pipeline, thread: Thread): Parsed<unknown> {
  const first = thread.events[0];
  return parseWith(pipeline.input, first?.type === 'input' ? first.data.input : null);
}

function failure(reason: string): NewEvent[] {
  return [{ type: 'failed', data: { reason: clipReason(reason) } }];
}

/** Longest failure reason or step error message a pipeline records. */
const MAX_REASON = 500;
/** How much of the start of a longer one is kept (the step that failed); the rest is its end. */
const REASON_HEAD = 200;
const ELLIPSIS = ' … ';

/**
 * `text` within {@link MAX_REASON} characters, its start and its end kept around an ellipsis: a
 * nested pipeline's reason is its parents' "step x: agent thread ... failed: " prefixes before the
 * innermost cause, at the end, so both the outer step and the root cause show.
 */
function clipReason(text: string): string {
  if (text.length <= MAX_REASON) return text;
  const tail = MAX_REASON - REASON_HEAD - ELLIPSIS.length;
  return `${wholeChars(text.slice(0, REASON_HEAD))}${ELLIPSIS}${wholeChars(text.slice(-tail))}`;
}

/** `text` without a lone surrogate at either end (half of a character cut in two). */
function wholeChars(text: string): string {
  return text.replace(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/g, '');
}

/** Everything one step run needs. */
interface Run<TStep> {
  readonly pipeline: Pipeline;
  readonly thread: Thread;
  readonly deps: PipelineDeps;
  readonly signal: AbortSignal;
  readonly step: TStep;
  readonly next: NextRun;
  readonly context: PipelineStepContext;
}

/** The call event that journals a run's attempt, before its code runs. */
function journal(run: Run<{ name: string }>, args: Record<string, Json>, until?: number): NewEvent {
  const { callId, calls } = run.next;
  const data = { callId, tool: run.step.name, args, idempotencyKey: idempotencyKeyFor(run.thread, callId), attempt: calls.length + 1 };
  return { type: 'tool_call', data: until === undefined ? data : { ...data, until } };
}

function result(run: Run<{ name: string }>, value: Json, durationMs = 0): NewEvent {
  return { type: 'tool_result', data: { callId: run.next.callId, tool: run.step.name, result: value, durationMs, raw: true } };
}

/**
 * Runs the next step of the pipeline (or finishes it), as its log says: the run in progress, or
 * the step after the last one (a branch's recorded choice). Every step is journaled like a tool
 * call, and a new run past `maxTransitions` fails the pipeline instead.
 */
export async function runPipelineStep(pipeline: Pipeline, thread: Thread, deps: PipelineDeps, signal: AbortSignal): Promise<PipelineStepResult> {
  const input = pipelineInput(pipeline, thread);
  if (!input.success) return { thread: await appendEvents(deps, thread, failure(`invalid pipeline input: ${input.error}`)) };
  const cursor = pipelineCursor(pipeline, thread);
  const { next } = cursor;
  if (next.kind === 'unknown') return { thread: await appendEvents(deps, thread, failure(`pipeline ${pipeline.name} has no step ${next.name} (its definition changed?)`)) };
  if (next.kind === 'changed') return { thread: await appendEvents(deps, thread, failure(`pipeline ${pipeline.name}: its definition changed since this run started: ${next.reason}`)) };
  // Parsed again for every step, as the input is: what the steps see is what their types say.
  const results = parsedResults(pipeline, cursor.results, cursor.raw);
  if (!results.success) return { thread: await appendEvents(deps, thread, failure(results.error)) };
  const contextAt = (visit: number): PipelineStepContext => ({ threadId: thread.id, input: input.data, results: results.data, visit, logger: deps.logger, signal });
  if (next.kind === 'finish') return { thread: await finishPipeline(pipeline, thread, deps, contextAt(1)) };
  if (next.calls.length === 0 && cursor.runs.length >= pipeline.maxTransitions) {
    const path = cursor.runs.slice(-8).map((r) => r.step).join(' -> ');
    return { thread: await appendEvents(deps, thread, failure(`pipeline ${pipeline.name} exceeded maxTransitions (${pipeline.maxTransitions} step runs) before running ${next.step.name}${next.visit > 1 ? ' again' : ''}; the last runs: ${path}`)) };
  }
  const { step } = next;
  const context = contextAt(next.visit);
  // Asked until the run has started for real: a sleep journaled its deadline, a delegation its child.
  const started = next.calls.some((call) => Object.keys(call.data.args).length > 0);
  if (!started && step.kind !== 'branch' && step.skip !== undefined) {
    const run: Run<typeof step> = { pipeline, thread, deps, signal, step, next, context };
    const skip = attempt(run, () => step.skip!(context));
    if ('failed' in skip) return { thread: await appendEvents(deps, thread, skip.failed) };
    if (skip.value) return { thread: await appendEvents(deps, thread, [journal(run, {}), result(run, { skipped: true })]) };
  }
  switch (step.kind) {
    case 'sleep':
      return runSleep({ pipeline, thread, deps, signal, step, next, context });
    case 'agent':
      return runAgent({ pipeline, thread, deps, signal, step, next, context });
    case 'branch':
      return runBranch({ pipeline, thread, deps, signal, step, next, context });
    case 'code':
      return runCode({ pipeline, thread, deps, signal, step, next, context });
  }
}

/** The last time a Date holds (epoch ms): a deadline past it cannot be journaled. */
const MAX_DATE_MS = 8.64e15;

/** Journals the deadline once, then rests until it (re-armed from the log after a restart). */
async function runSleep(run: Run<SleepStep>): Promise<PipelineStepResult> {
  const { deps, thread } = run;
  let current = thread;
  let until: number;
  // The attempt that journaled the deadline (an earlier attempt may have failed before it had one).
  const recorded = run.next.calls.find((call) => call.data.args.until !== undefined);
  if (recorded === undefined) {
    const duration = attempt(run, () => run.step.duration(run.context));
    if ('failed' in duration) return { thread: await appendEvents(deps, thread, duration.failed) };
    // A deterministic function: a value that is no duration fails the run (retrying gives the same).
    const value: unknown = duration.value;
    if (typeof value !== 'number' || Number.isNaN(value) || value === Number.POSITIVE_INFINITY) {
      return { thread: await appendEvents(deps, thread, failure(`step ${run.step.name}: its duration is ${String(value)}, not a number of milliseconds`)) };
    }
    // A negative one (a deadline already past) sleeps no time.
    const ms = Math.max(0, value);
    until = deps.clock.now() + ms;
    if (!(until <= MAX_DATE_MS)) {
      return { thread: await appendEvents(deps, thread, failure(`step ${run.step.name}: its duration of ${value} ms ends past the last date a deadline can hold`)) };
    }
    current = await appendEvents(deps, thread, [journal(run, { until: new Date(until).toISOString(), ms }, until)]);
  } else {
    until = Date.parse(String(recorded.data.args.until));
    if (!Number.isFinite(until)) until = deps.clock.now();
  }
  if (deps.clock.now() < until) return { thread: current, sleepUntil: until };
  return { thread: await appendEvents(deps, current, [result(run, { slept: true, until: new Date(until).toISOString() })]) };
}

/** Journals the child thread (its id and input) once, launches it (idempotent) and waits for its end. */
async function runAgent(run: Run<AgentStep>): Promise<PipelineStepResult> {
  const { deps, thread, step } = run;
  let current = thread;
  // The attempt that journaled the child (an earlier attempt may have failed before it had one).
  let recorded = run.next.calls.find((call) => call.data.args.threadId !== undefined);
  if (recorded === undefined) {
    const childInput = attempt(run, () => toJson(step.input(run.context)));
    if ('failed' in childInput) return { thread: await appendEvents(deps, thread, childInput.failed) };
    // No such agent, or an input it refuses, is refused the same way on every try: the step fails
    // before it journals a delegation to a child that would never be created.
    try {
      deps.children.check(step.agent, childInput.value, { parentId: thread.id });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return { thread: await appendEvents(deps, thread, failure(refusedLaunch(step, error))) };
    }
    // Pipelines delegating to each other in a cycle (one the config's check could not see) end
    // here instead of launching children without bound.
    const nesting = await nestingOf(thread, deps.store);
    if (nesting.level >= MAX_PIPELINE_DEPTH) {
      const where = nesting.top === undefined ? `more than ${MAX_PIPELINE_DEPTH} levels below its top thread` : `${nesting.level + 1} levels below its top thread ${nesting.top}`;
      const reason = `step ${step.name}: pipeline ${run.pipeline.name} would launch agent ${step.agent} ${where} (at most ${MAX_PIPELINE_DEPTH}): do pipelines delegate to each other in a cycle?`;
      return { thread: await appendEvents(deps, thread, failure(reason)) };
    }
    current = await appendEvents(deps, thread, [journal(run, { threadId: childThreadId(thread.id, step.name, run.next.visit), agent: step.agent, input: childInput.value })]);
    const last = current.events.at(-1);
    recorded = last?.type === 'tool_call' ? last : undefined;
  }
  const childId = String(recorded?.data.args.threadId ?? childThreadId(thread.id, step.name, run.next.visit));
  let child: Awaited<ReturnType<ChildLauncher['launch']>>;
  try {
    child = await deps.children.launch(step.agent, recorded?.data.args.input ?? null, { threadId: childId, parentId: thread.id, parentKey: incarnationKeyOf(thread) });
  } catch (error) {
    // An id taken by another agent, or an agent that changed since the delegation was journaled:
    // waiting would not help. The delegation is resolved as failed (an error of its call), so no
    // reader takes it for a child that runs.
    if (!isRefusal(error)) throw error;
    const reason = refusedLaunch(step, error);
    const attempt = deriveState(current.events).consecutiveErrors + 1;
    const refused: NewEvent = { type: 'error', data: { kind: 'tool_error', message: clipReason(reason), callId: run.next.callId, tool: step.name, attempt } };
    return { thread: await appendEvents(deps, current, [refused, ...failure(reason)]) };
  }
  if (child.status === 'done') {
    const output: Json = child.output ?? null;
    // Recorded as the child ended with it: the steps after it see it parsed with the schema again.
    const checked = step.output === undefined ? null : parseWith(step.output, output);
    if (checked?.success === false) return { thread: await appendEvents(deps, current, failure(`step ${step.name}: agent ${step.agent} returned an invalid output: ${checked.error}`)) };
    return { thread: await appendEvents(deps, current, [result(run, output)]) };
  }
  if (child.status === 'failed' || child.status === 'cancelled') {
    return { thread: await appendEvents(deps, current, failure(`step ${step.name}: agent thread ${childId} ${child.status}${child.failure ? `: ${child.failure}` : ''}`)) };
  }
  return { thread: current, waiting: true };
}

/** Whether a launch was refused for good (no such agent, an input it refuses, an id taken), not failed for now. */
function isRefusal(error: unknown): error is NotFoundError | InvalidInputError | InvalidStateError {
  return error instanceof NotFoundError || error instanceof InvalidInputError || error instanceof InvalidStateError;
}

/** Why the step could not launch its child, with the issues of a refused input as other surfaces list them. */
function refusedLaunch(step: AgentStep, error: NotFoundError | InvalidInputError | InvalidStateError): string {
  const message = messageOf(error);
  // An input schema that threw says why in the message already.
  const issues = error instanceof InvalidInputError ? error.issues.filter((issue) => !message.includes(issue)) : [];
  return `step ${step.name}: could not launch agent ${step.agent}: ${message}${issues.length > 0 ? `: ${issues.join('; ')}` : ''}`;
}

/** Asks `choose` once and records the resolved choice as the step's result (with its journal, in one write). */
async function runBranch(run: Run<BranchStep>): Promise<PipelineStepResult> {
  const { deps, thread, step } = run;
  const chosen = attempt(run, () => step.choose(run.context));
  if ('failed' in chosen) return { thread: await appendEvents(deps, thread, chosen.failed) };
  const choice = resolveChoice(run.pipeline, step.name, chosen.value);
  if ('error' in choice) return { thread: await appendEvents(deps, thread, failure(choice.error)) };
  return { thread: await appendEvents(deps, thread, [journal(run, {}), result(run, choice.name)]) };
}

/** Journals the attempt, runs the code, validates its value with the step's `output`, records it. */
async function runCode(run: Run<CodeStep>): Promise<PipelineStepResult> {
  const { deps, step, signal } = run;
  const current = await appendEvents(deps, run.thread, [journal(run, {})]);
  const started = deps.clock.now();
  let value: unknown;
  try {
    value = await step.run(run.context);
    if (signal.aborted) throw signal.reason;
  } catch (error) {
    if (signal.aborted) throw error;
    return { thread: await appendEvents(deps, current, failedAttempt(run, error)) };
  }
  const checked = checkedOutput(step, value);
  if ('error' in checked) return { thread: await appendEvents(deps, current, failure(checked.error)) };
  // The code ran: a result too large for the thread ends it saying so.
  return { thread: await appendEvents(deps, current, [result(run, checked.value, Math.max(0, deps.clock.now() - started))], { tooLarge: { tool: step.name, callId: run.next.callId } }) };
}

/**
 * A code step's value as recorded: its JSON (what JSON cannot hold kept in a lossy form: toJson
 * never throws), checked with its `output` schema when it has one. The JSON is what is checked,
 * since the steps after it get that JSON parsed with the schema again.
 */
function checkedOutput(step: CodeStep, value: unknown): { value: Json } | { error: string } {
  const json = toJson(value);
  const checked = step.output === undefined ? null : parseWith(step.output, json);
  return checked?.success === false ? { error: `step ${step.name} returned an invalid output: ${checked.error}` } : { value: json };
}

/**
 * Calls one of the step's functions (skip, duration, input) before anything is journaled: a throw
 * becomes a failed attempt of the run, journaled with its error, never an exception out of the step.
 */
function attempt<T>(run: Run<{ name: string }>, call: () => T): { value: T } | { failed: NewEvent[] } {
  try {
    return { value: call() };
  } catch (error) {
    return { failed: [journal(run, {}), ...failedAttempt(run, error)] };
  }
}

/** A failed attempt: an error the pipeline retries after a backoff, or the failure once it failed too often in a row. */
function failedAttempt(run: Run<{ name: string }>, error: unknown): NewEvent[] {
  const { pipeline, deps, step, next } = run;
  const attempt = deriveState(run.thread.events).consecutiveErrors + 1;
  const message = clipReason(`step ${step.name} failed: ${messageOf(error)}`);
  const data = { kind: 'tool_error' as const, message, callId: next.callId, tool: step.name, attempt };
  if (attempt >= pipeline.maxConsecutiveErrors) return [{ type: 'error', data }, ...failure(`${message} (${attempt} times in a row)`)];
  return [{ type: 'error', data: { ...data, retryAt: new Date(deps.clock.now() + pipeline.retryDelayMs * 2 ** (attempt - 1)).toISOString() } }];
}

async function finishPipeline(pipeline: Pipeline, thread: Thread, deps: PipelineDeps, context: PipelineStepContext): Promise<Thread> {
  let output: unknown;
  try {
    output = pipeline.finish(context);
  } catch (error) {
    return appendEvents(deps, thread, failure(`finish failed: ${messageOf(error)}`));
  }
  const checked = parseWith(pipeline.output, output);
  if (!checked.success) return appendEvents(deps, thread, failure(`invalid pipeline output: ${checked.error}`));
  // The output as the schema parsed it, as JSON (lossy where JSON cannot hold it: see toJson).
  return appendEvents(deps, thread, [{ type: 'final', data: { output: toJson(checked.data) } }]);
}
