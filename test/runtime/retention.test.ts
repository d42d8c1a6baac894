/**
 * Retention (`serve` with `SWITCHYARD_RETAIN_ENDED`): every interval, the threads that ended and
 * were last updated longer ago than the retention are deleted, a bounded batch per round; threads
 * still moving, recent ones and a child whose pipeline still runs are kept.
 */
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { startRetention, type Retention } from '../../src/runtime/retention.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { threadOf } from '../support/agentHarness.js';
import { capturingLogger } from '../support/capturingLogger.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const input = (parentId?: string): NewEvent => ({ type: 'input', data: { input: 'x', ...(parentId === undefined ? {} : { source: { kind: 'pipeline', parentId } }) } });
const DONE: NewEvent[] = [input(), { type: 'final', data: { output: 'ok' } }];
const RUNNING: NewEvent[] = [input()];

let retention: Retention | undefined;
afterEach(async () => {
  await retention?.close();
  retention = undefined;
});

function setup(store: ThreadStore = createMemoryStore()) {
  const clock = new SimulatedClock();
  clock.set(T0);
  const { logger, out } = capturingLogger();
  const runtime = createRuntime({ agents: [calculator], store, model: scriptedModel([]), clock, logger });
  return { clock, runtime, store, logger, out };
}

const ids = async (store: ThreadStore): Promise<string[]> => (await store.list({ limit: 1000 })).map((s) => s.id).sort();

describe('retention of ended threads', () => {
  it('deletes at start, then every interval, a batch at a time, only what ended before the retention', async () => {
    const { clock, runtime, store, logger, out } = setup();
    for (let i = 0; i < 5; i++) await store.create(threadOf(`old${i}`, 'calculator', DONE, T0 - 40 * DAY + i));
    await store.create(threadOf('young', 'calculator', DONE, T0 - 29 * DAY));
    await store.create(threadOf('moving', 'calculator', RUNNING, T0 - 90 * DAY));

    retention = startRetention(runtime, { retainMs: 30 * DAY, intervalMs: HOUR, batch: 2, clock, logger });
    await retention.idle();
    expect(await ids(store)).toEqual(['moving', 'old2', 'old3', 'old4', 'young']);
    expect(out.lines.filter((l) => l.msg === 'retention: deleted the threads that ended before the cutoff')).toEqual([
      expect.objectContaining({ deleted: 2, skipped: 0, failed: 0, more: true, cutoff: new Date(T0 - 30 * DAY).toISOString() }),
    ]);

    clock.increment(HOUR);
    await retention.idle();
    expect(await ids(store)).toEqual(['moving', 'old4', 'young']);

    clock.increment(HOUR);
    await retention.idle();
    expect(await ids(store)).toEqual(['moving', 'young']);

    // A day later `young` is past the retention too.
    clock.increment(DAY);
    await retention.idle();
    expect(await ids(store)).toEqual(['moving']);
  });

  it('keeps a child whose pipeline still runs, counting it as skipped in each round', async () => {
    const { runtime, store, logger, out, clock } = setup();
    await store.create(threadOf('pipe', 'calculator', RUNNING, T0 - 50 * DAY));
    await store.create(threadOf('child', 'calculator', [input('pipe'), { type: 'final', data: { output: 'ok' } }], T0 - 45 * DAY));
    retention = startRetention(runtime, { retainMs: 30 * DAY, intervalMs: HOUR, clock, logger });
    await retention.idle();
    expect(await ids(store)).toEqual(['child', 'pipe']);
    expect(out.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('retention'))).toEqual([expect.objectContaining({ deleted: 0, skipped: 1, failed: 0 })]);

    clock.increment(HOUR);
    await retention.idle();
    expect(out.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('retention'))).toHaveLength(2);
  });

  it('a store that cannot delete: one warning per round naming why, nothing deleted, the runtime goes on', async () => {
    const inner = createMemoryStore();
    const { delete: _ignored, ...withoutDelete } = inner;
    const { runtime, logger, out, clock } = setup(withoutDelete as ThreadStore);
    await inner.create(threadOf('old', 'calculator', DONE, T0 - 40 * DAY));
    retention = startRetention(runtime, { retainMs: 30 * DAY, intervalMs: HOUR, clock, logger });
    await retention.idle();
    expect(await ids(inner)).toEqual(['old']);
    expect(out.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('retention'))).toEqual([
      expect.objectContaining({ level: 40, deleted: 0, failed: 1, err: 'thread old cannot be deleted: this store cannot delete threads' }),
    ]);
    expect((await runtime.get('old'))?.status).toBe('done');
  });

  it('asks the store only for the threads updated before the cutoff: a round reads none of the younger ones', async () => {
    const { runtime, store, logger, clock } = setup();
    for (let i = 0; i < 3; i++) await store.create(threadOf(`old${i}`, 'calculator', DONE, T0 - 40 * DAY + i));
    for (let i = 0; i < 250; i++) await store.create(threadOf(`young${i}`, 'calculator', DONE, T0 - 10 * DAY + i));
    const listed: string[] = [];
    const asked: Array<Parameters<typeof runtime.list>[0]> = [];
    const counting: Pick<typeof runtime, 'list' | 'delete'> = {
      list: async (options) => {
        asked.push(options);
        const page = await runtime.list(options);
        listed.push(...page.map((s) => s.id));
        return page;
      },
      delete: (id) => runtime.delete(id),
    };
    retention = startRetention(counting, { retainMs: 30 * DAY, intervalMs: HOUR, clock, logger });
    await retention.idle();
    expect((await ids(store)).filter((id) => id.startsWith('old'))).toEqual([]);
    expect(listed.sort()).toEqual(['old0', 'old1', 'old2']);
    expect(asked).toEqual([expect.objectContaining({ updatedBefore: new Date(T0 - 30 * DAY).toISOString(), after: '' })]);
  });

  it('a round with nothing to do logs nothing; close stops it: no round after', async () => {
    const { runtime, store, logger, out, clock } = setup();
    retention = startRetention(runtime, { retainMs: 30 * DAY, intervalMs: HOUR, clock, logger });
    await retention.idle();
    expect(out.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('retention'))).toEqual([]);
    await store.create(threadOf('old', 'calculator', DONE, T0 - 40 * DAY));
    await retention.close();
    clock.increment(2 * HOUR);
    await retention.idle();
    expect(await ids(store)).toEqual(['old']);
  });

  it('refuses options that would spin or do nothing, with a ConfigError naming them', () => {
    const { runtime } = setup();
    for (const [options, message] of [
      [{ retainMs: 0 }, 'retention: retainMs must be a positive number of milliseconds'],
      [{ retainMs: Number.NaN }, 'retention: retainMs must be a positive number of milliseconds'],
      [{ retainMs: DAY, intervalMs: 999 }, 'retention: intervalMs must be at least 1000'],
      [{ retainMs: DAY, batch: 0 }, 'retention: batch must be a positive integer'],
      [{ retainMs: DAY, batch: 1.5 }, 'retention: batch must be a positive integer'],
    ] as const) {
      expect(() => startRetention(runtime, options), JSON.stringify(options)).toThrow(new ConfigError(message));
    }
  });

  it("keeps no process alive between rounds: its timer is unref'd (a host that closed its runtime and not this still exits; qa26-embed D5)", async () => {
    const timers: NodeJS.Timeout[] = [];
    const clock = {
      now: () => Date.now(),
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
        const timer = setTimeout(fn, ms);
        timers.push(timer);
        return timer;
      },
      clearTimeout: (id: unknown) => clearTimeout(id as NodeJS.Timeout),
    };
    retention = startRetention({ list: async () => [], delete: async () => Promise.reject(new Error('nothing to delete')) }, { retainMs: DAY, intervalMs: HOUR, clock });
    await retention.idle();
    expect(timers).toHaveLength(1);
    expect(timers[0]!.hasRef()).toBe(false);
  });
});
