import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bugfix } from '../../agents/bugfix/index.js';
import { agentMachine } from '../../machines/agentMachine.js';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import { BACKING_OFF, CONTROL_STATES, ROOT_CONTROL, ROUTE_CONTROL } from '../../machines/threadMachine.js';
import { silentLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createClock, threadOf } from '../support/agentHarness.js';

describe('one step-running style for the agent and pipeline machines', () => {
  const machines = { agent: agentMachine, pipeline: createPipelineMachine(bugfix) };

  for (const [kind, machine] of Object.entries(machines)) {
    it(`the ${kind} machine runs its steps on one long-lived runner and has the shared control states`, () => {
      // No child actor per thread: the runner lives in the context and stops with the actor (stopsWithActor).
      expect(machine.root.invoke).toEqual([]);
      expect(machine.config.on).toBe(ROOT_CONTROL);
      for (const [name, config] of Object.entries({ ...CONTROL_STATES, backingOff: BACKING_OFF })) {
        expect(machine.root.states[name]?.config, name).toBe(config);
      }
      const routes = machine.root.states.routing!.config.always as readonly unknown[];
      expect(routes.slice(0, ROUTE_CONTROL.length)).toEqual(ROUTE_CONTROL);
      // No state invokes a promise actor of its own: working states hand their step to the runner.
      expect(Object.values(machine.root.states).every((state) => state.invoke.length === 0)).toBe(true);
    });
  }

  it('a PAUSE while a pipeline step runs lets the step finish and record, then pauses', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = pipeline({ name: 'slow', description: 's', input: z.object({}), output: z.number() })
      .code({ name: 'work', run: async () => (await gate, 5) })
      .code({ name: 'more', run: () => 6 })
      .finish(({ results }) => results.more);
    const clock = createClock();
    const store = createMemoryStore({ clock });
    const thread = await store.create(threadOf('slow-1', 'slow', [{ type: 'input', data: { input: {} } }]));
    const rests: string[] = [];
    const deps = { model: scriptedModel([]), store, clock, logger: silentLogger(), children: { check: () => undefined, launch: () => Promise.reject(new Error('no children')) }, onRest: ({ state }: { state: string }) => void rests.push(state) };
    const actor = createActor(createPipelineMachine(slow), { input: { pipeline: slow, thread, deps }, clock }).start();
    expect(actor.getSnapshot().value).toBe('step_work');
    actor.send({ type: 'PAUSE', reason: 'lunch', by: 'me' });
    expect(actor.getSnapshot().value).toBe('step_work');
    release();
    await new Promise<void>((resolve) => {
      const sub = actor.subscribe((snapshot) => snapshot.value === 'paused' && (sub.unsubscribe(), resolve()));
    });
    const { events } = (await store.get('slow-1'))!;
    expect(events.map((e) => e.type)).toEqual(['input', 'tool_call', 'tool_result', 'control']);
    expect(events.at(-1)).toMatchObject({ type: 'control', data: { action: 'pause', reason: 'lunch', by: 'me' } });
    expect(rests).toEqual(['paused']);
    // Already paused: another PAUSE changes nothing; RESUME records and goes on to the next step.
    actor.send({ type: 'PAUSE' });
    actor.send({ type: 'RESUME', by: 'me' });
    await new Promise<void>((resolve) => {
      const sub = actor.subscribe((snapshot) => snapshot.status === 'done' && (sub.unsubscribe(), resolve()));
    });
    expect(actor.getSnapshot().output).toMatchObject({ status: 'done', thread: { events: expect.arrayContaining([expect.objectContaining({ type: 'final', data: { output: 6 } })]) } });
    const controls = (await store.get('slow-1'))!.events.filter((e) => e.type === 'control').map((e) => e.type === 'control' && e.data.action);
    expect(controls).toEqual(['pause', 'resume']);
  });
});
