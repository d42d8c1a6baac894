/**
 * A thread sleeping durably (an intent or a step before a decision asked to wait) when its process
 * stops is continued by the next process's recover(), at the recorded deadline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { calculatorTools } from '../../tools/calculator.js';
import { waitForAWhile } from '../support/waitIntent.js';


const patient = agent({
  name: 'patient',
  description: 'waits, then answers',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  tools: calculatorTools,
  intents: [waitForAWhile],
});

const script: ScriptStep[] = [
  { intent: 'wait_for_a_while', args: { seconds: 3600 } },
  { intent: 'done_for_now', args: { message: 'checked again' } },
];

async function until(rt: Runtime, id: string, test: (e: ThreadEvent) => boolean, ms = 5_000): Promise<ThreadEvent> {
  let timer: NodeJS.Timeout | undefined;
  const found = (async () => {
    for await (const event of rt.watch(id)) if (test(event)) return event;
    throw new Error('thread ended first');
  })();
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no such event within ${ms} ms`)), ms)));
  return Promise.race([found, late]).finally(() => clearTimeout(timer));
}

describe('a sleeping agent thread across a restart', () => {
  it('is continued by recover() and wakes at the recorded deadline, not earlier and not from scratch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sleeprec-'));
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    try {
      const first = createRuntime({ agents: [patient], store: await createFileStore({ dir, clock }), model: scriptedModel(script), clock });
      const { id } = await first.launch('patient', 'check on the deploy in an hour');
      await until(first, id, (e) => e.type === 'custom');
      expect((await first.get(id))!.status).toBe('sleeping');
      await first.close(); // the process stops half way through the hour
      clock.increment(1_800_000);

      const model = scriptedModel(script.slice(1));
      const second = createRuntime({ agents: [patient], store: await createFileStore({ dir, clock }), model, clock });
      expect(await second.recover()).toBe(1);
      clock.increment(1_799_999);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(model.requests).toHaveLength(0);
      clock.increment(1);
      await until(second, id, (e) => e.type === 'final');
      const view = (await second.get(id))!;
      expect(view.status).toBe('done');
      expect(model.requests).toHaveLength(1);
      expect(view.events.filter((e) => e.type === 'custom')).toHaveLength(1);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a sleeping agent thread and the runtime’s concurrency', () => {
  it('does not hold a slot while it sleeps: other threads run meanwhile, and it still wakes on time', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const { createMemoryStore } = await import('../../src/store/memoryStore.js');
    // One script for both threads, in the order they ask: the sleeper's wait, the other's answer, the sleeper's answer.
    const model = scriptedModel([script[0]!, { intent: 'done_for_now', args: { message: 'fine' } }, script[1]!]);
    const rt = createRuntime({ agents: [patient], store: createMemoryStore(), model, clock, maxConcurrent: 1 });
    const sleeper = await rt.launch('patient', 'wait an hour');
    await until(rt, sleeper.id, (e) => e.type === 'custom');
    const other = await rt.launch('patient', 'and this one?');
    const view = await Promise.race([
      rt.settled(other.id),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the other thread never ran while one slept')), 3_000)),
    ]);
    expect(view.status).toBe('done');
    expect((await rt.get(sleeper.id))!.status).toBe('sleeping');
    expect(rt.activeCount()).toBe(0); // no actor kept for the sleep
    clock.increment(3_600_000);
    await until(rt, sleeper.id, (e) => e.type === 'final');
    expect((await rt.get(sleeper.id))!.status).toBe('done');
    await rt.close();
  });
});
