import { z } from 'zod';
import { tool, type Tool } from '../../src/agent/tool.js';
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

/** A non-idempotent `publish` tool ({ post }) that finishes when the test says so. */
export function heldPublishTool(options: { approval?: boolean } = {}): HeldTool {
  const started = deferred<AbortSignal>();
  const release = deferred<string>();
  let runs = 0;
  const publish = tool({
    name: 'publish',
    description: 'publishes the post',
    input: z.object({ post: z.string() }),
    ...(options.approval ? { approval: true } : {}),
    run: async (_args, { signal }) => {
      runs++;
      started.resolve(signal);
      return release.promise;
    },
  });
  return { publish, started, release, runs: () => runs };
}
