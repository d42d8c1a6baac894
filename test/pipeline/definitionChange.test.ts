import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { createClock } from '../support/agentHarness.js';
import { inputEvents, instantChildren, runPipeline, type PipelineEnd } from './pipelineKit.js';

// A run that rests (a durable sleep, a child thread) across a deploy continues under the new
// definition: it must never skip a step the new definition puts before where the run is.

type Kind = 'code' | 'sleep' | 'agent';

/** A pipeline `flow` of the steps named, in order; `ran` collects the code steps that ran. */
function flow(steps: readonly [string, Kind][], ran: string[]): Pipeline {
  let builder = pipeline({ name: 'flow', description: 'reserve, wait, bill', input: z.unknown(), output: z.unknown() }) as unknown as {
    code(step: object): typeof builder;
    sleep(step: object): typeof builder;
    agent(step: object): typeof builder;
    finish(build: (context: { results: object }) => unknown): Pipeline;
  };
  for (const [name, kind] of steps) {
    if (kind === 'code') builder = builder.code({ name, run: () => (ran.push(name), { [name]: true }) });
    else if (kind === 'sleep') builder = builder.sleep({ name, ms: 8_000 });
    else builder = builder.agent({ name, agent: 'worker', input: () => name });
  }
  return builder.finish(({ results }) => Object.keys(results));
}

const BASE: [string, Kind][] = [
  ['reserve', 'code'],
  ['nap', 'sleep'],
  ['bill', 'code'],
  ['notify', 'code'],
];

/** The base run's log up to (and with) the journaled start of `step`: where it rests when the deploy happens. */
async function restingAt(steps: readonly [string, Kind][], step: string): Promise<ThreadEvent[]> {
  const end = await runPipeline(flow(steps, []), inputEvents(null), { children: instantChildren(() => 'worked') });
  expect(end.status).toBe('done');
  const at = end.thread.events.findIndex((e) => e.type === 'tool_call' && e.data.tool === step);
  expect(at).toBeGreaterThan(0);
  return end.thread.events.slice(0, at + 1);
}

const failureOf = (end: PipelineEnd): string | undefined => {
  const failed = end.thread.events.find((e) => e.type === 'failed');
  return failed?.type === 'failed' ? failed.data.reason : undefined;
};

describe('a pipeline run continued under a changed definition', () => {
  it('goes on as before when the definition is the same (the sleep wakes, bill and notify run)', async () => {
    const ran: string[] = [];
    const end = await runPipeline(flow(BASE, ran), await restingAt(BASE, 'nap'));
    expect(end.status).toBe('done');
    expect(ran).toEqual(['bill', 'notify']);
  });

  it('fails, naming the change, when a step it has not run was moved before where it rests (no silent skip of bill)', async () => {
    const ran: string[] = [];
    const moved = flow([['reserve', 'code'], ['bill', 'code'], ['nap', 'sleep'], ['notify', 'code']], ran);
    const end = await runPipeline(moved, await restingAt(BASE, 'nap'));
    expect(end.status).toBe('failed');
    expect(failureOf(end)).toBe('pipeline flow: its definition changed since this run started: the run ran nap after reserve, where the definition now runs bill after reserve');
    expect(ran).toEqual([]);
  });

  it('fails when a step was inserted before where it rests', async () => {
    const ran: string[] = [];
    const inserted = flow([['reserve', 'code'], ['audit', 'code'], ['nap', 'sleep'], ['bill', 'code'], ['notify', 'code']], ran);
    const end = await runPipeline(inserted, await restingAt(BASE, 'nap'));
    expect(end.status).toBe('failed');
    expect(failureOf(end)).toBe('pipeline flow: its definition changed since this run started: the run ran nap after reserve, where the definition now runs audit after reserve');
    expect(ran).toEqual([]);
  });

  it('fails when a step was inserted before the first one it ran', async () => {
    const ran: string[] = [];
    const first = flow([['setup', 'code'], ...BASE], ran);
    const end = await runPipeline(first, await restingAt(BASE, 'nap'));
    expect(end.status).toBe('failed');
    expect(failureOf(end)).toBe('pipeline flow: its definition changed since this run started: the run started with reserve, where the definition now starts with setup');
    expect(ran).toEqual([]);
  });

  it('fails when the step it rests in is of another kind now (the sleep became code)', async () => {
    const ran: string[] = [];
    const recast = flow([['reserve', 'code'], ['nap', 'code'], ['bill', 'code'], ['notify', 'code']], ran);
    const end = await runPipeline(recast, await restingAt(BASE, 'nap'));
    expect(end.status).toBe('failed');
    expect(failureOf(end)).toBe('pipeline flow: its definition changed since this run started: the run ran nap as a sleep step, where the definition now has it as a code step');
    expect(ran).toEqual([]);
  });

  it('fails when a step was inserted before the child it waits for', async () => {
    const steps: [string, Kind][] = [['reserve', 'code'], ['charge', 'agent'], ['notify', 'code']];
    const ran: string[] = [];
    const launched: string[] = [];
    const inserted = flow([['reserve', 'code'], ['audit', 'code'], ['charge', 'agent'], ['notify', 'code']], ran);
    const end = await runPipeline(inserted, await restingAt(steps, 'charge'), { children: instantChildren(() => 'worked', launched) });
    expect(end.status).toBe('failed');
    expect(failureOf(end)).toBe('pipeline flow: its definition changed since this run started: the run ran charge after reserve, where the definition now runs audit after reserve');
    expect(ran).toEqual([]);
    expect(launched).toEqual([]);
  });

  it('takes a change after where it rests (a step appended runs; nothing before it was skipped)', async () => {
    const ran: string[] = [];
    const appended = flow([...BASE, ['archive', 'code']], ran);
    const end = await runPipeline(appended, await restingAt(BASE, 'nap'));
    expect(end.status).toBe('done');
    expect(ran).toEqual(['bill', 'notify', 'archive']);
  });
});

describe('a pipeline sleeping across a deploy (two runtimes over one store)', () => {
  async function until(rt: Runtime, id: string, test: (e: ThreadEvent) => boolean): Promise<void> {
    for await (const event of rt.watch(id)) if (test(event)) return;
    throw new Error('thread ended first');
  }

  it('fails the run after the restart when bill was moved before the sleep, instead of ending done without billing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-redeploy-'));
    try {
      const clock = createClock();
      const ran: string[] = [];
      const before = createRuntime({ agents: [], pipelines: [flow(BASE, ran)], store: await createFileStore({ dir, clock }), model: scriptedModel([]), clock });
      const { id } = await before.launch('flow', null);
      await until(before, id, (e) => e.type === 'tool_call' && e.data.tool === 'nap');
      await before.close();
      expect(ran).toEqual(['reserve']);

      const moved = flow([['reserve', 'code'], ['bill', 'code'], ['nap', 'sleep'], ['notify', 'code']], ran);
      const after = createRuntime({ agents: [], pipelines: [moved], store: await createFileStore({ dir, clock }), model: scriptedModel([]), clock });
      clock.increment(8_000);
      expect(await after.recover()).toBe(1);
      for await (const _ of after.watch(id)) void _;
      const view = (await after.get(id))!;
      expect(view.status).toBe('failed');
      expect(view.failure).toBe('pipeline flow: its definition changed since this run started: the run ran nap after reserve, where the definition now runs bill after reserve');
      expect(ran).toEqual(['reserve']);
      await after.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
