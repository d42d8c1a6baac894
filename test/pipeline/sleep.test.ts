import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { codeStep, pipeline, sleepStep } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';

function remindLater(ms: number, woke: number[], now: () => number) {
  return pipeline({
    name: 'remind',
    description: 'sleep, then remind',
    input: z.object({ note: z.string() }),
    output: z.object({ reminded: z.string() }),
    steps: [
      sleepStep({ name: 'wait', ms }),
      codeStep({ name: 'remind', run: ({ input }) => (woke.push(now()), (input as { note: string }).note) }),
    ],
    finish: ({ results }) => ({ reminded: results.remind as string }),
  });
}

async function until(rt: Runtime, id: string, test: (e: ThreadEvent) => boolean): Promise<ThreadEvent> {
  for await (const event of rt.watch(id)) if (test(event)) return event;
  throw new Error('thread ended first');
}

describe('durable sleep (pipeline sleepStep)', () => {
  it('survives a restart: the new process re-arms the recorded deadline and does not sleep again from scratch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sleep-'));
    // One simulated clock across both processes: the restart happens 500 ms into a 600 ms sleep.
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const now = (): number => clock.now();
    try {
      const woke: number[] = [];
      const first = createRuntime({ agents: [], pipelines: [remindLater(600, woke, now)], store: await createFileStore({ dir, clock }), model: scriptedModel([]), clock });
      const { id } = await first.launch('remind', { note: 'call back' });
      const journaled = await until(first, id, (e) => e.type === 'tool_call' && e.data.tool === 'wait');
      const deadline = Date.parse(String(journaled.type === 'tool_call' ? journaled.data.args.until : ''));
      expect(deadline).toBe(clock.now() + 600);
      await first.close(); // the process stops mid-sleep
      clock.increment(500);

      const second = createRuntime({ agents: [], pipelines: [remindLater(600, woke, now)], store: await createFileStore({ dir, clock }), model: scriptedModel([]), clock });
      expect(await second.recover()).toBe(1);
      clock.increment(99);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(woke).toEqual([]);
      // The last millisecond of the recorded deadline wakes it; a sleep started again from scratch
      // would still have about 500 ms to go.
      clock.increment(1);
      const final = await Promise.race([
        until(second, id, (e) => e.type === 'final'),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('did not wake at the recorded deadline')), 5_000)),
      ]);
      expect(final).toMatchObject({ data: { output: { reminded: 'call back' } } });
      expect(woke).toEqual([deadline]);
      // One deadline, recorded once.
      const view = (await second.get(id))!;
      expect(view.events.filter((e) => e.type === 'tool_call' && e.data.tool === 'wait')).toHaveLength(1);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never wakes early (simulated clock)', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const woke: number[] = [];
    const tenMinutes = 10 * 60_000;
    const rt = createRuntime({ agents: [], pipelines: [remindLater(tenMinutes, woke, () => clock.now())], store: createMemoryStore(), model: scriptedModel([]), clock });
    const { id } = await rt.launch('remind', { note: 'stand-up' });
    await until(rt, id, (e) => e.type === 'tool_call' && e.data.tool === 'wait');
    await new Promise((resolve) => setImmediate(resolve));
    clock.increment(tenMinutes - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woke).toEqual([]);
    expect((await rt.get(id))!.status).toBe('sleeping');
    clock.increment(1);
    await until(rt, id, (e) => e.type === 'final');
    expect(woke).toEqual([Date.parse('2026-01-01T00:10:00Z')]);
  });
});

/**
 * Runs a pipeline `nap` that sleeps for what `duration` returns, then runs a code step `after`
 * (recorded in `ran`), to its rest.
 */
async function napFor(duration: number) {
  const ran: string[] = [];
  const nap = pipeline({
    name: 'nap',
    description: 'sleeps for what a step computed',
    input: z.object({}),
    output: z.unknown(),
    steps: [sleepStep({ name: 'z', duration: () => duration }), codeStep({ name: 'after', run: () => (ran.push('after'), 1) })],
    finish: ({ results }) => results.after,
  });
  const rt = createRuntime({ agents: [], pipelines: [nap], store: createMemoryStore(), model: scriptedModel([]) });
  const { id } = await rt.launch('nap', {});
  const end = await rt.settled(id);
  await rt.close();
  return { end, ran };
}

describe('a sleep whose duration is not a number of milliseconds (QA19 pipelines #2)', () => {
  it('fails the run at once naming the step and the value, instead of sleeping 0 ms', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '5s' as unknown as number]) {
      const { end, ran } = await napFor(bad);
      expect(end.status).toBe('failed');
      expect(end.failure).toBe(`step z: its duration is ${String(bad)}, not a number of milliseconds`);
      expect(ran).toEqual([]);
      expect(end.events.filter((e) => e.type === 'error')).toEqual([]);
    }
  });

  it('fails the run naming the step when its duration ends past the last date a deadline can hold (review)', async () => {
    const { end, ran } = await napFor(Number.MAX_VALUE);
    expect(end.status).toBe('failed');
    expect(end.failure).toBe(`step z: its duration of ${Number.MAX_VALUE} ms ends past the last date a deadline can hold`);
    expect(ran).toEqual([]);
  });

  it('sleeps no time for a negative duration (a deadline already past)', async () => {
    const { end, ran } = await napFor(-5_000);
    expect(end.status).toBe('done');
    expect(ran).toEqual(['after']);
  });
});
