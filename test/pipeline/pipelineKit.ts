/**
 * Pipeline actors over a memory store and xstate's SimulatedClock, with no runtime around them:
 * backoffs and sleeps only end when the kit advances the clock to their recorded deadline, and
 * agent steps delegate to a scripted child launcher.
 */
import { createActor, type SimulatedClock } from 'xstate';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import { silentLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import type { ChildLauncher } from '../../src/pipeline/pipelineSteps.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { Json, Thread, ThreadEvent } from '../../src/thread/events.js';
import type { ThreadStatus } from '../../src/thread/state.js';
import { createClock } from '../support/agentHarness.js';
import { recordingStore } from '../support/restoreKit.js';

/** Child threads that end at once: their output is `reply(agent, input)`. */
export function instantChildren(reply: (agent: string, input: Json) => Json, launched: string[] = []): ChildLauncher {
  return {
    check: () => undefined,
    async launch(agent, input, { threadId }) {
      launched.push(threadId);
      return { status: 'done', output: reply(agent, input), failure: undefined };
    },
  };
}

/** How a pipeline run ended. */
export interface PipelineEnd {
  readonly thread: Thread;
  readonly status: ThreadStatus;
  /** The machine's final state (done, failed, cancelled, stopped). */
  readonly state: string;
  readonly stopped?: string;
  /** Clock advances to a recorded deadline (backoffs and sleeps). */
  readonly waits: number;
}

/** Options of {@link runPipeline}. */
export interface RunPipelineOptions {
  readonly children?: ChildLauncher;
  /** Collects every length the store committed. */
  readonly lengths?: Set<number>;
  readonly clock?: SimulatedClock;
  /** Bound on clock advances. @default 100 */
  readonly maxWaits?: number;
}

/**
 * Runs `pipeline` from `events` (a stored prefix of its thread) until its actor ends, advancing
 * the simulated clock to each recorded backoff or sleep deadline. A real-time guard turns a hang
 * into a failure.
 */
export async function runPipeline(pipeline: Pipeline, events: readonly ThreadEvent[], options: RunPipelineOptions = {}): Promise<PipelineEnd> {
  const clock = options.clock ?? createClock(Date.parse(events.at(-1)!.at));
  const memory = createMemoryStore({ clock });
  const store = options.lengths === undefined ? memory : recordingStore(memory, options.lengths);
  const thread = await store.create({ id: 'pipe-1', agent: pipeline.name, events: [...events] });
  const children = options.children ?? instantChildren(() => null);
  const deps = { model: scriptedModel([]), store, clock, logger: silentLogger(), children };
  const actor = createActor(createPipelineMachine(pipeline), { input: { pipeline, thread, deps }, clock });
  let waits = 0;
  const ended = new Promise<PipelineEnd>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`the pipeline did not end (state ${String(actor.getSnapshot().value)})`)), 10_000);
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status === 'done') {
          clearTimeout(guard);
          const output = snapshot.output!;
          resolve({ thread: output.thread, status: output.status, state: String(snapshot.value), waits, ...(output.stopped ? { stopped: output.stopped } : {}) });
          return;
        }
        const deadline = snapshot.value === 'backingOff' ? snapshot.context.state.backoffUntil : snapshot.value === 'sleeping' ? snapshot.context.sleepUntil : null;
        if (deadline === null) return;
        if (++waits > (options.maxWaits ?? 100)) return reject(new Error('too many waits'));
        // Out of the transition first: the timer is armed once the state is entered.
        queueMicrotask(() => clock.increment(Math.max(0, deadline - clock.now())));
      },
      error: (error) => {
        clearTimeout(guard);
        reject(error);
      },
    });
  });
  actor.start();
  return ended;
}

/** A fresh pipeline thread's events: one input. */
export function inputEvents(input: Json, at = '2025-01-01T00:00:00.000Z'): ThreadEvent[] {
  return [{ seq: 1, at, type: 'input', data: { input } }];
}
