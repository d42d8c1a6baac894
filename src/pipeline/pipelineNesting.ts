import type { ThreadStore } from '../store/threadStore.js';
import type { Thread } from '../thread/events.js';
import type { Pipeline } from './pipelineDefinition.js';

/**
 * How many levels below its top thread a pipeline's child may run: a pipeline at level 16 (the
 * top thread is level 0) may run its steps, but not launch a child. The bound at run time on
 * pipelines that delegate to each other in a cycle the static check ({@link pipelineCycle}) cannot
 * see (a pipeline served by another deployment).
 */
export const MAX_PIPELINE_DEPTH = 16;

/**
 * The first cycle among `pipelines` whose agent steps delegate to each other, as a message naming
 * it (`pipeline pa: step b delegates to pipeline pb: a cycle (pa -> pb -> pa)`), or null. A step's
 * `agent` is a fixed name, so the graph is known before anything runs. The pipelines are walked
 * in their order; the cycle is named from its first pipeline on that walk.
 */
export function pipelineCycle(pipelines: readonly Pipeline[]): string | null {
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  const done = new Set<string>();
  // The pipelines on the current path, each with the step that leads to the next.
  const path: { pipeline: string; step: string }[] = [];
  const visit = (pipeline: Pipeline): string | null => {
    for (const step of pipeline.steps) {
      if (step.kind !== 'agent') continue;
      const target = byName.get(step.agent);
      if (target === undefined || done.has(target.name)) continue;
      path.push({ pipeline: pipeline.name, step: step.name });
      const start = path.findIndex((entry) => entry.pipeline === target.name);
      if (start !== -1) {
        const cycle = path.slice(start);
        const first = cycle[0]!;
        const to = cycle[1]?.pipeline ?? target.name;
        return `pipeline ${first.pipeline}: step ${first.step} delegates to pipeline ${to}: a cycle (${[...cycle.map((entry) => entry.pipeline), target.name].join(' -> ')})`;
      }
      const found = visit(target);
      if (found !== null) return found;
      path.pop();
    }
    done.add(pipeline.name);
    return null;
  };
  for (const pipeline of pipelines) {
    if (done.has(pipeline.name)) continue;
    const found = visit(pipeline);
    if (found !== null) return found;
  }
  return null;
}

/** The thread a pipeline launched `thread` from, as its input records it. */
function parentOf(thread: Pick<Thread, 'events'>): string | undefined {
  const first = thread.events[0];
  return first?.type === 'input' ? first.data.source?.parentId : undefined;
}

/**
 * How many levels below its top thread `thread` runs (0 for a thread no pipeline launched), read
 * from its parents' inputs, and its top thread. The walk stops past {@link MAX_PIPELINE_DEPTH}
 * levels, or at a parent deleted since: then `top` is undefined and `level` counts the levels seen.
 */
export async function nestingOf(thread: Pick<Thread, 'id' | 'events'>, store: Pick<ThreadStore, 'get'>): Promise<{ level: number; top: string | undefined }> {
  let level = 0;
  let current: Pick<Thread, 'id' | 'events'> = thread;
  for (let parent = parentOf(current); parent !== undefined; parent = parentOf(current)) {
    level++;
    if (level > MAX_PIPELINE_DEPTH) return { level, top: undefined };
    const found = await store.get(parent);
    if (found === undefined) return { level, top: undefined };
    current = found;
  }
  return { level, top: current.id };
}
