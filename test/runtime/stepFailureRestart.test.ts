import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { VersionConflictError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { until } from '../support/agentHarness.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';

type Line = LogLine & { msg: string; level: number; threadId?: string; agent?: string; state?: string; attempt?: number; delayMs?: number };

/** A logger at debug whose lines land in `lines`. */
function capturingLines() {
  const { logger, out } = capturingLogger('debug');
  return { logger, lines: out.lines as Line[] };
}

/** A memory store whose first `n` appends fail with `failure()` (the disk full, the bus down). */
function failingAppends(inner: ThreadStore, n: number, failure: () => Error): ThreadStore & { readonly failed: () => number } {
  let failed = 0;
  return {
    ...inner,
    append: (...args) => {
      if (failed < n) {
        failed++;
        return Promise.reject(failure());
      }
      return inner.append(...args);
    },
    failed: () => failed,
  };
}

const quick = agent({ name: 'quick', description: 'finishes at once', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });
const RETRY = 'a step failed: starting the thread again after a backoff';

function setup(store: ThreadStore) {
  const clock = new SimulatedClock();
  clock.set(Date.parse('2026-01-01T00:00:00Z'));
  const { logger, lines } = capturingLines();
  const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'finished' } }) });
  const rt = createRuntime({ agents: [quick], store, model, clock, logger });
  return { rt, clock, lines, retries: () => lines.filter((l) => l.msg === RETRY) };
}

describe('a step that fails for a system reason', () => {
  it('starts the thread again after a growing backoff, without a restart of the process', async () => {
    const store = failingAppends(createMemoryStore(), 3, () => new Error('ENOSPC: no space left on device'));
    const { rt, clock, lines, retries } = setup(store);
    const { id } = await rt.launch('quick', 'go');
    const settled = rt.settled(id);
    const delays: number[] = [];
    for (let n = 1; n <= 3; n++) {
      await until(() => lines.filter((l) => l.msg === 'agent actor stopped early').length === n);
      expect(retries()).toHaveLength(n);
      const line = retries()[n - 1]!;
      expect(line).toMatchObject({ threadId: id, agent: 'quick', state: 'deciding', attempt: n });
      delays.push(line.delayMs!);
      // Not before its backoff: the actor is gone until then.
      expect(rt.activeCount()).toBe(0);
      clock.increment(line.delayMs!);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000]);
    const view = await settled;
    expect(view).toMatchObject({ status: 'done', output: 'finished' });
    expect(store.failed()).toBe(3);
    await rt.close();
  });

  it('a version conflict (another writer moved the thread) is not retried', async () => {
    const store = failingAppends(createMemoryStore(), 1, () => new VersionConflictError('x', 1, 2));
    const { rt, lines, retries } = setup(store);
    const { id } = await rt.launch('quick', 'go');
    await until(() => lines.some((l) => l.msg === 'agent actor stopped early' && l.threadId === id));
    expect(retries()).toHaveLength(0);
    expect((await rt.get(id))!.status).toBe('running');
    await rt.close();
  });
});
