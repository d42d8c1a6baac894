/**
 * An exception thrown inside an agent machine's action (not a step: those become STEP.FAILED) makes
 * XState fail the actor. Here the actor's logger throws as the `run` action logs its `agent state`
 * line (a pino hook of the user's that throws), the one place user code runs inside an action.
 * What a user sees: an error line naming the thread, its agent and the error, a wait that ends, and
 * the thread still stored as the log left it.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createAgentActor, whenSettled } from '../../src/runtime/agentActor.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createThread } from '../support/agentHarness.js';
import type { LogLine } from '../support/capturingLogger.js';
import type { Clock } from '../../src/clock.js';
import { SystemError } from '../../src/errors.js';
import { until } from '../support/agentHarness.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { within } from '../bus/waiting.js';

/**
 * A debug logger whose hook throws on the actor's `agent state` lines (those for which `throws()`
 * says so: all by default), writing the other lines into `lines`; `heard` is told each message as
 * it is logged.
 */
function brittleLogger(heard: (msg: unknown) => void = () => {}, throws: () => boolean = () => true, error = 'log hook exploded'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino(
    {
      level: 'debug',
      hooks: {
        logMethod(args, method) {
          if (args[1] === 'agent state' && throws()) throw new Error(error);
          method.apply(this, args);
          heard(args[1]);
        },
      },
    },
    destination,
  );
  return { logger, lines };
}

const brittle = agent({ name: 'brittle', description: 'fails in an action', prompt: 'You are {{agent}}.' , tools: [] });
const script = () => scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }]);
const failures = (lines: readonly LogLine[]) => lines.filter((line) => line.level === 50 && line.msg === 'agent actor failed');
const RETRY = 'agent actor failed again: starting the thread again after a backoff';
const retries = (lines: readonly LogLine[]) => lines.filter((line) => line.msg === RETRY);
/** Lets the runtime's promise chains and deferred sends run (the simulated clock stands still). */
const flush = () => until(() => false, 20).catch(() => undefined);

/** A simulated clock whose timers still pending (armed, neither fired nor cleared) `live` counts. */
function countingClock(): { clock: Clock; simulated: SimulatedClock; live: () => number } {
  const simulated = new SimulatedClock();
  simulated.set(Date.parse('2026-01-01T00:00:00Z'));
  const pending = new Set<number>();
  const clock: Clock = {
    now: () => simulated.now(),
    setTimeout: (fn, ms) => {
      const id = simulated.setTimeout(() => {
        pending.delete(id);
        fn();
      }, ms);
      pending.add(id);
      return id;
    },
    clearTimeout: (id) => {
      pending.delete(id as number);
      simulated.clearTimeout(id as number);
    },
  };
  return { clock, simulated, live: () => pending.size };
}

describe('an agent actor whose action throws', () => {
  it('run by a runtime: an error line names the thread, its agent, its state and the error at each failure, and the thread stays stored as its log left it', async () => {
    const { logger, lines } = brittleLogger();
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [brittle], store, model: script(), logger });
    try {
      const { id } = await rt.launch('brittle', 'go');
      // Restarted at once, failed again: backing off (see the tests below) before its next start.
      await until(() => retries(lines).length === 1);
      const failed = failures(lines);
      expect(failed.map((line) => line.failures)).toEqual([1, 2]);
      for (const line of failed) expect(line).toMatchObject({ threadId: id, agent: 'brittle', state: expect.any(String), err: 'log hook exploded' });
      // Nothing recorded after the input.
      expect((await store.get(id))?.events.map((e) => e.type)).toEqual(['input']);
    } finally {
      await rt.close();
    }
  });

  // Noticed in review: the restart-once read the thread with no catch, so a store failing right then
  // left an unhandled rejection (a crashed worker) and a thread no one would settle. Since, the
  // thread is not left stopped either: started again after a backoff, it goes on.
  it('run by a runtime whose store fails the read of its restart: no unhandled rejection, the failure is logged and the thread is started again after a backoff', async () => {
    let failNextGet = false;
    let failed = 0;
    // The restart's read comes right after the first failure's line; only the first start fails.
    let throwsLeft = 1;
    const { logger, lines } = brittleLogger(
      (msg) => {
        if (msg === 'agent actor failed' && ++failed === 1) failNextGet = true;
      },
      () => throwsLeft-- > 0,
    );
    const store = createMemoryStore();
    const failing: ThreadStore = Object.assign(Object.create(store) as ThreadStore, {
      get: async (id: string) => {
        if (!failNextGet) return store.get(id);
        failNextGet = false;
        throw new SystemError('the store is away');
      },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { clock, simulated } = countingClock();
    const rt = createRuntime({ agents: [brittle], store: failing, model: script(), clock, logger });
    try {
      const { id } = await rt.launch('brittle', 'go');
      const settled = rt.settled(id);
      await until(() => retries(lines).length === 1);
      expect(lines.filter((line) => line.level === 50 && line.threadId === id && String(line.msg).includes('restart'))).toEqual([
        expect.objectContaining({ err: expect.stringContaining('the store is away') }),
      ]);
      expect(retries(lines)[0]).toMatchObject({ threadId: id, attempt: 1, delayMs: 1_000, reason: expect.stringContaining('its thread could not be read: the store is away') });
      simulated.increment(1_000);
      expect(await within(settled, 5_000, 'the wait to end')).toMatchObject({ id, status: 'done', output: 'ok' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
      expect(failures(lines)).toHaveLength(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await rt.close();
    }
  });

  it('created by createAgentActor and started with no observer: the failure is logged with the thread, its agent and the error, not swallowed', async () => {
    const { logger, lines } = brittleLogger();
    const store = createMemoryStore();
    const thread = await createThread(store, { id: 't-root', agent: 'brittle', input: 'go' });
    const actor = createAgentActor({ agent: brittle, thread, model: script(), store, logger });
    actor.start();
    expect(actor.getSnapshot().status).toBe('error');
    expect(failures(lines)).toEqual([expect.objectContaining({ threadId: 't-root', agent: 'brittle', state: expect.any(String), err: 'log hook exploded' })]);
    // A wait on it ends too, with the error.
    await expect(whenSettled(actor)).rejects.toThrow('log hook exploded');
  });
});

/**
 * An actor that fails again right after its one immediate restart (the same transient cause) must
 * not leave its thread `running` with nothing running it until the process restarts: an embedded
 * runtime starts it again from its log after the backoff a failed step gets (1 s doubling up to
 * 60 s), logging each attempt, and a wait on it goes on until the thread really rests.
 */
describe('an agent actor that fails again after its immediate restart, in an embedded runtime', () => {
  const finishing = () => scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } });

  it('is started again after a growing backoff, and its thread reaches done in the same runtime', async () => {
    let throwsLeft = 4;
    const { logger, lines } = brittleLogger(undefined, () => throwsLeft-- > 0);
    const { clock, simulated } = countingClock();
    const rt = createRuntime({ agents: [brittle], store: createMemoryStore(), model: finishing(), clock, logger });
    try {
      const { id } = await rt.launch('brittle', 'go');
      let outcome: unknown;
      const settled = rt.settled(id);
      settled.then((view) => (outcome = view), (error: unknown) => (outcome = error));
      const delays: number[] = [];
      for (let n = 1; n <= 3; n++) {
        await until(() => retries(lines).length === n || outcome !== undefined);
        // A waiter is not released during the backoff: the thread still moves (as after a failed step).
        expect(outcome).toBeUndefined();
        const line = retries(lines)[n - 1]!;
        expect(line).toMatchObject({ level: 40, threadId: id, agent: 'brittle', state: expect.any(String), reason: 'log hook exploded', attempt: n });
        delays.push(line.delayMs as number);
        // The first failure was restarted at once; each later one waits for its backoff, with no actor meanwhile.
        expect(failures(lines)).toHaveLength(n + 1);
        expect(rt.activeCount()).toBe(0);
        // Nor is the thread started early by another wait on it (which starts a thread nothing moves).
        void rt.settled(id).catch(() => undefined);
        simulated.increment((line.delayMs as number) - 1);
        await flush();
        expect(failures(lines)).toHaveLength(n + 1);
        simulated.increment(1);
      }
      expect(delays).toEqual([1_000, 2_000, 4_000]);
      expect(await within(settled, 5_000, 'the thread to rest')).toMatchObject({ id, status: 'done', output: 'ok' });
      expect(failures(lines)).toHaveLength(4);
    } finally {
      await rt.close();
    }
  });

  it('counts failures in a row only: after the thread rests, a new failure is restarted at once first and its backoff starts at 1 s again', async () => {
    let throwsLeft = 3;
    const { logger, lines } = brittleLogger(undefined, () => throwsLeft-- > 0);
    const { clock, simulated } = countingClock();
    const model = scriptedModel([], {
      whenExhausted: (r) => (r.context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'request_human_input', args: { question: 'which?' } }),
    });
    const rt = createRuntime({ agents: [brittle], store: createMemoryStore(), model, clock, logger });
    try {
      const { id } = await rt.launch('brittle', 'go');
      const waiting = rt.settled(id);
      // Fails, restarted at once, fails (1 s), fails (2 s), then asks.
      for (const [n, delayMs] of [[1, 1_000], [2, 2_000]] as const) {
        await until(() => retries(lines).length === n);
        expect(retries(lines)[n - 1]).toMatchObject({ threadId: id, attempt: n, delayMs });
        simulated.increment(delayMs);
      }
      const asked = await within(waiting, 5_000, 'the thread to ask');
      expect(asked.status).toBe('awaiting_human');
      const before = { failed: failures(lines).length, retried: retries(lines).length };
      throwsLeft = 3;
      await rt.respond(id, { requestId: asked.pendingRequest!.requestId, answer: 'that one' });
      const settled = rt.settled(id);
      await until(() => retries(lines).length === before.retried + 1);
      // Restarted at once after its first failure since the rest: two failures before the first backoff, from 1 s.
      expect(failures(lines).length - before.failed).toBe(2);
      expect(retries(lines).at(-1)).toMatchObject({ threadId: id, attempt: 1, delayMs: 1_000 });
      simulated.increment(1_000);
      await until(() => retries(lines).length === before.retried + 2);
      expect(retries(lines).at(-1)).toMatchObject({ threadId: id, attempt: 2, delayMs: 2_000 });
      simulated.increment(2_000);
      expect(await within(settled, 5_000, 'the thread to rest')).toMatchObject({ id, status: 'done', output: 'ok' });
    } finally {
      await rt.close();
    }
  });

  it("logs each attempt with its agent's secrets redacted from the reason, as a failed step's", async () => {
    const SECRET = 'plum-AGENT-SECRET-4471';
    const { logger, lines } = brittleLogger(undefined, () => true, `log hook exploded near ${SECRET}`);
    const { clock } = countingClock();
    const secretive = agent({ name: 'secretive', description: 'fails in an action', prompt: 'p', tools: [], secrets: [SECRET] });
    const rt = createRuntime({ agents: [secretive], store: createMemoryStore(), model: finishing(), clock, logger });
    try {
      const { id } = await rt.launch('secretive', 'go');
      await until(() => retries(lines).length === 1 || lines.some((l) => l.msg === 'agent actor stopped early'));
      await flush();
      expect(lines.find((l) => l.msg === 'agent actor stopped early')).toMatchObject({ threadId: id, reason: 'log hook exploded near [REDACTED]' });
      expect(retries(lines)).toEqual([expect.objectContaining({ threadId: id, agent: 'secretive', reason: 'log hook exploded near [REDACTED]' })]);
      expect(JSON.stringify(lines)).not.toContain(SECRET);
    } finally {
      await rt.close();
    }
  });

  it('close() during the backoff clears it: no timer is left, the thread is not started again, and a wait on it ends closed', async () => {
    const { logger, lines } = brittleLogger();
    const { clock, simulated, live } = countingClock();
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [brittle], store, model: finishing(), clock, logger });
    const { id } = await rt.launch('brittle', 'go');
    const settled = rt.settled(id);
    settled.catch(() => undefined);
    await until(() => retries(lines).length === 1);
    expect((await store.get(id))?.events.map((e) => e.type)).toEqual(['input']);
    await rt.close();
    expect(live()).toBe(0);
    simulated.increment(120_000);
    await flush();
    expect(failures(lines)).toHaveLength(2);
    expect(retries(lines)).toHaveLength(1);
    await expect(settled).rejects.toThrow('the runtime is closed');
  });
});
