import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createActor } from 'xstate';
import { supervisorMachine, type AgentRest } from '../../machines/supervisorMachine.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

describe('supervisor', () => {
  it('runs at most maxConcurrent agents at once and queues the rest', async () => {
    let inFlight = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const work = tool({
      name: 'work',
      description: 'w',
      input: z.object({}),
      idempotent: true,
      run: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise<void>((resolve) => gates.push(resolve));
        inFlight--;
        return 'ok';
      },
    });
    const a = agent({ name: 'worker', description: 'w', prompt: 'p', tools: [work] });
    const model = scriptedModel([], {
      whenExhausted: (r): ScriptedReply => (r.context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'work', args: {} }),
    });
    const rt = createRuntime({ agents: [a], store: createMemoryStore(), model, maxConcurrent: 2 });
    const ids = await Promise.all([1, 2, 3, 4, 5].map(async (n) => (await rt.launch('worker', `job ${n}`)).id));
    const allDone = Promise.all(ids.map((id) => rt.settled(id)));
    // Release tools one by one as they arrive; never more than two run at once.
    let released = 0;
    while (released < 5) {
      await new Promise((resolve) => setImmediate(resolve));
      if (gates.length > 0) {
        expect(rt.activeCount()).toBeLessThanOrEqual(2);
        gates.shift()!();
        released++;
      }
    }
    const views = await allDone;
    expect(views.every((v) => v.status === 'done')).toBe(true);
    expect(peak).toBe(2);
    expect(rt.activeCount()).toBe(0);
  });

  it('evicts a child as soon as it waits on a human and reports the rest', async () => {
    const store = createMemoryStore();
    const rests: AgentRest[] = [];
    const ask = agent({ name: 'asker', description: 'a', prompt: 'p', tools: [] });
    const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'q?' } }]);
    const supervisor = createActor(supervisorMachine, {
      input: { agents: new Map([['asker', ask]]), deps: { model, store, clock: systemClock, logger: silentLogger(), children: { check: () => undefined, launch: () => Promise.reject(new Error('no children here')) } }, maxConcurrent: 4, onRest: (r) => rests.push(r) },
    }).start();
    const thread = await store.create({ id: 't1', agent: 'asker', events: [{ seq: 1, at: new Date().toISOString(), type: 'input', data: { input: 'hi' } }] });
    supervisor.send({ type: 'START', thread });
    expect(supervisor.getSnapshot().context.actors.has('t1')).toBe(true);
    await new Promise<void>((resolve) => {
      const sub = supervisor.subscribe(() => rests.length > 0 && (sub.unsubscribe(), resolve()));
    });
    expect(rests[0]).toMatchObject({ threadId: 't1', state: 'awaitingHuman', status: 'awaiting_human' });
    expect(supervisor.getSnapshot().context.actors.has('t1')).toBe(false);
    expect(supervisor.getSnapshot().context.running).toEqual([]);
    supervisor.stop();
  });

  it('restarts a failed child from its thread', async () => {
    let failuresLeft = 1;
    // A logger whose debug() throws makes the agent machine itself fail (an action error).
    const flaky = (base: Logger): Logger =>
      new Proxy(base, {
        get(target, prop, receiver) {
          if (prop === 'child') return (...args: Parameters<Logger["child"]>) => flaky(target.child(...args) as unknown as Logger);
          if (prop === 'debug')
            return (...args: unknown[]) => {
              if (failuresLeft > 0) {
                failuresLeft--;
                throw new Error('logger exploded');
              }
              return (target.debug as (...a: unknown[]) => void)(...args);
            };
          return Reflect.get(target, prop, receiver);
        },
      });
    const done = agent({ name: 'finisher', description: 'f', prompt: 'p', tools: [] });
    const rt = createRuntime({
      agents: [done],
      store: createMemoryStore(),
      model: scriptedModel([{ intent: 'done_for_now', args: { message: 'fine' } }]),
      logger: flaky(silentLogger()),
    });
    const { id } = await rt.launch('finisher', 'go');
    const view = await rt.settled(id);
    expect(view.status).toBe('done');
    expect(view.output).toBe('fine');
    expect(failuresLeft).toBe(0);
  });
});

describe('supervisor memory', () => {
  it('keeps no child actor for threads that finished', async () => {
    const a = agent({ name: 'quick', description: 'q', prompt: 'p', tools: [] });
    const inspected: string[] = [];
    const rt = createRuntime({
      agents: [a],
      store: createMemoryStore(),
      model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }),
      inspect: (event) => {
        if (event.type === '@xstate.snapshot' && event.actorRef.sessionId === event.rootId) {
          const snapshot = event.snapshot as unknown as { children: Record<string, unknown>; context: { actors: Map<string, unknown> } };
          inspected.push([...Object.keys(snapshot.children), ...snapshot.context.actors.keys()].join(','));
        }
      },
    });
    const ids = await Promise.all([1, 2, 3].map(async () => (await rt.launch('quick', 'go')).id));
    for (const id of ids) expect((await rt.settled(id)).status).toBe('done');
    await rt.launch('quick', 'one more').then((t) => rt.settled(t.id));
    // The supervisor's last snapshot holds no children: finished ones were stopped and dropped.
    expect(inspected.some((ids) => ids !== '')).toBe(true);
    expect(inspected.at(-1)).toBe('');
  });

  it('closing the runtime stops its running actors and aborts their steps', async () => {
    const a = agent({ name: 'hanger', description: 'h', prompt: 'p', tools: [] });
    const model = scriptedModel([{ hang: true }]);
    const rt = createRuntime({ agents: [a], store: createMemoryStore(), model });
    await rt.launch('hanger', 'go');
    await vi.waitFor(() => expect(model.requests).toHaveLength(1));
    expect(rt.activeCount()).toBe(1);
    await rt.close();
    expect(model.requests[0]!.signal.aborted).toBe(true);
  });
});
