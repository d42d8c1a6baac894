import { z } from 'zod';
import { agent, type Agent } from '../../src/agent/agent.js';
import { tool, type Tool } from '../../src/agent/tool.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import type { InspectionEvent } from 'xstate';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { deferred, type Deferred } from '../bus/waiting.js';

/** A tool call the test holds: it starts, hands the test its signal, and returns what the test releases. */
export interface HeldTool {
  readonly publish: Tool;
  /** Resolves with the call's AbortSignal once the tool runs. */
  readonly started: Deferred<AbortSignal>;
  /** Resolve it with the tool's result. */
  readonly release: Deferred<string>;
  /** How many times the tool ran. */
  runs(): number;
}

/**
 * The events of a thread of a `publish` agent whose call `c1` of `publish` is journaled (the tool
 * started, in whichever process), nothing after it: an input, the decision, the tool call.
 */
export function publishCallStarted(threadId: string): NewEvent[] {
  return [
    { type: 'input', data: { input: 'publish hello' } },
    {
      type: 'decision',
      data: { callId: 'c1', step: 1, intent: 'publish', args: { post: 'hello' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
    },
    { type: 'tool_call', data: { callId: 'c1', tool: 'publish', args: { post: 'hello' }, idempotencyKey: `${threadId}:c1`, attempt: 1 } },
  ];
}

/**
 * A `publish` tool ({ post }) that finishes when the test says so, ignoring its abort (and, with
 * `breaksLoop`, ends the loop); not idempotent unless `idempotent`; `timeoutMs` as a tool's.
 */
export function heldPublishTool(options: { approval?: boolean; breaksLoop?: boolean; idempotent?: boolean; timeoutMs?: number } = {}): HeldTool {
  const started = deferred<AbortSignal>();
  const release = deferred<string>();
  let runs = 0;
  const publish = tool({
    name: 'publish',
    description: 'publishes the post',
    input: z.object({ post: z.string() }),
    ...(options.approval ? { approval: true } : {}),
    ...(options.breaksLoop ? { breaksLoop: true } : {}),
    ...(options.idempotent ? { idempotent: true } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    run: async (_args, { signal }) => {
      runs++;
      started.resolve(signal);
      return release.promise;
    },
  });
  return { publish, started, release, runs: () => runs };
}

/**
 * A model for a `publish` agent: decides to publish, then ends with what the tool returned
 * (`after <result>`; or its error); `asked` lists the decisions asked for, by agent.
 */
export function publisherModel(): { model: ScriptedModel; asked: string[] } {
  const asked: string[] = [];
  const model = scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply => {
      asked.push(request.agent);
      const result = /<tool_result[^>]*>\n?([^<]*)/.exec(request.context)?.[1]?.trim();
      return result === undefined ? { intent: 'publish', args: { post: 'hello' } } : { intent: 'done_for_now', args: { message: `after ${result}` } };
    },
  });
  return { model, asked };
}

/**
 * `inner` whose append of a decision with its tool call (recorded with it) lands, then answers
 * only once the test resolves `hold`; `appended` resolves when it has landed.
 */
export function holdingDecisionWrites<TStore extends ThreadStore>(inner: TStore): { store: TStore; appended: Deferred<void>; hold: Deferred<void> } {
  const appended = deferred();
  const hold = deferred();
  const store: TStore = {
    ...inner,
    async append(threadId, expectedVersion, events) {
      const written = await inner.append(threadId, expectedVersion, events);
      if (events.some((e) => e.type === 'decision') && events.some((e) => e.type === 'tool_call')) {
        appended.resolve();
        await hold.promise;
      }
      return written;
    },
  };
  return { store, appended, hold };
}

/**
 * `inner` whose first append passing `test` waits, before it is written, until the test resolves
 * `hold`; `writing` resolves when it has come (and waits).
 */
export function holdingWritesBefore<TStore extends ThreadStore>(
  inner: TStore,
  test: (events: readonly ThreadEvent[]) => boolean,
): { store: TStore; writing: Deferred<void>; hold: Deferred<void> } {
  const writing = deferred();
  const hold = deferred();
  let held = false;
  const store: TStore = {
    ...inner,
    async append(threadId, expectedVersion, events) {
      if (!held && test(events)) {
        held = true;
        writing.resolve();
        await hold.promise;
      }
      return inner.append(threadId, expectedVersion, events);
    },
  };
  return { store, writing, hold };
}

/** An `inspect` for a runtime, and a promise that resolves once an actor of it receives a CANCEL. */
export function cancelArrival(): { inspect: (event: InspectionEvent) => void; received: Promise<void> } {
  const received = deferred();
  const inspect = (event: InspectionEvent): void => {
    if (event.type === '@xstate.event' && event.event.type === 'CANCEL') received.resolve();
  };
  return { inspect, received: received.promise };
}

/** The `publisher` agent with `publish` as its tool, and `posts`, a pipeline of one step that has it publish its input. */
export function publisherPipeline(publish: Tool): { publisher: Agent; posts: ReturnType<typeof postsOf> } {
  return { publisher: agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] }), posts: postsOf() };
}

function postsOf() {
  return pipeline({ name: 'posts', description: 'has the publisher publish', input: z.string(), output: z.unknown() })
    .agent({ name: 'pub', agent: 'publisher', input: ({ input }) => input })
    .finish(({ results }) => results.pub);
}
