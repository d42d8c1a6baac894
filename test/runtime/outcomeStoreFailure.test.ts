/**
 * A tool call that completed while its store failed (NATS down, a directory made read-only, a full
 * disk): the step holds the call's outcome, so it retries that one append in place, with a backoff,
 * for as long as its actor runs, instead of dropping the outcome (whoever continued the thread
 * would then ask a human whether the call took effect, although it is known that it did).
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { SystemError } from '../../src/errors.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { flush, typesOf } from '../support/agentHarness.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';

type Line = LogLine & { msg: string; level: number; threadId?: string; agent?: string; tool?: string; callId?: string; err?: string };

/** A logger at debug whose lines land in `lines`. */
function capturingLines() {
  const { logger, out } = capturingLogger('debug');
  return { logger, lines: out.lines as Line[] };
}

/** `inner` whose first `n` appends of a tool_result fail as a store that cannot be reached does (nothing written). */
function failingResultAppends(inner: ThreadStore, n: number): ThreadStore & { readonly failed: () => number } {
  let failed = 0;
  return {
    ...inner,
    append: (id, expected, events) => {
      if (failed < n && events.some((e) => e.type === 'tool_result')) {
        failed++;
        return Promise.reject(new SystemError(`cannot append to thread ${id}: timeout`));
      }
      return inner.append(id, expected, events);
    },
    failed: () => failed,
  };
}

/** Moves the simulated clock on in small steps, letting promises run between them, until `condition` holds. */
async function advanceUntil(clock: SimulatedClock, condition: () => boolean, stepMs = 50, maxSteps = 2_000): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    await flush();
    if (condition()) return;
    clock.increment(stepMs);
  }
  throw new Error('condition not met');
}

function setup(failures: number) {
  const clock = new SimulatedClock();
  clock.set(Date.parse('2026-01-01T00:00:00Z'));
  const tools = heldPublishTool();
  const { model } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
  const inner = createMemoryStore({ clock });
  const store = failingResultAppends(inner, failures);
  const { logger, lines } = capturingLines();
  const rt = createRuntime({ agents: [publisher], store, model, clock, logger });
  return { clock, tools, inner, store, lines, rt };
}

describe('a completed call whose outcome the store refuses for a while', () => {
  it('retries the append of its outcome in place until it lands: the thread goes on from the real result, nobody is asked, the tool ran once', async () => {
    const { clock, tools, inner, store, lines, rt } = setup(4);
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    tools.release.resolve('published');
    await advanceUntil(clock, () => lines.some((l) => l.msg === 'agent at rest' && l.threadId === id));

    const thread = (await inner.get(id))!;
    expect(typesOf(thread)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(thread.events[3]).toMatchObject({ type: 'tool_result', data: { callId: 'call_2', tool: 'publish', result: 'published' } });
    expect(thread.events[5]).toMatchObject({ type: 'final', data: { output: 'after published' } });
    expect(tools.runs()).toBe(1);
    expect(store.failed()).toBe(4);
    // The first failed attempt is a warning naming the call; the thread was never restarted from its log.
    const warned = lines.filter((l) => l.level === 40 && l.callId === 'call_2');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ threadId: id, agent: 'publisher', tool: 'publish', callId: 'call_2' });
    expect(warned[0]!.err).toMatch(/timeout/);
    expect(lines.filter((l) => l.msg === 'agent actor stopped early')).toHaveLength(0);
    await rt.close();
  });

  it('logs an error naming the call when its actor stops before the outcome could be recorded', async () => {
    const { clock, tools, store, lines, rt } = setup(Number.MAX_SAFE_INTEGER);
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    tools.release.resolve('published');
    await advanceUntil(clock, () => store.failed() >= 1);
    clock.increment(500);
    await flush();
    await rt.close();
    await flush();
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ threadId: id, agent: 'publisher', tool: 'publish', callId: 'call_2' });
    expect(errors[0]!.msg).toMatch(/completed/);
    expect(errors[0]!.msg).toMatch(/could not be recorded/);
    expect(tools.runs()).toBe(1);
  });

  it('takes a tool_result that landed although the store reported a failure (a lost acknowledgement) as recorded, and goes on', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const inner = createMemoryStore({ clock });
    let lost = 0;
    const store: ThreadStore = {
      ...inner,
      append: async (id, expected, events) => {
        const written = await inner.append(id, expected, events);
        if (lost === 0 && events.some((e) => e.type === 'tool_result')) {
          lost++;
          throw new SystemError(`cannot append to thread ${id}: timeout`);
        }
        return written;
      },
    };
    const { logger, lines } = capturingLines();
    const rt = createRuntime({ agents: [publisher], store, model, clock, logger });
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    tools.release.resolve('published');
    await advanceUntil(clock, () => lines.some((l) => (l.msg === 'agent at rest' || l.msg === 'agent actor stopped early') && l.threadId === id));

    expect(lost).toBe(1);
    expect(typesOf((await inner.get(id))!)).toEqual(['input', 'decision', 'tool_call', 'tool_result', 'decision', 'final']);
    expect(lines.filter((l) => l.msg === 'agent actor stopped early')).toHaveLength(0);
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(0);
    expect(tools.runs()).toBe(1);
    await rt.close();
  });
});
