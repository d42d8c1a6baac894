/**
 * How a webhook and a callback end, side by side: delivered, given up, refused by the receiver,
 * cut short by a stop (with a ledger and without), superseded by a later rest of the thread,
 * dropped with its deleted thread. For each: the log lines about it (message, level and every
 * field: operators' alerts read them), what `onDelivery` is told, and what the ledger records.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { Clock } from '../../src/clock.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { createWebhookNotifier } from '../../src/server/webhooks.js';
import type { DeliveryLedger } from '../../src/store/deliveryLedger.js';
import { createCallbackSender } from '../../src/surface/callbacks.js';
import type { Thread } from '../../src/thread/events.js';
import { deferred, eventually } from '../bus/waiting.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { createHarness } from './harness.js';

const SECRET = 'whsec_endings';
/** Never reached: every request goes to the scripted fetch. */
const RECEIVER = 'http://127.0.0.1:9/hook';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Kind = 'webhook' | 'callback';

/** A ledger in memory: the ids recorded as delivered, and those recorded as owed. */
interface MemoryLedger extends DeliveryLedger {
  readonly recorded: string[];
  readonly owedIds: string[];
}

function memoryLedger(): MemoryLedger {
  const records = new Map<string, string>();
  const recorded: string[] = [];
  const owedIds: string[] = [];
  return {
    recorded,
    owedIds,
    get: async (key) => records.get(key),
    record: async (key, id) => {
      records.set(key, id);
      recorded.push(id);
    },
    owe: async ({ id }) => void owedIds.push(id),
    owed: async () => [],
    clearOwed: async () => {},
    close: async () => {},
  };
}

interface Setup {
  /** The receiver's answers: the n-th request gets statuses[n], the last one from then on. */
  readonly statuses: readonly number[];
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly clock?: Clock;
  readonly ledger?: MemoryLedger;
}

/** One sender (webhooks or callbacks) over a runtime, its outcomes, log lines and requests. */
interface Run {
  readonly runtime: Runtime;
  readonly outcomes: Record<string, unknown>[];
  readonly lines: LogLine[];
  readonly requests: () => number;
  /** Resolves at the first request. */
  readonly firstRequest: Promise<void>;
  /** Sends what `thread`'s rest calls for, as the process that wrote it does (the sender is not attached). */
  send(thread: Thread): void;
  /** Attaches the sender to the runtime (it hears its writes and its deletes). */
  attach(): void;
  idle(): Promise<void>;
  close(): Promise<void>;
}

function start(kind: Kind, setup: Setup): Run {
  const { runtime } = createHarness();
  cleanups.push(() => runtime.close());
  const { logger, out } = capturingLogger('info');
  const outcomes: Record<string, unknown>[] = [];
  const first = deferred();
  let requests = 0;
  const scripted: typeof fetch = async () => {
    const status = setup.statuses[requests] ?? setup.statuses.at(-1)!;
    requests++;
    first.resolve();
    return new Response(status === 200 ? 'ok' : 'nope', { status });
  };
  const common = { fetch: scripted, logger, clock: setup.clock, ledger: setup.ledger, onDelivery: (d: object) => void outcomes.push({ ...d }) };
  const base = { runtime, outcomes, lines: out.lines, requests: () => requests, firstRequest: first.promise };
  if (kind === 'webhook') {
    const notifier = createWebhookNotifier({ ...common, webhooks: [{ url: RECEIVER, secret: SECRET }], retries: { attempts: setup.attempts, initialDelayMs: setup.initialDelayMs }, threads: runtime });
    cleanups.push(() => notifier.close());
    return {
      ...base,
      send: (thread) => notifier.notify({ thread, events: thread.events, status: thread.events.at(-1)?.type === 'final' ? 'done' : 'awaiting_human' }),
      attach: () => void notifier.attach(runtime),
      idle: () => notifier.idle(),
      close: () => notifier.close(),
    };
  }
  const sender = createCallbackSender({ ...common, secret: SECRET, attempts: setup.attempts, initialDelayMs: setup.initialDelayMs });
  cleanups.push(() => sender.close());
  return {
    ...base,
    send: (thread) => void sender.send(thread, runtime),
    attach: () => void sender.attach(runtime),
    idle: () => sender.idle(),
    close: () => sender.close(),
  };
}

/** Launches an echo thread with a callback to the receiver and returns it once done. */
async function finished(runtime: Runtime): Promise<Thread> {
  const launched = await runtime.launch('echo', 'x', { source: { kind: 'http', replyTo: RECEIVER } });
  expect((await runtime.settled(launched.id)).status).toBe('done');
  return (await runtime.get(launched.id))!;
}

/** The lines about `delivery`, without pino's own fields. */
function linesAbout(lines: LogLine[], delivery: unknown): Record<string, unknown>[] {
  const own = new Set(['time', 'pid', 'hostname', 'name']);
  return lines.filter((line) => line.delivery === delivery).map((line) => Object.fromEntries(Object.entries(line).filter(([key]) => !own.has(key))));
}

/** The fields every line about a delivery carries, as each sender names them: the thread's `state` when it rested. */
function fieldsOf(kind: Kind, thread: Thread, delivery: unknown, state = 'done'): Record<string, unknown> {
  return kind === 'webhook' ? { threadId: thread.id, agent: thread.agent, state, url: RECEIVER, delivery } : { url: RECEIVER, delivery, threadId: thread.id, agent: thread.agent, state };
}

/** What `onDelivery` is told besides the outcome, as each sender says it. */
function deliveryOf(kind: Kind, thread: Thread, id: unknown, type = 'thread.finished'): Record<string, unknown> {
  return kind === 'webhook' ? { id, url: RECEIVER, type, threadId: thread.id } : { id, url: RECEIVER, threadId: thread.id };
}

const failed = { status: 500, error: expect.any(String) };
/** A line about it names the error `err`, as every line does. */
const failedLine = { status: 500, err: expect.any(String) };

describe.each(['webhook', 'callback'] as const)('how a %s ends', (kind) => {
  /** Sends a done thread's delivery to a receiver answering `statuses` (a ledger kept), once it ended. */
  async function sentTo(statuses: readonly number[], attempts: number) {
    const ledger = memoryLedger();
    const run = start(kind, { statuses, attempts, initialDelayMs: 1, ledger });
    const thread = await finished(run.runtime);
    run.send(thread);
    await run.idle();
    const id = run.outcomes[0]?.id;
    return { run, ledger, id, fields: fieldsOf(kind, thread, id), told: deliveryOf(kind, thread, id) };
  }

  it('delivered: no line, told ok, recorded', async () => {
    const { run, ledger, id, told } = await sentTo([200], 3);
    expect(run.outcomes).toEqual([{ ...told, ok: true, attempts: 1, status: 200 }]);
    expect(linesAbout(run.lines, id)).toEqual([]);
    expect(ledger.recorded).toEqual([id]);
    expect(ledger.owedIds).toEqual([]);
  });

  it('given up, its retries spent: a warning per attempt, then an error; owed', async () => {
    const { run, ledger, id, fields, told } = await sentTo([500], 2);
    expect(run.outcomes).toEqual([{ ...told, ok: false, attempts: 2, ...failed }]);
    expect(linesAbout(run.lines, id)).toEqual([
      { level: 40, ...fields, attempt: 1, ...failedLine, msg: `${kind} attempt failed` },
      { level: 40, ...fields, attempt: 2, ...failedLine, msg: `${kind} attempt failed` },
      { level: 50, ...fields, attempts: 2, ...failedLine, msg: `${kind} given up` },
    ]);
    expect(ledger.recorded).toEqual([]);
    expect(ledger.owedIds).toEqual([id]);
  });

  it('refused by its receiver (a 4xx): not sent again, recorded as sent', async () => {
    const { run, ledger, id, fields, told } = await sentTo([404], 3);
    const refused = { status: 404, error: expect.any(String) };
    const refusedLine = { status: 404, err: expect.any(String) };
    expect(run.requests()).toBe(1);
    if (kind === 'webhook') {
      expect(run.outcomes).toEqual([{ ...told, ok: false, attempts: 1, ...refused }]);
      expect(linesAbout(run.lines, id)).toEqual([{ level: 50, ...fields, attempts: 1, ...refusedLine, msg: 'webhook given up' }]);
    } else {
      expect(run.outcomes).toEqual([{ ...told, ok: false, attempts: 1, ...refused, refused: true }]);
      expect(linesAbout(run.lines, id)).toEqual([
        { level: 40, ...fields, attempt: 1, ...refusedLine, msg: 'callback refused' },
        { level: 50, ...fields, attempts: 1, ...refusedLine, msg: 'callback given up' },
      ]);
    }
    expect(ledger.recorded).toEqual([id]);
    expect(ledger.owedIds).toEqual([]);
  });

  it.each([true, false])('cut short by a stop while a retry waits (a ledger: %s)', async (withLedger) => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const ledger = withLedger ? memoryLedger() : undefined;
    const run = start(kind, { statuses: [500], attempts: 3, initialDelayMs: 1_000, clock, ledger });
    const thread = await finished(run.runtime);
    run.send(thread);
    await run.firstRequest; // its retry waits on the clock, which never moves
    await run.close();
    const id = run.outcomes[0]?.id;
    const fields = fieldsOf(kind, thread, id);
    expect(run.outcomes).toEqual([{ ...deliveryOf(kind, thread, id), ok: false, attempts: 1, ...failed, ...(kind === 'callback' ? { stopped: true } : {}) }]);
    const ending =
      withLedger ? [40, `${kind} not sent before the stop: kept as owed, sent at the next start`]
      : kind === 'webhook' ? [50, 'webhook given up at the stop (no ledger keeps it: not sent again)']
      : [40, 'callback not sent before the stop (sent again when its job comes back)'];
    expect(linesAbout(run.lines, id)).toEqual([
      { level: 40, ...fields, attempt: 1, ...failedLine, msg: `${kind} attempt failed` },
      { level: ending[0], ...fields, attempts: 1, ...failedLine, msg: ending[1] },
    ]);
    if (ledger !== undefined) expect([ledger.recorded, ledger.owedIds]).toEqual([[], [id]]);
  });

  it('superseded: its human request answered before the retry, it is not sent again nor recorded', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const ledger = memoryLedger();
    const run = start(kind, { statuses: [500, 200], attempts: 3, initialDelayMs: 500, clock, ledger });
    const launched = await run.runtime.launch('calculator', { op: 'divide', a: 8, b: 2 }, { source: { kind: 'http', replyTo: RECEIVER } });
    const waiting = await run.runtime.settled(launched.id);
    const asking = (await run.runtime.get(launched.id))!;
    run.send(asking);
    await run.firstRequest;
    await run.runtime.respond(launched.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect((await run.runtime.settled(launched.id)).status).toBe('done');
    // Time moves once the sender waits on it (after it read the answer to the first attempt).
    await eventually(async () => {
      clock.increment(10_000);
      return run.outcomes.length > 0 ? true : undefined;
    }, 5_000, 'the retry', 5);
    await run.idle();
    const id = run.outcomes[0]?.id;
    const fields = fieldsOf(kind, asking, id, 'awaiting_human');
    expect(run.requests()).toBe(1);
    expect(run.outcomes).toEqual([{ ...deliveryOf(kind, asking, id, 'thread.human_request'), ok: false, attempts: 1, ...failed, superseded: true }]);
    expect(linesAbout(run.lines, id)).toEqual([
      { level: 40, ...fields, attempt: 1, ...failedLine, msg: `${kind} attempt failed` },
      { level: 30, ...fields, attempts: 1, ...failedLine, msg: `${kind} superseded: its thread rested again since (not sent after its later rest)` },
    ]);
    expect([ledger.recorded, ledger.owedIds]).toEqual([[], []]);
  });

  it('dropped: its thread deleted while a retry waits, it is not sent again', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const run = start(kind, { statuses: [500], attempts: 3, initialDelayMs: 1_000, clock });
    run.attach(); // hears the thread's end, and its delete
    const thread = await finished(run.runtime);
    await run.firstRequest;
    await run.runtime.delete(thread.id);
    await run.idle();
    const id = run.outcomes[0]?.id;
    const fields = fieldsOf(kind, thread, id);
    expect(run.requests()).toBe(1);
    expect(run.outcomes).toEqual([{ ...deliveryOf(kind, thread, id), ok: false, attempts: 1, ...failed, deleted: true }]);
    expect(linesAbout(run.lines, id)).toEqual([
      { level: 40, ...fields, attempt: 1, ...failedLine, msg: `${kind} attempt failed` },
      { level: 30, ...fields, attempts: 1, ...failedLine, msg: `${kind} dropped: its thread was deleted` },
    ]);
  });
});
