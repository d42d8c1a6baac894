import type { EventOf, Json, Thread, ThreadEvent } from '../thread/events.js';
import { FINISH, type Pipeline, type PipelineStep } from './pipelineDefinition.js';

/** One run of a step (one visit), as the log records it: a `step_<n>` call id, journaled like a tool call. */
export interface StepRun {
  readonly callId: string;
  /** The step's name. */
  readonly step: string;
  /** Its journaled calls, one per attempt. */
  readonly calls: readonly EventOf<'tool_call'>[];
  /** Whether its result is recorded. */
  readonly done: boolean;
}

/** The step run to do next: the one in progress, or a new one. */
export interface NextRun {
  readonly kind: 'step';
  readonly index: number;
  readonly step: PipelineStep;
  readonly callId: string;
  /** 1 on the step's first run, 2 on its second (a loop), ... */
  readonly visit: number;
  /** The run's journaled calls so far (none for a new run). */
  readonly calls: readonly EventOf<'tool_call'>[];
}

/**
 * Where a pipeline run is, derived from its log alone (so a run restored from any prefix of its
 * thread goes on exactly where the log says): the step runs so far, the latest result of each
 * step, and what comes next. A branch's choice is its recorded result, never asked again.
 */
export interface PipelineCursor {
  /** Every step run started so far, in order: the transitions `maxTransitions` bounds. */
  readonly runs: readonly StepRun[];
  /** The latest result of each step, by name. */
  readonly results: Readonly<Record<string, Json>>;
  /** The steps whose latest result is recorded before their `output` schema (`raw`: parsed again for later steps). */
  readonly raw: ReadonlySet<string>;
  /**
   * A step run, the finish, a recorded choice naming a step this pipeline does not have, or a
   * recorded path this definition could not have taken (`reason` says where): in both of the last
   * two, its definition changed since the run started.
   */
  readonly next: NextRun | { readonly kind: 'finish' } | { readonly kind: 'unknown'; readonly name: string } | { readonly kind: 'changed'; readonly reason: string };
}

// By events array and its length: a store may append to the array it handed out before.
const memo = new WeakMap<readonly ThreadEvent[], { readonly pipeline: Pipeline; readonly length: number; readonly cursor: PipelineCursor }>();

/** The cursor of `pipeline` over `thread`. Memoized per events array: routing asks once per step. */
export function pipelineCursor(pipeline: Pipeline, thread: Pick<Thread, 'events'>): PipelineCursor {
  const { events } = thread;
  const hit = memo.get(events);
  if (hit !== undefined && hit.pipeline === pipeline && hit.length === events.length) return hit.cursor;
  const cursor = deriveCursor(pipeline, events);
  memo.set(events, { pipeline, length: events.length, cursor });
  return cursor;
}

interface OpenRun {
  readonly callId: string;
  readonly step: string;
  readonly calls: EventOf<'tool_call'>[];
  done: boolean;
  result?: Json;
}

function deriveCursor(pipeline: Pipeline, events: readonly ThreadEvent[]): PipelineCursor {
  const runs: OpenRun[] = [];
  const byCallId = new Map<string, OpenRun>();
  const results: Record<string, Json> = {};
  const raw = new Set<string>();
  let last: { step: string; result: Json } | null = null;
  for (const event of events) {
    if (event.type === 'tool_call') {
      let run = byCallId.get(event.data.callId);
      if (run === undefined) {
        run = { callId: event.data.callId, step: event.data.tool, calls: [], done: false };
        byCallId.set(run.callId, run);
        runs.push(run);
      }
      run.calls.push(event);
    } else if (event.type === 'tool_result') {
      results[event.data.tool] = event.data.result;
      if (event.data.raw === true) raw.add(event.data.tool);
      else raw.delete(event.data.tool);
      const run = byCallId.get(event.data.callId);
      if (run !== undefined && !run.done) {
        run.done = true;
        run.result = event.data.result;
        last = { step: run.step, result: event.data.result };
      }
    }
  }
  const changed = pathChange(pipeline, runs);
  if (changed !== null) return { runs, results, raw, next: { kind: 'changed', reason: changed } };
  const visits = (name: string): number => runs.filter((r) => r.step === name).length;
  const open = runs.at(-1);
  if (open !== undefined && !open.done) {
    const index = pipeline.steps.findIndex((s) => s.name === open.step);
    if (index === -1) return { runs, results, raw, next: { kind: 'unknown', name: open.step } };
    return { runs, results, raw, next: { kind: 'step', index, step: pipeline.steps[index]!, callId: open.callId, visit: visits(open.step), calls: open.calls } };
  }
  const target = nextAfter(pipeline, last);
  if (target === FINISH) return { runs, results, raw, next: { kind: 'finish' } };
  const index = pipeline.steps.findIndex((s) => s.name === target);
  if (index === -1) return { runs, results, raw, next: { kind: 'unknown', name: target } };
  return { runs, results, raw, next: { kind: 'step', index, step: pipeline.steps[index]!, callId: `step_${runs.length + 1}`, visit: visits(target) + 1, calls: [] } };
}

/**
 * Why the recorded runs are not a path this definition could have taken (a run resting in a sleep
 * or on a child across a deploy that moved, inserted or recast a step before it), or null. Without
 * this, the run would go on from where it is and never run what now comes before it. A step the
 * run is at that the definition lost is left to the cursor (`unknown`). Read from the log alone,
 * so threads of every version are checked the same way.
 */
function pathChange(pipeline: Pipeline, runs: readonly OpenRun[]): string | null {
  let previous: OpenRun | undefined;
  for (const [i, run] of runs.entries()) {
    const step = pipeline.steps.find((s) => s.name === run.step);
    if (step === undefined) return i === runs.length - 1 ? null : `the run ran ${run.step}, a step the definition no longer has`;
    // What the journal says the step was: a sleep journals its deadline, a delegation its child.
    const was = run.calls.some((call) => call.data.args.until !== undefined) ? 'sleep' : run.calls.some((call) => call.data.args.threadId !== undefined) ? 'agent' : undefined;
    if (was !== undefined && was !== step.kind) return `the run ran ${run.step} as a ${was} step, where the definition now has it as a ${step.kind} step`;
    // Only a finished run leads to the next (a run starts once the one before has its result).
    if (previous === undefined || previous.done) {
      const expected = nextAfter(pipeline, previous === undefined ? null : { step: previous.step, result: previous.result ?? null });
      if (expected !== run.step) {
        if (previous === undefined) return `the run started with ${run.step}, where the definition now starts with ${expected}`;
        const now = expected === FINISH ? 'finishes' : `runs ${expected}`;
        return `the run ran ${run.step} after ${previous.step}, where the definition now ${now} after ${previous.step}`;
      }
    }
    previous = run;
  }
  return null;
}

/** The step after the last finished run: a branch's recorded choice, else the next in order. */
function nextAfter(pipeline: Pipeline, last: { step: string; result: Json } | null): string {
  if (last === null) return pipeline.steps[0]!.name;
  const index = pipeline.steps.findIndex((s) => s.name === last.step);
  if (index === -1) return last.step;
  if (pipeline.steps[index]!.kind === 'branch' && typeof last.result === 'string') return last.result;
  return pipeline.steps[index + 1]?.name ?? FINISH;
}

/** The name a branch's choice resolves to: the chosen step, FINISH, or the step after the branch for `undefined`. */
export function resolveChoice(pipeline: Pipeline, branch: string, choice: unknown): { name: string } | { error: string } {
  if (choice === undefined) {
    const index = pipeline.steps.findIndex((s) => s.name === branch);
    return { name: pipeline.steps[index + 1]?.name ?? FINISH };
  }
  if (typeof choice === 'string' && (choice === FINISH || pipeline.steps.some((s) => s.name === choice))) return { name: choice };
  const refused = `branch ${branch} chose ${JSON.stringify(choice)}, which is not a step of pipeline ${pipeline.name}`;
  // FINISH spelled out (no type check under tsx): say what FINISH is.
  if (choice === 'FINISH') return { error: `${refused}: to finish, return FINISH imported from switchyard (import { FINISH } from 'switchyard'), whose value is ${JSON.stringify(FINISH)}` };
  return { error: `${refused} (its steps: ${pipeline.steps.map((s) => s.name).join(', ')}; or FINISH, imported from switchyard)` };
}
